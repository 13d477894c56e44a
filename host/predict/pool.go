package predict

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whetml/whet/sdk"
)

// Defaults for Config.
const (
	DefaultMaxLoaded     = 2
	DefaultMaxBatch      = 32
	DefaultBatchWait     = 0
	DefaultStartTimeout  = 2 * time.Minute
	DefaultQueueSize     = 1024
	DefaultEvaluations   = 2
	DefaultAnswerTimeout = 2 * time.Minute
)

// Config configures a Pool. Zero fields take their defaults.
type Config struct {
	// Bin is the whet binary run as `Bin worker predict --model DIR`. Default: os.Executable().
	Bin string
	// MaxLoaded is how many models stay loaded (one worker process each; a base model's worker also serves its
	// LoRA adapters, which do not count); the least recently used is unloaded beyond it. Default: DefaultMaxLoaded.
	MaxLoaded int
	// MaxBatch is how many inputs one worker request carries at most (a single larger request goes alone).
	// Default: DefaultMaxBatch.
	MaxBatch int
	// BatchWait is how long a batch waits for more requests after its first one, unless it is full. With 0 (the
	// default) a batch takes only the requests that queued while the previous batch ran: no added latency when the
	// worker is idle, full batches under load.
	BatchWait time.Duration
	// StartTimeout bounds a worker's start (loading the model) until its ready line. Default: DefaultStartTimeout.
	StartTimeout time.Duration
	// AnswerTimeout bounds a worker's answer to one batch: a worker that takes longer (hung in native code) is
	// killed, that batch's callers get a *WorkerError, and the requests queued behind it go to a fresh worker.
	// Default: DefaultAnswerTimeout.
	AnswerTimeout time.Duration
	// QueueSize is how many requests may wait per model; more are refused with ErrBusy. Default: DefaultQueueSize.
	QueueSize int
	// Evaluations is how many `whet eval` processes Evaluate runs at once (they compete with training for the
	// CPU); more wait. Default: DefaultEvaluations.
	Evaluations int
	// Threads, when > 0, is passed to the worker as --threads. Default: 0.
	Threads int
	// Quantize is passed to the worker as --quantize: "int8" runs the models' Linear layers as dynamic int8 on the
	// CPU (faster from batches of ~8 texts, slower for single texts on small models: bench/README.md measures it).
	// Default: "" (float32).
	Quantize string
	// Env is added to the workers' environment. Default: none.
	Env []string
	// Start starts a worker for a model folder. Default: `Bin worker predict --model DIR [--threads Threads]
	// [--quantize Quantize]` as a
	// child process with Env that dies with the server.
	Start StartFunc
	// Logger receives the pool's logs. Default: a logger that discards.
	Logger *slog.Logger
}

// ErrBusy is returned when a model's request queue is full.
var ErrBusy = errors.New("predict: too many requests waiting for this model")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("predict: pool closed")

// WorkerError is a failure of a worker process or of one of its requests.
type WorkerError struct {
	// Model is the model id.
	Model string
	// Msg says what failed, with the worker's own error or last stderr lines.
	Msg string
	// Request reports an error the worker returned for the request (bad input), as opposed to a worker that
	// could not start or died.
	Request bool
}

// Error implements error.
func (e *WorkerError) Error() string { return fmt.Sprintf("predict: model[%s]: %s", e.Model, e.Msg) }

// Stats counts the pool's work since New.
type Stats struct {
	// Loaded is the number of workers running now (one per model, a base serving its adapters counting once).
	Loaded int
	// Requests is the number of Predict calls answered by a worker.
	Requests int64
	// Batches is the number of requests sent to workers (each carrying one or more Predict calls).
	Batches int64
	// Starts is the number of worker processes started.
	Starts int64
}

// Pool runs prediction workers and batches concurrent requests to them. It is safe for concurrent use.
type Pool struct {
	cfg    Config
	log    *slog.Logger
	mu     sync.Mutex
	byID   map[string]*list.Element // of *worker
	lru    *list.List               // front = most recently used
	closed bool
	wg     sync.WaitGroup

	evalSem chan struct{} // Config.Evaluations `whet eval` at a time

	requests, batches, starts atomic.Int64
}

// New returns a Pool; workers start on first use.
func New(cfg Config) (*Pool, error) {
	if cfg.Bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("predict: config Bin: %w", err)
		}
		cfg.Bin = exe
	}
	if cfg.MaxLoaded == 0 {
		cfg.MaxLoaded = DefaultMaxLoaded
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.BatchWait == 0 {
		cfg.BatchWait = DefaultBatchWait
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.AnswerTimeout == 0 {
		cfg.AnswerTimeout = DefaultAnswerTimeout
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.Evaluations == 0 {
		cfg.Evaluations = DefaultEvaluations
	}
	if cfg.Start == nil {
		cfg.Start = execStart(cfg.Bin, cfg.Threads, cfg.Quantize, cfg.Env)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	switch {
	case cfg.MaxLoaded < 1:
		return nil, fmt.Errorf("predict: config MaxLoaded must be >= 1, got %d", cfg.MaxLoaded)
	case cfg.MaxBatch < 1:
		return nil, fmt.Errorf("predict: config MaxBatch must be >= 1, got %d", cfg.MaxBatch)
	case cfg.BatchWait < 0:
		return nil, fmt.Errorf("predict: config BatchWait must be >= 0, got %v", cfg.BatchWait)
	case cfg.Quantize != "" && cfg.Quantize != "none" && cfg.Quantize != "int8": // the worker's --quantize values
		return nil, fmt.Errorf("predict: config Quantize %q: want none or int8", cfg.Quantize)
	}
	return &Pool{cfg: cfg, log: cfg.Logger, byID: map[string]*list.Element{}, lru: list.New(),
		evalSem: make(chan struct{}, cfg.Evaluations)}, nil
}

// Stats returns the pool's counters.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	n := p.lru.Len()
	p.mu.Unlock()
	return Stats{Loaded: n, Requests: p.requests.Load(), Batches: p.batches.Load(), Starts: p.starts.Load()}
}

// Predict classifies inputs with model id, whose folder is dir, loading it if needed. Concurrent calls for the
// same model are batched into one worker request.
//
// # Errors
//
// ctx's error; ErrBusy; ErrClosed; a *WorkerError when the worker cannot start, dies, or rejects the request.
func (p *Pool) Predict(ctx context.Context, id, dir string, inputs []string) ([]sdk.Prediction, error) {
	return p.predict(ctx, id, dir, Adapter{}, inputs)
}

// Adapter is a LoRA adapter model served on its base model's worker.
type Adapter struct {
	// ID is the adapter's model id (named in errors and by Unload).
	ID string
	// Dir is the adapter folder (adapter_config.json, adapter_model.safetensors).
	Dir string
}

// PredictAdapter classifies inputs with the LoRA adapter a of the base model baseID (folder baseDir). Every adapter
// of one base is served by that base's one worker, which holds the base weights once and loads each adapter on
// first use (`whet worker predict --max-adapters` bounds how many stay loaded); the pool's MaxLoaded counts base
// models only. Concurrent calls for one base are batched; the worker gets one request per adapter of a batch.
//
// # Errors
//
// As Predict; WorkerError.Model names the adapter.
func (p *Pool) PredictAdapter(ctx context.Context, baseID, baseDir string, a Adapter, inputs []string) ([]sdk.Prediction, error) {
	if a.ID == "" || a.Dir == "" {
		return nil, fmt.Errorf("predict: adapter of model[%s] needs an id and a folder", baseID)
	}
	return p.predict(ctx, baseID, baseDir, a, inputs)
}

func (p *Pool) predict(ctx context.Context, id, dir string, a Adapter, inputs []string) ([]sdk.Prediction, error) {
	if len(inputs) == 0 {
		return []sdk.Prediction{}, nil
	}
	blame := id
	if a.ID != "" {
		blame = a.ID
	}
	for attempt := 0; ; attempt++ {
		w, err := p.get(id, dir, a)
		if err != nil {
			return nil, err
		}
		select {
		case <-w.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if w.startErr != nil {
			p.remove(w)
			return nil, w.startErr
		}
		req := &pending{ctx: ctx, model: blame, adapter: a.Dir, inputs: inputs, res: make(chan result, 1)}
		select {
		case w.reqs <- req:
		case <-w.quit:
			if attempt < 3 {
				continue // unloaded meanwhile: load again
			}
			return nil, &WorkerError{Model: blame, Msg: "model kept being unloaded; raise MaxLoaded"}
		case <-ctx.Done():
			return nil, ctx.Err()
		default:
			return nil, ErrBusy
		}
		select {
		case r := <-req.res:
			if r.err == nil {
				p.requests.Add(1)
			}
			return r.preds, r.err
		case <-w.dead:
			select {
			case r := <-req.res:
				return r.preds, r.err
			default:
			}
			if attempt < 3 {
				continue // the worker stopped before taking the request: try a fresh one
			}
			return nil, &WorkerError{Model: blame, Msg: "worker stopped before answering"}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Unload stops model id's worker, if loaded, after the requests already queued for it. When id is an adapter
// served on a base's worker, that worker unloads the adapter (after the requests queued before) and keeps running.
func (p *Pool) Unload(id string) {
	p.mu.Lock()
	el := p.byID[id]
	if el != nil {
		p.lru.Remove(el)
		delete(p.byID, id)
	}
	var holders []*worker
	for e := p.lru.Front(); e != nil; e = e.Next() {
		if w := e.Value.(*worker); w.adapters[id] != "" {
			holders = append(holders, w)
		}
	}
	p.mu.Unlock()
	if el != nil {
		el.Value.(*worker).stop()
	}
	for _, w := range holders {
		w.unloadAdapter(id)
	}
}

// Close stops every worker and waits for them, killing those still running when ctx ends. Idempotent.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	var ws []*worker
	for id, el := range p.byID {
		ws = append(ws, el.Value.(*worker))
		delete(p.byID, id)
	}
	p.lru.Init()
	p.mu.Unlock()
	for _, w := range ws {
		w.stop()
	}
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, w := range ws {
			w.kill()
		}
		<-done
		return ctx.Err()
	}
}

// get returns model id's worker, starting it (and unloading the least recently used beyond MaxLoaded), and records
// that it serves adapter a (when a.ID is set; an adapter id seen before with another folder is unloaded first).
func (p *Pool) get(id, dir string, a Adapter) (*worker, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if el, ok := p.byID[id]; ok {
		w := el.Value.(*worker)
		if w.dir == dir {
			p.lru.MoveToFront(el)
			stale := w.noteAdapter(a)
			p.mu.Unlock()
			if stale != "" {
				w.enqueueUnload(a.ID, stale)
			}
			return w, nil
		}
		p.lru.Remove(el)
		delete(p.byID, id)
		go w.stop()
	}
	w := &worker{pool: p, id: id, dir: dir, reqs: make(chan *pending, p.cfg.QueueSize), ready: make(chan struct{}),
		quit: make(chan struct{}), dead: make(chan struct{}), adapters: map[string]string{}}
	w.noteAdapter(a)
	p.byID[id] = p.lru.PushFront(w)
	var evicted []*worker
	for p.lru.Len() > p.cfg.MaxLoaded {
		el := p.lru.Back()
		old := el.Value.(*worker)
		p.lru.Remove(el)
		delete(p.byID, old.id)
		evicted = append(evicted, old)
	}
	p.wg.Add(1)
	p.mu.Unlock()
	for _, old := range evicted {
		p.log.Info("unloading model", "model", old.id, "reason", "lru", "max_loaded", p.cfg.MaxLoaded)
		old.stop()
	}
	p.starts.Add(1)
	go w.run()
	return w, nil
}

// remove drops w from the cache if it is still there (after it died or failed to start).
func (p *Pool) remove(w *worker) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if el, ok := p.byID[w.id]; ok && el.Value.(*worker) == w {
		p.lru.Remove(el)
		delete(p.byID, w.id)
	}
}
