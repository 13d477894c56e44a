package cluster

import (
	"bufio"
	"context"
	"crypto/rand"
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

	"github.com/nats-io/nats.go/jetstream"

	"github.com/whetml/whet/internal/runspec"
	"github.com/whetml/whet/internal/tail"
)

// attempt is one job this worker runs.
type attempt struct {
	job, token string
	msg        jetstream.Msg
	device     string  // the trainer's --device, "" for its default
	phases     *phases // touched only by the goroutine running the attempt

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

// started records the attempt's trainer, interrupting it at once when the server stopped the attempt meanwhile.
func (a *attempt) started(p *os.Process) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.proc = p
	if a.stopped {
		_ = p.Signal(os.Interrupt)
	}
}

func (a *attempt) isSuperseded() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.superseded
}

// phases times the steps of an attempt for its "job finished" log line: where a remote job's wall time goes
// (claim, fetch, trainer start to its first step, training, upload, finish, ack).
type phases struct {
	last  time.Time
	attrs []any
}

func newPhases() *phases { return &phases{last: time.Now()} }

// done records the time since the previous phase ended as phase name's duration.
func (p *phases) done(name string) {
	now := time.Now()
	p.attrs = append(p.attrs, name, now.Sub(p.last).Round(time.Millisecond))
	p.last = now
}

// handle claims one delivered job, runs it and settles the message.
func (w *worker) handle(ctx context.Context, msg jetstream.Msg, device string) {
	ph := newPhases()
	cr, ok := w.claim(ctx, msg)
	if !ok {
		return
	}
	ph.done("claim")
	a := &attempt{job: cr.job, token: cr.Token, msg: msg, device: device, phases: ph}
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
	exitErr, summary := w.train(ctx, a, cr.claimResp, log)
	switch {
	case a.isSuperseded():
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
	ph.done("finish")
	if err := retried(ctx, func() error { return msg.DoubleAck(ctx) }); err != nil {
		log.Warn("ack job", "err", err)
	}
	ph.done("ack")
	log.Info("job finished", append([]any{"exit_error", exitErr}, ph.attrs...)...)
}

// claimed is the server's answer to a claim that started an attempt of job.
type claimed struct {
	claimResp
	job string
}

// claim asks the server for an attempt of the job msg names. Without one (the job needs no work, or runs
// elsewhere) it settles msg and returns false.
func (w *worker) claim(ctx context.Context, msg jetstream.Msg) (claimed, bool) {
	var d dispatchMsg
	if err := json.Unmarshal(msg.Data(), &d); err != nil || d.Job == "" {
		w.log.Error("malformed job message: dropped", "data", string(msg.Data()))
		_ = msg.Term()
		return claimed{}, false
	}
	var cr claimResp
	nonce := make([]byte, 12)
	_, _ = rand.Read(nonce)
	if err := w.request(ctx, subjClaim, claimReq{Worker: w.cfg.ID, Job: d.Job, Claim: hex.EncodeToString(nonce)}, &cr, time.Minute); err != nil {
		w.log.Warn("claim job", "job_id", d.Job, "err", err)
		_ = msg.NakWithDelay(w.hbEvery)
		return claimed{}, false
	}
	switch {
	case cr.Drop:
		w.log.Info("job needs no work: dropped", "job_id", d.Job, "reason", cr.Error)
		_ = msg.Term()
		return claimed{}, false
	case cr.Retry || cr.Token == "":
		_ = msg.NakWithDelay(w.hbEvery)
		return claimed{}, false
	}
	return claimed{claimResp: cr, job: d.Job}, true
}

// train fetches the inputs, runs `whet train` and uploads its output. It returns "" and the trainer's summary
// line when the output is in the Object Store, else why not.
func (w *worker) train(ctx context.Context, a *attempt, cr claimResp, log *slog.Logger) (exitErr, summary string) {
	dir := filepath.Join(w.cfg.DataDir, "jobs", a.job+"-"+a.token)
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "out")
	model, err := w.models.acquire(ctx, cr.Model, cr.ModelObject)
	if err != nil {
		return "could not start: fetch the base model: " + err.Error(), ""
	}
	defer model.Release() // kept in the cache while the trainer may read it
	args, err := w.prepare(ctx, a, cr, model.Dir(), dir, out)
	if err != nil {
		return "could not start: " + err.Error(), ""
	}
	a.phases.done("fetch")
	if exitErr, summary = w.runTrainer(ctx, a, args, dir, log); exitErr != "" {
		return exitErr, summary
	}
	files, err := dirFiles(out, "checkpoints")
	if err == nil {
		err = putFiles(ctx, w.obs, objOut(a.job, a.token), files)
	}
	a.phases.done("upload")
	if err != nil {
		return "exited cleanly but its output could not be uploaded: " + err.Error(), summary
	}
	return "", summary
}

// prepare fetches the attempt's inputs and checkpoint to resume from, writes its run spec (on the base model folder
// model) into dir and returns the trainer's arguments; the trainer writes its output folder into out.
func (w *worker) prepare(ctx context.Context, a *attempt, cr claimResp, model, dir, out string) ([]string, error) {
	input := filepath.Join(dir, "input")
	for _, obj := range cr.InputObjects {
		if err := getFiles(ctx, w.obs, obj, input, w.cfg.MaxArtifactSize); err != nil {
			return nil, fmt.Errorf("fetch the job's inputs: %w", err)
		}
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
		return nil, err
	}
	specFile := filepath.Join(dir, "spec.json")
	if err := spec.Write(specFile); err != nil {
		return nil, err
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
			return nil, fmt.Errorf("fetch the checkpoint to resume from: %w", err)
		}
		args = append(args, "--resume", ck)
	}
	return args, nil
}

// runTrainer runs `whet args...` in dir, forwarding its progress lines to the server. It returns "" when the
// trainer exited cleanly, else how it ended, and its summary line (the last line of its stdout).
func (w *worker) runTrainer(ctx context.Context, a *attempt, args []string, dir string, log *slog.Logger) (exitErr, summary string) {
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
	a.started(cmd.Process)
	stopOnCtx := context.AfterFunc(ctx, func() { _ = cmd.Process.Signal(os.Interrupt) })
	defer stopOnCtx()
	w.forward(ctx, a, stderr, log)
	waitErr := cmd.Wait()
	a.phases.done("train")
	if ls := stdout.LastLines(1); len(ls) == 1 {
		summary = ls[0]
	}
	if waitErr != nil {
		var ee *exec.ExitError
		if errors.As(waitErr, &ee) {
			return "exited with " + ee.ProcessState.String(), summary
		}
		return waitErr.Error(), summary
	}
	return "", summary
}

// forward sends the trainer's stderr lines to the server (see send) until the trainer closes its stderr.
func (w *worker) forward(ctx context.Context, a *attempt, stderr io.Reader, log *slog.Logger) {
	lines := make(chan string, 256)
	sent := make(chan struct{})
	go func() { defer close(sent); w.send(ctx, a, lines, log) }()
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	stepped := false
	for sc.Scan() {
		if !stepped && strings.Contains(sc.Text(), `"type":"step"`) {
			a.phases.done("start") // process start, model load, tokenization
			stepped = true
		}
		lines <- sc.Text() // the server finds the trainer's error line among them
	}
	_, _ = io.Copy(io.Discard, stderr)
	close(lines)
	<-sent
}

// lineLinger is how long the worker waits for more step lines before it sends a batch: a trainer reports every
// optimizer step (hundreds a second on small models), and one request per line cost the server and the worker more
// CPU than the lines are worth. Any other line (log, eval, checkpoint, done, error) is sent at once.
const lineLinger = 250 * time.Millisecond

// send forwards the trainer's lines to the server in order, in batches (see nextBatch). A checkpoint is uploaded
// before the line that announces it.
func (w *worker) send(ctx context.Context, a *attempt, lines <-chan string, log *slog.Logger) {
	seq := 0 // lines sent so far
	for {
		batch := nextBatch(lines)
		if len(batch) == 0 {
			return
		}
		w.uploadCheckpoints(ctx, a, batch, log)
		w.report(ctx, a, linesReq{jobRef: jobRef{Job: a.job, Token: a.token}, Seq: seq, Lines: batch}, log)
		seq += len(batch)
	}
}

// nextBatch waits for a line, then collects the step lines that follow within lineLinger, up to the first other
// line or 1000 lines. It returns nothing once lines is closed and drained.
func nextBatch(lines <-chan string) []string {
	l, ok := <-lines
	if !ok {
		return nil
	}
	batch := []string{l}
	linger := time.NewTimer(lineLinger)
	defer linger.Stop()
	for len(batch) < 1000 && strings.Contains(l, `"type":"step"`) {
		select {
		case l, ok = <-lines:
			if !ok {
				return batch
			}
			batch = append(batch, l)
		case <-linger.C:
			return batch
		}
	}
	return batch
}

// uploadCheckpoints puts the folders of the checkpoint lines in batch into the Object Store.
func (w *worker) uploadCheckpoints(ctx context.Context, a *attempt, batch []string, log *slog.Logger) {
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
}

// report sends one batch of lines to the server, trying again while the server fails to record them; when the
// server gave the job to another attempt, it kills the trainer.
func (w *worker) report(ctx context.Context, a *attempt, req linesReq, log *slog.Logger) {
	var rep reply
	var err error
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
		log.Warn("send progress to the server: lines lost", "lines", len(req.Lines), "err", err, "reply", rep.Error)
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
