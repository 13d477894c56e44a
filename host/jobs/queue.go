package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whetml/whet/dataset"
	"github.com/whetml/whet/host/modeldir"
	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/sdk"
)

// Defaults for Config.
const (
	DefaultConcurrency       = 1
	DefaultHeartbeatInterval = 10 * time.Second
	DefaultRescueInterval    = time.Minute
	DefaultStaleAfter        = 5 * time.Minute
	DefaultMaxAttempts       = 3
	maxMaxAttempts           = 100
	DefaultCancelGrace       = 2 * time.Minute
	DefaultStepEventInterval = time.Second
)

// Config configures a Queue. Zero fields take their defaults (WithDefaults).
type Config struct {
	// Store persists jobs. Required.
	Store *store.Store
	// Bin is the whet binary run as `Bin train ...`. Default: os.Executable().
	Bin string
	// Concurrency is how many jobs train at once on this server's device. Default: DefaultConcurrency (1).
	Concurrency int
	// Threads, when > 0, is passed to `whet train --threads`. Default: 0 (the trainer decides).
	Threads int
	// Env is added to the trainer's environment. Default: none.
	Env []string
	// Logger receives the queue's logs. Default: a logger that discards.
	Logger *slog.Logger
	// HeartbeatInterval is how often a running job records that it is alive. Default: DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration
	// RescueInterval is how often the scheduler looks for orphaned running jobs (it also does at Start).
	// Default: DefaultRescueInterval.
	RescueInterval time.Duration
	// StaleAfter is how old a heartbeat must be before a running job this queue does not own is rescued.
	// Default: DefaultStaleAfter.
	StaleAfter time.Duration
	// MaxAttempts is how many times a job may start running unless its request sets max_attempts; a job whose
	// trainer died (by a signal, or with the server) after using them all fails instead of resuming.
	// Default: DefaultMaxAttempts.
	MaxAttempts int
	// CancelGrace is how long a trainer has to exit after SIGINT before it is killed. Default: DefaultCancelGrace.
	CancelGrace time.Duration
	// StepEventInterval is the minimum time between stored step (metrics) events of one job; every eval and
	// checkpoint is stored. Default: DefaultStepEventInterval.
	StepEventInterval time.Duration
	// ValidationFraction is the share held out per label when a job has no validation file.
	// Default: DefaultValidationFraction (0.1).
	ValidationFraction float64
	// OnStep, when set, is called with each training step's throughput (for metrics).
	OnStep func(jobID string, samplesPerSecond float64)
	// OnFinish, when set, is called when a run ends, with the job's new state.
	OnFinish func(jobID string, state State)
	// Dispatcher, when set, hands queued jobs to remote workers (host/cluster) instead of local trainers; the
	// workers report back through ClaimRemote and RemoteRun. Default: nil (train locally).
	Dispatcher Dispatcher
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() (Config, error) {
	if c.Bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return c, fmt.Errorf("jobs: config Bin: %w", err)
		}
		c.Bin = exe
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.RescueInterval == 0 {
		c.RescueInterval = DefaultRescueInterval
	}
	if c.StaleAfter == 0 {
		c.StaleAfter = DefaultStaleAfter
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.CancelGrace == 0 {
		c.CancelGrace = DefaultCancelGrace
	}
	if c.StepEventInterval == 0 {
		c.StepEventInterval = DefaultStepEventInterval
	}
	if c.ValidationFraction == 0 {
		c.ValidationFraction = DefaultValidationFraction
	}
	return c, nil
}

func (c Config) validate() error {
	switch {
	case c.Store == nil:
		return errors.New("jobs: config Store is required")
	case c.Concurrency < 1:
		return fmt.Errorf("jobs: config Concurrency must be >= 1, got %d", c.Concurrency)
	case c.MaxAttempts < 1:
		return fmt.Errorf("jobs: config MaxAttempts must be >= 1, got %d", c.MaxAttempts)
	case c.ValidationFraction <= 0 || c.ValidationFraction >= 1:
		return fmt.Errorf("jobs: config ValidationFraction must be in (0,1), got %v", c.ValidationFraction)
	case c.HeartbeatInterval < 0 || c.RescueInterval < 0 || c.StaleAfter < 0 || c.CancelGrace < 0:
		return errors.New("jobs: config durations must be positive")
	}
	return nil
}

// StateError reports an action the job's current state does not allow (cancelling a finished job).
type StateError struct {
	// ID is the job.
	ID string
	// Status is its current status.
	Status string
	// Msg says what was refused.
	Msg string
}

// Error implements error.
func (e *StateError) Error() string { return fmt.Sprintf("job[%s] is %s: %s", e.ID, e.Status, e.Msg) }

// Queue is the persistent job queue and runner. Create it with New, then Start it.
type Queue struct {
	cfg Config
	st  *store.Store
	log *slog.Logger
	hub hub

	wake     chan struct{}
	stopCh   chan struct{}
	loopDone chan struct{}
	started  atomic.Bool
	stopOnce sync.Once
	stopping atomic.Bool
	crashed  atomic.Bool // tests only: play a crash (runs end without touching their jobs)
	wg       sync.WaitGroup

	mu   sync.Mutex
	runs map[string]*run // running jobs owned by this queue
}

// New checks cfg and returns a Queue; nothing runs until Start.
func New(cfg Config) (*Queue, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Queue{cfg: cfg, st: cfg.Store, log: cfg.Logger, hub: hub{subs: map[string]map[chan struct{}]struct{}{}},
		wake: make(chan struct{}, 1), stopCh: make(chan struct{}), loopDone: make(chan struct{}),
		runs: map[string]*run{}}, nil
}

// Start rescues jobs a previous server left running, then starts the scheduler. It returns at once; call it once.
func (q *Queue) Start(ctx context.Context) error {
	if !q.started.CompareAndSwap(false, true) {
		return errors.New("jobs: queue already started")
	}
	ctx = context.WithoutCancel(ctx)
	if err := q.rescue(ctx, 0); err != nil {
		return err
	}
	go q.loop(ctx)
	q.log.Info("job queue started", "bin", q.cfg.Bin, "concurrency", q.cfg.Concurrency,
		"max_attempts", q.cfg.MaxAttempts, "rescue_interval", q.cfg.RescueInterval)
	return nil
}

// Stop stops starting jobs and waits for running ones to finish on their own. If ctx ends first it returns
// ctx.Err() and the jobs keep running (until the process exits; the next Start resumes them). Idempotent.
func (q *Queue) Stop(ctx context.Context) error {
	q.stopLoop()
	return q.waitRuns(ctx)
}

// StopAndCancel stops starting jobs and interrupts running ones (SIGINT: they write a checkpoint and exit); their
// jobs go back to queued, to resume from that checkpoint at the next Start. Trainers still running when ctx ends
// are killed, and ctx.Err() is returned. Idempotent.
func (q *Queue) StopAndCancel(ctx context.Context) error {
	q.stopLoop()
	q.stopping.Store(true)
	q.mu.Lock()
	for _, r := range q.runs {
		r.interrupt(false, q.cfg.CancelGrace)
	}
	q.mu.Unlock()
	err := q.waitRuns(ctx)
	if err != nil {
		q.mu.Lock()
		for _, r := range q.runs {
			r.kill()
		}
		q.mu.Unlock()
		q.wg.Wait()
	}
	return err
}

func (q *Queue) stopLoop() {
	q.stopOnce.Do(func() {
		close(q.stopCh)
		if q.started.Load() {
			<-q.loopDone
		}
	})
}

func (q *Queue) waitRuns(ctx context.Context) error {
	done := make(chan struct{})
	go func() { q.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Subscribe returns a channel that receives a value (coalesced) whenever job id gets an event or a new status,
// and a function to unsubscribe.
func (q *Queue) Subscribe(id string) (<-chan struct{}, func()) { return q.hub.subscribe(id) }

// Running returns how many jobs this queue is training now.
func (q *Queue) Running() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.runs)
}

func (q *Queue) nudge() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Create checks req, records the job in validating_files and wakes the scheduler.
//
// # Errors
//
// A *ValidationError naming the bad field (missing model or training_file, bad suffix, bad hyperparameter, a
// module of the wrong kind, a model folder that is no longer valid), or a *ParamError wrapping a
// *store.NotFoundError for an unknown model, file or module id.
func (q *Queue) Create(ctx context.Context, req sdk.CreateJobRequest) (*store.Job, error) {
	if req.Model == "" {
		return nil, &ValidationError{Param: "model", Msg: "required: the id of a registered model (GET /v1/models)"}
	}
	if req.TrainingFile == "" {
		return nil, &ValidationError{Param: "training_file", Msg: "required: the id of an uploaded file (POST /v1/files)"}
	}
	if err := q.st.CheckQuota("fine-tuning job"); err != nil {
		return nil, err
	}
	if req.Suffix != "" && !suffixRE.MatchString(req.Suffix) {
		return nil, &ValidationError{Param: "suffix", Msg: fmt.Sprintf("must be 1 to 40 of letters, digits, '.', '_' and '-', got %q", req.Suffix)}
	}
	model, err := q.st.GetModel(ctx, req.Model)
	if err != nil {
		return nil, &ParamError{Param: "model", Err: err}
	}
	for _, ref := range []struct{ param, id string }{{"training_file", req.TrainingFile}, {"validation_file", req.ValidationFile}} {
		if ref.id == "" {
			continue
		}
		if _, err := q.st.GetFile(ctx, ref.id); err != nil {
			return nil, &ParamError{Param: ref.param, Err: err}
		}
	}
	for _, ref := range []struct{ param, id, kind string }{
		{"preprocess_module", req.PreprocessModule, sdk.ModuleKindPreprocess},
		{"evaluate_module", req.EvaluateModule, sdk.ModuleKindEvaluate},
	} {
		if ref.id == "" {
			continue
		}
		m, err := q.st.GetModule(ctx, ref.id)
		if err != nil {
			return nil, &ParamError{Param: ref.param, Err: err}
		}
		if m.Kind != ref.kind {
			return nil, &ValidationError{Param: ref.param, Msg: fmt.Sprintf("module[%s] is a %s module, expected %s", m.ID, m.Kind, ref.kind)}
		}
	}
	info, err := modeldir.Inspect(model.Path)
	if err != nil {
		return nil, &ValidationError{Param: "model", Msg: err.Error()}
	}
	if info.Architecture == modeldir.AdapterArchitecture {
		return nil, &ValidationError{Param: "model", Msg: fmt.Sprintf("model[%s] is a LoRA adapter: fine-tune its base model instead", model.ID)}
	}
	hp, err := ResolveHyperparameters(req.Hyperparameters, info.MaxPositionEmbeddings)
	if err != nil {
		return nil, err
	}
	maxAttempts := req.MaxAttempts
	switch {
	case maxAttempts == 0:
		maxAttempts = q.cfg.MaxAttempts
	case maxAttempts < 1 || maxAttempts > maxMaxAttempts:
		return nil, &ValidationError{Param: "max_attempts", Msg: fmt.Sprintf("must be 1 to %d (0: the server's %d), got %d",
			maxMaxAttempts, q.cfg.MaxAttempts, maxAttempts)}
	}
	id := store.NewID("ftjob-")
	j := &store.Job{Job: sdk.Job{ID: id, Object: sdk.ObjectJob, CreatedAt: time.Now().Unix(), Model: req.Model,
		TrainingFile: req.TrainingFile, ValidationFile: req.ValidationFile, PreprocessModule: req.PreprocessModule,
		EvaluateModule: req.EvaluateModule, Hyperparameters: hp, Suffix: req.Suffix, Status: string(ValidatingFiles),
		MaxAttempts: maxAttempts},
		OutDir: q.st.Path("jobs", id, "out")}
	if err := q.st.InsertJob(ctx, j); err != nil {
		var nf *store.NotFoundError
		if errors.As(err, &nf) {
			param := map[string]string{"model": "model", "module": "preprocess_module", "file": "training_file"}[nf.Kind]
			if nf.ID == req.ValidationFile {
				param = "validation_file"
			} else if nf.ID == req.EvaluateModule {
				param = "evaluate_module"
			}
			return nil, &ParamError{Param: param, Err: err}
		}
		return nil, err
	}
	q.event(ctx, id, sdk.JobEvent{Type: sdk.EventStatus, Message: "created fine-tuning job",
		Data: &sdk.EventData{Status: string(ValidatingFiles)}})
	q.log.Info("job created", "job_id", id, "model", req.Model, "training_file", req.TrainingFile)
	nj, err := q.st.GetJob(ctx, id) // as created: read before the scheduler may move it on
	q.nudge()
	return nj, err
}

// Cancel cancels job id. A validating or queued job becomes cancelled at once; a running one is interrupted
// (SIGINT: it stops within a step and writes a checkpoint) and becomes cancelled when its trainer exits, killed
// after Config.CancelGrace. It returns the job as it is after the request.
//
// # Errors
//
// *store.NotFoundError for an unknown id; *StateError when the job already finished.
func (q *Queue) Cancel(ctx context.Context, id string) (*store.Job, error) {
	for range 5 {
		j, err := q.st.GetJob(ctx, id)
		if err != nil {
			return nil, err
		}
		st := State(j.Status)
		switch {
		case st.Terminal():
			return nil, &StateError{ID: id, Status: j.Status, Msg: "only validating, queued or running jobs can be cancelled"}
		case st == Running:
			ok, err := q.st.RequestCancel(ctx, id, string(Running))
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			q.event(ctx, id, sdk.JobEvent{Level: "warn", Message: "cancel requested: interrupting the trainer (it writes a checkpoint first)"})
			q.mu.Lock()
			r := q.runs[id]
			q.mu.Unlock()
			if r != nil {
				r.interrupt(true, q.cfg.CancelGrace)
			} else if j.Worker != nil {
				// A remote worker runs it: it learns of the cancel with its next heartbeat and reports the exit.
			} else {
				// Not ours: its trainer died with a previous server. Nothing to interrupt.
				if _, err := q.transition(ctx, id, Running, Cancelled, store.JobChange{Finished: true,
					IfAttemptToken: &j.AttemptToken}, "warn", "job cancelled"); err != nil && !errors.Is(err, store.ErrConflict) {
					return nil, err
				}
			}
			return q.st.GetJob(ctx, id)
		default:
			nj, err := q.transition(ctx, id, st, Cancelled, store.JobChange{Finished: true}, "warn", "job cancelled")
			if errors.Is(err, store.ErrConflict) {
				continue
			}
			return nj, err
		}
	}
	return nil, fmt.Errorf("jobs: cancel job[%s]: status kept changing", id)
}

// transition applies from -> to if the state machine allows it, recording a status event in the same
// transaction, and notifies subscribers.
func (q *Queue) transition(ctx context.Context, id string, from, to State, ch store.JobChange, level, msg string) (*store.Job, error) {
	if !CanTransition(from, to) {
		return nil, fmt.Errorf("jobs: job[%s]: transition %s -> %s is not allowed", id, from, to)
	}
	ch.Event = &sdk.JobEvent{Level: level, Type: sdk.EventStatus, Message: msg, Data: &sdk.EventData{Status: string(to)}}
	j, err := q.st.Transition(ctx, id, string(from), string(to), ch)
	if err != nil {
		return nil, err
	}
	q.log.Info("job status", "job_id", id, "from", from, "to", to, "msg", msg)
	q.hub.notify(id)
	return j, nil
}

// event appends ev to the job's log and notifies subscribers; failures are logged (events are best effort).
func (q *Queue) event(ctx context.Context, id string, ev sdk.JobEvent) {
	if _, err := q.st.AddEvent(ctx, id, ev); err != nil {
		q.log.Error("store job event", "job_id", id, "err", err)
		return
	}
	q.hub.notify(id)
}

// loop is the scheduler: the one goroutine that prepares validating jobs, rescues orphans and starts runs.
func (q *Queue) loop(ctx context.Context) {
	defer close(q.loopDone)
	ticker := time.NewTicker(q.cfg.RescueInterval)
	defer ticker.Stop()
	for {
		q.tick(ctx)
		select {
		case <-q.stopCh:
			return
		case <-q.wake:
		case <-ticker.C:
			if err := q.rescue(ctx, q.cfg.StaleAfter); err != nil {
				q.log.Error("rescue jobs", "err", err)
			}
		}
	}
}

func (q *Queue) tick(ctx context.Context) {
	validating, err := q.st.JobsWithStatus(ctx, string(ValidatingFiles))
	if err != nil {
		q.log.Error("list validating jobs", "err", err)
	}
	for _, j := range validating {
		if q.stopped() {
			return
		}
		q.prepare(ctx, j)
	}
	if q.cfg.Dispatcher != nil {
		q.dispatch(ctx)
		return
	}
	if q.stopped() || q.Running() >= q.cfg.Concurrency {
		return
	}
	queued, err := q.st.JobsWithStatus(ctx, string(Queued))
	if err != nil {
		q.log.Error("list queued jobs", "err", err)
		return
	}
	for _, j := range queued {
		if q.stopped() || q.Running() >= q.cfg.Concurrency {
			return
		}
		q.startRun(ctx, j)
	}
}

func (q *Queue) stopped() bool {
	select {
	case <-q.stopCh:
		return true
	default:
		return false
	}
}

// prepare checks a validating job's files against each other and points it at their stored rows (StoreRows),
// which its trainer reads as they are: jobs share an upload's rows, none copies them. Without a validation file the
// trainer holds out Config.ValidationFraction of each label's rows (runspec.Spec.ValidationSplit). Then it queues
// the job.
func (q *Queue) prepare(ctx context.Context, j *store.Job) {
	fail := func(param, msg string) {
		if _, err := q.transition(ctx, j.ID, ValidatingFiles, Failed, store.JobChange{Finished: true,
			Error: &sdk.JobError{Code: "invalid_file", Message: msg, Param: &param}}, "error", "job failed: "+msg); err != nil {
			q.log.Error("fail job", "job_id", j.ID, "err", err)
		}
	}
	file := func(param, id string) (*store.File, string, bool) {
		f, err := q.st.GetFile(ctx, id)
		if err == nil {
			var rows string
			if rows, err = q.rows(f); err == nil {
				return f, rows, true
			}
		}
		fail(param, err.Error())
		return nil, "", false
	}
	train, trainPath, ok := file("training_file", j.TrainingFile)
	if !ok {
		return
	}
	if len(train.Labels) < 2 {
		fail("training_file", fmt.Sprintf("file[%s] has a single label %q: a classifier needs at least 2 labels", j.TrainingFile, strings.Join(train.Labels, "")))
		return
	}
	valPath, nTrain, nVal := "", train.Rows, 0
	if j.ValidationFile != "" {
		val, path, ok := file("validation_file", j.ValidationFile)
		if !ok {
			return
		}
		for _, l := range val.Labels {
			if _, known := train.LabelCounts[l]; !known {
				fail("validation_file", fmt.Sprintf("file[%s] line %d: label %q does not occur in training_file (labels: %s)",
					j.ValidationFile, firstLineWithLabel(path, l), l, strings.Join(train.Labels, ", ")))
				return
			}
		}
		valPath, nVal = path, val.Rows
	} else {
		for _, n := range train.LabelCounts {
			nVal += dataset.HeldOut(n, q.cfg.ValidationFraction)
		}
		nTrain -= nVal
		q.event(ctx, j.ID, sdk.JobEvent{Message: fmt.Sprintf("no validation_file: held out %d of %d rows (%g%% per label, seed %d)",
			nVal, train.Rows, q.cfg.ValidationFraction*100, *j.Hyperparameters.Seed)})
	}
	if m, err := q.st.GetModel(ctx, j.Model); err == nil && len(m.Labels) > 0 && !slices.Equal(sortedCopy(m.Labels), sortedCopy(train.Labels)) {
		q.event(ctx, j.ID, sdk.JobEvent{Level: "warn", Message: fmt.Sprintf("model[%s] labels [%s] differ from the training labels [%s]",
			j.Model, strings.Join(m.Labels, ", "), strings.Join(train.Labels, ", "))})
	}
	msg := fmt.Sprintf("files validated: %d training rows, %d validation rows, labels %s", nTrain, nVal,
		strings.Join(train.Labels, ", "))
	if _, err := q.transition(ctx, j.ID, ValidatingFiles, Queued, store.JobChange{TrainPath: &trainPath,
		ValidationPath: &valPath}, "info", msg); err != nil && !errors.Is(err, store.ErrConflict) {
		q.log.Error("queue job", "job_id", j.ID, "err", err)
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// rescue handles running jobs this queue does not own whose heartbeat is older than staleAfter (0: all of them,
// as at Start): cancelled if a cancel was pending, requeued to resume from their last checkpoint while attempts
// remain, failed with a reason otherwise.
func (q *Queue) rescue(ctx context.Context, staleAfter time.Duration) error {
	running, err := q.st.JobsWithStatus(ctx, string(Running))
	if err != nil {
		return fmt.Errorf("jobs: rescue: %w", err)
	}
	for _, j := range running {
		q.mu.Lock()
		_, ours := q.runs[j.ID]
		q.mu.Unlock()
		stale := staleAfter
		if j.Worker != nil && stale == 0 {
			stale = q.cfg.StaleAfter // a remote worker may still be training while this server restarts
		}
		if ours || (stale > 0 && time.Since(time.Unix(j.HeartbeatAt, 0)) < stale) {
			continue
		}
		q.log.Warn("rescuing orphaned job", "job_id", j.ID, "attempts", j.Attempts)
		// Each change applies only to the attempt seen here: one started meanwhile is left alone.
		switch attempt := &j.AttemptToken; {
		case j.CancelRequested:
			_, err = q.transition(ctx, j.ID, Running, Cancelled, store.JobChange{Finished: true, IfAttemptToken: attempt},
				"warn", "job cancelled (its trainer stopped with the previous server)")
		case j.Attempts >= q.maxAttempts(j):
			msg := fmt.Sprintf("the trainer stopped with the server during attempt %d of %d; not resumed again (max_attempts)",
				j.Attempts, q.maxAttempts(j))
			_, err = q.transition(ctx, j.ID, Running, Failed, store.JobChange{Finished: true, IfAttemptToken: attempt,
				Error: &sdk.JobError{Code: "interrupted", Message: msg}}, "error", "job failed: "+msg)
		default:
			resume := q.latestCheckpoint(ctx, j.ID)
			msg := "server restarted while the job was running: restarting from the beginning (no checkpoint yet)"
			if resume != "" {
				msg = fmt.Sprintf("server restarted while the job was running: resuming from %s", filepath.Base(resume))
			}
			_, err = q.transition(ctx, j.ID, Running, Queued, store.JobChange{ResumeFrom: &resume, IfAttemptToken: attempt}, "warn", msg)
		}
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("jobs: rescue job[%s]: %w", j.ID, err)
		}
	}
	return nil
}

// maxAttempts is how many times job j may start running: its own max_attempts, else Config.MaxAttempts (jobs
// created before jobs had one).
func (q *Queue) maxAttempts(j *store.Job) int {
	if j.MaxAttempts > 0 {
		return j.MaxAttempts
	}
	return q.cfg.MaxAttempts
}

// latestCheckpoint returns the folder of the job's highest-step checkpoint still on disk, or "".
func (q *Queue) latestCheckpoint(ctx context.Context, id string) string {
	cks, err := q.st.ListCheckpoints(ctx, id)
	if err != nil {
		q.log.Error("list checkpoints", "job_id", id, "err", err)
		return ""
	}
	for _, c := range cks {
		if _, err := os.Stat(filepath.Join(c.Path, "trainer_state.json")); err == nil {
			return c.Path
		}
	}
	return ""
}

// hub fans job notifications out to subscribers (event streams), coalescing bursts.
type hub struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

func (h *hub) subscribe(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.subs[id] == nil {
		h.subs[id] = map[chan struct{}]struct{}{}
	}
	h.subs[id][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs[id], ch)
		if len(h.subs[id]) == 0 {
			delete(h.subs, id)
		}
		h.mu.Unlock()
	}
}

func (h *hub) notify(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[id] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
