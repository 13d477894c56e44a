package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/whetml/whet/host/predict"
	"github.com/whetml/whet/host/server"
	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/web"
)

// defaultDataDir is where `whet serve` and `whet keys` keep their state when --data is not given.
const defaultDataDir = "whet-data"

// runServe implements `whet serve [--addr 127.0.0.1:8080] [--data DIR] [--api-key KEY]`: the HTTP API, the job
// queue and the web page, until SIGINT or SIGTERM (then a graceful shutdown that keeps every job).
func runServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", server.DefaultAddr, "address to listen on")
	data := fs.String("data", defaultDataDir, "data folder: database, uploads, models, job outputs")
	apiKey := fs.String("api-key", "", "require this API key (Bearer) besides keys made with `whet keys create`")
	concurrency := fs.Int("concurrency", 1, "fine-tuning jobs to run at once on this machine's device")
	threads := fs.Int("threads", 0, "CPU threads per trainer and predict worker (0: their default)")
	maxLoaded := fs.Int("max-loaded", predict.DefaultMaxLoaded, "models kept loaded for prediction")
	logJSON := fs.Bool("log-json", false, "log JSON lines instead of text")
	insecure := fs.Bool("insecure-no-auth", false, "allow serving without an API key on a non-loopback address")
	var origins, hosts listFlag
	fs.Var(&origins, "allow-origin", "a browser origin (https://app.example) allowed to call the API; repeatable")
	fs.Var(&hosts, "allow-host", "a Host name besides IPs and localhost a keyless server answers to; repeatable")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, nil)
	if *logJSON {
		h = slog.NewJSONHandler(os.Stderr, nil)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var keys []string
	if *apiKey != "" {
		keys = []string{*apiKey}
	}
	return server.Run(ctx, server.Config{Addr: *addr, DataDir: *data, APIKeys: keys, Concurrency: *concurrency,
		Threads: *threads, MaxLoaded: *maxLoaded, Static: web.FS(), Logger: slog.New(h),
		InsecureNoAuth: *insecure, AllowOrigins: origins, AllowHosts: hosts,
		Ready: func(a net.Addr) { fmt.Fprintf(os.Stderr, "whet: serving on http://%s (data in %s)\n", a, *data) }})
}

// listFlag is a repeatable string flag (also split at commas).
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// runKeys implements `whet keys create --data DIR [--name NAME]`: a new API key for the server using DIR, printed
// once on stdout (only its sha256 is stored). It works while the server runs.
func runKeys(args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: whet keys create --data DIR [--name NAME]")
	}
	fs := flag.NewFlagSet("keys create", flag.ContinueOnError)
	data := fs.String("data", defaultDataDir, "the server's data folder")
	name := fs.String("name", "default", "a name to recognise the key by")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ctx := context.Background()
	st, err := store.Open(ctx, *data, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close(ctx)
	key, id, err := st.CreateKey(ctx, *name)
	if err != nil {
		return err
	}
	fmt.Println(key)
	fmt.Fprintf(os.Stderr, "created API key %s (%s); it is shown only now: send it as \"Authorization: Bearer <key>\" or --api-key\n", id, *name)
	return nil
}
