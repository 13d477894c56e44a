//go:build cgo

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/whetml/whet/dataset"
	"github.com/whetml/whet/native/bert"
	"github.com/whetml/whet/native/checkpoint"
	"github.com/whetml/whet/native/train"
)

// trainSummary is `whet train`'s last stdout line.
type trainSummary struct {
	Metrics               json.RawMessage `json:"metrics"`
	TrainSamplesPerSecond float64         `json:"train_samples_per_second"`
	GlobalStep            int             `json:"global_step"`
	Epoch                 float64         `json:"epoch"`
	TrainRuntimeSeconds   float64         `json:"train_runtime_seconds"`
	Labels                []string        `json:"labels"`
	OutputDir             string          `json:"output_dir"`
	BestCheckpoint        string          `json:"best_checkpoint,omitempty"`
	StoppedEarly          bool            `json:"stopped_early,omitempty"`
	Method                string          `json:"method"`
	TrainableParams       int64           `json:"trainable_params"`
	TotalParams           int64           `json:"total_params"`
}

// runTrain implements `whet train`.
func runTrain(args []string) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	model := fs.String("model", "", "base model folder (HF layout)")
	trainPath := fs.String("train", "", "training data: JSONL, CSV or TSV with a header")
	valPath := fs.String("validation", "", "validation data, evaluated after each epoch")
	out := fs.String("out", "", "output folder (checkpoints/ and the best model)")
	epochs := fs.Int("epochs", train.DefaultEpochs, "passes over the training data")
	batch := fs.Int("batch-size", train.DefaultBatchSize, "rows per batch")
	lr := fs.Float64("learning-rate", train.DefaultLearningRate, "peak AdamW learning rate")
	maxLen := fs.Int("max-seq-length", 128, "tokens per row, special tokens included (longer rows are truncated)")
	warmup := fs.Float64("warmup-ratio", 0, "fraction of steps with a rising learning rate")
	wd := fs.Float64("weight-decay", train.DefaultWeightDecay, "AdamW weight decay (not on biases and LayerNorm)")
	seed := fs.Int64("seed", train.DefaultSeed, "seed for shuffling, dropout and fresh weights")
	maxSteps := fs.Int("max-steps", 0, "stop after this many optimizer steps (0: epochs decide)")
	threads := threadsFlag(fs)
	progress := fs.String("progress", "", "bar, json (NDJSON events on stderr) or none (default: bar on a terminal, else none)")
	resume := fs.String("resume", "", "checkpoint folder to continue from")
	preModule := fs.String("preprocess-module", "", "preprocess .wasm module or builtin:NAME (default: builtin:bert-wordpiece)")
	evalModule := fs.String("evaluate-module", "", "evaluate .wasm module or builtin:NAME (default: builtin:classification-metrics)")
	textCol := fs.String("text-column", "", "text column (default: found by name)")
	pairCol := fs.String("text-pair-column", "", "second text column for sentence pairs (default: text_pair/text_b if present)")
	labelCol := fs.String("label-column", "", "label column (default: found by name)")
	patience := fs.Int("early-stopping-patience", 0, "stop after N evaluations without improvement (0: never)")
	metric := fs.String("metric-for-best-model", train.DefaultMetric, "metric that picks the best checkpoint (loss: lower is better)")
	classWeights := fs.String("class-weights", "none", "auto (n/(k*count), for imbalanced data) or none")
	accum := fs.Int("grad-accum", 1, "batches per optimizer step")
	maxNorm := fs.Float64("max-grad-norm", train.DefaultMaxGradNorm, "gradient clipping norm (negative: off)")
	evalEvery := fs.Int("eval-every", 0, "evaluate every N steps (0: each epoch)")
	device := fs.String("device", "", "cpu or cuda (default: cuda when available)")
	lora := loraFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	loraOpts, err := lora.options(fs)
	if err != nil {
		return err
	}
	if *resume == "" {
		if err := required(fs, "model"); err != nil {
			return err
		}
	}
	if err := required(fs, "train", "out"); err != nil {
		return err
	}
	if *progress == "" {
		*progress = "none"
		if term.IsTerminal(int(os.Stderr.Fd())) {
			*progress = "bar"
		}
	}
	if *progress != "bar" && *progress != "json" && *progress != "none" {
		return fmt.Errorf("--progress: %q (want bar, json or none)", *progress)
	}
	log := newLogger(*progress == "json")
	setThreads(*threads)
	ctx, stop := signalContext()
	defer stop()

	modelDir := *model
	if *resume != "" {
		modelDir = *resume
	}
	folder, err := readTrainFolder(modelDir, *model)
	if err != nil {
		return err
	}
	opts := dataset.Options{TextColumn: *textCol, TextPairColumn: *pairCol, LabelColumn: *labelCol, RequireLabel: true}
	trainDS, err := dataset.ReadFile(*trainPath, opts)
	if err != nil {
		return err
	}
	var valDS *dataset.Dataset
	if *valPath != "" {
		if valDS, err = dataset.ReadFile(*valPath, opts); err != nil {
			return err
		}
	}
	tok, err := newTokenizer(ctx, folder, *preModule, *maxLen)
	if err != nil {
		return err
	}
	t0 := time.Now()
	trainEx, err := examples(ctx, tok, trainDS, *maxLen)
	if err != nil {
		tok.Close(ctx)
		return err
	}
	var valEx []train.Example
	if valDS != nil {
		if valEx, err = examples(ctx, tok, valDS, *maxLen); err != nil {
			tok.Close(ctx)
			return err
		}
	}
	tok.Close(ctx)
	log.Info("tokenized", "train_rows", len(trainEx), "validation_rows", len(valEx), "seconds", time.Since(t0).Seconds())
	evaluate, closeEval, err := newEvaluate(ctx, *evalModule, log)
	if err != nil {
		return err
	}
	defer closeEval()

	cfg := train.Config{
		ModelDir: *model, OutDir: *out, Train: trainEx, Validation: valEx, Epochs: *epochs, BatchSize: *batch,
		LearningRate: *lr, WarmupRatio: *warmup, WeightDecay: *wd, MaxSteps: *maxSteps, GradAccum: *accum,
		MaxGradNorm: *maxNorm, Seed: *seed, Threads: *threads, ClassWeights: *classWeights,
		EarlyStoppingPatience: *patience, MetricForBestModel: *metric, EvalEvery: *evalEvery, Resume: *resume,
		Device: *device, Evaluate: evaluate, Logger: log, LoRA: loraOpts,
	}
	if cfg.Files, cfg.TokenizerConfig, err = trainedWith(moduleUsed(*preModule, folder), *maxLen); err != nil {
		return err
	}
	if *wd == 0 {
		cfg.WeightDecay = -1 // explicit 0
	}
	if *maxNorm == 0 {
		cfg.MaxGradNorm = -1
	}
	var bar *progressbar.ProgressBar
	switch *progress {
	case "json":
		cfg.Progress = jsonProgress()
	case "bar":
		cfg.Progress = func(e train.Event) {
			switch e.Type {
			case train.EventStep:
				if bar == nil {
					bar = progressbar.NewOptions(e.TotalSteps, progressbar.OptionSetWriter(os.Stderr),
						progressbar.OptionSetDescription("train"), progressbar.OptionShowCount(),
						progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond),
						progressbar.OptionClearOnFinish())
					_ = bar.Set(e.Step - 1)
				}
				bar.Describe(fmt.Sprintf("epoch %.2f loss %.4f lr %.2e %.0f samples/s", e.Epoch, e.Loss, e.LearningRate, e.SamplesPerSecond))
				_ = bar.Set(e.Step)
			case train.EventEval:
				if bar != nil {
					_ = bar.Clear()
				}
				var m map[string]any
				_ = json.Unmarshal(e.Metrics, &m)
				fmt.Fprintf(os.Stderr, "\neval step %d epoch %.2f: accuracy %.4v macro_f1 %.4v loss %.4v\n", e.Step, e.Epoch, m["accuracy"], m["macro_f1"], m["loss"])
			}
		}
	}
	res, err := train.Run(ctx, cfg)
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(os.Stderr)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) && res != nil {
			fmt.Fprintf(os.Stderr, "whet train: interrupted at step %d; checkpoint %s (continue with --resume)\n", res.GlobalStep, res.LastCheckpoint)
			return &exitError{err: fmt.Errorf("interrupted: checkpoint written to %s", res.LastCheckpoint), code: 130}
		}
		return err
	}
	sum := trainSummary{Metrics: res.Metrics, TrainSamplesPerSecond: round1(res.TrainSamplesPerSecond), GlobalStep: res.GlobalStep,
		Epoch: res.Epoch, Labels: res.Labels, OutputDir: *out, BestCheckpoint: res.BestCheckpoint, StoppedEarly: res.StoppedEarly,
		Method: "full", TrainableParams: res.TrainableParams, TotalParams: res.TotalParams}
	if res.TrainableParams < res.TotalParams {
		sum.Method = "lora"
	}
	if res.TrainSamplesPerSecond > 0 {
		sum.TrainRuntimeSeconds = round1(float64(len(trainEx)) * res.Epoch / res.TrainSamplesPerSecond)
	}
	if sum.Metrics == nil {
		sum.Metrics = json.RawMessage("{}")
	}
	return writeJSONLine(os.Stdout, sum)
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

// jsonProgress writes events as NDJSON on stderr; step events at most every 500 ms (and always the last one).
func jsonProgress() func(train.Event) {
	var last time.Time
	return func(e train.Event) {
		if e.Type == train.EventStep && e.Step != e.TotalSteps && time.Since(last) < 500*time.Millisecond && e.Step != 1 {
			return
		}
		if e.Type == train.EventStep {
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

// loraFlagSet holds `whet train`'s LoRA flags.
type loraFlagSet struct {
	method, targets, save *string
	r                     *int
	alpha, dropout        *float64
}

func loraFlags(fs *flag.FlagSet) *loraFlagSet {
	return &loraFlagSet{
		method:  fs.String("method", "full", "full (every weight) or lora (a peft LoRA adapter; the base stays frozen)"),
		r:       fs.Int("lora-r", bert.DefaultLoRAR, "LoRA rank (with --method lora)"),
		alpha:   fs.Float64("lora-alpha", bert.DefaultLoRAAlpha, "LoRA alpha: the update is scaled by alpha/r"),
		dropout: fs.Float64("lora-dropout", 0, "dropout on the LoRA input while training"),
		targets: fs.String("lora-targets", strings.Join(bert.DefaultLoRATargets, ","), "comma-separated module names or suffixes LoRA adapts (query,key,value,dense,...)"),
		save:    fs.String("lora-modules-to-save", "classifier", "modules trained in full and saved with the adapter: classifier (always) and pooler"),
	}
}

// options returns the LoRA settings, nil for --method full (where a --lora-* flag is an error).
func (l *loraFlagSet) options(fs *flag.FlagSet) (*train.LoRAOptions, error) {
	switch *l.method {
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
		return nil, fmt.Errorf("--method: %q (want full or lora)", *l.method)
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
	o := &train.LoRAOptions{LoRA: bert.LoRA{R: *l.r, Alpha: *l.alpha, Dropout: *l.dropout, Targets: split(*l.targets),
		ModulesToSave: split(*l.save)}}
	if len(o.Targets) == 0 {
		return nil, errors.New("--lora-targets: no module named")
	}
	if err := o.WithDefaults().Validate(); err != nil {
		return nil, fmt.Errorf("--lora-*: %w", err)
	}
	return o, nil
}

// readTrainFolder reads the config of the folder train starts from: a model folder, or for --resume of a LoRA
// checkpoint, its base (--model, else the adapter's base_model_name_or_path) with the checkpoint's tokenizer files.
func readTrainFolder(dir, model string) (*checkpoint.Folder, error) {
	if !checkpoint.IsAdapter(dir) {
		return checkpoint.ReadConfigOnly(dir)
	}
	a, err := checkpoint.ReadAdapter(dir)
	if err != nil {
		return nil, err
	}
	if model == "" {
		model = a.Config.BaseModelNameOrPath
	}
	f, err := checkpoint.ReadConfigOnly(model)
	if err != nil {
		return nil, fmt.Errorf("adapter %s: base model: %w", dir, err)
	}
	return checkpoint.AdapterView(f, dir)
}
