//go:build cgo

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/whetml/whet/host/modeldir"
	"github.com/whetml/whet/internal/atomicfile"
	"github.com/whetml/whet/internal/protocol"

	"github.com/whetml/whet/dataset"
	"github.com/whetml/whet/native/bert"
	"github.com/whetml/whet/native/checkpoint"
	"github.com/whetml/whet/native/infer"
	"github.com/whetml/whet/native/torch"
	"github.com/whetml/whet/native/train"
)

// classifier is a loaded model folder with its tokenizer, shared by predict, eval and the worker.
type classifier struct {
	rt    *modeldir.Runtime
	model *bert.Model
	// adapter is the LoRA adapter applied to model (nil for a plain model folder).
	adapter *bert.Adapter
	tok     tokenizer
	labels  []string
	maxLen  int
	batch   int
	// prec is the forward pass's arithmetic (--precision; "" is fp32).
	prec torch.Precision
}

// loadClassifier reads a model folder (which must have a classifier with labels), or a LoRA adapter folder and its
// base (the folder base, or when "" the adapter's base_model_name_or_path), and the tokenizer.
func loadClassifier(ctx context.Context, dir, base, module string, maxLen, batch int) (*classifier, error) {
	if checkpoint.IsAdapter(dir) {
		return loadAdapterClassifier(ctx, dir, base, module, maxLen, batch)
	}
	f, err := checkpoint.ReadFolder(dir)
	if err != nil {
		return nil, err
	}
	labels := f.Config.Labels()
	if len(labels) == 0 {
		return nil, fmt.Errorf("model[%s]: %w", dir, bert.ErrNoLabels)
	}
	values, rep, err := f.Match(f.Config, bert.HeadClassifier, len(labels))
	if err != nil {
		return nil, err
	}
	if rep.FreshClassifier || len(rep.Missing) > 0 {
		missing := rep.Missing
		if rep.FreshClassifier {
			missing = append(missing, "classifier.weight", "classifier.bias")
		}
		return nil, fmt.Errorf("weights[%s]: not a trained classifier: missing %s", f.WeightsFile, strings.Join(missing, ", "))
	}
	m, err := bert.New(f.Config, bert.Options{Heads: bert.HeadClassifier, NumLabels: len(labels), Device: torch.Device()}, values)
	if err != nil {
		return nil, err
	}
	c := &classifier{model: m, labels: labels, batch: batch}
	if err := c.openTokenizer(ctx, dir, "", module, maxLen); err != nil {
		c.Close(ctx)
		return nil, err
	}
	return c, nil
}

// openTokenizer reads the runtime facts of the model or adapter folder dir (an adapter on the model folder base, ""
// for its base_model_name_or_path) and sets up its tokenizer at maxLen (0: the folder's own length).
func (c *classifier) openTokenizer(ctx context.Context, dir, base, module string, maxLen int) error {
	var rt *modeldir.Runtime
	var err error
	if base != "" {
		rt, err = modeldir.ReadAdapterRuntime(dir, base)
	} else {
		rt, err = modeldir.ReadRuntime(dir)
	}
	if err != nil {
		return err
	}
	if maxLen <= 0 {
		maxLen = rt.MaxLength
	}
	if maxLen > rt.MaxPositionEmbeddings {
		return fmt.Errorf("--max-seq-length %d is more than the model's max_position_embeddings %d", maxLen, rt.MaxPositionEmbeddings)
	}
	tok, err := newTokenizer(ctx, rt, module, maxLen)
	if err != nil {
		return err
	}
	c.rt, c.tok, c.maxLen = rt, tok, maxLen
	return nil
}

// loadAdapterClassifier loads an adapter folder's base model (any heads: the adapter brings its classifier) and the
// adapter, tokenizing as the adapter folder says (see checkpoint.AdapterView).
func loadAdapterClassifier(ctx context.Context, dir, base, module string, maxLen, batch int) (*classifier, error) {
	a, err := checkpoint.ReadAdapter(dir)
	if err != nil {
		return nil, err
	}
	m, err := loadBaseModel(adapterBase(a, base))
	if err != nil {
		return nil, fmt.Errorf("adapter[%s]: base model: %w", dir, err)
	}
	c := &classifier{model: m, batch: batch}
	if c.adapter, c.labels, err = infer.LoadAdapter(m, dir); err != nil {
		c.Close(ctx)
		return nil, err
	}
	if err := c.openTokenizer(ctx, dir, base, module, maxLen); err != nil {
		c.Close(ctx)
		return nil, err
	}
	return c, nil
}

// adapterBase is the base model folder of adapter a: override (a --base flag) when set, else its
// base_model_name_or_path.
func adapterBase(a *checkpoint.Adapter, override string) string {
	if override != "" {
		return override
	}
	return a.Config.BaseModelNameOrPath
}

// baseFlag is --base of the commands that read a LoRA adapter folder.
func baseFlag(fs *flag.FlagSet) *string {
	return fs.String("base", "", "base model folder of a LoRA adapter --model (default: its base_model_name_or_path)")
}

// loadBaseModel loads a model folder to apply adapters to: its encoder and pooler, and its classifier when it has
// labels (a pretrained MLM base has none; the adapters bring theirs).
func loadBaseModel(dir string) (*bert.Model, error) {
	f, err := checkpoint.ReadFolder(dir)
	if err != nil {
		return nil, err
	}
	var heads bert.Heads
	n := len(f.Config.Labels())
	if n > 0 {
		heads = bert.HeadClassifier
	}
	values, rep, err := f.Match(f.Config, heads, n)
	if err != nil {
		return nil, err
	}
	if len(rep.Missing) > 0 {
		return nil, fmt.Errorf("weights[%s]: missing %s", f.WeightsFile, strings.Join(rep.Missing, ", "))
	}
	return bert.New(f.Config, bert.Options{Heads: heads, NumLabels: n, Device: torch.Device()}, values)
}

func (c *classifier) Close(ctx context.Context) {
	if c.tok != nil {
		c.tok.Close(ctx)
	}
	if c.adapter != nil {
		c.adapter.Close()
	}
	c.model.Close()
}

// quantize applies --quantize to the loaded model, after c.prec is set: int8 replaces the float32 Linear layers on
// the CPU, so it refuses a model on a GPU and a --precision other than fp32.
func (c *classifier) quantize(q torch.Quantize) error {
	if q != torch.QuantizeInt8 {
		return nil
	}
	if c.prec != "" && c.prec != torch.FP32 {
		return fmt.Errorf("--quantize int8 does not combine with --precision %s: int8 Linear layers run on the CPU in place of the float32 ones; choose one", c.prec)
	}
	if _, err := c.model.QuantizeInt8(bert.Int8MinMACs); err != nil {
		return fmt.Errorf("--quantize int8: %w", err)
	}
	return nil
}

// logits tokenizes and classifies texts (pairs may be nil).
func (c *classifier) logits(ctx context.Context, texts, pairs []string) ([][]float32, []protocol.RowError, error) {
	ids, types, errs, err := c.tok.Encode(ctx, texts, pairs, c.maxLen)
	if err != nil {
		return nil, nil, err
	}
	ok := make([]int, 0, len(ids))
	for i := range ids {
		if errs[i].Msg == "" {
			ok = append(ok, i)
		}
	}
	okIDs := make([][]int32, len(ok))
	var okTypes [][]int32
	if pairs != nil {
		okTypes = make([][]int32, len(ok))
	}
	for j, i := range ok {
		okIDs[j] = ids[i]
		if pairs != nil {
			okTypes[j] = types[i]
		}
	}
	out := make([][]float32, len(ids))
	if len(ok) > 0 {
		l, err := infer.New(c.model, infer.Options{BatchSize: c.batch, Adapter: c.adapter, Precision: c.prec}).Logits(ctx, okIDs, okTypes)
		if err != nil {
			return nil, nil, err
		}
		for j, i := range ok {
			out[i] = l[j]
		}
	}
	return out, errs, nil
}

// prediction is one `whet predict` output line.
type prediction struct {
	Label  string    `json:"label"`
	Score  float64   `json:"score"`
	Logits []float64 `json:"logits"`
}

func toPrediction(labels []string, logits []float32) prediction {
	r := protocol.Classify(labels, logits, true)
	return prediction{Label: r.Label, Score: r.Score, Logits: r.Logits}
}

// runPredict implements `whet predict`.
func runPredict(args []string) error {
	if slices.ContainsFunc(args, func(a string) bool {
		return a == "--server" || a == "-server" || strings.HasPrefix(a, "--server=") || strings.HasPrefix(a, "-server=")
	}) {
		return predictViaServer(args)
	}
	fs := flag.NewFlagSet("predict", flag.ContinueOnError)
	model := fs.String("model", "", "model folder")
	base := baseFlag(fs)
	input := fs.String("input", "", "input: JSONL, CSV or TSV with a text column, or .txt with one text per line")
	output := fs.String("output", "", "output JSONL: one {label, score, logits} per input row")
	threads := threadsFlag(fs)
	batch := fs.Int("batch-size", infer.DefaultBatchSize, "rows per batch")
	maxLen := fs.Int("max-seq-length", 0, "tokens per row (default: the model's limit, at most 512)")
	preModule := fs.String("preprocess-module", "", "preprocess .wasm module or builtin:NAME")
	textCol := fs.String("text-column", "", "text column (default: found by name)")
	pairCol := fs.String("text-pair-column", "", "second text column")
	fs.String("server", "", "predict through a whet server at this URL instead of locally")
	precision := inferPrecisionFlag(fs)
	quantize := quantizeFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	q, err := torch.ParseQuantize(*quantize)
	if err != nil {
		return fmt.Errorf("--quantize: %w", err)
	}
	if err := required(fs, "model", "input", "output"); err != nil {
		return err
	}
	setThreads(*threads)
	ctx, stop := signalContext()
	defer stop()
	ds, err := readInput(*input, dataset.Options{TextColumn: *textCol, TextPairColumn: *pairCol})
	if err != nil {
		return err
	}
	c, err := loadClassifier(ctx, *model, *base, *preModule, *maxLen, *batch)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	if c.prec, err = torch.PrecisionFor(*precision, c.model.Device()); err != nil {
		return fmt.Errorf("--precision: %w", err)
	}
	if err := c.quantize(q); err != nil {
		return err
	}
	logits, errs, err := c.logits(ctx, ds.Texts(), ds.TextPairs())
	if err != nil {
		return err
	}
	for i, e := range errs {
		if e.Msg != "" {
			return fmt.Errorf("%s:%d: tokenize: %s", ds.File, ds.Rows[i].Line, e.Msg)
		}
	}
	var buf strings.Builder
	w := bufio.NewWriter(&buf)
	for _, l := range logits {
		if err := writeJSONLine(w, toPrediction(c.labels, l)); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if dir := filepath.Dir(*output); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if err := atomicfile.Write(*output, []byte(buf.String()), 0o644); err != nil {
		return fmt.Errorf("output[%s]: %w", *output, err)
	}
	fmt.Fprintf(os.Stderr, "wrote %d predictions to %s\n", len(logits), *output)
	return nil
}

// runEval implements `whet eval`: the metrics document of a model on a labeled file, as the last stdout line.
func runEval(args []string) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	model := fs.String("model", "", "model folder")
	base := baseFlag(fs)
	input := fs.String("input", "", "labeled data: JSONL, CSV or TSV with a header")
	threads := threadsFlag(fs)
	batch := fs.Int("batch-size", infer.DefaultBatchSize, "rows per batch")
	maxLen := fs.Int("max-seq-length", 0, "tokens per row (default: the model's limit, at most 512)")
	preModule := fs.String("preprocess-module", "", "preprocess .wasm module or builtin:NAME")
	evalModule := fs.String("evaluate-module", "", "evaluate .wasm module or builtin:NAME")
	textCol := fs.String("text-column", "", "text column (default: found by name)")
	pairCol := fs.String("text-pair-column", "", "second text column")
	labelCol := fs.String("label-column", "", "label column (default: found by name)")
	precision := inferPrecisionFlag(fs)
	quantize := quantizeFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	q, err := torch.ParseQuantize(*quantize)
	if err != nil {
		return fmt.Errorf("--quantize: %w", err)
	}
	if err := required(fs, "model", "input"); err != nil {
		return err
	}
	setThreads(*threads)
	ctx, stop := signalContext()
	defer stop()
	ds, err := dataset.ReadFile(*input, dataset.Options{TextColumn: *textCol, TextPairColumn: *pairCol, LabelColumn: *labelCol, RequireLabel: true})
	if err != nil {
		return err
	}
	// Check labels before loading anything heavy: a label the model does not know is an error naming the row.
	known, err := folderLabels(*model, *base)
	if err != nil {
		return err
	}
	ys, err := labelIndices(ds, known)
	if err != nil {
		return err
	}
	c, err := loadClassifier(ctx, *model, *base, *preModule, *maxLen, *batch)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	if c.prec, err = torch.PrecisionFor(*precision, c.model.Device()); err != nil {
		return fmt.Errorf("--precision: %w", err)
	}
	if err := c.quantize(q); err != nil {
		return err
	}
	log := newLogger(false)
	evaluate, closeEval, err := newEvaluate(ctx, *evalModule, log)
	if err != nil {
		return err
	}
	defer closeEval()
	logits, errs, err := c.logits(ctx, ds.Texts(), ds.TextPairs())
	if err != nil {
		return err
	}
	in, loss, err := evalInput(ds, ys, c.labels, logits, errs)
	if err != nil {
		return err
	}
	doc, err := evaluate(ctx, in)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		return fmt.Errorf("evaluate module: %w", err)
	}
	m["loss"] = loss
	return writeJSONLine(os.Stdout, m)
}

// labelIndices maps each row's label to its index in the model's labels; a label the model does not know is an
// error naming the row.
func labelIndices(ds *dataset.Dataset, labels []string) ([]int, error) {
	index := map[string]int{}
	for i, l := range labels {
		index[l] = i
	}
	ys := make([]int, len(ds.Rows))
	for i, r := range ds.Rows {
		y, ok := index[r.Label]
		if !ok {
			return nil, &dataset.Error{File: ds.File, Line: r.Line, Field: "label", Msg: fmt.Sprintf("label %q is not one of the model's labels %v", r.Label, labels)}
		}
		ys[i] = y
	}
	return ys, nil
}

// evalInput turns the rows' logits into the evaluate module's input and the mean cross-entropy loss; a row the
// preprocess module could not tokenize (errs) is an error naming its line.
func evalInput(ds *dataset.Dataset, ys []int, labels []string, logits [][]float32, errs []protocol.RowError) (train.EvalInput, float64, error) {
	in := train.EvalInput{Labels: ys, Predictions: make([]int, len(ys)), Probabilities: make([][]float32, len(ys)), LabelNames: labels}
	loss := 0.0
	for i, l := range logits {
		if errs[i].Msg != "" {
			return in, 0, fmt.Errorf("%s:%d: tokenize: %s", ds.File, ds.Rows[i].Line, errs[i].Msg)
		}
		p := protocol.Softmax(l)
		in.Predictions[i], in.Probabilities[i] = protocol.Argmax(l), p
		loss -= math.Log(max(float64(p[ys[i]]), 1e-30))
	}
	return in, loss / float64(len(ys)), nil
}

var errWorkerUsage = errors.New("usage: whet worker predict --model DIR [--threads N]")

// folderLabels returns a model folder's labels (config.json) or an adapter folder's (whet_adapter.json, else its
// base's), without loading weights.
func folderLabels(dir, baseDir string) ([]string, error) {
	if !checkpoint.IsAdapter(dir) {
		f, err := checkpoint.ReadConfigOnly(dir)
		if err != nil {
			return nil, err
		}
		return f.Config.Labels(), nil
	}
	a, err := checkpoint.ReadAdapter(dir)
	if err != nil {
		return nil, err
	}
	if a.Labels != nil {
		return a.Labels, nil
	}
	base, err := checkpoint.ReadConfigOnly(adapterBase(a, baseDir))
	if err != nil {
		return nil, fmt.Errorf("adapter[%s]: base model: %w", dir, err)
	}
	return a.LabelsFor(base.Config, a.NumLabels()), nil
}
