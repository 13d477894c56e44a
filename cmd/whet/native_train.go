//go:build cgo

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/whetml/whet/dataset"
	"github.com/whetml/whet/host/modeldir"
	"github.com/whetml/whet/host/sandbox"
	"github.com/whetml/whet/internal/protocol"
	"github.com/whetml/whet/internal/runspec"
	"github.com/whetml/whet/native/bert"
	"github.com/whetml/whet/native/checkpoint"
	"github.com/whetml/whet/native/train"
)

// runTrain implements `whet train`. With --progress json a failure is also reported as a protocol error event
// whose code says whose fault it is (errorCode).
func runTrain(args []string) (err error) {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	spec := runspec.Spec{Hyperparameters: runspec.Default()}
	spec.BindFlags(fs)
	specFile := fs.String("spec", "", "run specification file (JSON, as training_args.json); flags given too override it")
	threads := threadsFlag(fs)
	progress := fs.String("progress", "", "bar, json (NDJSON events on stderr) or none (default: bar on a terminal, else none)")
	resume := fs.String("resume", "", "checkpoint folder to continue from")
	device := deviceFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *progress, err = progressMode(*progress); err != nil {
		return err
	}
	if *progress == "json" {
		defer func() {
			if err != nil && !errors.Is(err, context.Canceled) {
				err = reportError(err)
			}
		}()
	}
	spec, loraOpts, err := resolveTrainSpec(fs, spec, *specFile, *resume)
	if err != nil {
		return err
	}
	log := newLogger(*progress == "json")
	setThreads(*threads)
	ctx, stop := signalContext()
	defer stop()

	modelDir := spec.Model
	if *resume != "" {
		modelDir = *resume
	}
	rt, err := readTrainRuntime(modelDir, spec.Model)
	if err != nil {
		return &codedError{protocol.CodeModelInvalid, err}
	}
	if err := spec.Resolve(rt.MaxPositionEmbeddings); err != nil {
		return &codedError{protocol.CodeInvalidHyperparameters, runspec.FlagError(err)}
	}
	maxLen := spec.MaxSeqLength
	trainEx, valEx, err := trainExamples(ctx, spec, rt, log)
	if err != nil {
		return err
	}
	evaluate, closeEval, err := newEvaluate(ctx, spec.EvaluateModule, log)
	if err != nil {
		return &codedError{protocol.CodeModuleInvalid, err}
	}
	defer closeEval()

	cfg := train.Config{
		ModelDir: spec.Model, OutDir: spec.OutputDir, Train: trainEx, Validation: valEx, Hyperparameters: spec.Hyperparameters,
		Threads: *threads, Resume: *resume,
		Device: *device, Evaluate: evaluate, Logger: log, LoRA: loraOpts,
	}
	if cfg.Files, cfg.TokenizerConfig, err = trainedWith(moduleUsed(spec.PreprocessModule, rt), maxLen); err != nil {
		return err
	}
	if cfg.Files == nil {
		cfg.Files = map[string][]byte{}
	}
	cfg.Files[runspec.FileName] = spec.JSON()
	res, err := runWithProgress(ctx, cfg, *progress)
	if err != nil {
		return err
	}
	return writeJSONLine(os.Stdout, trainSummary(res, spec.OutputDir, len(trainEx)))
}

// progressMode checks --progress of whet train; "" is bar on a terminal, else none.
func progressMode(p string) (string, error) {
	switch p {
	case "":
		if term.IsTerminal(int(os.Stderr.Fd())) {
			return "bar", nil
		}
		return "none", nil
	case "bar", "json", "none":
		return p, nil
	}
	return "", fmt.Errorf("--progress: %q (want bar, json or none)", p)
}

// runWithProgress runs train.Run reporting progress as mode says (bar, json or none). Interrupted, it says where
// the checkpoint to resume from is and returns an exit status of 130.
func runWithProgress(ctx context.Context, cfg train.Config, mode string) (*train.Result, error) {
	var bar *progressbar.ProgressBar
	switch mode {
	case "json":
		cfg.Progress = jsonProgress()
	case "bar":
		cfg.Progress = barProgress(&bar)
	}
	res, err := train.Run(ctx, cfg)
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(os.Stderr)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) && res != nil {
			fmt.Fprintf(os.Stderr, "whet train: interrupted at step %d; checkpoint %s (continue with --resume)\n", res.GlobalStep, res.LastCheckpoint)
			return nil, &exitError{err: fmt.Errorf("interrupted: checkpoint written to %s", res.LastCheckpoint), code: 130}
		}
		return nil, err
	}
	return res, nil
}

// resolveTrainSpec is the run spec of whet train: spec (the flags) over the --spec file when there is one, checked
// for the required fields, and the LoRA options it asks for.
func resolveTrainSpec(fs *flag.FlagSet, spec runspec.Spec, specFile, resume string) (runspec.Spec, *train.LoRAOptions, error) {
	if specFile != "" {
		fromFile, err := runspec.Read(specFile)
		if err != nil {
			return spec, nil, &codedError{protocol.CodeInvalidHyperparameters, err}
		}
		fromFile.Override(fs, &spec)
		spec = fromFile
	}
	loraOpts, err := loraOptions(spec.Hyperparameters, fs)
	if err != nil {
		return spec, nil, &codedError{protocol.CodeInvalidHyperparameters, err}
	}
	for _, req := range []struct{ flag, value string }{{"model", spec.Model + resume}, {"train", spec.TrainFile}, {"out", spec.OutputDir}} {
		if req.value == "" {
			return spec, nil, &codedError{protocol.CodeInvalidHyperparameters, fmt.Errorf("--%s is required", req.flag)}
		}
	}
	return spec, loraOpts, nil
}

// trainExamples reads the training and validation rows of spec (holding out spec.ValidationSplit of the training
// rows, seeded and stratified, when there is no validation file) and tokenizes them as rt says.
func trainExamples(ctx context.Context, spec runspec.Spec, rt *modeldir.Runtime, log *slog.Logger) (trainEx, valEx []train.Example, err error) {
	maxLen := spec.MaxSeqLength
	opts := dataset.Options{TextColumn: spec.TextColumn, TextPairColumn: spec.TextPairColumn, LabelColumn: spec.LabelColumn, RequireLabel: true}
	trainDS, err := dataset.ReadFile(spec.TrainFile, opts)
	if err != nil {
		return nil, nil, err
	}
	var valDS *dataset.Dataset
	switch v := spec.ValidationSplit; {
	case spec.ValidationFile != "":
		if valDS, err = dataset.ReadFile(spec.ValidationFile, opts); err != nil {
			return nil, nil, err
		}
	case math.IsNaN(v) || v < 0 || v >= 1:
		return nil, nil, &codedError{protocol.CodeInvalidHyperparameters, fmt.Errorf("--validation-split: must be >= 0 and < 1, got %g", v)}
	case v > 0:
		n := len(trainDS.Rows)
		if trainDS, valDS = trainDS.Split(v, spec.Seed); valDS != nil {
			log.Info(fmt.Sprintf("no validation file: held out %d of %d rows (%g%% per label, seed %d)", len(valDS.Rows), n, v*100, spec.Seed))
		}
	}
	tok, err := newTokenizer(ctx, rt, spec.PreprocessModule, maxLen)
	if err != nil {
		return nil, nil, err
	}
	t0 := time.Now()
	trainEx, err = examples(ctx, tok, trainDS, maxLen)
	if err != nil {
		tok.Close(ctx)
		return nil, nil, err
	}
	if valDS != nil {
		if valEx, err = examples(ctx, tok, valDS, maxLen); err != nil {
			tok.Close(ctx)
			return nil, nil, err
		}
	}
	tok.Close(ctx)
	log.Info("tokenized", "train_rows", len(trainEx), "validation_rows", len(valEx), "seconds", time.Since(t0).Seconds())
	return trainEx, valEx, nil
}

// barProgress draws training progress on a terminal's progress bar, made at the first step into *bar.
func barProgress(bar **progressbar.ProgressBar) func(protocol.Event) {
	return func(e protocol.Event) {
		switch e.Type {
		case protocol.EventStep:
			if *bar == nil {
				*bar = progressbar.NewOptions(e.TotalSteps, progressbar.OptionSetWriter(os.Stderr),
					progressbar.OptionSetDescription("train"), progressbar.OptionShowCount(),
					progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionClearOnFinish())
				_ = (*bar).Set(e.Step - 1)
			}
			(*bar).Describe(fmt.Sprintf("epoch %.2f loss %.4f lr %.2e %.0f samples/s", e.Epoch, e.Loss, e.LearningRate, e.SamplesPerSecond))
			_ = (*bar).Set(e.Step)
		case protocol.EventEval:
			if *bar != nil {
				_ = (*bar).Clear()
			}
			var m map[string]any
			_ = json.Unmarshal(e.Metrics, &m)
			fmt.Fprintf(os.Stderr, "\neval step %d epoch %.2f: accuracy %.4v macro_f1 %.4v loss %.4v\n", e.Step, e.Epoch, m["accuracy"], m["macro_f1"], m["loss"])
		}
	}
}

// trainSummary is whet train's last stdout line.
func trainSummary(res *train.Result, out string, nTrain int) protocol.TrainSummary {
	sum := protocol.TrainSummary{Metrics: res.Metrics, TrainSamplesPerSecond: round1(res.TrainSamplesPerSecond), GlobalStep: res.GlobalStep,
		Epoch: res.Epoch, Labels: res.Labels, OutputDir: out, BestCheckpoint: res.BestCheckpoint, StoppedEarly: res.StoppedEarly,
		Method: "full", TrainableParams: res.TrainableParams, TotalParams: res.TotalParams}
	if res.TrainableParams < res.TotalParams {
		sum.Method = "lora"
	}
	if res.TrainSamplesPerSecond > 0 {
		sum.TrainRuntimeSeconds = round1(float64(nTrain) * res.Epoch / res.TrainSamplesPerSecond)
	}
	if sum.Metrics == nil {
		sum.Metrics = json.RawMessage("{}")
	}
	return sum
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

// jsonProgress writes events as NDJSON on stderr; step events at most every 500 ms (and always the last one).
func jsonProgress() func(protocol.Event) {
	var last time.Time
	return func(e protocol.Event) {
		if e.Type == protocol.EventStep && e.Step != e.TotalSteps && time.Since(last) < 500*time.Millisecond && e.Step != 1 {
			return
		}
		if e.Type == protocol.EventStep {
			last = time.Now()
		}
		_ = writeJSONLine(os.Stderr, e)
	}
}

// examples tokenizes a labeled dataset into training rows.
func examples(ctx context.Context, tok tokenizer, ds *dataset.Dataset, maxLen int) ([]train.Example, error) {
	ids, types, err := tokenizeRows(ctx, tok, ds, maxLen)
	if err != nil {
		return nil, err
	}
	out := make([]train.Example, len(ds.Rows))
	for i, r := range ds.Rows {
		out[i] = train.Example{InputIDs: ids[i], Label: r.Label, Source: fmt.Sprintf("%s:%d", ds.File, r.Line)}
		if ds.HasPair {
			out[i].TypeIDs = types[i]
		}
	}
	return out, nil
}

// loraOptions returns the LoRA settings of the spec, nil for method full (where a --lora-* flag is an error).
func loraOptions(h runspec.Hyperparameters, fs *flag.FlagSet) (*train.LoRAOptions, error) {
	switch h.Method {
	case "full":
		var set []string
		fs.Visit(func(f *flag.Flag) {
			if strings.HasPrefix(f.Name, "lora-") {
				set = append(set, "--"+f.Name)
			}
		})
		if len(set) > 0 {
			return nil, fmt.Errorf("%s need --method lora", strings.Join(set, ", "))
		}
		return nil, nil
	case "lora":
	default:
		return nil, fmt.Errorf("--method: %q (want full or lora)", h.Method)
	}
	split := func(s string) []string {
		var out []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	o := &train.LoRAOptions{LoRA: bert.LoRA{R: h.LoraR, Alpha: h.LoraAlpha, Dropout: h.LoraDropout, Targets: split(h.LoraTargetModules),
		ModulesToSave: split(h.LoraModulesToSave)}}
	if len(o.Targets) == 0 {
		return nil, errors.New("--lora-targets: no module named")
	}
	if err := o.WithDefaults().Validate(); err != nil {
		return nil, fmt.Errorf("--lora-*: %w", err)
	}
	return o, nil
}

// readTrainRuntime reads the runtime facts of the folder train starts from: a model folder, or for --resume of a
// LoRA checkpoint, that adapter on its base (--model, else the adapter's base_model_name_or_path).
func readTrainRuntime(dir, model string) (*modeldir.Runtime, error) {
	if !modeldir.IsAdapter(dir) {
		return modeldir.ReadRuntime(dir)
	}
	return modeldir.ReadAdapterRuntime(dir, model)
}

// codedError carries the protocol error code of a failure whose blame is known where it happens.
type codedError struct {
	code string
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// errorCode says whose fault err is, as a protocol error code: bad data rows or columns (invalid_file), a model
// folder that cannot be trained (model_invalid), a module that failed (module_invalid), else the trainer's own
// failure (training_failed).
func errorCode(err error) string {
	var ce *codedError
	var de *dataset.Error
	var se *checkpoint.ShapeError
	var me *sandbox.CallError
	var fe *runspec.FieldError
	switch {
	case errors.As(err, &ce):
		return ce.code
	case errors.As(err, &fe): // a hyperparameter this trainer cannot run (fp16 without a GPU)
		return protocol.CodeInvalidHyperparameters
	case errors.As(err, &de): // dataset.Errors unwraps to its first *Error
		return protocol.CodeInvalidFile
	case errors.As(err, &se), errors.Is(err, bert.ErrNoLabels):
		return protocol.CodeModelInvalid
	case errors.As(err, &me):
		return protocol.CodeModuleInvalid
	}
	return protocol.CodeTrainingFailed
}

// reportedError is an error already reported as a protocol error event: main does not print it again.
type reportedError struct{ error }

func (e reportedError) Unwrap() error { return e.error }

// Reported implements main's reporter.
func (e reportedError) Reported() bool { return true }

// reportError writes err as the protocol error event on stderr.
func reportError(err error) error {
	_ = writeJSONLine(os.Stderr, protocol.Event{Type: protocol.EventError, Code: errorCode(err), Message: err.Error()})
	return reportedError{err}
}
