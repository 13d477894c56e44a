package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/whetml/whet/host/jobs"
	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/sdk"
)

// Defaults for Config.
const (
	DefaultAckWait         = time.Minute
	DefaultMaxArtifactSize = int64(8 << 30)
	maxConcurrentRequests  = 64
	maxDispatchedCache     = 4096
)

// Config configures a Coordinator.
type Config struct {
	// Store is the server's store. Required.
	Store *store.Store
	// Conn is the server's NATS connection (Embedded.Connect, or an external server's). Required.
	Conn *nats.Conn
	// AckWait is how long a worker may stay silent before its job goes to another worker; workers heartbeat
	// every AckWait/4. Default: DefaultAckWait.
	AckWait time.Duration
	// Replicas is the replication of the stream and bucket (3 on a three-node NATS cluster). Default: 1.
	Replicas int
	// MaxArtifactSize caps one downloaded archive (checkpoint, output). Default: DefaultMaxArtifactSize (8 GiB).
	MaxArtifactSize int64
	// Logger receives the coordinator's logs. Default: discarded.
	Logger *slog.Logger
	// URLs are the NATS URLs workers connect to, written into new credentials. Empty: the NATS server is
	// external and issues its own credentials (WorkerToken refuses).
	URLs []string
	// CA is the PEM CA certificate of the NATS server's TLS certificate, written into new credentials. Default: none.
	CA []byte
}

// Coordinator is the server's side of the cluster: it dispatches queued jobs (a jobs.Dispatcher) and answers the
// workers' requests, feeding their reports into the job queue.
type Coordinator struct {
	cfg  Config
	st   *store.Store
	log  *slog.Logger
	js   jetstream.JetStream
	obs  jetstream.ObjectStore
	q    *jobs.Queue
	subs []*nats.Subscription
	sem  chan struct{}
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	inputsMu sync.Mutex // held while input archives are uploaded or deleted

	mu         sync.Mutex
	dispatched map[string]bool           // "job/attempts" already published
	runs       map[string]*remoteAttempt // by attempt token
	claims     map[string]*pendingClaim  // by claim id: claims in progress and those of the attempts in runs
}

type remoteAttempt struct {
	run   *jobs.RemoteRun
	claim string // the worker's claim id (claimReq.Claim)

	mu       sync.Mutex
	lines    int    // lines recorded (linesReq.Seq), also in the store: a batch sent again is not recorded twice
	finished bool   // finish recorded: a finish sent again is answered with done
	best     string // server-side folder of the best checkpoint so far
	last     string // and of the latest
}

// NewCoordinator creates (or updates) the job stream, its worker consumer and the artifact bucket.
func NewCoordinator(ctx context.Context, cfg Config) (*Coordinator, error) {
	if cfg.Store == nil || cfg.Conn == nil {
		return nil, errors.New("cluster: config Store and Conn are required")
	}
	if cfg.AckWait == 0 {
		cfg.AckWait = DefaultAckWait
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.MaxArtifactSize == 0 {
		cfg.MaxArtifactSize = DefaultMaxArtifactSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	js, err := jetstream.New(cfg.Conn)
	if err != nil {
		return nil, fmt.Errorf("cluster: jetstream: %w", err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: StreamJobs, Subjects: []string{SubjectDispatch},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage, Replicas: cfg.Replicas,
		Duplicates: 10 * time.Minute}); err != nil {
		return nil, fmt.Errorf("cluster: stream %s: %w", StreamJobs, err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, StreamJobs, jetstream.ConsumerConfig{Durable: ConsumerWorkers,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: cfg.AckWait, MaxDeliver: -1, MaxAckPending: 10000,
		Replicas: cfg.Replicas}); err != nil {
		return nil, fmt.Errorf("cluster: consumer %s: %w", ConsumerWorkers, err)
	}
	obs, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: Bucket, Storage: jetstream.FileStorage,
		Replicas: cfg.Replicas, Description: "whet artifacts: job inputs, base models, checkpoints, outputs"})
	if err != nil {
		return nil, fmt.Errorf("cluster: object store %s: %w", Bucket, err)
	}
	cctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	return &Coordinator{cfg: cfg, st: cfg.Store, log: cfg.Logger, js: js, obs: obs, sem: make(chan struct{}, maxConcurrentRequests),
		ctx: cctx, stop: stop, dispatched: map[string]bool{}, runs: map[string]*remoteAttempt{}, claims: map[string]*pendingClaim{}}, nil
}

// Start answers workers' requests, reporting into q. Call it once, before q starts.
func (c *Coordinator) Start(q *jobs.Queue) error {
	c.q = q
	handlers := map[string]func(context.Context, []byte) any{
		subjRegister: c.register, subjClaim: c.claim, subjHeartbeat: c.heartbeat, subjLines: c.lines, subjFinish: c.finish,
	}
	for subj, h := range handlers {
		sub, err := c.cfg.Conn.Subscribe(subj, c.serve(h))
		if err != nil {
			c.Close()
			return fmt.Errorf("cluster: subscribe %s: %w", subj, err)
		}
		c.subs = append(c.subs, sub)
	}
	return c.cfg.Conn.Flush()
}

// Close stops answering workers and waits for requests in progress.
func (c *Coordinator) Close() {
	for _, s := range c.subs {
		_ = s.Unsubscribe()
	}
	c.stop()
	c.wg.Wait()
}

// serve runs h on each request in its own goroutine (at most maxConcurrentRequests at once; beyond that the
// worker is told to retry) and replies with its JSON result.
func (c *Coordinator) serve(h func(context.Context, []byte) any) nats.MsgHandler {
	return func(m *nats.Msg) {
		select {
		case c.sem <- struct{}{}:
		default:
			c.respond(m, reply{Busy: true, Error: "server busy: retry"})
			return
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer func() { <-c.sem }()
			c.respond(m, h(c.ctx, m.Data))
		}()
	}
}

func (c *Coordinator) respond(m *nats.Msg, v any) {
	b, _ := json.Marshal(v)
	if err := m.Respond(b); err != nil {
		c.log.Warn("cluster: reply to worker", "subject", m.Subject, "err", err)
	}
}

// Dispatch implements jobs.Dispatcher: it uploads the job's inputs and publishes it once per attempt.
func (c *Coordinator) Dispatch(ctx context.Context, j *store.Job) error {
	key := j.ID + "/" + strconv.Itoa(j.Attempts)
	c.mu.Lock()
	done := c.dispatched[key]
	c.mu.Unlock()
	if done {
		return nil
	}
	model, err := c.st.GetModel(ctx, j.Model)
	if err != nil {
		return err
	}
	obj, err := objModel(model.ID, model.Path)
	if err != nil {
		return err
	}
	if _, err := c.obs.GetInfo(ctx, obj); errors.Is(err, jetstream.ErrObjectNotFound) {
		if err := c.uploadModel(ctx, model.ID, model.Path, obj); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	if err := c.putInputs(ctx, j); err != nil {
		return err
	}
	b, _ := json.Marshal(dispatchMsg{Job: j.ID, Attempt: j.Attempts})
	if _, err := c.js.Publish(ctx, SubjectDispatch, b, jetstream.WithMsgID(key)); err != nil {
		return fmt.Errorf("publish job[%s]: %w", j.ID, err)
	}
	c.mu.Lock()
	if len(c.dispatched) >= maxDispatchedCache {
		clear(c.dispatched) // a republished job is deduplicated by its message id, or dropped by its claim
	}
	c.dispatched[key] = true
	c.mu.Unlock()
	c.log.Info("job dispatched to workers", "job_id", j.ID, "attempt", j.Attempts+1)
	return nil
}

func decode(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("bad request: %v", err)
	}
	return nil
}

func (c *Coordinator) register(ctx context.Context, data []byte) any {
	var r registerReq
	if err := decode(data, &r); err != nil || r.Worker == "" {
		return registerResp{Error: "bad register request"}
	}
	if _, err := c.st.SeenWorker(ctx, store.Worker{ID: r.Worker, Host: r.Host, Slots: r.Slots}); err != nil {
		return registerResp{Error: err.Error()}
	}
	c.log.Info("worker joined", "worker", r.Worker, "host", r.Host, "slots", r.Slots)
	return registerResp{AckWaitMS: c.cfg.AckWait.Milliseconds(), HeartbeatMS: (c.cfg.AckWait / 4).Milliseconds()}
}

func (c *Coordinator) claim(ctx context.Context, data []byte) any {
	var r claimReq
	if err := decode(data, &r); err != nil {
		return claimResp{Error: err.Error()}
	}
	if r.Claim == "" {
		return claimResp{Error: "bad claim request: no claim id"}
	}
	c.mu.Lock()
	if p := c.claims[r.Claim]; p != nil { // the worker sent its claim again: the first reply was lost or late
		c.mu.Unlock()
		select {
		case <-p.done:
			return p.resp
		case <-ctx.Done():
			return claimResp{Retry: true, Error: "server stopping"}
		}
	}
	if len(c.claims) >= maxDispatchedCache {
		c.mu.Unlock()
		return reply{Busy: true, Error: "server busy: retry"}
	}
	p := &pendingClaim{done: make(chan struct{})}
	c.claims[r.Claim] = p
	c.mu.Unlock()
	p.resp = c.startAttempt(ctx, r)
	close(p.done)
	if p.resp.Token == "" { // no attempt: the claim may be tried afresh
		c.mu.Lock()
		delete(c.claims, r.Claim)
		c.mu.Unlock()
	}
	return p.resp
}

// pendingClaim is a claim being answered, or answered with a new attempt.
type pendingClaim struct {
	done chan struct{}
	resp claimResp
}

// startAttempt starts the attempt claim r asks for (or takes up the one it started before a server restart).
func (c *Coordinator) startAttempt(ctx context.Context, r claimReq) claimResp {
	run, err := c.claimedBefore(ctx, r)
	again := run != nil
	if run == nil && err == nil {
		run, err = c.q.ClaimRemote(ctx, r.Job, r.Worker, c.cfg.AckWait)
	}
	var ce *jobs.ClaimError
	if errors.As(err, &ce) {
		if ce.Drop { // e.g. cancelled while its worker was dead: that attempt will never finish
			c.forgetJob(r.Job)
			c.cleanup(ctx, r.Job)
		}
		return claimResp{Drop: ce.Drop, Retry: !ce.Drop, Error: ce.Error()}
	}
	if err != nil {
		c.log.Error("cluster: claim", "job_id", r.Job, "worker", r.Worker, "err", err)
		return claimResp{Retry: true, Error: err.Error()}
	}
	resp, err := c.attemptResp(ctx, run)
	if err != nil {
		return claimResp{Retry: true, Error: err.Error()}
	}
	j := run.Job()
	if !again {
		if err := c.st.SetAttemptClaim(ctx, j.ID, run.Token(), r.Claim); err != nil {
			c.log.Error("cluster: record the claim", "job_id", j.ID, "err", err)
		}
	}
	c.forgetJob(j.ID) // attempts of this job that lost it
	c.mu.Lock()
	c.runs[run.Token()] = &remoteAttempt{run: run, claim: r.Claim, last: run.Resume()}
	c.mu.Unlock()
	return resp
}

// claimedBefore returns the attempt that claim r started before this server started (its reply was lost in the
// restart) when that attempt still holds the job, else nil.
func (c *Coordinator) claimedBefore(ctx context.Context, r claimReq) (*jobs.RemoteRun, error) {
	tok, err := c.st.AttemptByClaim(ctx, r.Job, r.Claim)
	if err != nil || tok == "" {
		return nil, err
	}
	run, err := c.q.RemoteRun(ctx, r.Job, tok)
	var ce *jobs.ClaimError
	if errors.As(err, &ce) {
		return nil, nil // finished, cancelled or moved: claim afresh
	}
	return run, err
}

// attemptResp is the claim's answer for attempt run: what to train, and the checkpoint to resume from uploaded.
func (c *Coordinator) attemptResp(ctx context.Context, run *jobs.RemoteRun) (claimResp, error) {
	j := run.Job()
	hp, err := run.Hyperparameters()
	if err != nil { // validated at creation: only a corrupt row gets here
		return claimResp{}, err
	}
	m, err := c.st.GetModel(ctx, j.Model)
	if err != nil {
		return claimResp{}, err
	}
	obj, err := objModel(m.ID, m.Path)
	if err != nil {
		return claimResp{}, err
	}
	inputs, err := c.inputObjects(ctx, j)
	if err != nil {
		return claimResp{}, err
	}
	resp := claimResp{Token: run.Token(), Model: j.Model, ModelObject: obj, InputObjects: inputs,
		Hyperparameters: hp, HasValidation: j.ValidationPath != "", ValidationSplit: run.ValidationSplit(), HasPreprocess: j.PreprocessModule != "",
		HasEvaluate: j.EvaluateModule != ""}
	if resume := run.Resume(); resume != "" {
		files, err := dirFiles(resume)
		if err == nil {
			err = putFiles(ctx, c.obs, objResume(j.ID), files)
		}
		if err != nil {
			c.log.Error("cluster: upload checkpoint to resume from", "job_id", j.ID, "err", err)
		} else {
			resp.ResumeObject, resp.ResumeName = objResume(j.ID), filepath.Base(resume)
		}
	}
	return resp, os.MkdirAll(filepath.Join(j.OutDir, "checkpoints"), 0o755)
}

// attempt returns the live attempt holding token, or a reply telling the worker to drop it.
func (c *Coordinator) attempt(ctx context.Context, ref jobRef) (*remoteAttempt, *reply) {
	c.mu.Lock()
	a := c.runs[ref.Token]
	c.mu.Unlock()
	if a != nil && a.run.Job().ID == ref.Job {
		return a, nil
	}
	run, err := c.q.RemoteRun(ctx, ref.Job, ref.Token) // e.g. after a server restart
	var ce *jobs.ClaimError
	var nf *store.NotFoundError
	if errors.As(err, &ce) || errors.As(err, &nf) {
		return nil, &reply{Drop: true, Error: err.Error()}
	}
	if err != nil {
		return nil, &reply{Error: err.Error()}
	}
	n, err := c.st.AttemptLines(ctx, ref.Job, ref.Token)
	if err != nil {
		return nil, &reply{Error: err.Error()}
	}
	a = &remoteAttempt{run: run, lines: n}
	c.mu.Lock()
	c.runs[ref.Token] = a
	c.mu.Unlock()
	return a, nil
}

func (c *Coordinator) forget(token string) {
	c.mu.Lock()
	c.forgetLocked(token)
	c.mu.Unlock()
}

// forgetJob forgets every attempt of job id.
func (c *Coordinator) forgetJob(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for tok, a := range c.runs {
		if a.run.Job().ID == id {
			c.forgetLocked(tok)
		}
	}
}

func (c *Coordinator) forgetLocked(token string) {
	if a := c.runs[token]; a != nil {
		delete(c.claims, a.claim)
		delete(c.runs, token)
	}
}

func (c *Coordinator) heartbeat(ctx context.Context, data []byte) any {
	var r heartbeatReq
	if err := decode(data, &r); err != nil {
		return heartbeatResp{Error: err.Error()}
	}
	drain, err := c.st.SeenWorker(ctx, store.Worker{ID: r.Worker, Host: r.Host, Slots: r.Slots})
	if err != nil {
		return heartbeatResp{Error: err.Error()}
	}
	out := heartbeatResp{Drain: drain}
	for _, ref := range r.Jobs {
		a, rep := c.attempt(ctx, ref)
		if rep != nil {
			if rep.Drop {
				out.Stop = append(out.Stop, ref.Token)
			}
			continue
		}
		stop, err := a.run.Heartbeat(ctx)
		if err != nil {
			c.log.Error("cluster: heartbeat", "job_id", ref.Job, "err", err)
		}
		if stop {
			out.Stop = append(out.Stop, ref.Token)
		}
	}
	return out
}

// lines feeds an attempt's trainer lines into the queue, in order. A checkpoint line's folder (uploaded by the
// worker first) is downloaded into the job's folder and the line's path rewritten to it.
func (c *Coordinator) lines(ctx context.Context, data []byte) any {
	var r linesReq
	return c.withAttempt(ctx, data, &r, func(a *remoteAttempt) any {
		skip := a.lines - r.Seq
		if skip < 0 {
			c.log.Warn("cluster: progress lines lost between worker and server", "job_id", r.Job, "lines", -skip)
			skip = 0
		}
		if skip >= len(r.Lines) {
			return reply{}
		}
		c.recordLines(ctx, a, r.Token, r.Lines[skip:])
		a.lines = r.Seq + len(r.Lines)
		if err := c.st.SetAttemptLines(ctx, r.Job, r.Token, a.lines); err != nil {
			c.log.Error("cluster: record the line count", "job_id", r.Job, "err", err)
		}
		return reply{}
	})
}

// withAttempt decodes a request about an attempt into r and runs f holding the attempt, or tells the worker to
// drop an attempt that no longer holds its job.
func (c *Coordinator) withAttempt(ctx context.Context, data []byte, r interface{ ref() jobRef }, f func(*remoteAttempt) any) any {
	if err := decode(data, r); err != nil {
		return reply{Error: err.Error()}
	}
	a, rep := c.attempt(ctx, r.ref())
	if rep != nil {
		return rep
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return f(a)
}

// recordLines feeds lines of attempt token into the queue, in order.
func (c *Coordinator) recordLines(ctx context.Context, a *remoteAttempt, token string, lines []string) {
	j := a.run.Job()
	for _, l := range lines {
		raw := []byte(l)
		var ck struct {
			Type string `json:"type"`
			Path string `json:"path"`
			Best bool   `json:"best"`
		}
		if json.Unmarshal(raw, &ck) == nil && ck.Type == "checkpoint" && ck.Path != "" {
			base := filepath.Base(ck.Path)
			dst := filepath.Join(j.OutDir, "checkpoints", base)
			name := objCheckpoint(j.ID, token, base)
			if err := replaceDir(ctx, c.obs, name, dst, c.cfg.MaxArtifactSize); err != nil {
				c.log.Error("cluster: fetch checkpoint", "job_id", j.ID, "checkpoint", base, "err", err)
				a.run.Line(ctx, []byte(fmt.Sprintf(`{"type":"log","level":"warn","message":%q}`,
					"checkpoint "+base+" could not be copied from the worker: "+err.Error())))
				continue
			}
			_ = c.obs.Delete(ctx, name)
			a.prune(dst, ck.Best)
			var doc map[string]any
			_ = json.Unmarshal(raw, &doc)
			doc["path"] = dst
			raw, _ = json.Marshal(doc)
		}
		a.run.Line(ctx, raw)
	}
}

// prune keeps the server's copies like the trainer keeps its own: only the best and the latest checkpoint.
func (a *remoteAttempt) prune(latest string, best bool) {
	if best {
		a.best = latest
	}
	prev := a.last
	a.last = latest
	if prev != "" && prev != latest && prev != a.best {
		_ = os.RemoveAll(prev)
	}
}

// finish takes an attempt's exit: on a clean exit the output archive replaces the job's folder (its
// checkpoints stay), then the queue records the outcome. The worker acks the job only after this replies.
func (c *Coordinator) finish(ctx context.Context, data []byte) any {
	var r finishReq
	rep := c.withAttempt(ctx, data, &r, func(a *remoteAttempt) any {
		if a.finished { // sent again: the first reply was lost or late
			return reply{}
		}
		j := a.run.Job()
		start := time.Now()
		var exitErr error
		if r.ExitError != "" {
			exitErr = fmt.Errorf("%s (on worker %s)", r.ExitError, r.Worker)
		} else if err := c.storeOutput(ctx, j, r.Token); err != nil {
			c.log.Error("cluster: fetch output", "job_id", j.ID, "err", err)
			return reply{Error: "the server could not store the output: " + err.Error()}
		}
		stored := time.Now()
		st, err := a.run.Finish(ctx, exitErr, r.Summary)
		a.finished = true
		c.forget(r.Token)
		var ce *jobs.ClaimError
		if errors.As(err, &ce) {
			return reply{Drop: true, Error: err.Error()}
		}
		if err != nil {
			return reply{Error: err.Error()}
		}
		c.log.Info("remote attempt finished", "job_id", j.ID, "worker", r.Worker, "status", st,
			"output", stored.Sub(start).Round(time.Millisecond), "record", time.Since(stored).Round(time.Millisecond))
		c.cleanupLater(j.ID)
		return reply{}
	})
	if rp, ok := rep.(*reply); ok && rp.Drop { // sent again after the attempt was forgotten: did it finish the job?
		if j, err := c.st.GetJob(ctx, r.Job); err == nil && j.AttemptToken == r.Token && jobs.State(j.Status).Terminal() {
			return reply{}
		}
	}
	return rep
}

func (c *Coordinator) storeOutput(ctx context.Context, j *store.Job, token string) error {
	tmp := j.OutDir + ".incoming"
	_ = os.RemoveAll(tmp)
	if err := getFiles(ctx, c.obs, objOut(j.ID, token), tmp, c.cfg.MaxArtifactSize); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	defer os.RemoveAll(tmp)
	entries, err := os.ReadDir(j.OutDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		if e.Name() != "checkpoints" {
			if err := os.RemoveAll(filepath.Join(j.OutDir, e.Name())); err != nil {
				return err
			}
		}
	}
	in, err := os.ReadDir(tmp)
	if err != nil {
		return err
	}
	for _, e := range in {
		if err := os.Rename(filepath.Join(tmp, e.Name()), filepath.Join(j.OutDir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// cleanupLater runs cleanup after the reply: the worker need not wait for it to take its next job.
func (c *Coordinator) cleanupLater(jobID string) {
	c.wg.Add(1) // within a request's goroutine, itself counted: Close waits for this too
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), 10*time.Second)
		defer cancel()
		c.cleanup(ctx, jobID)
	}()
}

// cleanup deletes a finished job's objects (checkpoint to resume from, leftovers of dead attempts) and the input
// archives no other job needs.
func (c *Coordinator) cleanup(ctx context.Context, jobID string) {
	defer c.dropUnusedInputs(ctx)
	lister, err := c.obs.List(ctx)
	if err != nil {
		return
	}
	prefix := "jobs/" + jobID + "/"
	for _, info := range lister {
		if strings.HasPrefix(info.Name, prefix) {
			_ = c.obs.Delete(ctx, info.Name)
		}
	}
}

// Workers lists the workers seen within the last day with their status and running jobs.
func (c *Coordinator) Workers(ctx context.Context) ([]sdk.Worker, error) {
	ws, err := c.st.ListWorkers(ctx, time.Now().Add(-24*time.Hour).Unix())
	if err != nil {
		return nil, err
	}
	running, err := c.st.JobsWithStatus(ctx, sdk.JobRunning)
	if err != nil {
		return nil, err
	}
	gone := time.Now().Add(-c.cfg.AckWait).Unix()
	out := make([]sdk.Worker, 0, len(ws))
	for _, w := range ws {
		sw := sdk.Worker{ID: w.ID, Object: sdk.ObjectWorker, Host: w.Host, Slots: w.Slots, LastSeen: w.LastSeen, Jobs: []string{}}
		switch {
		case w.LastSeen < gone:
			sw.Status = sdk.WorkerGone
		case w.Drain:
			sw.Status = sdk.WorkerDraining
		default:
			sw.Status = sdk.WorkerActive
		}
		for _, j := range running {
			if j.Worker != nil && *j.Worker == w.ID && sw.Status != sdk.WorkerGone {
				sw.Jobs = append(sw.Jobs, j.ID)
			}
		}
		out = append(out, sw)
	}
	return out, nil
}

// DrainWorker tells worker id to take no new jobs and exit once its running jobs finish.
func (c *Coordinator) DrainWorker(ctx context.Context, id string) error {
	return c.st.DrainWorker(ctx, id)
}

// WorkerToken issues new worker credentials named name; a *store.ConflictError with an external NATS server.
func (c *Coordinator) WorkerToken(ctx context.Context, name string) (*sdk.WorkerCredentials, error) {
	if len(c.cfg.URLs) == 0 {
		return nil, &store.ConflictError{Kind: "cluster", ID: "nats", Msg: "this server uses an external NATS server (--nats): " +
			"issue worker credentials in that server's configuration"}
	}
	if name == "" {
		name = "worker"
	}
	id, secret, err := c.st.CreateWorkerCredential(ctx, name)
	if err != nil {
		return nil, err
	}
	c.log.Info("worker credentials issued", "id", id, "name", name)
	return &sdk.WorkerCredentials{User: id, Password: secret, NATS: c.cfg.URLs, CA: string(c.cfg.CA)}, nil
}
