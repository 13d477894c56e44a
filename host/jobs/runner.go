package jobs

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/whetml/whet/host/modeldir"
	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/internal/protocol"
	"github.com/whetml/whet/internal/tail"
	"github.com/whetml/whet/sdk"
)

// run is one trainer process owned by the queue.
type run struct {
	id   string
	mu   sync.Mutex
	proc *os.Process
	// cancel: the user cancelled (-> cancelled); shutdown: the server is stopping (-> queued, resume).
	cancel, shutdown bool
	signalled        bool
	killTimer        *time.Timer
	exited           bool
	// token is the attempt's token: its transitions only apply while it holds the job (a rescuer or another
	// worker may have started a newer attempt).
	token string
}

// guard makes ch conditional on r's attempt still holding the job.
func (r *run) guard(ch store.JobChange) store.JobChange {
	ch.IfAttemptToken = &r.token
	return ch
}

// interrupt asks the trainer to stop (SIGINT) and kills it after grace. userCancel marks a user cancel, otherwise
// a shutdown. Safe before the process started: the signal is sent as soon as it does.
func (r *run) interrupt(userCancel bool, grace time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if userCancel {
		r.cancel = true
	} else {
		r.shutdown = true
	}
	r.signalLocked(grace)
}

func (r *run) signalLocked(grace time.Duration) {
	if r.proc == nil || r.exited || r.signalled {
		return
	}
	r.signalled = true
	_ = r.proc.Signal(os.Interrupt)
	p := r.proc
	r.killTimer = time.AfterFunc(grace, func() { _ = p.Kill() })
}

func (r *run) kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil && !r.exited {
		_ = r.proc.Kill()
	}
}

// startRun moves a queued job to running and starts its trainer in a new goroutine.
func (q *Queue) startRun(ctx context.Context, j *store.Job) {
	fail := func(code, msg string) {
		if _, err := q.transition(ctx, j.ID, Queued, Failed, store.JobChange{Finished: true,
			Error: &sdk.JobError{Code: code, Message: msg}}, "error", "job failed: "+msg); err != nil {
			q.log.Error("fail job", "job_id", j.ID, "err", err)
		}
	}
	model, err := q.st.GetModel(ctx, j.Model)
	if err != nil {
		fail("model_invalid", err.Error())
		return
	}
	if _, err := modeldir.Inspect(model.Path); err != nil {
		fail("model_invalid", err.Error())
		return
	}
	modules := map[string]string{}
	for _, id := range []string{j.PreprocessModule, j.EvaluateModule} {
		if id == "" {
			continue
		}
		m, err := q.st.GetModule(ctx, id)
		if err != nil {
			fail("module_invalid", err.Error())
			return
		}
		modules[id] = m.Path
	}
	if err := os.MkdirAll(j.OutDir, 0o755); err != nil {
		fail("training_failed", err.Error())
		return
	}
	spec, err := writeSpec(j, model.Path, modules, q.validationSplit(j))
	if err != nil {
		fail("training_failed", err.Error())
		return
	}
	args := []string{"train", "--spec", spec, "--progress", "json"}
	if q.cfg.Threads > 0 {
		args = append(args, "--threads", strconv.Itoa(q.cfg.Threads))
	}
	resume, step := j.ResumeFrom, 0
	if resume != "" {
		if step, err = checkpointStep(resume); err != nil {
			q.event(ctx, j.ID, sdk.JobEvent{Level: "warn", Message: fmt.Sprintf("checkpoint %s is gone or unreadable (%v): restarting from the beginning", resume, err)})
			resume, step = "", 0
		} else {
			args = append(args, "--resume", resume)
		}
	}
	if j.Attempts > 0 {
		q.forgetUndone(ctx, j.ID, step)
	}
	r := &run{id: j.ID, token: newToken()}
	q.mu.Lock()
	q.runs[j.ID] = r
	q.mu.Unlock()
	msg := fmt.Sprintf("training started (attempt %d)", j.Attempts+1)
	if resume != "" {
		msg = fmt.Sprintf("training resumed from %s (attempt %d)", filepath.Base(resume), j.Attempts+1)
	}
	nj, err := q.transition(ctx, j.ID, Queued, Running, store.JobChange{Started: true, AttemptToken: &r.token}, "info", msg)
	if err != nil {
		q.mu.Lock()
		delete(q.runs, j.ID)
		q.mu.Unlock()
		if !errors.Is(err, store.ErrConflict) {
			q.log.Error("start job", "job_id", j.ID, "err", err)
		}
		return
	}
	q.wg.Add(1)
	go q.execute(ctx, nj, r, args)
}

// progress is what a run learned from its trainer's output.
type progress struct {
	step        int
	lastStored  time.Time
	failure     *sdk.JobError // the trainer's error event, or its crash line
	lastError   string        // the last error-level log line
	tail        []string
	crash       crashState
	doneMetrics json.RawMessage
}

func (q *Queue) execute(ctx context.Context, j *store.Job, r *run, args []string) {
	defer q.wg.Done()
	defer q.nudge()
	defer func() {
		q.mu.Lock()
		delete(q.runs, j.ID)
		q.mu.Unlock()
	}()
	// The trainer gets PR_SET_PDEATHSIG, which fires when the thread that started it exits: keep this goroutine on
	// one thread until the trainer is reaped.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	cmd := exec.Command(q.cfg.Bin, args...)
	cmd.Dir = filepath.Dir(j.OutDir)
	cmd.Env = append(os.Environ(), q.cfg.Env...)
	cmd.SysProcAttr = sysProcAttr()
	stdout := tail.Buffer{Max: 64 << 10} // only the trainer's final stdout line (its summary) matters
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		q.finishRun(ctx, j, r, &progress{lastError: fmt.Sprintf("cannot start trainer[%s]: %v", q.cfg.Bin, err)}, err, "")
		return
	}
	q.log.Info("trainer started", "job_id", j.ID, "pid", cmd.Process.Pid, "args", strings.Join(args, " "))
	r.mu.Lock()
	r.proc = cmd.Process
	if r.cancel || r.shutdown {
		r.signalLocked(q.cfg.CancelGrace)
	}
	r.mu.Unlock()

	p := &progress{}
	var stepMu sync.Mutex
	hbDone := make(chan struct{})
	go func() {
		t := time.NewTicker(q.cfg.HeartbeatInterval)
		defer t.Stop()
		for {
			select {
			case <-hbDone:
				return
			case <-t.C:
				stepMu.Lock()
				step := p.step
				stepMu.Unlock()
				if err := q.st.Heartbeat(ctx, j.ID, step); err != nil {
					q.log.Error("heartbeat", "job_id", j.ID, "err", err)
				}
			}
		}
	}()
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	for sc.Scan() {
		stepMu.Lock()
		q.handleLine(ctx, j, p, sc.Bytes())
		stepMu.Unlock()
	}
	_, _ = io.Copy(io.Discard, stderr)
	waitErr := cmd.Wait()
	close(hbDone)
	r.mu.Lock()
	r.exited = true
	if r.killTimer != nil {
		r.killTimer.Stop()
	}
	r.mu.Unlock()
	if p.step > 0 {
		_ = q.st.Heartbeat(ctx, j.ID, p.step)
	}
	q.finishRun(ctx, j, r, p, waitErr, lastLine(&stdout))
}

// handleLine turns one stderr line into events, checkpoints and progress.
func (q *Queue) handleLine(ctx context.Context, j *store.Job, p *progress, raw []byte) {
	l, ok := protocol.ParseEvent(raw)
	if !ok {
		q.plainLine(ctx, j, p, raw)
		return
	}
	switch l.Type {
	case protocol.EventLog:
		level := l.Level
		if level != "warn" && level != "error" {
			level = "info"
		}
		if level == "error" {
			p.lastError = l.Message
		}
		q.event(ctx, j.ID, sdk.JobEvent{Level: level, Message: l.Message})
	case protocol.EventError:
		code := l.Code
		if code == "" {
			code = protocol.CodeTrainingFailed
		}
		p.failure = &sdk.JobError{Code: code, Message: l.Message}
		q.event(ctx, j.ID, sdk.JobEvent{Level: "error", Message: l.Message})
	case protocol.EventStep:
		q.step(ctx, j, p, l)
	case protocol.EventEval:
		q.event(ctx, j.ID, sdk.JobEvent{Type: sdk.EventEval, Message: fmt.Sprintf("eval at step %d: %s", l.Step, summarize(l.Metrics)),
			Data: &sdk.EventData{Step: l.Step, Epoch: l.Epoch, Metrics: l.Metrics}})
	case protocol.EventCheckpoint:
		q.checkpoint(ctx, j, l)
	case protocol.EventDone:
		p.doneMetrics = l.Metrics
		msg := "training done: " + summarize(l.Metrics)
		if l.TrainSamplesPerSecond > 0 {
			msg += fmt.Sprintf(" (%.1f samples/s)", l.TrainSamplesPerSecond)
		}
		q.event(ctx, j.ID, sdk.JobEvent{Message: msg})
	default:
		q.event(ctx, j.ID, sdk.JobEvent{Message: string(raw)})
	}
}

// plainLine turns a stderr line that is not an event into a log event; a Go crash's first line becomes the failure.
func (q *Queue) plainLine(ctx context.Context, j *store.Job, p *progress, raw []byte) {
	text := strings.TrimSpace(string(raw))
	if text == "" {
		return
	}
	p.tail = append(p.tail, text)
	if len(p.tail) > 10 {
		p.tail = p.tail[1:]
	}
	if !p.crash.plainLine(text) {
		return // the rest of a crash dump: kept for TrainerLogFile, not one event per line
	}
	level := "info"
	if p.failure == nil && (strings.HasPrefix(text, "panic:") || strings.HasPrefix(text, "fatal error:")) {
		// A Go crash: the reason to report.
		level, p.failure = "error", &sdk.JobError{Code: protocol.CodeTrainingFailed, Message: text}
	}
	q.event(ctx, j.ID, sdk.JobEvent{Level: level, Message: text})
}

// step records a step event's progress; it stores a metrics event at most every Config.StepEventInterval.
func (q *Queue) step(ctx context.Context, j *store.Job, p *progress, l protocol.Event) {
	p.step = l.Step
	if l.SamplesPerSecond > 0 && q.cfg.OnStep != nil {
		q.cfg.OnStep(j.ID, l.SamplesPerSecond)
	}
	if time.Since(p.lastStored) < q.cfg.StepEventInterval {
		return
	}
	p.lastStored = time.Now()
	msg := fmt.Sprintf("step %d/%d", l.Step, l.TotalSteps)
	data := &sdk.EventData{Step: l.Step, TotalSteps: l.TotalSteps, Epoch: l.Epoch, SamplesPerSecond: &l.SamplesPerSecond}
	if !math.IsNaN(l.Loss) {
		data.Loss = &l.Loss
		msg += fmt.Sprintf(": training loss=%.4f", l.Loss)
	}
	if !math.IsNaN(l.LearningRate) {
		data.LearningRate = &l.LearningRate
	}
	q.event(ctx, j.ID, sdk.JobEvent{Type: sdk.EventMetrics, Message: msg, Data: data})
}

// checkpoint stores a checkpoint event's checkpoint and forgets those the trainer removed.
func (q *Queue) checkpoint(ctx context.Context, j *store.Job, l protocol.Event) {
	c := &store.Checkpoint{Checkpoint: sdk.Checkpoint{ID: store.NewID("ftckpt-"), FineTuningJobID: j.ID,
		StepNumber: l.Step, Epoch: l.Epoch, Metrics: l.Metrics, Best: l.Best}, Path: l.Path}
	if err := q.st.AddCheckpoint(ctx, c); err != nil {
		q.log.Error("store checkpoint", "job_id", j.ID, "err", err)
	}
	// The trainer removes the checkpoints that are neither the best nor the last before it reports a new one.
	if _, err := q.st.ForgetMissingCheckpoints(ctx, j.ID); err != nil {
		q.log.Error("forget removed checkpoints", "job_id", j.ID, "err", err)
	}
	q.event(ctx, j.ID, sdk.JobEvent{Type: sdk.EventCheckpoint, Message: fmt.Sprintf("checkpoint saved at step %d", l.Step),
		Data: &sdk.EventData{Step: l.Step, Epoch: l.Epoch, Metrics: l.Metrics, Checkpoint: c.ID}})
}

// summarize renders the headline numbers of a metrics document.
func summarize(m json.RawMessage) string {
	var doc map[string]any
	if json.Unmarshal(m, &doc) != nil {
		return string(m)
	}
	var parts []string
	for k, v := range doc {
		if f, ok := v.(float64); ok && (k == "accuracy" || k == "macro_f1" || k == "loss" || k == "weighted_f1") {
			parts = append(parts, fmt.Sprintf("%s=%.4f", k, f))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// finishRun records how a trainer process ended.
func (q *Queue) finishRun(ctx context.Context, j *store.Job, r *run, p *progress, waitErr error, summary string) {
	if q.crashed.Load() {
		return
	}
	r.mu.Lock()
	cancel, shutdown := r.cancel, r.shutdown
	r.mu.Unlock()
	if cur, err := q.st.GetJob(ctx, j.ID); err == nil && cur.CancelRequested {
		cancel = true
	}
	var to State
	var err error
	switch {
	case cancel:
		to = Cancelled
		msg := "job cancelled"
		if ck := q.latestCheckpoint(ctx, j.ID); ck != "" {
			msg += "; last checkpoint: " + filepath.Base(ck)
		}
		_, err = q.transition(ctx, j.ID, Running, Cancelled, r.guard(store.JobChange{Finished: true}), "warn", msg)
	case shutdown:
		to = Queued
		resume := q.latestCheckpoint(ctx, j.ID)
		msg := "server stopping: job interrupted, it restarts from the beginning at the next start (no checkpoint yet)"
		if resume != "" {
			msg = fmt.Sprintf("server stopping: job interrupted, it resumes from %s at the next start", filepath.Base(resume))
		}
		_, err = q.transition(ctx, j.ID, Running, Queued, r.guard(store.JobChange{ResumeFrom: &resume}), "warn", msg)
	case waitErr == nil:
		to, err = q.succeed(ctx, j, r, p, summary)
	case p.crash.signalled(waitErr) != "":
		reason, note := p.crash.summary(p.crash.signalled(waitErr), p.step), ""
		if p.crash.saveLog(filepath.Dir(j.OutDir)) != "" {
			note = "; its last output: GET /v1/fine_tuning/jobs/" + j.ID + "/log"
		}
		var retried bool
		if retried, err = q.retryAfterSignal(ctx, j, r, reason, note); retried {
			to = Queued
		} else if err == nil {
			to, err = Failed, q.failAfterSignal(ctx, j, r, reason, note)
		}
	default:
		to = Failed
		p.crash.saveLog(filepath.Dir(j.OutDir))
		jerr := failure(p, waitErr)
		_, err = q.transition(ctx, j.ID, Running, Failed, r.guard(store.JobChange{Finished: true, Error: jerr}), "error",
			"job failed: "+jerr.Message)
	}
	if errors.Is(err, store.ErrConflict) && q.stale(ctx, j.ID, r) {
		// Another attempt holds the job now (a rescuer or another worker started it): this one changes nothing.
		q.log.Warn("stale attempt ended", "job_id", j.ID, "would_be", to)
		return
	}
	if err != nil {
		q.log.Error("finish job", "job_id", j.ID, "to", to, "err", err)
	}
	if q.cfg.OnFinish != nil {
		q.cfg.OnFinish(j.ID, to)
	}
}

// stale reports whether another attempt than r's holds job id.
func (q *Queue) stale(ctx context.Context, id string, r *run) bool {
	cur, err := q.st.GetJob(ctx, id)
	return err == nil && cur.AttemptToken != r.token
}

// FineTunedModelID names the model a job produces: ft:<base>:<suffix>:<job id>, or ft:<base>:<job id> without a
// suffix.
func FineTunedModelID(base, suffix, jobID string) string {
	if suffix == "" {
		return "ft:" + base + ":" + jobID
	}
	return "ft:" + base + ":" + suffix + ":" + jobID
}

func (q *Queue) succeed(ctx context.Context, j *store.Job, r *run, p *progress, summary string) (State, error) {
	info, err := modeldir.Inspect(j.OutDir)
	if err != nil {
		msg := fmt.Sprintf("trainer exited cleanly but its output is not a model folder: %v", err)
		_, err := q.transition(ctx, j.ID, Running, Failed, r.guard(store.JobChange{Finished: true,
			Error: &sdk.JobError{Code: "training_failed", Message: msg}}), "error", "job failed: "+msg)
		return Failed, err
	}
	metrics := p.doneMetrics
	var sum protocol.TrainSummary
	if len(metrics) == 0 && json.Unmarshal([]byte(summary), &sum) == nil {
		metrics = sum.Metrics
	}
	ftID := FineTunedModelID(j.Model, j.Suffix, j.ID)
	m := &store.Model{Model: sdk.Model{ID: ftID, Object: sdk.ObjectModel, CreatedAt: time.Now().Unix(), OwnedBy: "whet",
		Source: "fine-tune", Labels: info.Labels, Architecture: info.Architecture, BaseModel: j.Model, JobID: j.ID},
		Path: j.OutDir, OwnsPath: true}
	_, err = q.transition(ctx, j.ID, Running, Succeeded, r.guard(store.JobChange{Finished: true, Metrics: metrics,
		FineTunedModel: &ftID, RegisterModel: m}), "info", "job succeeded: fine-tuned model "+ftID)
	return Succeeded, err
}

// failure is the job error of a trainer that exited with waitErr: its error event (code and message), else its
// last error log line or its last stderr lines, as training_failed. A failure on the caller's side (bad data, model or module) keeps the trainer's message as it is; a server-side
// one also says how the process ended.
func failure(p *progress, waitErr error) *sdk.JobError {
	if p.failure != nil && p.failure.Code != protocol.CodeTrainingFailed {
		return p.failure
	}
	reason := p.lastError
	if p.failure != nil {
		reason = p.failure.Message
	}
	if reason == "" && len(p.tail) > 0 {
		reason = strings.Join(p.tail[max(0, len(p.tail)-3):], " | ")
	}
	msg := fmt.Sprintf("trainer %v", waitErr)
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) {
		msg = fmt.Sprintf("trainer exited with %s", ee.ProcessState.String())
	}
	if reason != "" {
		msg += ": " + reason
	}
	return &sdk.JobError{Code: protocol.CodeTrainingFailed, Message: msg}
}

func lastLine(b *tail.Buffer) string {
	if l := b.LastLines(1); len(l) == 1 {
		return l[0]
	}
	return ""
}
