//go:build cgo

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/whetml/whet/internal/protocol"
	"github.com/whetml/whet/native/bert"
	"github.com/whetml/whet/native/infer"
	"github.com/whetml/whet/native/torch"
)

// runWorker implements `whet worker predict`: a long-lived process that answers protocol.Requests on stdin with one
// protocol.Response each on stdout, in order (internal/protocol.Serve). It exits when stdin closes.
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
	quantize := quantizeFlag(fs)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	q, err := torch.ParseQuantize(*quantize)
	if err != nil {
		return fmt.Errorf("--quantize: %w", err)
	}
	if err := required(fs, "model"); err != nil {
		return err
	}
	setThreads(*threads)
	ctx, stop := signalContext()
	defer stop()
	c, err := loadWorkerModel(ctx, *model, *preModule, *maxLen, *batch)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	if err := c.quantize(q); err != nil {
		return err
	}
	baseDir := c.rt.Dir
	if c.rt.Base != "" {
		baseDir = c.rt.Base
	}
	set := newAdapterSet(c, baseDir, *preModule, *maxLen, *maxAdapters)
	defer set.close(context.Background())
	return protocol.Serve(ctx, workerModel{c: c, set: set}, os.Stdin, os.Stdout)
}

// loadWorkerModel loads the worker's model: a classifier folder, an adapter folder (on its base), or a base model
// without labels (a pretrained encoder) that serves only requests naming an adapter.
func loadWorkerModel(ctx context.Context, dir, module string, maxLen, batch int) (*classifier, error) {
	c, err := loadClassifier(ctx, dir, "", module, maxLen, batch)
	if errors.Is(err, bert.ErrNoLabels) {
		c, err = loadBaseOnly(ctx, dir, module, maxLen, batch)
	}
	return c, err
}

// loadBaseOnly loads a model folder without classifier labels, for adapters to classify with.
func loadBaseOnly(ctx context.Context, dir, module string, maxLen, batch int) (*classifier, error) {
	m, err := loadBaseModel(dir)
	if err != nil {
		return nil, err
	}
	c := &classifier{model: m, batch: batch}
	if err := c.openTokenizer(ctx, dir, "", module, maxLen); err != nil {
		c.Close(ctx)
		return nil, err
	}
	return c, nil
}

// workerModel serves the base classifier and its LoRA adapters through protocol.Model.
type workerModel struct {
	c   *classifier
	set *adapterSet
}

func (m workerModel) Labels() []string  { return m.c.labels }
func (m workerModel) MaxSeqLength() int { return m.c.maxLen }

func (m workerModel) Unload(ctx context.Context, adapter string) bool {
	return m.set.unload(ctx, adapter)
}

func (m workerModel) Logits(ctx context.Context, adapter string, texts []string) ([]string, [][]float32, []protocol.RowError, error) {
	c := m.c
	if adapter != "" {
		ac, err := m.set.get(ctx, adapter)
		if err != nil {
			return nil, nil, nil, err
		}
		c = ac
	} else if len(c.labels) == 0 {
		return nil, nil, nil, errors.New("the worker's model has no classifier: name a LoRA adapter (\"adapter\")")
	}
	logits, rowErrs, err := c.logits(ctx, texts, nil)
	return c.labels, logits, rowErrs, err
}
