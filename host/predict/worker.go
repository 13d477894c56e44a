package predict

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/whetml/whet/internal/protocol"
	"github.com/whetml/whet/internal/tail"
	"github.com/whetml/whet/sdk"
)

// Process is one running worker speaking the protocol of `whet worker predict` (internal/protocol): the pool writes
// protocol.Request lines to Stdin and reads the protocol.Ready line, then protocol.Response lines, from Stdout.
type Process interface {
	// Stdin takes requests; closing it asks the worker to finish and exit.
	Stdin() io.WriteCloser
	// Stdout gives the ready line and the responses.
	Stdout() io.Reader
	// Wait returns once the worker has exited.
	Wait() error
	// Kill stops the worker at once.
	Kill() error
	// Diagnostics says what the worker last reported about itself (its last stderr lines), for error messages.
	Diagnostics() string
}

// StartFunc starts a worker for the model folder dir. It is called on a goroutine locked to its OS thread for the
// worker's life (so PR_SET_PDEATHSIG ties a child process to the server).
type StartFunc func(dir string) (Process, error)

// execStart returns the default StartFunc: `bin worker predict --model DIR [--threads N] [--quantize Q]` as a child
// process that dies with the server.
func execStart(bin string, threads int, quantize string, env []string) StartFunc {
	return func(dir string) (Process, error) {
		args := []string{"worker", "predict", "--model", dir}
		if threads > 0 {
			args = append(args, "--threads", strconv.Itoa(threads))
		}
		if quantize != "" {
			args = append(args, "--quantize", quantize)
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
		cmd.SysProcAttr = sysProcAttr()
		p := &childProcess{cmd: cmd, stderr: newStderr(), stderrDone: make(chan struct{})}
		var stderr io.ReadCloser
		var err error
		if p.stdin, err = cmd.StdinPipe(); err == nil {
			if p.stdout, err = cmd.StdoutPipe(); err == nil {
				if stderr, err = cmd.StderrPipe(); err == nil {
					err = cmd.Start()
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("cannot start worker[%s]: %w", bin, err)
		}
		go func() { // our own copy, so Diagnostics can wait for a dead worker's last lines
			_, _ = io.Copy(p.stderr, stderr)
			close(p.stderrDone)
		}()
		return p, nil
	}
}

type childProcess struct {
	cmd        *exec.Cmd
	stdin      io.WriteCloser
	stdout     io.Reader
	stderr     *tail.Buffer
	stderrDone chan struct{} // closed when the worker's stderr ends
}

func (p *childProcess) Stdin() io.WriteCloser { return p.stdin }
func (p *childProcess) Stdout() io.Reader     { return p.stdout }
func (p *childProcess) Wait() error           { return p.cmd.Wait() }
func (p *childProcess) Kill() error           { return p.cmd.Process.Kill() }

// Diagnostics returns the last stderr lines, waiting up to a second for a worker that is exiting to finish them.
func (p *childProcess) Diagnostics() string {
	select {
	case <-p.stderrDone:
	case <-time.After(time.Second):
	}
	return stderrTail(p.stderr)
}

type pending struct {
	ctx context.Context
	// model is the id named in errors: the worker's model, or the adapter's.
	model string
	// adapter is the LoRA adapter folder to classify with ("" : the worker's own model).
	adapter string
	// unload, when set, asks the worker to unload this adapter folder (no inputs).
	unload string
	inputs []string
	res    chan result
}

type result struct {
	preds []sdk.Prediction
	err   error
}

// worker is one worker process and the goroutine that batches requests to it.
type worker struct {
	pool     *Pool
	id, dir  string
	reqs     chan *pending
	ready    chan struct{} // closed once started (or failed: startErr)
	startErr error
	quit     chan struct{}
	quitOnce sync.Once
	procMu   sync.Mutex
	proc     Process
	labels   []string
	dead     chan struct{} // closed when run returns
	// adapters maps the adapter model ids served on this worker to their folders (guarded by pool.mu).
	adapters map[string]string
}

// noteAdapter records that w serves adapter a (nothing when a.ID is ""); it returns the folder a.ID had before when
// that differs (the worker should unload it). Called with pool.mu held.
func (w *worker) noteAdapter(a Adapter) (stale string) {
	if a.ID == "" {
		return ""
	}
	if old := w.adapters[a.ID]; old != a.Dir {
		stale = old
	}
	w.adapters[a.ID] = a.Dir
	return stale
}

// unloadAdapter forgets adapter model id and asks the worker to unload its folder.
func (w *worker) unloadAdapter(id string) {
	w.pool.mu.Lock()
	dir := w.adapters[id]
	delete(w.adapters, id)
	w.pool.mu.Unlock()
	if dir != "" {
		w.enqueueUnload(id, dir)
	}
}

// enqueueUnload queues a request unloading adapter folder dir (of adapter model id) behind those queued. With the
// queue full it is skipped: the worker's own least-recently-used bound unloads the adapter in time.
func (w *worker) enqueueUnload(id, dir string) {
	select {
	case w.reqs <- &pending{ctx: context.Background(), model: id, unload: dir, res: make(chan result, 1)}:
	default:
		w.pool.log.Warn("adapter unload skipped: queue full", "model", w.id, "adapter", id)
	}
}

func (w *worker) stop() { w.quitOnce.Do(func() { close(w.quit) }) }

func (w *worker) kill() {
	w.procMu.Lock()
	defer w.procMu.Unlock()
	if w.proc != nil {
		_ = w.proc.Kill()
	}
}

// conn is the reading side of a started worker.
type conn struct {
	proc     Process
	lines    chan []byte
	readDone chan struct{}
	seq      int64
}

func (c *conn) exitMsg() string { return fmt.Sprintf("worker exited (%s)", c.proc.Diagnostics()) }

// run starts the process and serves batches until quit. It keeps its OS thread for the process's life
// (PR_SET_PDEATHSIG fires when the starting thread exits).
func (w *worker) run() {
	defer w.pool.wg.Done()
	defer close(w.dead)
	defer w.pool.remove(w)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	log := w.pool.log.With("model", w.id)
	proc, err := w.pool.cfg.Start(w.dir)
	if err != nil {
		w.startErr = &WorkerError{Model: w.id, Msg: err.Error()}
		close(w.ready)
		w.failQueued(w.startErr)
		return
	}
	w.procMu.Lock()
	w.proc = proc
	w.procMu.Unlock()
	c := &conn{proc: proc, lines: make(chan []byte), readDone: make(chan struct{})}
	go w.read(c)
	defer func() {
		proc.Stdin().Close()
		waitDone := make(chan struct{})
		go func() { _ = proc.Wait(); close(waitDone) }()
		select {
		case <-waitDone:
		case <-time.After(10 * time.Second):
			_ = proc.Kill()
			<-waitDone
		}
		w.pool.remove(w)
		log.Info("worker stopped")
	}()
	w.startErr = w.awaitReady(c)
	close(w.ready)
	if w.startErr != nil {
		w.failQueued(w.startErr)
		return
	}
	log.Info("worker ready", "labels", w.labels)
	for {
		var batch []*pending
		select {
		case first := <-w.reqs:
			batch = w.collect(first)
		case <-w.quit:
			// Serve what is already queued, then stop.
			for {
				select {
				case r := <-w.reqs:
					if err := w.serve(c, []*pending{r}); err != nil {
						w.failQueued(err)
						return
					}
				default:
					return
				}
			}
		}
		if err := w.serve(c, batch); err != nil {
			log.Error("worker died", "err", err)
			w.pool.remove(w)
			w.stop()
			if !errors.Is(err, errHung) {
				w.failQueued(err)
			} // else the requests queued behind the hung batch see w.dead and go to a fresh worker
			return
		}
	}
}

// read forwards the worker's stdout lines until it ends or the worker is stopped.
func (w *worker) read(c *conn) {
	defer close(c.readDone)
	sc := bufio.NewScanner(c.proc.Stdout())
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		select {
		case c.lines <- bytes.Clone(sc.Bytes()):
		case <-w.quit:
			return
		}
	}
}

// awaitReady waits for the ready line and records the labels.
func (w *worker) awaitReady(c *conn) error {
	timer := time.NewTimer(w.pool.cfg.StartTimeout)
	defer timer.Stop()
	for {
		select {
		case b := <-c.lines:
			var r protocol.Ready
			if json.Unmarshal(b, &r) != nil || !r.Ready {
				w.pool.log.Warn("worker stdout line before ready", "model", w.id, "line", string(b))
				continue
			}
			w.labels = r.Labels
			if w.labels == nil {
				w.labels = []string{}
			}
			return nil
		case <-c.readDone:
			return &WorkerError{Model: w.id, Msg: "worker did not start: " + c.exitMsg()}
		case <-timer.C:
			_ = c.proc.Kill()
			return &WorkerError{Model: w.id, Msg: fmt.Sprintf("worker not ready after %v", w.pool.cfg.StartTimeout)}
		case <-w.quit:
			return &WorkerError{Model: w.id, Msg: "model unloaded while loading"}
		}
	}
}

// collect builds a batch from first and the requests queued meanwhile (or arriving within BatchWait), up to
// MaxBatch inputs.
func (w *worker) collect(first *pending) []*pending {
	batch := []*pending{first}
	n := len(first.inputs)
	var wait <-chan time.Time // nil: take only what is queued
	if w.pool.cfg.BatchWait > 0 && n < w.pool.cfg.MaxBatch {
		timer := time.NewTimer(w.pool.cfg.BatchWait)
		defer timer.Stop()
		wait = timer.C
	}
	for n < w.pool.cfg.MaxBatch {
		if wait == nil {
			select {
			case r := <-w.reqs:
				batch = append(batch, r)
				n += len(r.inputs)
				continue
			default:
				return batch
			}
		}
		select {
		case r := <-w.reqs:
			batch = append(batch, r)
			n += len(r.inputs)
		case <-wait:
			return batch
		}
	}
	return batch
}

// serve sends one batch as one request per adapter it names (in order of first appearance) and delivers each caller
// its rows. A row the worker rejected fails only its own caller. It returns an error only when the worker died.
func (w *worker) serve(c *conn, batch []*pending) error {
	var groups [][]*pending
	at := map[string]int{}
	for _, r := range batch {
		if r.ctx.Err() != nil {
			continue // the caller gave up: skip its work
		}
		if r.unload != "" {
			groups = append(groups, []*pending{r})
			continue
		}
		i, ok := at[r.adapter]
		if !ok {
			i = len(groups)
			at[r.adapter] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], r)
	}
	for i, g := range groups {
		if err := w.serveGroup(c, g); err != nil {
			for _, rest := range groups[i+1:] { // the worker died: fail what it will not answer
				for _, r := range rest {
					r.res <- result{err: err}
				}
			}
			return err
		}
	}
	return nil
}

// errHung marks a worker killed for not answering within Config.AnswerTimeout.
var errHung = errors.New("no answer in time")

// serveGroup sends live (requests for one adapter, or one unload) as one worker request and delivers the answers.
func (w *worker) serveGroup(c *conn, live []*pending) error {
	req := protocol.Request{Adapter: live[0].adapter, Unload: live[0].unload}
	for _, r := range live {
		req.Inputs = append(req.Inputs, r.inputs...)
	}
	c.seq++
	id := strconv.FormatInt(c.seq, 10)
	req.ID = json.RawMessage(id)
	if req.Unload == "" {
		w.pool.batches.Add(1)
	}
	failAll := func(err error) {
		for _, r := range live {
			r.res <- result{err: err}
		}
	}
	msg, _ := json.Marshal(req)
	if _, err := c.proc.Stdin().Write(append(msg, '\n')); err != nil {
		err := &WorkerError{Model: w.id, Msg: "write to worker: " + err.Error() + "; " + c.exitMsg()}
		failAll(err)
		return err
	}
	timer := time.NewTimer(w.pool.cfg.AnswerTimeout)
	defer timer.Stop()
	for {
		var b []byte
		select {
		case b = <-c.lines:
		case <-c.readDone:
			err := &WorkerError{Model: w.id, Msg: c.exitMsg()}
			failAll(err)
			return err
		case <-timer.C:
			_ = c.proc.Kill()
			err := &WorkerError{Model: w.id, Msg: fmt.Sprintf("the worker did not answer %d inputs within %s (Config.AnswerTimeout): "+
				"it was killed and restarts for the next request", len(req.Inputs), w.pool.cfg.AnswerTimeout)}
			failAll(err)
			return fmt.Errorf("%w: %w", errHung, err)
		}
		var resp protocol.Response
		if err := json.Unmarshal(b, &resp); err != nil || resp.ID == nil {
			w.pool.log.Warn("unexpected worker stdout line", "model", w.id, "line", string(b))
			continue
		}
		if string(resp.ID) != id {
			w.pool.log.Warn("worker answered an unknown request", "model", w.id, "id", string(resp.ID), "want", id)
			continue
		}
		model := live[0].model
		switch {
		case resp.Error != "":
			failAll(&WorkerError{Model: model, Msg: resp.Error})
		case req.Unload != "":
			w.pool.log.Info("adapter unloaded", "model", w.id, "adapter", model, "was_loaded", resp.Unloaded != nil && *resp.Unloaded)
			failAll(nil)
		case len(resp.Results) != len(req.Inputs):
			failAll(&WorkerError{Model: model, Msg: fmt.Sprintf("worker returned %d results for %d inputs", len(resp.Results), len(req.Inputs))})
		default:
			deliver(live, resp.Results)
		}
		return nil
	}
}

// deliver hands each caller its slice of rows: predictions, or an error naming its first input without an answer:
// a request error for an input the module rejected, a model error (not WorkerError.Request) for one the module
// failed on (protocol.CodeModuleFailed).
func deliver(live []*pending, rows []protocol.Result) {
	off := 0
	for _, r := range live {
		mine := rows[off : off+len(r.inputs)]
		off += len(r.inputs)
		preds := make([]sdk.Prediction, len(mine))
		var err error
		for i, row := range mine {
			if row.Error != "" {
				err = &WorkerError{Model: r.model, Msg: fmt.Sprintf("input %d: %s", i, row.Error), Request: row.Code != protocol.CodeModuleFailed}
				break
			}
			preds[i] = sdk.Prediction{Label: row.Label, Score: row.Score, Scores: row.Scores}
		}
		if err != nil {
			r.res <- result{err: err}
		} else {
			r.res <- result{preds: preds}
		}
	}
}

// failQueued answers every request still queued with err.
func (w *worker) failQueued(err error) {
	for {
		select {
		case r := <-w.reqs:
			r.res <- result{err: err}
		default:
			return
		}
	}
}
