package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
	pool, err := predict.New(predict.Config{Bin: w.cfg.Bin, Threads: w.cfg.Threads, Logger: w.log})
	if err != nil {
		return nil, err
	}
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
	}, nil
}

func (w *worker) predict(ctx context.Context, pool *predict.Pool, data []byte) predictResp {
	var r predictReq
	if err := json.Unmarshal(data, &r); err != nil || r.Model == "" {
		return predictResp{Error: "bad predict request"}
	}
	dir, err := w.model(ctx, r.Model, r.Object)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return predictResp{MissingModel: true}
	}
	if err != nil {
		return predictResp{Error: "fetch the model: " + err.Error()}
	}
	served := r.Model
	var preds []sdk.Prediction
	if r.Adapter != "" {
		adir, aerr := w.model(ctx, r.Adapter, r.AdapterObject)
		if errors.Is(aerr, jetstream.ErrObjectNotFound) {
			return predictResp{MissingAdapter: true}
		}
		if aerr != nil {
			return predictResp{Error: "fetch the adapter: " + aerr.Error()}
		}
		served = r.Adapter
		preds, err = pool.PredictAdapter(ctx, r.Model, dir, predict.Adapter{ID: r.Adapter, Dir: adir}, r.Inputs)
	} else {
		preds, err = pool.Predict(ctx, r.Model, dir, r.Inputs)
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
