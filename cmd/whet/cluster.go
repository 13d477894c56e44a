package main

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/whetml/whet/host/cluster"
	"github.com/whetml/whet/sdk"
)

// runWorkerCmd dispatches `whet worker predict ...` (the server's internal predict subprocess) and
// `whet worker --nats URL --credentials FILE ...` (a remote training worker).
func runWorkerCmd(args []string) error {
	if len(args) > 0 && args[0] == "predict" {
		return runWorker(args)
	}
	return runClusterWorker(args)
}

// runClusterWorker implements `whet worker --nats nats://HOST:4222 --credentials FILE [--threads N] [--gpus 0,1 |
// --slots N] [--data DIR] [--serve-models [--predict-quantize int8]] [--max-model-cache SIZE]`: pull fine-tuning jobs from a `whet serve --cluster` server and train them here,
// and with --serve-models answer its predict requests.
func runClusterWorker(args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	url := fs.String("nats", "", "the cluster's NATS server(s), comma-separated (required): nats://HOST:4222")
	creds := fs.String("credentials", "", "worker credentials file from `whet workers token` (required)")
	threads := fs.Int("threads", 0, "CPU threads per trainer (0: the trainer's default)")
	slots := fs.Int("slots", 1, "jobs trained at once on a CPU worker (0 with --serve-models: predictions only); with --gpus, one per GPU")
	gpus := fs.String("gpus", "", "GPUs to train on, e.g. 0,1: one job at a time on each, its trainer run with --device cuda:N")
	serveModels := fs.Bool("serve-models", false, "also answer the server's predict requests (models load on demand)")
	predictQuantize := fs.String("predict-quantize", "none", predictQuantizeUsage)
	data := fs.String("data", "whet-worker", "folder for cached base models and running jobs")
	id := fs.String("id", "", "worker id (default: wrk-<hostname>-<random>)")
	natsTLS := fs.String("nats-tls", "", "ca.pem: the CA that signed the NATS server's TLS certificate (default: the credentials file's, else none)")
	logJSON := fs.Bool("log-json", false, "log JSON lines instead of text")
	maxModelCache := byteSize(cluster.DefaultMaxModelCacheBytes)
	fs.Var(&maxModelCache, "max-model-cache", "bytes the cached models in --data/models may hold, e.g. 100GiB: the least recently used unused ones are removed beyond it (0: no limit)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s (usage: whet worker --nats URL --credentials FILE [--threads N] [--gpus 0,1 | --slots N] [--data DIR] [--serve-models] [--nats-tls CA])",
			strings.Join(fs.Args(), " "))
	}
	if *url == "" || *creds == "" {
		return errors.New("usage: whet worker --nats nats://HOST:4222 --credentials FILE [--threads N] [--gpus 0,1 | --slots N] [--data DIR] [--serve-models]")
	}
	devices, err := gpuDevices(*gpus)
	if err != nil {
		return err
	}
	slotsSet := false
	fs.Visit(func(f *flag.Flag) { slotsSet = slotsSet || f.Name == "slots" })
	switch {
	case len(devices) > 0 && slotsSet:
		return errors.New("--gpus and --slots: give one (a GPU worker trains one job per GPU)")
	case len(devices) > 0:
		*slots = len(devices)
	case *slots < 0 || *slots == 0 && !*serveModels:
		return fmt.Errorf("--slots must be >= 1 (or 0 with --serve-models), got %d", *slots)
	}
	c, err := cluster.ReadCredentials(*creds)
	if err != nil {
		return err
	}
	var tc *tls.Config
	if *natsTLS != "" {
		ca, err := cluster.ReadCA(*natsTLS)
		if err == nil {
			tc, err = cluster.ClientTLS(ca, "", "")
		}
		if err != nil {
			return err
		}
	}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, nil)
	if *logJSON {
		h = slog.NewJSONHandler(os.Stderr, nil)
	}
	cacheBytes := int64(maxModelCache)
	if cacheBytes == 0 {
		cacheBytes = -1 // no limit
	}
	ctx, stop := cliContext()
	defer stop()
	err = cluster.RunWorker(ctx, cluster.WorkerConfig{URL: *url, Credentials: c, CredentialsFile: *creds, DataDir: *data,
		Slots: *slots, Devices: devices, TLS: tc, ServeModels: *serveModels, PredictQuantize: *predictQuantize, Threads: *threads, ID: *id, Logger: slog.New(h),
		MaxModelCacheBytes: cacheBytes,
		Ready:              func(id string) { fmt.Fprintf(os.Stderr, "whet: worker %s pulling jobs from %s\n", id, *url) }})
	if ctx.Err() != nil {
		return nil // SIGINT/SIGTERM: running jobs were handed back
	}
	return err
}

// gpuDevices turns --gpus "0,1" into the devices cuda:0 and cuda:1.
func gpuDevices(list string) ([]string, error) {
	if list == "" {
		return nil, nil
	}
	var out []string
	seen := map[int]bool{}
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 || seen[n] {
			return nil, fmt.Errorf("--gpus %q: want distinct GPU numbers separated by commas, e.g. 0,1 (bad: %q)", list, f)
		}
		seen[n] = true
		out = append(out, "cuda:"+strconv.Itoa(n))
	}
	return out, nil
}

// runWorkers implements `whet workers list|drain ID|token --out FILE`.
func runWorkers(args []string) error {
	const usage = "whet workers list|drain ID|token --out FILE [--name NAME] [--server URL] [--api-key KEY]"
	return cliSub("workers", args, usage, map[string]func([]string) error{
		"list":  workersList,
		"drain": workersDrain,
		"token": workersToken,
	})
}

func workersList(args []string) error {
	fs := flag.NewFlagSet("workers list", flag.ContinueOnError)
	cf := newClientFlags(fs)
	return cliList(fs, cf, args, (*sdk.Client).ListWorkers, func(l *sdk.WorkerList) []sdk.Worker { return l.Data },
		"ID\tHOST\tSTATUS\tJOBS\tLAST SEEN",
		func(w sdk.Worker) []string {
			return []string{w.ID, w.Host, w.Status, strings.Join(w.Jobs, ","), cliTime(w.LastSeen)}
		})
}

func workersDrain(args []string) error {
	fs := flag.NewFlagSet("workers drain", flag.ContinueOnError)
	cf := newClientFlags(fs)
	id, err := cliParseOne(fs, args, "worker id")
	if err != nil {
		return err
	}
	ctx, stop := cliContext()
	defer stop()
	w, err := cf.client().DrainWorker(ctx, id)
	if err != nil {
		return err
	}
	return cliJSON(w)
}

func workersToken(args []string) error {
	fs := flag.NewFlagSet("workers token", flag.ContinueOnError)
	cf := newClientFlags(fs)
	out := fs.String("out", "", "file to write the worker credentials to (required; created with mode 0600)")
	name := fs.String("name", "worker", "a name to recognise the credentials by")
	if _, err := cliParse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("usage: whet workers token --server URL [--api-key KEY] --out FILE")
	}
	ctx, stop := cliContext()
	defer stop()
	cred, err := cf.client().CreateWorkerToken(ctx, sdk.CreateWorkerTokenRequest{Name: *name})
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(cred, "", "  ")
	f, err := os.OpenFile(*out, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("credentials file: %w (it is never overwritten)", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote worker credentials %s to %s; start a worker with: whet worker --nats %s --credentials %s\n",
		cred.User, *out, strings.Join(cred.NATS, ","), *out)
	return nil
}
