package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/whetml/whet/host/predict"
	"github.com/whetml/whet/sdk"
)

// predictQueue is the queue group of the workers serving predictions: each request goes to one of them.
const predictQueue = "predict"

// predictSubject is model id's request subject (ids may hold '.', which NATS reads as a separator).
func predictSubject(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "whet.predict." + hex.EncodeToString(sum[:8])
}

type predictReq struct {
	Model  string   `json:"model"`
	Object string   `json:"object"`
	Inputs []string `json:"inputs"`
	// Adapter and AdapterObject name a LoRA adapter model served on Model (its base); empty for the model alone.
	Adapter       string `json:"adapter,omitempty"`
	AdapterObject string `json:"adapter_object,omitempty"`
}

type predictResp struct {
	Results        []sdk.Prediction `json:"results,omitempty"`
	Error          string           `json:"error,omitempty"`
	Request        bool             `json:"request,omitempty"` // the inputs are at fault (400), not the model
	MissingModel   bool             `json:"missing_model,omitempty"`
	MissingAdapter bool             `json:"missing_adapter,omitempty"`
}

// Predict sends inputs for model id (folder dir on this server) to a worker serving models, uploading the folder
// to the Object Store the first time a worker lacks it. ok=false means no worker answered in time (none serves
// models, or the one chosen died): the caller predicts locally. A worker that dies mid-request is retried once.
//
// # Errors
//
// A *predict.WorkerError from the worker's predict subprocess (Request set when the inputs are at fault).
func (c *Coordinator) Predict(ctx context.Context, id, dir string, inputs []string) (preds []sdk.Prediction, ok bool, err error) {
	return c.predict(ctx, id, dir, predict.Adapter{}, inputs)
}

// PredictAdapter is Predict for LoRA adapter a of base model baseID (folder baseDir): the worker fetches the base
// and the adapter (each uploaded the first time a worker lacks it) and serves every adapter of a base from that base's
// one predict worker, as the server's own pool does. Errors name the adapter.
func (c *Coordinator) PredictAdapter(ctx context.Context, baseID, baseDir string, a predict.Adapter, inputs []string) (preds []sdk.Prediction, ok bool, err error) {
	return c.predict(ctx, baseID, baseDir, a, inputs)
}

func (c *Coordinator) predict(ctx context.Context, id, dir string, a predict.Adapter, inputs []string) (preds []sdk.Prediction, ok bool, err error) {
	obj, err := objModel(id, dir)
	if err != nil {
		return nil, false, err
	}
	req, blame := predictReq{Model: id, Object: obj, Inputs: inputs}, id
	if a.ID != "" {
		if req.AdapterObject, err = objModel(a.ID, a.Dir); err != nil {
			return nil, false, err
		}
		req.Adapter, blame = a.ID, a.ID
	}
	b, _ := json.Marshal(req)
	for attempt := 0; attempt < 3; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, c.cfg.AckWait)
		m, err := c.cfg.Conn.RequestWithContext(rctx, predictSubject(id), b)
		cancel()
		if errors.Is(err, nats.ErrNoResponders) {
			return nil, false, nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, false, ctx.Err()
			}
			c.log.Warn("remote predict: no answer, trying again", "model", blame, "err", err)
			continue
		}
		var r predictResp
		if err := json.Unmarshal(m.Data, &r); err != nil {
			return nil, false, fmt.Errorf("remote predict: bad reply: %w", err)
		}
		switch {
		case r.MissingModel:
			if err := c.uploadModel(ctx, id, dir, obj); err != nil {
				return nil, false, err
			}
			continue
		case r.MissingAdapter && a.ID != "":
			if err := c.uploadModel(ctx, a.ID, a.Dir, req.AdapterObject); err != nil {
				return nil, false, err
			}
			continue
		case r.Error != "":
			return nil, true, &predict.WorkerError{Model: blame, Msg: r.Error, Request: r.Request}
		}
		return r.Results, true, nil
	}
	return nil, false, nil
}

// uploadModel puts model id's folder dir into the bucket as object obj (objModel) and deletes the archives of the
// folders the id named before.
func (c *Coordinator) uploadModel(ctx context.Context, id, dir, obj string) error {
	files, err := dirFiles(dir, "checkpoints")
	if err != nil {
		return fmt.Errorf("model[%s]: %w", id, err)
	}
	if err := putFiles(ctx, c.obs, obj, files); err != nil {
		return err
	}
	infos, _ := c.obs.List(ctx)
	for _, info := range infos {
		if strings.HasPrefix(info.Name, "models/"+id+"/") && info.Name != obj {
			_ = c.obs.Delete(ctx, info.Name)
		}
	}
	return nil
}

// servePredictions answers predict requests for any model with a local prediction pool until ctx ends.
func (w *worker) servePredictions(ctx context.Context) (stop func(), err error) {
	pool, err := predict.New(w.predictConfig())
	if err != nil {
		return nil, err
	}
	w.loaded = newLoadedModels(predict.DefaultMaxLoaded, predictMaxAdapters, pool.Unload)
	sem := make(chan struct{}, maxConcurrentRequests)
	sub, err := w.nc.QueueSubscribe("whet.predict.*", predictQueue, func(m *nats.Msg) {
		sem <- struct{}{} // blocks this subscription's delivery: NATS buffers (and bounds) the rest
		go func() {
			defer func() { <-sem }()
			b, _ := json.Marshal(w.predict(ctx, pool, m.Data))
			_ = m.Respond(b)
		}()
	})
	if err != nil {
		pool.Close(context.Background())
		return nil, err
	}
	return func() {
		_ = sub.Drain()
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = pool.Close(cctx)
		w.loaded.releaseAll()
	}, nil
}

// predictConfig is the configuration of the worker's prediction pool: `Bin worker predict` processes with the
// worker's threads and PredictQuantize.
func (w *worker) predictConfig() predict.Config {
	return predict.Config{Bin: w.cfg.Bin, Threads: w.cfg.Threads, Quantize: w.cfg.PredictQuantize, MaxLoaded: predict.DefaultMaxLoaded, Logger: w.log}
}

// predict answers one predict request with pool. The request holds the use of its model's and adapter's cached
// folders until it is answered; w.loaded keeps those the pool may hold loaded afterwards.
func (w *worker) predict(ctx context.Context, pool *predict.Pool, data []byte) predictResp {
	var r predictReq
	if err := json.Unmarshal(data, &r); err != nil || r.Model == "" {
		return predictResp{Error: "bad predict request"}
	}
	base, err := w.models.acquire(ctx, r.Model, r.Object)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return predictResp{MissingModel: true}
	}
	if err != nil {
		return predictResp{Error: "fetch the model: " + err.Error()}
	}
	defer base.Release()
	served := r.Model
	var ad *modelRef
	if r.Adapter != "" {
		ad, err = w.models.acquire(ctx, r.Adapter, r.AdapterObject)
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return predictResp{MissingAdapter: true}
		}
		if err != nil {
			return predictResp{Error: "fetch the adapter: " + err.Error()}
		}
		defer ad.Release()
		served = r.Adapter
	}
	end := w.loaded.begin(r.Model, base, r.Adapter, ad)
	defer end()
	var preds []sdk.Prediction
	if ad != nil {
		preds, err = pool.PredictAdapter(ctx, r.Model, base.Dir(), predict.Adapter{ID: r.Adapter, Dir: ad.Dir()}, r.Inputs)
	} else {
		preds, err = pool.Predict(ctx, r.Model, base.Dir(), r.Inputs)
	}
	var we *predict.WorkerError
	if errors.As(err, &we) {
		return predictResp{Error: we.Msg, Request: we.Request}
	}
	if err != nil {
		return predictResp{Error: err.Error()}
	}
	if _, seen := w.serving.LoadOrStore(served, true); !seen {
		w.log.Info("serving predictions", "model", served)
	}
	return predictResp{Results: preds}
}

// predictMaxAdapters is how many LoRA adapters one predict process keeps loaded: `whet worker predict
// --max-adapters`' default (cmd/whet DefaultMaxAdapters), which the pool's processes run with.
const predictMaxAdapters = 64

// loadedModels tracks the models the worker's prediction pool may hold loaded and keeps a use (modelRef) of their
// cached folders, so that the model cache evicts none under a predict process: a base model's folder while a
// process serves it (the process reads it again for each adapter it loads), an adapter's while its base's process
// may hold it.
//
// The worker, not the pool, unloads bases: when a request for a base makes more than max tracked, begin unloads
// the least recently used tracked base with no request in flight (the pool's Unload) and releases its folders. The
// pool, bounded by the same max, then never unloads a base on its own while one can go, so every base it holds is
// tracked; when all are busy it unloads one itself, and the tracked set stays a superset until the next begin
// trims it. Beyond maxAdapters adapters of one base, the least recently used one is released, as the process
// unloads it; should the process still hold it, it loses only files it has read (a request that loads it again
// holds its own use, which downloads it again).
type loadedModels struct {
	max, maxAdapters int
	unload           func(id string)

	mu    sync.Mutex
	bases map[string]*loadedBase // by model id
	clock uint64                 // begin calls so far: the recency of uses
}

// loadedBase is a base model the pool may hold loaded, and the adapters served on it.
type loadedBase struct {
	ref      *modelRef
	inflight int    // requests not yet answered
	used     uint64 // loadedModels.clock at the last request
	adapters map[string]*loadedAdapter
}

// loadedAdapter is an adapter a base's process may hold loaded.
type loadedAdapter struct {
	ref  *modelRef
	used uint64
}

// newLoadedModels tracks a pool holding at most max bases loaded, each with at most maxAdapters adapters; unload
// unloads a base model from the pool.
func newLoadedModels(max, maxAdapters int, unload func(id string)) *loadedModels {
	return &loadedModels{max: max, maxAdapters: maxAdapters, unload: unload, bases: map[string]*loadedBase{}}
}

// begin records a request for base model id, cached in base, with its adapter adID cached in ad (nil without one),
// unloading bases beyond max; the request holds its own uses of both until answered. end records the answer.
func (l *loadedModels) begin(id string, base *modelRef, adID string, ad *modelRef) (end func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clock++
	b := l.bases[id]
	switch {
	case b == nil:
		b = &loadedBase{ref: base.Retain(), adapters: map[string]*loadedAdapter{}}
		l.bases[id] = b
	case b.ref.Dir() != base.Dir(): // a new version of the model: the pool replaces its process
		b.release()
		b.ref = base.Retain()
	}
	b.inflight++
	b.used = l.clock
	if ad != nil {
		a := b.adapters[adID]
		if a == nil || a.ref.Dir() != ad.Dir() {
			if a != nil {
				a.ref.Release()
			}
			a = &loadedAdapter{ref: ad.Retain()}
			b.adapters[adID] = a
		}
		a.used = l.clock
		b.trimAdapters(l.maxAdapters)
	}
	l.trimLocked()
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		b.inflight--
	}
}

// trimLocked unloads the least recently used bases with no request in flight while more than max are tracked.
func (l *loadedModels) trimLocked() {
	for len(l.bases) > l.max {
		var lru string
		for id, b := range l.bases {
			if b.inflight == 0 && (lru == "" || b.used < l.bases[lru].used) {
				lru = id
			}
		}
		if lru == "" { // all busy: the pool unloads one itself
			return
		}
		l.unload(lru)
		l.bases[lru].release()
		delete(l.bases, lru)
	}
}

// trimAdapters releases the least recently used adapters beyond max.
func (b *loadedBase) trimAdapters(max int) {
	for len(b.adapters) > max {
		var lru string
		for id, a := range b.adapters {
			if lru == "" || a.used < b.adapters[lru].used {
				lru = id
			}
		}
		b.adapters[lru].ref.Release()
		delete(b.adapters, lru)
	}
}

// release releases the uses of b's folder and its adapters'.
func (b *loadedBase) release() {
	for id, a := range b.adapters {
		a.ref.Release()
		delete(b.adapters, id)
	}
	b.ref.Release()
}

// releaseAll releases every tracked folder (the pool is closed).
func (l *loadedModels) releaseAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, b := range l.bases {
		b.release()
		delete(l.bases, id)
	}
}
