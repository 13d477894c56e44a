//go:build cgo

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/whetml/whet/native/bert"
	"github.com/whetml/whet/native/checkpoint"
	"github.com/whetml/whet/native/infer"
)

// workerRequest is one NDJSON request of `whet worker predict`.
type workerRequest struct {
	ID     json.RawMessage `json:"id"`
	Inputs []string        `json:"inputs"`
	// Adapter, when set, is a LoRA adapter folder of the worker's base model to classify with; it is loaded on
	// first use and stays loaded (up to --max-adapters, least recently used unloaded first).
	Adapter string `json:"adapter,omitempty"`
	// Unload, when set (without inputs), unloads that adapter folder; the answer is {"id","unloaded":bool}.
	Unload string `json:"unload,omitempty"`
}

// workerResult is one input's answer (HF text-classification shape plus logits).
type workerResult struct {
	Label  string             `json:"label"`
	Score  float64            `json:"score"`
	Scores map[string]float64 `json:"scores"`
	Logits []float64          `json:"logits"`
}

type workerResponse struct {
	ID       json.RawMessage `json:"id"`
	Results  []workerResult  `json:"results,omitempty"`
	Unloaded *bool           `json:"unloaded,omitempty"`
	Error    string          `json:"error,omitempty"`
}

// runWorker implements `whet worker predict`: a long-lived process that answers NDJSON requests on stdin with one
// NDJSON response each on stdout, in order (docs/contracts.md). A failing request gets {"id","error"}; the worker
// goes on. It exits when stdin closes.
func runWorker(args []string) error {
	if len(args) == 0 || args[0] != "predict" {
		return errWorkerUsage
	}
	fs := flag.NewFlagSet("worker predict", flag.ContinueOnError)
	model := fs.String("model", "", "model folder")
	threads := threadsFlag(fs)
	batch := fs.Int("batch-size", infer.DefaultBatchSize, "rows per batch")
	maxLen := fs.Int("max-seq-length", 0, "tokens per row (default: the model's limit, at most 512)")
	preModule := fs.String("preprocess-module", "", "preprocess .wasm module or builtin:NAME")
	maxAdapters := fs.Int("max-adapters", DefaultMaxAdapters, "LoRA adapters kept loaded (least recently used unloaded beyond)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if err := required(fs, "model"); err != nil {
		return err
	}
	setThreads(*threads)
	ctx, stop := signalContext()
	defer stop()
	c, baseFolder, err := loadWorkerModel(ctx, *model, *preModule, *maxLen, *batch)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	set := newAdapterSet(c, baseFolder, *preModule, *maxLen, *maxAdapters)
	defer set.close(context.Background())
	return serveWorker(ctx, c, set, os.Stdin, os.Stdout)
}

// loadWorkerModel loads the worker's model: a classifier folder, an adapter folder (on its base), or a base model
// without labels (a pretrained encoder) that serves only requests naming an adapter. It also returns the base
// model's folder, which adapters are read against.
func loadWorkerModel(ctx context.Context, dir, module string, maxLen, batch int) (*classifier, *checkpoint.Folder, error) {
	c, err := loadClassifier(ctx, dir, module, maxLen, batch)
	if errors.Is(err, bert.ErrNoLabels) {
		c, err = loadBaseOnly(ctx, dir, module, maxLen, batch)
	}
	if err != nil {
		return nil, nil, err
	}
	if c.adapter == nil {
		return c, c.folder, nil
	}
	a, err := checkpoint.ReadAdapter(dir)
	if err == nil {
		var base *checkpoint.Folder
		if base, err = checkpoint.ReadConfigOnly(a.Config.BaseModelNameOrPath); err == nil {
			return c, base, nil
		}
	}
	c.Close(ctx)
	return nil, nil, err
}

// loadBaseOnly loads a model folder without classifier labels, for adapters to classify with.
func loadBaseOnly(ctx context.Context, dir, module string, maxLen, batch int) (*classifier, error) {
	f, err := checkpoint.ReadConfigOnly(dir)
	if err != nil {
		return nil, err
	}
	m, err := loadBaseModel(dir)
	if err != nil {
		return nil, err
	}
	c := &classifier{folder: f, model: m, batch: batch}
	if err := c.openTokenizer(ctx, module, maxLen); err != nil {
		c.Close(ctx)
		return nil, err
	}
	return c, nil
}

func serveWorker(ctx context.Context, c *classifier, set *adapterSet, in io.Reader, out io.Writer) error {
	w := bufio.NewWriter(out)
	send := func(v any) error {
		if err := writeJSONLine(w, v); err != nil {
			return err
		}
		return w.Flush()
	}
	if err := send(map[string]any{"ready": true, "labels": c.labels, "max_seq_length": c.maxLen}); err != nil {
		return err
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var req workerRequest
		if err := json.Unmarshal(line, &req); err != nil {
			if err := send(workerResponse{ID: json.RawMessage("null"), Error: fmt.Sprintf("bad request: %v", err)}); err != nil {
				return err
			}
			continue
		}
		if req.ID == nil {
			req.ID = json.RawMessage("null")
		}
		if err := send(answerRequest(ctx, c, set, req)); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
	return sc.Err()
}

// answerRequest answers one request with the base classifier c or the adapter it names.
func answerRequest(ctx context.Context, c *classifier, set *adapterSet, req workerRequest) workerResponse {
	if req.Unload != "" {
		ok := set.unload(ctx, req.Unload)
		return workerResponse{ID: req.ID, Unloaded: &ok}
	}
	if req.Adapter != "" {
		ac, err := set.get(ctx, req.Adapter)
		if err != nil {
			return workerResponse{ID: req.ID, Error: err.Error()}
		}
		return ac.answer(ctx, req)
	}
	if len(c.labels) == 0 {
		return workerResponse{ID: req.ID, Error: "the worker's model has no classifier: name a LoRA adapter (\"adapter\")"}
	}
	return c.answer(ctx, req)
}

func (c *classifier) answer(ctx context.Context, req workerRequest) workerResponse {
	if len(req.Inputs) == 0 {
		return workerResponse{ID: req.ID, Error: "no inputs"}
	}
	logits, errs, err := c.logits(ctx, req.Inputs, nil)
	if err != nil {
		return workerResponse{ID: req.ID, Error: err.Error()}
	}
	res := make([]workerResult, len(logits))
	for i, l := range logits {
		if errs[i] != "" {
			return workerResponse{ID: req.ID, Error: fmt.Sprintf("input %d: %s", i, errs[i])}
		}
		p := toPrediction(c.labels, l)
		scores := make(map[string]float64, len(c.labels))
		for j, v := range infer.Softmax(l) {
			scores[c.labels[j]] = roundTo(float64(v), 6)
		}
		res[i] = workerResult{Label: p.Label, Score: p.Score, Scores: scores, Logits: p.Logits}
	}
	return workerResponse{ID: req.ID, Results: res}
}
