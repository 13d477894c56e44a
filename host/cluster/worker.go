package cluster

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/whetml/whet/internal/runspec"
	"github.com/whetml/whet/internal/tail"
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
	// DataDir holds cached base models and the folders of running jobs. Required.
	DataDir string
	// Slots is how many jobs train at once; 0 with ServeModels: predictions only. Default: 1, or one per device.
	Slots int
	// Devices, when set, pins each slot to one device ("cuda:0", "cuda:1"; `whet worker --gpus 0,1`): one job
	// trains per device, its trainer run with --device and WHET_DEVICE naming it. Slots must be 0 or len(Devices).
	Devices []string
	// ServeModels makes the worker answer the server's predict requests too (any model, loaded on demand).
	ServeModels bool
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

	modelMu sync.Mutex // one base-model download at a time
	serving sync.Map   // model ids predictions were served for (logged once)

	mu       sync.Mutex
	active   map[string]*attempt // by token
	draining bool
}

// attempt is one job this worker runs.
type attempt struct {
	job, token string
	msg        jetstream.Msg
	device     string // the trainer's --device, "" for its default

	mu         sync.Mutex
	proc       *os.Process
	stopped    bool // interrupted on the server's word (cancel or superseded)
	superseded bool // the server gave the job to another attempt: report nothing more
}

func (a *attempt) interrupt() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopped = true
	if a.proc != nil {
		_ = a.proc.Signal(os.Interrupt)
	}
}

// RunWorker connects to the cluster, then pulls and runs jobs until ctx ends (running trainers are interrupted:
// they checkpoint and their jobs go to other workers) or an admin drains it (it exits once its jobs finish).
//
// # Errors
//
// Credentials the NATS server refuses, a server without a job stream (not started with --cluster), or ctx's end.
func RunWorker(ctx context.Context, cfg WorkerConfig) error {
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
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var err error
	if cfg.DataDir, err = filepath.Abs(cfg.DataDir); err != nil {
		return fmt.Errorf("worker: data folder: %w", err)
	}
	if cfg.Bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("worker: %w", err)
		}
		cfg.Bin = exe
	}
	host, _ := os.Hostname()
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
	opts := []nats.Option{nats.UserInfo(cfg.Credentials.User, cfg.Credentials.Password),
		nats.Name("whet worker " + cfg.ID), nats.MaxReconnects(-1), nats.ReconnectWait(500 * time.Millisecond)}
	if cfg.TLS != nil {
		opts = append(opts, nats.Secure(cfg.TLS))
	}
	w := &worker{cfg: cfg, log: cfg.Logger.With("worker", cfg.ID), host: host, active: map[string]*attempt{}}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		low := strings.ToLower(err.Error())
		switch {
		case errors.Is(err, nats.ErrAuthorization) || strings.Contains(low, "authorization"):
			return fmt.Errorf("worker: %s refused the credentials %s (%v): they are unknown to this server; ask its admin for new ones (whet workers token --server URL --out FILE)",
				cfg.URL, cmp(cfg.CredentialsFile, "given"), err)
		case strings.Contains(low, "x509") || strings.Contains(low, "tls"):
			return fmt.Errorf("worker: TLS to %s failed (%v): give the CA that signed the NATS server's certificate with --nats-tls CA.pem, or use credentials from `whet workers token` of a server started with --nats-tls",
				cfg.URL, err)
		}
		return fmt.Errorf("worker: connect to %s: %w", cfg.URL, err)
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
		"ack_wait", w.ackWait)
	if cfg.Ready != nil {
		cfg.Ready(cfg.ID)
	}
	err = w.pull(ctx, cons)
	stopHB()
	<-hbDone
	return err
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

// handle claims one delivered job, runs it and settles the message.
func (w *worker) handle(ctx context.Context, msg jetstream.Msg, device string) {
	var d dispatchMsg
	if err := json.Unmarshal(msg.Data(), &d); err != nil || d.Job == "" {
		w.log.Error("malformed job message: dropped", "data", string(msg.Data()))
		_ = msg.Term()
		return
	}
	var cr claimResp
	nonce := make([]byte, 12)
	_, _ = rand.Read(nonce)
	if err := w.request(ctx, subjClaim, claimReq{Worker: w.cfg.ID, Job: d.Job, Claim: hex.EncodeToString(nonce)}, &cr, time.Minute); err != nil {
		w.log.Warn("claim job", "job_id", d.Job, "err", err)
		_ = msg.NakWithDelay(w.hbEvery)
		return
	}
	switch {
	case cr.Drop:
		w.log.Info("job needs no work: dropped", "job_id", d.Job, "reason", cr.Error)
		_ = msg.Term()
		return
	case cr.Retry || cr.Token == "":
		_ = msg.NakWithDelay(w.hbEvery)
		return
	}
	a := &attempt{job: d.Job, token: cr.Token, msg: msg, device: device}
	w.mu.Lock()
	w.active[a.token] = a
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.active, a.token)
		w.mu.Unlock()
	}()
	log := w.log.With("job_id", a.job, "attempt", a.token)
	log.Info("job claimed", "resume", cr.ResumeName, "device", device)
	exitErr, summary := w.train(ctx, a, cr, log)
	a.mu.Lock()
	superseded := a.superseded
	a.mu.Unlock()
	switch {
	case superseded:
		log.Warn("the job moved to another worker: this attempt's result is discarded")
		return
	case ctx.Err() != nil:
		log.Warn("worker stopping: job handed back", "err", ctx.Err())
		_ = msg.Nak()
		return
	}
	var rep reply
	if err := w.request(ctx, subjFinish, finishReq{jobRef: jobRef{Job: a.job, Token: a.token}, Worker: w.cfg.ID,
		ExitError: exitErr, Summary: summary}, &rep, 30*time.Minute); err != nil || rep.Error != "" {
		log.Error("report the finished job: the server will give it to a worker again", "err", err, "reply", rep.Error)
		if !rep.Drop {
			_ = msg.NakWithDelay(w.hbEvery)
		}
		return
	}
	if err := retried(ctx, func() error { return msg.DoubleAck(ctx) }); err != nil {
		log.Warn("ack job", "err", err)
	}
	log.Info("job finished", "exit_error", exitErr)
}

// train fetches the inputs, runs `whet train` and uploads its output. It returns "" and the trainer's summary
// line when the output is in the Object Store, else why not.
func (w *worker) train(ctx context.Context, a *attempt, cr claimResp, log *slog.Logger) (exitErr, summary string) {
	dir := filepath.Join(w.cfg.DataDir, "jobs", a.job+"-"+a.token)
	defer os.RemoveAll(dir)
	model, err := w.model(ctx, cr.Model, cr.ModelObject)
	if err != nil {
		return "could not start: fetch the base model: " + err.Error(), ""
	}
	input, out := filepath.Join(dir, "input"), filepath.Join(dir, "out")
	if err := getFiles(ctx, w.obs, cr.InputObject, input, w.cfg.MaxArtifactSize); err != nil {
		return "could not start: fetch the job's inputs: " + err.Error(), ""
	}
	spec := runspec.Spec{Model: model, TrainFile: filepath.Join(input, "train.jsonl"), ValidationSplit: cr.ValidationSplit,
		OutputDir: out, Hyperparameters: cr.Hyperparameters}
	if cr.HasValidation {
		spec.ValidationFile = filepath.Join(input, "validation.jsonl")
	}
	if cr.HasPreprocess {
		spec.PreprocessModule = filepath.Join(input, "preprocess.wasm")
	}
	if cr.HasEvaluate {
		spec.EvaluateModule = filepath.Join(input, "evaluate.wasm")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "could not start: " + err.Error(), ""
	}
	specFile := filepath.Join(dir, "spec.json")
	if err := spec.Write(specFile); err != nil {
		return "could not start: " + err.Error(), ""
	}
	args := []string{"train", "--spec", specFile, "--progress", "json"}
	if w.cfg.Threads > 0 {
		args = append(args, "--threads", strconv.Itoa(w.cfg.Threads))
	}
	if a.device != "" {
		args = append(args, "--device", a.device)
	}
	if cr.ResumeObject != "" {
		ck := filepath.Join(out, "checkpoints", filepath.Base(cr.ResumeName))
		if err := getFiles(ctx, w.obs, cr.ResumeObject, ck, w.cfg.MaxArtifactSize); err != nil {
			return "could not start: fetch the checkpoint to resume from: " + err.Error(), ""
		}
		args = append(args, "--resume", ck)
	}
	// PR_SET_PDEATHSIG fires when the starting thread exits: stay on it until the trainer is reaped.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd := exec.Command(w.cfg.Bin, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = sysProcAttr()
	if a.device != "" { // the device for anything the trainer starts too
		cmd.Env = append(os.Environ(), "WHET_DEVICE="+a.device)
	}
	stdout := &tail.Buffer{Max: 64 << 10}
	cmd.Stdout = stdout
	stderr, err := cmd.StderrPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		return fmt.Sprintf("could not start: %s: %v", w.cfg.Bin, err), ""
	}
	log.Info("trainer started", "pid", cmd.Process.Pid)
	a.mu.Lock()
	a.proc = cmd.Process
	stopped := a.stopped
	a.mu.Unlock()
	if stopped {
		_ = cmd.Process.Signal(os.Interrupt)
	}
	stopOnCtx := context.AfterFunc(ctx, func() { _ = cmd.Process.Signal(os.Interrupt) })
	defer stopOnCtx()

	lines := make(chan string, 256)
	sent := make(chan struct{})
	go func() { defer close(sent); w.send(ctx, a, lines, log) }()
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	for sc.Scan() {
		lines <- sc.Text() // the server finds the trainer's error line among them
	}
	_, _ = io.Copy(io.Discard, stderr)
	close(lines)
	waitErr := cmd.Wait()
	<-sent
	if ls := stdout.LastLines(1); len(ls) == 1 {
		summary = ls[0]
	}
	if waitErr != nil {
		msg := waitErr.Error()
		var ee *exec.ExitError
		if errors.As(waitErr, &ee) {
			msg = "exited with " + ee.ProcessState.String()
		}
		return msg, summary
	}
	files, err := dirFiles(out, "checkpoints")
	if err == nil {
		err = putFiles(ctx, w.obs, objOut(a.job, a.token), files)
	}
	if err != nil {
		return "exited cleanly but its output could not be uploaded: " + err.Error(), summary
	}
	return "", summary
}

// send forwards the trainer's lines to the server in order, in batches of what accumulated while the previous
// batch was in flight. A checkpoint is uploaded before the line that announces it.
func (w *worker) send(ctx context.Context, a *attempt, lines <-chan string, log *slog.Logger) {
	seq := 0 // lines sent so far
	for l := range lines {
		batch := []string{l}
	more:
		for len(batch) < 1000 {
			select {
			case l, ok := <-lines:
				if !ok {
					break more
				}
				batch = append(batch, l)
			default:
				break more
			}
		}
		for _, l := range batch {
			var ck struct {
				Type, Path string
			}
			if json.Unmarshal([]byte(l), &ck) != nil || ck.Type != "checkpoint" || ck.Path == "" {
				continue
			}
			files, err := dirFiles(ck.Path)
			if err == nil {
				err = putFiles(ctx, w.obs, objCheckpoint(a.job, a.token, filepath.Base(ck.Path)), files)
			}
			if err != nil {
				log.Error("upload checkpoint", "path", ck.Path, "err", err)
			}
		}
		var rep reply
		var err error
		req := linesReq{jobRef: jobRef{Job: a.job, Token: a.token}, Seq: seq, Lines: batch}
		seq += len(batch)
		for try := 0; try < 5; try++ { // the server failed to record them (its store): the lines are kept, in order
			rep = reply{}
			if err = w.request(ctx, subjLines, req, &rep, 10*time.Minute); err != nil || rep.Error == "" || rep.Drop {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(try+1) * 200 * time.Millisecond):
			}
		}
		switch {
		case err != nil || rep.Error != "" && !rep.Drop:
			log.Warn("send progress to the server: lines lost", "lines", len(batch), "err", err, "reply", rep.Error)
		case rep.Drop:
			a.mu.Lock()
			if !a.superseded {
				log.Warn("the server gave this job to another attempt: stopping the trainer", "reason", rep.Error)
				a.superseded, a.stopped = true, true
				if a.proc != nil {
					_ = a.proc.Kill()
				}
			}
			a.mu.Unlock()
		}
	}
}

// model returns the local folder of base model id, downloading it once.
func (w *worker) model(ctx context.Context, id, object string) (string, error) {
	w.modelMu.Lock()
	defer w.modelMu.Unlock()
	sum := sha256.Sum256([]byte(id))
	dir := filepath.Join(w.cfg.DataDir, "models", hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	if err := replaceDir(ctx, w.obs, object, dir, w.cfg.MaxArtifactSize); err != nil {
		return "", err
	}
	w.log.Info("base model cached", "model", id, "dir", dir)
	return dir, nil
}
