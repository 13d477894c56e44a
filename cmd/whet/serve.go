package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/whetml/whet/host/api"
	"github.com/whetml/whet/host/cluster"
	"github.com/whetml/whet/host/predict"
	"github.com/whetml/whet/host/server"
	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/web"
)

// defaultDataDir is where `whet serve` and `whet keys` keep their state when --data is not given.
const defaultDataDir = "whet-data"

// runServe implements `whet serve [--addr 127.0.0.1:8080] [--data DIR] [--api-key KEY]`: the HTTP API, the job
// queue and the web page, until SIGINT or SIGTERM (then a graceful shutdown that keeps every job).
// predictQuantizeUsage is --predict-quantize's help, on `whet serve` (its own predict processes) and `whet worker`
// (a cluster worker's, with --serve-models).
const predictQuantizeUsage = "predict workers' Linear layers: none (float32) or int8 (dynamic int8 on the CPU: faster from batches of ~8 texts; see whet predict --quantize)"

func runServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", server.DefaultAddr, "address to listen on")
	data := fs.String("data", defaultDataDir, "data folder: database, uploads, models, job outputs")
	apiKey := fs.String("api-key", "", "require this API key (Bearer) besides keys made with `whet keys create`")
	concurrency := fs.Int("concurrency", 1, "fine-tuning jobs to run at once on this machine's device")
	threads := fs.Int("threads", 0, "CPU threads per trainer and predict worker (0: their default)")
	maxLoaded := fs.Int("max-loaded", predict.DefaultMaxLoaded, "models kept loaded for prediction")
	predictQuantize := fs.String("predict-quantize", "none", predictQuantizeUsage)
	logJSON := fs.Bool("log-json", false, "log JSON lines instead of text")
	var maxStorage, maxFile byteSize
	fs.Var(&maxStorage, "max-storage", "bytes the data folder may hold, e.g. 50GiB: uploads past it and new jobs get 507 (default: no limit)")
	maxFile = byteSize(api.DefaultMaxFileBytes)
	fs.Var(&maxFile, "max-file-size", "largest dataset upload, e.g. 1GiB")
	insecure := fs.Bool("insecure-no-auth", false, "allow serving without an API key on a non-loopback address")
	var origins, hosts listFlag
	fs.Var(&origins, "allow-origin", "a browser origin (https://app.example) allowed to call the API; repeatable")
	fs.Var(&hosts, "allow-host", "a Host name besides IPs and localhost a keyless server answers to; repeatable")
	var roots listFlag
	fs.Var(&roots, "import-root", "a folder from_path may import model folders from; repeatable (default: anywhere)")
	metricsToken := fs.String("metrics-token", "", "a token accepted at GET /metrics besides the API keys")
	clusterOn := fs.Bool("cluster", false, "run jobs on remote workers (`whet worker`) through an embedded NATS server")
	clusterAddr := fs.String("cluster-addr", "127.0.0.1:4222", "address of the embedded NATS server (with --cluster)")
	natsURL := fs.String("nats", "", "run jobs on remote workers through this external NATS server (with JetStream) instead")
	natsCreds := fs.String("nats-credentials", "", "credentials file for --nats")
	replicas := fs.Int("nats-replicas", 1, "replicas of the job stream and artifacts on the --nats cluster (3 on three nodes)")
	ackWait := fs.Duration("worker-timeout", cluster.DefaultAckWait, "a worker silent this long loses its job to another worker")
	natsTLS := fs.String("nats-tls", "", "cert.pem,key.pem[,ca.pem]: TLS for the embedded NATS server (workers get the CA in their credentials), or the client certificate and CA for --nats")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	var cc *server.ClusterConfig
	if *clusterOn || *natsURL != "" {
		cc = &server.ClusterConfig{Addr: *clusterAddr, URL: *natsURL, Credentials: *natsCreds, AckWait: *ackWait, Replicas: *replicas,
			Ready: func(url string) { fmt.Fprintf(os.Stderr, "whet: workers connect to %s\n", url) }}
		if *natsTLS != "" {
			f := strings.Split(*natsTLS, ",")
			if len(f) < 2 || len(f) > 3 {
				return fmt.Errorf("--nats-tls %q: want cert.pem,key.pem or cert.pem,key.pem,ca.pem", *natsTLS)
			}
			cc.TLSCert, cc.TLSKey = f[0], f[1]
			if len(f) == 3 {
				cc.TLSCA = f[2]
			}
		}
	} else if *natsTLS != "" {
		return errors.New("--nats-tls needs --cluster or --nats")
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
		Threads: *threads, MaxLoaded: *maxLoaded, PredictQuantize: *predictQuantize, MaxStorage: int64(maxStorage), MaxFileBytes: int64(maxFile),
		Static: web.FS(), Logger: slog.New(h), Cluster: cc,
		InsecureNoAuth: *insecure, AllowOrigins: origins, AllowHosts: hosts,
		API:   func(c *api.Config) { c.ImportRoots, c.MetricsToken = roots, *metricsToken },
		Ready: func(a net.Addr) { fmt.Fprintf(os.Stderr, "whet: serving on http://%s (data in %s)\n", a, *data) }})
}

// byteSize is a size flag: bytes, or a number with a unit (KB, MB, GB, TB: powers of 1000; KiB, MiB, GiB, TiB:
// powers of 1024).
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Set(v string) error {
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9},
		{"TB", 1e12}, {"B", 1}}
	num, mult := strings.TrimSpace(v), 1.0
	for _, u := range units {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || f*mult > math.MaxInt64 {
		return fmt.Errorf("%q is not a size (use bytes or a unit: 512MiB, 50GB)", v)
	}
	*b = byteSize(f * mult)
	return nil
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

// runKeys implements `whet keys create|list|revoke --data DIR`, which work while the server runs:
//
//	whet keys create [--name NAME] [--scope read|user|admin]   a new key, printed once on stdout (only its sha256 is stored)
//	whet keys list                                             id, name, scope, created, revoked
//	whet keys revoke KEY_ID                                    the key stops working at once
func runKeys(args []string) error { return keys(args, os.Stdout) }

const keysUsage = "usage: whet keys create [--data DIR] [--name NAME] [--scope read|user|admin] | list [--data DIR] | revoke [--data DIR] KEY_ID"

func keys(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(keysUsage)
	}
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	data := fs.String("data", defaultDataDir, "the server's data folder")
	name := fs.String("name", "default", "create: a name to recognise the key by")
	scope := fs.String("scope", store.ScopeUser, "create: read (GET and predict), user (also upload, train, delete) or admin (also from_path)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if want := map[string]int{"create": 0, "list": 0, "revoke": 1}; want[args[0]] != fs.NArg() || (args[0] != "create" && args[0] != "list" && args[0] != "revoke") {
		return errors.New(keysUsage)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, *data, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close(ctx)
	switch args[0] {
	case "create":
		key, id, err := st.CreateKey(ctx, *name, *scope)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, key)
		fmt.Fprintf(os.Stderr, "created API key %s (%s, scope %s); it is shown only now: send it as \"Authorization: Bearer <key>\" or --api-key\n", id, *name, *scope)
		return nil
	case "revoke":
		if err := st.RevokeKey(ctx, fs.Arg(0)); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "revoked API key %s\n", fs.Arg(0))
		return nil
	}
	list, err := st.ListKeys(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSCOPE\tCREATED\tREVOKED")
	for _, k := range list {
		revoked := "-"
		if k.RevokedAt != 0 {
			revoked = time.Unix(k.RevokedAt, 0).UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Scope, time.Unix(k.CreatedAt, 0).UTC().Format(time.RFC3339), revoked)
	}
	return tw.Flush()
}
