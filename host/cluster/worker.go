package cluster

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/whetml/whet/host/internal/dirlock"
	"github.com/whetml/whet/sdk"
)

// WorkerConfig configures RunWorker.
type WorkerConfig struct {
	// URL is the NATS server (or a comma-separated list of a NATS cluster's servers). Required.
	URL string
	// Credentials authenticate the worker (ReadCredentials). Required.
	Credentials *sdk.WorkerCredentials
	// CredentialsFile names where Credentials came from, for error messages.
	CredentialsFile string
	// DataDir holds cached base models and the folders of running jobs; the worker locks it (worker.lock: one worker
	// per folder) and at start removes job folders a killed run left. Required.
	DataDir string
	// Slots is how many jobs train at once; 0 with ServeModels: predictions only. Default: 1, or one per device.
	Slots int
	// Devices, when set, pins each slot to one device ("cuda:0", "cuda:1"; `whet worker --gpus 0,1`): one job
	// trains per device, its trainer run with --device and WHET_DEVICE naming it. Slots must be 0 or len(Devices).
	Devices []string
	// ServeModels makes the worker answer the server's predict requests too (any model, loaded on demand).
	ServeModels bool
	// PredictQuantize is the predict processes' --quantize with ServeModels: "none" (float32) or "int8" (dynamic int8
	// Linear layers on the CPU; `whet predict --quantize`). It is this worker's choice, as `whet serve
	// --predict-quantize` is the server's for its own predict processes. Default: "" (none).
	PredictQuantize string
	// Threads, when > 0, is passed to `whet train --threads`. Default: 0 (the trainer decides).
	Threads int
	// Bin is the whet binary run as `Bin train ...`. Default: os.Executable().
	Bin string
	// ID names this worker. Default: "wrk-<hostname>-<random>".
	ID string
	// Logger receives the worker's logs. Default: discarded.
	Logger *slog.Logger
	// MaxArtifactSize caps one downloaded archive (base model, inputs). Default: DefaultMaxArtifactSize.
	MaxArtifactSize int64
	// MaxModelCacheBytes bounds the model folders cached in DataDir/models (base models, and with ServeModels the
	// models and LoRA adapters served; `whet worker --max-model-cache`): before a download would pass it, the least
	// recently used folders no training attempt or predict process uses are removed, and at start a cache over it is
	// trimmed. When everything cached is in use the download proceeds past it with a warning (the cache shrinks back
	// as models are released); a model whose archive alone is larger is refused with an error naming the flag.
	// -1: no limit. Default: DefaultMaxModelCacheBytes.
	MaxModelCacheBytes int64
	// TLS, when set, configures TLS to the NATS server. Default: trusting Credentials.CA when it is set.
	TLS *tls.Config
	// Ready, when set, is called once the worker is registered and pulling jobs.
	Ready func(id string)
}

type worker struct {
	cfg  WorkerConfig
	log  *slog.Logger
	nc   *nats.Conn
	obs  jetstream.ObjectStore
	host string

	ackWait, hbEvery time.Duration

	models  *modelCache   // DataDir/models
	loaded  *loadedModels // with ServeModels: what the prediction pool may hold loaded
	serving sync.Map      // model ids predictions were served for (logged once)

	mu       sync.Mutex
	active   map[string]*attempt // by token
	draining bool
}

// RunWorker connects to the cluster, then pulls and runs jobs until ctx ends (running trainers are interrupted:
// they checkpoint and their jobs go to other workers) or an admin drains it (it exits once its jobs finish).
//
// # Errors
//
// Credentials the NATS server refuses, a server without a job stream (not started with --cluster), or ctx's end.
func RunWorker(ctx context.Context, cfg WorkerConfig) error {
	host, _ := os.Hostname()
	if err := cfg.withDefaults(host); err != nil {
		return err
	}
	w := &worker{cfg: cfg, log: cfg.Logger.With("worker", cfg.ID), host: host, active: map[string]*attempt{}}
	unlock, err := openDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()
	nc, err := cfg.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	w.nc = nc
	var reg registerResp
	if err := w.request(ctx, subjRegister, w.hello(), &reg, 10*time.Second); err != nil {
		return fmt.Errorf("worker: register with the server at %s: %w (is `whet serve --cluster` running?)", cfg.URL, err)
	}
	if reg.Error != "" {
		return fmt.Errorf("worker: the server refused to register this worker: %s", reg.Error)
	}
	w.ackWait, w.hbEvery = time.Duration(reg.AckWaitMS)*time.Millisecond, time.Duration(reg.HeartbeatMS)*time.Millisecond
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	cons, err := js.Consumer(ctx, StreamJobs, ConsumerWorkers)
	if err != nil {
		return fmt.Errorf("worker: job stream %s: %w (is the server running with --cluster?)", StreamJobs, err)
	}
	if w.obs, err = js.ObjectStore(ctx, Bucket); err != nil {
		return fmt.Errorf("worker: artifact bucket %s: %w", Bucket, err)
	}
	w.models, err = openModelCache(filepath.Join(cfg.DataDir, "models"), cfg.MaxModelCacheBytes,
		objectArchives{obs: w.obs, limit: cfg.MaxArtifactSize}, w.log)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	if cfg.ServeModels {
		stopPredict, err := w.servePredictions(ctx)
		if err != nil {
			return fmt.Errorf("worker: serve models: %w", err)
		}
		defer stopPredict()
	}
	hbCtx, stopHB := context.WithCancel(context.WithoutCancel(ctx))
	hbDone := make(chan struct{})
	go func() { defer close(hbDone); w.heartbeats(hbCtx) }()
	w.log.Info("worker ready", "nats", cfg.URL, "slots", cfg.Slots, "devices", cfg.Devices, "threads", cfg.Threads, "serve_models", cfg.ServeModels,
		"ack_wait", w.ackWait, "max_model_cache_bytes", cfg.MaxModelCacheBytes)
	if cfg.Ready != nil {
		cfg.Ready(cfg.ID)
	}
	err = w.pull(ctx, cons)
	stopHB()
	<-hbDone
	return err
}

// openDataDir makes the worker's data folder, locks it to this worker (DataDir/worker.lock: the model cache and the
// job folders in it are this process's to trim and remove) and removes the job folders a killed worker left. It
// returns the func that releases the lock.
func openDataDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("worker: data folder: %w", err)
	}
	if unlock, err = dirlock.Lock(filepath.Join(dir, "worker.lock"), "whet worker"); err != nil {
		return nil, fmt.Errorf("worker: data folder[%s]: %w (give each worker its own --data)", dir, err)
	}
	// No attempt runs yet: every job folder is a leftover of a worker that was killed before its cleanup ran.
	if err := os.RemoveAll(filepath.Join(dir, "jobs")); err != nil {
		unlock()
		return nil, fmt.Errorf("worker: remove the job folders a previous run left: %w", err)
	}
	return unlock, nil
}

// withDefaults checks cfg and fills in its defaults (see WorkerConfig).
func (cfg *WorkerConfig) withDefaults(host string) error {
	if cfg.URL == "" || cfg.Credentials == nil || cfg.DataDir == "" {
		return errors.New("worker: URL, Credentials and DataDir are required")
	}
	switch {
	case len(cfg.Devices) > 0 && cfg.Slots != 0 && cfg.Slots != len(cfg.Devices):
		return fmt.Errorf("worker: %d slots for %d devices: a worker trains one job per device", cfg.Slots, len(cfg.Devices))
	case len(cfg.Devices) > 0:
		cfg.Slots = len(cfg.Devices)
	case cfg.Slots == 0 && !cfg.ServeModels:
		cfg.Slots = 1
	}
	if cfg.MaxArtifactSize == 0 {
		cfg.MaxArtifactSize = DefaultMaxArtifactSize
	}
	switch {
	case cfg.MaxModelCacheBytes == 0:
		cfg.MaxModelCacheBytes = DefaultMaxModelCacheBytes
	case cfg.MaxModelCacheBytes < -1:
		return fmt.Errorf("worker: MaxModelCacheBytes must be > 0, or -1 for no limit, got %d", cfg.MaxModelCacheBytes)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var err error
	if cfg.DataDir, err = filepath.Abs(cfg.DataDir); err != nil {
		return fmt.Errorf("worker: data folder: %w", err)
	}
	if cfg.Bin == "" {
		if cfg.Bin, err = os.Executable(); err != nil {
			return fmt.Errorf("worker: %w", err)
		}
	}
	if cfg.ID == "" {
		b := make([]byte, 3)
		_, _ = rand.Read(b)
		cfg.ID = "wrk-" + host + "-" + hex.EncodeToString(b)
	}
	if cfg.TLS == nil && cfg.Credentials.CA != "" {
		if cfg.TLS, err = ClientTLS([]byte(cfg.Credentials.CA), "", ""); err != nil {
			return fmt.Errorf("worker: credentials %s: %w", cmp(cfg.CredentialsFile, "given"), err)
		}
	}
	return nil
}

// connect connects to the NATS server, saying what to do when it refuses the credentials or the TLS handshake.
func (cfg *WorkerConfig) connect() (*nats.Conn, error) {
	opts := []nats.Option{nats.UserInfo(cfg.Credentials.User, cfg.Credentials.Password),
		nats.Name("whet worker " + cfg.ID), nats.MaxReconnects(-1), nats.ReconnectWait(500 * time.Millisecond)}
	if cfg.TLS != nil {
		opts = append(opts, nats.Secure(cfg.TLS))
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err == nil {
		return nc, nil
	}
	low := strings.ToLower(err.Error())
	switch {
	case errors.Is(err, nats.ErrAuthorization) || strings.Contains(low, "authorization"):
		return nil, fmt.Errorf("worker: %s refused the credentials %s (%v): they are unknown to this server; ask its admin for new ones (whet workers token --server URL --out FILE)",
			cfg.URL, cmp(cfg.CredentialsFile, "given"), err)
	case strings.Contains(low, "x509") || strings.Contains(low, "tls"):
		return nil, fmt.Errorf("worker: TLS to %s failed (%v): give the CA that signed the NATS server's certificate with --nats-tls CA.pem, or use credentials from `whet workers token` of a server started with --nats-tls",
			cfg.URL, err)
	}
	return nil, fmt.Errorf("worker: connect to %s: %w", cfg.URL, err)
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (w *worker) hello() registerReq {
	return registerReq{Worker: w.cfg.ID, Host: w.host, Slots: w.cfg.Slots}
}

// pull fetches one job per free slot until ctx ends or the worker is drained, then waits for its jobs.
func (w *worker) pull(ctx context.Context, cons jetstream.Consumer) error {
	if w.cfg.Slots == 0 { // predictions only
		<-ctx.Done()
		return ctx.Err()
	}
	free := make(chan string, w.cfg.Slots) // the free slots' devices ("": the trainer picks)
	for i := range w.cfg.Slots {
		if i < len(w.cfg.Devices) {
			free <- w.cfg.Devices[i]
		} else {
			free <- ""
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		var dev string
		select {
		case <-ctx.Done():
			return ctx.Err()
		case dev = <-free:
		}
		if w.isDraining() {
			free <- dev
			wg.Wait()
			w.log.Info("worker drained: exiting")
			return nil
		}
		msg, err := cons.Next(jetstream.FetchMaxWait(time.Second))
		if err != nil {
			free <- dev
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
				w.log.Warn("fetch job", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { free <- dev }()
			w.handle(ctx, msg, dev)
		}()
	}
}

func (w *worker) isDraining() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.draining
}

// heartbeats keeps the running jobs' messages in progress and reports to the server every hbEvery.
func (w *worker) heartbeats(ctx context.Context) {
	t := time.NewTicker(w.hbEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.mu.Lock()
		req := heartbeatReq{registerReq: w.hello()}
		var running []*attempt
		for _, a := range w.active {
			running = append(running, a)
			req.Jobs = append(req.Jobs, jobRef{Job: a.job, Token: a.token})
		}
		w.mu.Unlock()
		for _, a := range running {
			if err := a.msg.InProgress(); err != nil {
				w.log.Warn("heartbeat to JetStream", "job_id", a.job, "err", err)
			}
		}
		var resp heartbeatResp
		if err := w.request(ctx, subjHeartbeat, req, &resp, w.hbEvery); err != nil {
			w.log.Warn("heartbeat to the server", "err", err)
			continue
		}
		w.mu.Lock()
		if resp.Drain && !w.draining {
			w.log.Info("drain requested: finishing running jobs, taking no new ones")
			w.draining = true
		}
		for _, tok := range resp.Stop {
			if a := w.active[tok]; a != nil {
				w.log.Info("the server stopped a job (cancelled or moved)", "job_id", a.job)
				a.interrupt()
			}
		}
		w.mu.Unlock()
	}
}

// request sends a JSON request to the server and decodes its JSON reply. Core NATS delivers at most once: a
// request or its reply lost while a NATS node fails over, nobody answering while the server restarts, or a busy
// server is answered by sending the request again (every server handler is idempotent), each try waiting at most
// tryTimeout (doubling up to 8 times that), until total has passed.
func (w *worker) request(ctx context.Context, subj string, req, resp any, total time.Duration) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, total)
	defer cancel()
	try := min(tryTimeout, total)
	for {
		tctx, tcancel := context.WithTimeout(ctx, try)
		m, err := w.nc.RequestWithContext(tctx, subj, b)
		tcancel()
		if err == nil {
			var busy struct{ Busy bool }
			if json.Unmarshal(m.Data, &busy) != nil || !busy.Busy {
				return json.Unmarshal(m.Data, resp)
			}
			err = errors.New("server busy")
		}
		if ctx.Err() != nil {
			return fmt.Errorf("no answer from the server on %s within %s: %w", subj, total, err)
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
			if w.log != nil {
				w.log.Info("no answer from the server: sending the request again", "subject", subj, "waited", try)
			}
			try = min(2*try, 8*tryTimeout) // a handler slower than try (a large checkpoint): wait longer
			continue
		}
		select { // no responders (restarting), busy, or disconnected: sent again shortly
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}
