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
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/whetml/whet/dataset"
	"github.com/whetml/whet/host/modeldir"
	"github.com/whetml/whet/host/sandbox"
	"github.com/whetml/whet/internal/protocol"
	"github.com/whetml/whet/native/torch"
	"github.com/whetml/whet/native/train"
	"github.com/whetml/whet/wasm/metrics"
	"github.com/whetml/whet/wasm/modules"
)

// libtorch keeps state per OS thread: grad mode, the OpenMP team (each thread that starts a parallel region gets its
// own pool of workers) and, through glibc, the malloc arena. Goroutines move between OS threads, so libtorch calls
// made from the main goroutine outside train.Run's and infer's locked sections (the worker's request loop between
// requests, model loading, predict, eval) land on several threads: several OpenMP pools on few cores make libgomp
// throttle its spin-waits and wake its workers through futex calls at every parallel region. Keeping the main goroutine,
// which runs every native command, on the main thread for the whole process made `whet worker predict` requests
// 12-31% faster on 2 cores (tiny and mini BERT, batches of 1, 8 and 64; A/B of one build with and without it).
func init() { runtime.LockOSThread() }

// exitError carries a chosen exit status (130 after an interrupt) through main's exitCoder.
type exitError struct {
	err  error
	code int
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// ExitCode implements main's exitCoder.
func (e *exitError) ExitCode() int { return e.code }

// signalContext is cancelled by SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// threadsFlag registers --threads (default: one per core).
func threadsFlag(fs *flag.FlagSet) *int {
	return fs.Int("threads", runtime.NumCPU(), "libtorch intra-op threads")
}

// deviceFlag registers --device.
func deviceFlag(fs *flag.FlagSet) *string {
	return fs.String("device", "auto", "auto, cpu, cuda or cuda:N (auto: WHET_DEVICE when set, else the first GPU when libtorch has CUDA and one is visible, else the CPU)")
}

// inferPrecisionFlag registers --precision for predict and eval (training's is a run spec hyperparameter).
func inferPrecisionFlag(fs *flag.FlagSet) *string {
	return fs.String("precision", "fp32", "forward-pass arithmetic: fp32 (the reference logits), bf16 (autocast, on a GPU or the CPU), fp16 (GPU only) or auto (bf16 on a GPU that has it, fp16 on older GPUs, fp32 on the CPU)")
}

// quantizeFlag registers --quantize for predict, eval and the predict worker.
func quantizeFlag(fs *flag.FlagSet) *string {
	return fs.String("quantize", "none", "Linear layers' weights for CPU inference: none (float32) or int8 (dynamic int8: per-channel int8 weights, activations quantized per call; CPU only, logits close to float32's, see bench/README.md for its speed)")
}

// setThreads applies --threads to libtorch.
func setThreads(n int) {
	if n <= 0 {
		n = runtime.NumCPU()
	}
	torch.SetThreads(n)
}

// parseFlags parses args allowing flags after positional arguments; positional arguments are an error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only; see -h)", fs.Arg(0))
	}
	return nil
}

// required checks that each named string flag is set.
func required(fs *flag.FlagSet, names ...string) error {
	for _, n := range names {
		f := fs.Lookup(n)
		if f == nil || f.Value.String() == "" {
			return fmt.Errorf("--%s is required", n)
		}
	}
	return nil
}

// newLogger logs to stderr as text, or as {"type":"log"} NDJSON lines when jsonLines is set.
func newLogger(jsonLines bool) *slog.Logger {
	if jsonLines {
		return slog.New(&eventLogHandler{w: os.Stderr, level: slog.LevelInfo})
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// eventLogHandler writes slog records as {"type":"log","level","message"} lines (docs/contracts.md); attributes are
// appended to the message as key=value.
type eventLogHandler struct {
	w     io.Writer
	level slog.Level
	attrs []slog.Attr
}

func (h *eventLogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *eventLogHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value.Any())
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	level := "info"
	switch {
	case r.Level >= slog.LevelError:
		level = "error"
	case r.Level >= slog.LevelWarn:
		level = "warn"
	}
	line, err := json.Marshal(protocol.Event{Type: protocol.EventLog, Level: level, Message: b.String()})
	if err != nil {
		return err
	}
	_, err = h.w.Write(append(line, '\n'))
	return err
}

func (h *eventLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &eventLogHandler{w: h.w, level: h.level, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *eventLogHandler) WithGroup(string) slog.Handler { return h }

// tokenizer turns texts (and optional pairs) into token ids. The CLI's implementation runs a preprocess module in
// host/sandbox (default: the built-in bert-wordpiece with the model folder's vocab.txt and do_lower_case), the same
// path the server uses.
type tokenizer interface {
	// Encode returns one row of ids and type ids per text; errs[i].Msg is non-empty for a row the module rejected,
	// or failed on alone (Code protocol.CodeModuleFailed).
	Encode(ctx context.Context, texts, pairs []string, maxLen int) (ids, types [][]int32, errs []protocol.RowError, err error)
	// Close releases the module instances.
	Close(ctx context.Context)
}

type sandboxTokenizer struct {
	rt  *sandbox.Runtime
	pre *sandbox.Preprocessor
}

// newTokenizer configures module (a .wasm path, "builtin:NAME", or "" for the folder's own module, else the built-in
// bert-wordpiece) with the model folder's tokenizer files and do_lower_case (modeldir.Runtime).
func newTokenizer(ctx context.Context, rt *modeldir.Runtime, module string, maxLen int) (tokenizer, error) {
	return newModuleTokenizer(ctx, moduleUsed(module, rt), sandbox.PreprocessOptions{DoLowerCase: rt.DoLowerCase,
		MaxLength: maxLen, Vocab: rt.Vocab, TokenizerJSON: rt.TokenizerJSON})
}

// newModuleTokenizer instantiates a preprocess module with opts.
func newModuleTokenizer(ctx context.Context, module string, opts sandbox.PreprocessOptions) (tokenizer, error) {
	rt, err := newModuleRuntime(ctx)
	if err != nil {
		return nil, fmt.Errorf("wasm runtime: %w", err)
	}
	if module == "" {
		module = builtinPrefix + modules.NameBertWordPiece
	}
	mod, err := loadModule(ctx, rt, module)
	if err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("preprocess module[%s]: %w", module, err)
	}
	pre, err := rt.NewPreprocessor(ctx, mod, opts)
	if err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("preprocess module[%s]: %w", module, err)
	}
	return &sandboxTokenizer{rt: rt, pre: pre}, nil
}

func (t *sandboxTokenizer) Encode(ctx context.Context, texts, pairs []string, maxLen int) ([][]int32, [][]int32, []protocol.RowError, error) {
	out, err := t.pre.Preprocess(ctx, sandbox.PreprocessRequest{Texts: texts, TextPairs: pairs, MaxLength: maxLen})
	if err != nil {
		return nil, nil, nil, err
	}
	errs := make([]protocol.RowError, len(out.Errors))
	for i, msg := range out.Errors {
		errs[i].Msg = msg
		if out.Faulted[i] {
			errs[i].Code = protocol.CodeModuleFailed
		}
	}
	return out.InputIDs, out.TypeIDs, errs, nil
}

func (t *sandboxTokenizer) Close(ctx context.Context) {
	t.pre.Close(ctx)
	t.rt.Close(ctx)
}

// tokenizeRows tokenizes a dataset's rows in chunks; a row the module rejects is an error naming file:line.
func tokenizeRows(ctx context.Context, tok tokenizer, ds *dataset.Dataset, maxLen int) (ids, types [][]int32, err error) {
	const chunk = 4096
	texts, pairs := ds.Texts(), ds.TextPairs()
	for s := 0; s < len(texts); s += chunk {
		e := min(s+chunk, len(texts))
		var p []string
		if pairs != nil {
			p = pairs[s:e]
		}
		i, ty, errs, err := tok.Encode(ctx, texts[s:e], p, maxLen)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: tokenize: %w", ds.File, err)
		}
		for j, e := range errs {
			if e.Msg != "" {
				return nil, nil, fmt.Errorf("%s:%d: tokenize: %s", ds.File, ds.Rows[s+j].Line, e.Msg)
			}
		}
		ids = append(ids, i...)
		types = append(types, ty...)
	}
	return ids, types, nil
}

// newEvaluate returns the evaluation hook: module (a .wasm path or builtin:NAME; "" means the built-in
// classification-metrics) run in host/sandbox. When the built-in is not compiled into this binary, wasm/metrics
// computes the same document natively.
func newEvaluate(ctx context.Context, module string, log *slog.Logger) (train.EvaluateFunc, func(), error) {
	explicit := module != ""
	if module == "" {
		if _, err := modules.ClassificationMetrics(); err != nil {
			log.Warn("built-in classification-metrics module not built; computing metrics natively", "err", err)
			return nativeEvaluate, func() {}, nil
		}
		module = builtinPrefix + modules.NameClassificationMetrics
	}
	rt, err := newModuleRuntime(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("wasm runtime: %w", err)
	}
	mod, err := loadModule(ctx, rt, module)
	if err == nil {
		var ev *sandbox.Evaluator
		if ev, err = rt.NewEvaluator(ctx, mod); err == nil {
			closer := func() { ev.Close(context.Background()); rt.Close(context.Background()) }
			return func(ctx context.Context, in train.EvalInput) (json.RawMessage, error) {
				return ev.Evaluate(ctx, sandbox.EvaluateRequest{Labels: in.Labels, Predictions: in.Predictions, Probabilities: in.Probabilities, LabelNames: in.LabelNames})
			}, closer, nil
		}
	}
	rt.Close(ctx)
	if explicit {
		return nil, nil, fmt.Errorf("evaluate module[%s]: %w", module, err)
	}
	log.Warn("built-in classification-metrics module unusable; computing metrics natively", "err", err)
	return nativeEvaluate, func() {}, nil
}

func nativeEvaluate(_ context.Context, in train.EvalInput) (json.RawMessage, error) {
	rep, err := metrics.Compute(in.Labels, in.Predictions, in.LabelNames)
	if err != nil {
		return nil, err
	}
	return json.Marshal(rep)
}

// readInput reads a dataset for predict/eval: JSONL/CSV/TSV through package dataset, or a .txt file with one text
// per line (line numbers kept).
func readInput(path string, opts dataset.Options) (*dataset.Dataset, error) {
	if strings.EqualFold(filepath.Ext(path), ".txt") {
		return readTextLines(path)
	}
	return dataset.ReadFile(path, opts)
}

// readTextLines reads one text per line; blank lines are skipped (and not rows), an empty file is an error.
func readTextLines(path string) (*dataset.Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &dataset.Error{File: path, Msg: fmt.Sprintf("cannot open: %v", errors.Unwrap(err))}
	}
	defer f.Close()
	ds := &dataset.Dataset{File: path, Format: "txt", Counts: map[string]int{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(s) == "" {
			continue
		}
		ds.Rows = append(ds.Rows, dataset.Row{Line: line, Text: s})
	}
	if err := sc.Err(); err != nil {
		return nil, &dataset.Error{File: path, Line: line + 1, Msg: err.Error()}
	}
	if len(ds.Rows) == 0 {
		return nil, &dataset.Error{File: path, Msg: "empty dataset: no rows"}
	}
	return ds, nil
}

// writeJSONLine prints v as one JSON line.
func writeJSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// moduleUsed is the module a folder tokenizes with: the flag, else the folder's own ("": the built-in).
func moduleUsed(flag string, rt *modeldir.Runtime) string {
	if flag != "" {
		return flag
	}
	return rt.PreprocessModule
}

// A fine-tuned folder records how its rows were made, so predict, eval and the server's workers preprocess as
// training did without being told (modeldir.Runtime reads it back): the preprocess module (when it was not a
// built-in) and the sequence length as tokenizer_config.json's model_max_length.
// trainedWith returns the files and tokenizer_config.json keys that train writes into every checkpoint.
func trainedWith(module string, maxLen int) (map[string][]byte, map[string]any, error) {
	tok := map[string]any{modeldir.ModelMaxLengthKey: maxLen}
	if module == "" || strings.HasPrefix(module, builtinPrefix) {
		return nil, tok, nil
	}
	b, err := os.ReadFile(module)
	if err != nil {
		return nil, nil, fmt.Errorf("preprocess module: %w", err)
	}
	return map[string][]byte{modeldir.PreprocessModuleFile: b}, tok, nil
}
