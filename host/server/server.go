package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"

	"github.com/whetml/whet/host/api"
	"github.com/whetml/whet/host/cluster"
	"github.com/whetml/whet/host/jobs"
	"github.com/whetml/whet/host/predict"
	"github.com/whetml/whet/host/sandbox"
	"github.com/whetml/whet/host/store"
)

// Defaults for Config.
const (
	DefaultAddr            = "127.0.0.1:8080"
	DefaultShutdownTimeout = 30 * time.Second
)

// Config configures Run. Zero fields take their defaults.
type Config struct {
	// Addr is the TCP address to listen on ("127.0.0.1:0" picks a free port). Default: DefaultAddr.
	Addr string
	// DataDir holds the database and artifacts (see host/store). Required.
	DataDir string
	// APIKeys are accepted besides stored keys; with none of either the API is open. Default: none.
	APIKeys []string
	// InsecureNoAuth lets a server without API keys listen beyond loopback; without it Run refuses to.
	// Default: false.
	InsecureNoAuth bool
	// AllowOrigins and AllowHosts are api.Config's: browser origins allowed to call the API, and Host names a
	// keyless server answers to. Default: none.
	AllowOrigins, AllowHosts []string
	// Bin is the whet binary run for `train` and `worker predict`. Default: os.Executable().
	Bin string
	// Env is added to the environment of every trainer and worker. Default: none.
	Env []string
	// Concurrency is how many jobs train at once. Default: jobs.DefaultConcurrency (1).
	Concurrency int
	// Threads, when > 0, is passed as --threads to trainers and workers. Default: 0.
	Threads int
	// MaxLoaded is how many models stay loaded for prediction. Default: predict.DefaultMaxLoaded.
	MaxLoaded int
	// PredictQuantize is the predict workers' weight quantization (predict.Config.Quantize). Default: "" (float32).
	PredictQuantize string
	// MaxStorage caps the bytes the data folder holds (store.Options.MaxBytes): uploads past it and jobs created at
	// it are refused with 507. Default: 0 (no limit).
	MaxStorage int64
	// MaxFileBytes caps one dataset upload (api.Config.MaxFileBytes). Default: api.DefaultMaxFileBytes.
	MaxFileBytes int64
	// Static is the web UI served at /. Default: nil (none).
	Static fs.FS
	// Logger receives every log. Default: a logger that discards.
	Logger *slog.Logger
	// ShutdownTimeout bounds the graceful shutdown. Default: DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// API, when set, adjusts the HTTP API's configuration (limits, timeouts) before the server starts; the
	// components are already filled in. Default: nil.
	API func(*api.Config)
	// Ready, when set, is called once the server listens, with its address. Default: nil.
	Ready func(net.Addr)
	// Cluster, when set, runs fine-tuning jobs on remote workers over NATS JetStream (host/cluster) instead of
	// on this machine. Default: nil.
	Cluster *ClusterConfig
}

// ClusterConfig configures the remote workers of a server.
type ClusterConfig struct {
	// Addr is where the embedded NATS server listens for workers, used when URL is "". Default: "127.0.0.1:4222".
	Addr string
	// URL names an external NATS server (with JetStream) to use instead of an embedded one; Credentials is its
	// credentials file (a whet worker credentials JSON or a NATS .creds file), "" for none.
	URL, Credentials string
	// AckWait is how long a silent worker keeps its job. Default: cluster.DefaultAckWait.
	AckWait time.Duration
	// Replicas is the replication of the job stream and artifact bucket on an external NATS cluster. Default: 1.
	Replicas int
	// TLSCert and TLSKey (PEM files) are the embedded NATS server's TLS certificate, or the server's client
	// certificate with URL; TLSCA (a PEM file) is the CA that signed the NATS server's certificate: written into
	// new worker credentials (embedded), or trusted (URL). All "": no TLS.
	TLSCert, TLSKey, TLSCA string
	// Ready, when set, is called with the NATS URL workers should use once it is up.
	Ready func(url string)
}

// Run starts the server and blocks until ctx ends (then shuts down gracefully) or the listener fails.
//
// # Errors
//
// A missing DataDir, a data folder held by another server, a busy address, or a failure of the graceful
// shutdown (state is still saved: the database is closed last).
func Run(ctx context.Context, cfg Config) (err error) {
	if err := cfg.fill(); err != nil {
		return err
	}
	log := cfg.Logger
	st, err := store.Open(ctx, cfg.DataDir, store.Options{Exclusive: true, MaxBytes: cfg.MaxStorage})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(context.Background()); err == nil {
			err = cerr
		}
	}()
	sweep(ctx, st, log)
	rt, err := newSandbox(ctx, st, log)
	if err != nil {
		return err
	}
	defer rt.Close(context.Background())
	metrics := api.NewMetrics(nil)
	var coord *cluster.Coordinator
	if cfg.Cluster != nil {
		var stop func()
		coord, stop, err = startCluster(ctx, st, *cfg.Cluster, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	q, err := newQueue(cfg, st, metrics, coord)
	if err != nil {
		return err
	}
	pool, err := predict.New(predict.Config{Bin: cfg.Bin, Env: cfg.Env, MaxLoaded: cfg.MaxLoaded, Threads: cfg.Threads,
		Quantize: cfg.PredictQuantize, Logger: log})
	if err != nil {
		return err
	}
	srv, err := api.New(cfg.apiConfig(st, q, pool, rt, metrics, coord))
	if err != nil {
		return err
	}
	ln, stored, err := listen(ctx, cfg, st)
	if err != nil {
		return err
	}
	if err := q.Start(ctx); err != nil {
		ln.Close()
		return err
	}
	app := srv.App()
	served := make(chan error, 1)
	go func() { served <- app.Listener(retryListener{Listener: ln, log: log}) }()
	logListening(cfg, ln.Addr(), st.Dir(), stored)
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr())
	}

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case serveErr = <-served:
		log.Error("listener failed", "err", serveErr)
	}
	errs := shutdown(cfg.ShutdownTimeout, srv, app, q, pool)
	if serveErr != nil {
		errs = append(errs, serveErr)
	}
	log.Info("stopped")
	return errors.Join(errs...)
}

// shutdown stops, within timeout, the API's background work, the HTTP server, the jobs (cancelling those
// running) and the predict workers, in that order; it returns what failed.
func shutdown(timeout time.Duration, srv *api.Server, app *fiber.App, q *jobs.Queue, pool *predict.Pool) []error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	errs := []error{srv.Close(ctx)}
	if err := app.ShutdownWithContext(ctx); err != nil {
		errs = append(errs, fmt.Errorf("server: http shutdown: %w", err))
	}
	if err := q.StopAndCancel(ctx); err != nil {
		errs = append(errs, fmt.Errorf("server: stop jobs: %w", err))
	}
	if err := pool.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("server: stop predict workers: %w", err))
	}
	return errs
}

// fill checks cfg and fills in its defaults.
func (cfg *Config) fill() (err error) {
	if cfg.DataDir == "" {
		return errors.New("server: config DataDir is required")
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Bin == "" {
		if cfg.Bin, err = os.Executable(); err != nil {
			return fmt.Errorf("server: config Bin: %w", err)
		}
	}
	return nil
}

// sweep removes the leftovers in the data folder that no record refers to, logging what it did.
func sweep(ctx context.Context, st *store.Store, log *slog.Logger) {
	swept, err := st.Sweep(ctx)
	if len(swept.Removed) > 0 {
		log.Info("removed leftovers no record refers to", "paths", swept.Removed, "bytes", swept.Bytes)
	}
	if err != nil {
		log.Warn("sweep of the data folder incomplete", "err", err)
	}
}

// newSandbox starts the runtime that runs uploaded modules inside the server process (checks at upload, dry
// runs, server-side tokenization): one instance per run, so api.Config.ModuleRuns bounds the cores they take.
// It forgets the compiled code of modules no longer stored.
func newSandbox(ctx context.Context, st *store.Store, log *slog.Logger) (*sandbox.Runtime, error) {
	rt, err := sandbox.New(ctx, sandbox.Config{CacheDir: filepath.Join(st.Dir(), "cache", "wasm"), Logger: log, PoolSize: 1})
	if err != nil {
		return nil, err
	}
	if mods, err := st.ListModules(ctx); err == nil {
		stored := map[string]bool{}
		for _, m := range mods {
			stored[m.SHA256] = true
		}
		if err := rt.ForgetAllBut(ctx, func(sum string) bool { return stored[sum] }); err != nil {
			log.Warn("compile cache of deleted modules not all removed", "err", err)
		}
	}
	return rt, nil
}

// newQueue makes the job queue, dispatching to coord's remote workers when coord is not nil (and starting coord).
func newQueue(cfg Config, st *store.Store, metrics *api.Metrics, coord *cluster.Coordinator) (*jobs.Queue, error) {
	jcfg := jobs.Config{Store: st, Bin: cfg.Bin, Env: cfg.Env, Concurrency: cfg.Concurrency,
		Threads: cfg.Threads, Logger: cfg.Logger, OnStep: metrics.TrainingStep, OnFinish: metrics.JobFinished}
	if coord != nil {
		jcfg.Dispatcher = coord
	}
	q, err := jobs.New(jcfg)
	if err != nil {
		return nil, err
	}
	if coord != nil {
		if err := coord.Start(q); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// apiConfig returns the HTTP API's configuration over the server's components, adjusted by cfg.API.
func (cfg Config) apiConfig(st *store.Store, q *jobs.Queue, pool *predict.Pool, rt *sandbox.Runtime, metrics *api.Metrics, coord *cluster.Coordinator) api.Config {
	acfg := api.Config{Store: st, Queue: q, Predictor: pool, Sandbox: rt, Metrics: metrics, APIKeys: cfg.APIKeys,
		Static: cfg.Static, Logger: cfg.Logger, AllowOrigins: cfg.AllowOrigins, AllowHosts: cfg.AllowHosts,
		InsecureNoAuth: cfg.InsecureNoAuth, MaxFileBytes: cfg.MaxFileBytes, Export: api.RunExport(cfg.Bin, cfg.Env)}
	if n := fdLimit(); n > 0 && n/2 < api.DefaultMaxConns {
		acfg.MaxConns = int(max(n/2, 16)) // keep descriptors for the database, uploads, trainers and workers
	}
	if coord != nil {
		acfg.Cluster = coord
	}
	if cfg.API != nil {
		cfg.API(&acfg)
	}
	return acfg
}

// listen opens cfg.Addr, refusing an address reachable beyond this machine when no API key is given or stored
// (unless cfg.InsecureNoAuth). It reports whether keys are stored.
func listen(ctx context.Context, cfg Config, st *store.Store) (net.Listener, bool, error) {
	stored, err := st.HasKeys(ctx)
	if err != nil {
		return nil, false, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, false, fmt.Errorf("server: listen on %s: %w", cfg.Addr, err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() && len(cfg.APIKeys) == 0 && !stored && !cfg.InsecureNoAuth {
		ln.Close()
		return nil, false, fmt.Errorf("server: refusing to serve without an API key on %s, which is reachable beyond this machine: "+
			"give --api-key (or create one with `whet keys create`), listen on 127.0.0.1, or pass --insecure-no-auth", cfg.Addr)
	}
	return ln, stored, nil
}

// logListening logs the address and settings the server serves with.
func logListening(cfg Config, addr net.Addr, dir string, stored bool) {
	auth := "open (no API keys: anyone who can reach the address can use the API)"
	if len(cfg.APIKeys) > 0 || stored {
		auth = "api keys required"
	}
	cfg.Logger.Info("listening", "addr", addr.String(), "data", dir, "bin", cfg.Bin, "auth", auth,
		"api_keys_flag", len(cfg.APIKeys), "stored_keys", stored, "concurrency", max(cfg.Concurrency, 1),
		"max_loaded", cfg.MaxLoaded, "threads", cfg.Threads)
}

// startCluster connects the server to its NATS server (embedded unless cc.URL is set) and returns the
// coordinator and a function that closes both (after the job queue stopped).
func startCluster(ctx context.Context, st *store.Store, cc ClusterConfig, log *slog.Logger) (*cluster.Coordinator, func(), error) {
	var nc *nats.Conn
	var urls []string
	var ca []byte
	if cc.TLSCA != "" {
		var err error
		if ca, err = cluster.ReadCA(cc.TLSCA); err != nil {
			return nil, nil, err
		}
	}
	stop := func() {}
	if cc.URL == "" {
		if cc.Addr == "" {
			cc.Addr = "127.0.0.1:4222"
		}
		ec := cluster.EmbeddedConfig{Addr: cc.Addr, StoreDir: st.Path("nats"), Store: st, Logger: log}
		if cc.TLSCert != "" || cc.TLSKey != "" {
			var err error
			if ec.TLS, err = cluster.ServerTLS(cc.TLSCert, cc.TLSKey); err != nil {
				return nil, nil, err
			}
		}
		e, err := cluster.StartEmbedded(ctx, ec)
		if err != nil {
			return nil, nil, err
		}
		if nc, err = e.Connect("whet server"); err != nil {
			e.Shutdown()
			return nil, nil, fmt.Errorf("server: connect to the embedded NATS: %w", err)
		}
		urls, stop = []string{e.URL()}, e.Shutdown
	} else {
		opts := []nats.Option{nats.Name("whet server"), nats.MaxReconnects(-1)}
		if cc.Credentials != "" {
			if c, err := cluster.ReadCredentials(cc.Credentials); err == nil {
				opts = append(opts, nats.UserInfo(c.User, c.Password))
			} else {
				opts = append(opts, nats.UserCredentials(cc.Credentials))
			}
		}
		if cc.TLSCert != "" || len(ca) > 0 {
			tc, err := cluster.ClientTLS(ca, cc.TLSCert, cc.TLSKey)
			if err != nil {
				return nil, nil, err
			}
			opts = append(opts, nats.Secure(tc))
		}
		var err error
		if nc, err = nats.Connect(cc.URL, opts...); err != nil {
			return nil, nil, fmt.Errorf("server: connect to NATS at %s: %w", cc.URL, err)
		}
	}
	coord, err := cluster.NewCoordinator(ctx, cluster.Config{Store: st, Conn: nc, AckWait: cc.AckWait, Replicas: cc.Replicas,
		Logger: log, URLs: urls, CA: ca})
	if err != nil {
		nc.Close()
		stop()
		return nil, nil, err
	}
	url := cc.URL
	if url == "" {
		url = urls[0]
	}
	log.Info("cluster ready: jobs run on remote workers", "nats", url, "embedded", cc.URL == "")
	if cc.Ready != nil {
		cc.Ready(url)
	}
	return coord, func() { coord.Close(); nc.Close(); stop() }, nil
}
