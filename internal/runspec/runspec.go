package runspec

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/whetml/whet/sdk"
)

// DefaultMaxSeqLength is the sequence length when Hyperparameters.MaxSeqLength is 0, capped by the model's
// max_position_embeddings.
const DefaultMaxSeqLength = 128

// FileName is the spec's name in a model folder (HuggingFace Trainer's name for its arguments).
const FileName = "training_args.json"

// Hyperparameters tune a fine-tuning run. JSON names are the HTTP API's (sdk.Hyperparameters). Every field holds
// an explicit value: 0 is a real value where the doc says so (seed 0 is a seed), never "the default".
type Hyperparameters struct {
	// Epochs is the number of passes over the training data, 1 to 1000.
	Epochs int `json:"n_epochs"`
	// BatchSize is the number of rows per forward pass, 1 to 4096.
	BatchSize int `json:"batch_size"`
	// LearningRate is AdamW's peak learning rate, in (0, 1].
	LearningRate float64 `json:"learning_rate"`
	// MaxSeqLength is the number of tokens per row, special tokens included (longer rows are truncated), 8 to the
	// model's max_position_embeddings; 0 means DefaultMaxSeqLength or max_position_embeddings if less (Resolve).
	MaxSeqLength int `json:"max_seq_length"`
	// WarmupRatio is the fraction of steps with a linearly rising learning rate (then linear decay to 0), in [0, 1).
	WarmupRatio float64 `json:"warmup_ratio"`
	// WeightDecay is AdamW's decoupled weight decay (not on biases and LayerNorm weights), in [0, 1].
	WeightDecay float64 `json:"weight_decay"`
	// Seed seeds the validation split, shuffling, dropout and fresh weights, >= 0.
	Seed int64 `json:"seed"`
	// MaxSteps, when > 0, stops after that many optimizer steps (overriding Epochs); 0: no limit.
	MaxSteps int `json:"max_steps"`
	// GradAccum is the number of batches whose gradients make one optimizer step, 1 to 1024.
	GradAccum int `json:"grad_accum"`
	// MaxGradNorm clips the global gradient norm; 0 turns clipping off.
	MaxGradNorm float64 `json:"max_grad_norm"`
	// EvalEvery evaluates every that many optimizer steps; 0: after each epoch.
	EvalEvery int `json:"eval_every"`
	// EarlyStoppingPatience stops after that many evaluations without improvement; 0: never.
	EarlyStoppingPatience int `json:"early_stopping_patience"`
	// MetricForBestModel is the metrics-document key that picks the best checkpoint ("loss": lower is better).
	MetricForBestModel string `json:"metric_for_best_model"`
	// ClassWeights is "none" or "auto" (weights n/(k*count) per class, for imbalanced data).
	ClassWeights string `json:"class_weights"`
	// Method is "full" (every weight trained) or "lora" (a peft LoRA adapter; the base stays frozen).
	Method string `json:"method"`
	// LoraR is the LoRA rank, 1 to 4096 (peft's default 8).
	LoraR int `json:"lora_r"`
	// LoraAlpha is lora_alpha: the update is scaled by LoraAlpha/LoraR, > 0 (peft's default 8).
	LoraAlpha float64 `json:"lora_alpha"`
	// LoraDropout is the dropout on the adapter's input while training, in [0, 1) (peft's default 0).
	LoraDropout float64 `json:"lora_dropout"`
	// LoraTargetModules are the comma-separated module names or suffixes LoRA adapts (peft's target_modules:
	// Linear layers and Embedding tables; default "query,value").
	LoraTargetModules string `json:"lora_target_modules"`
	// LoraModulesToSave are the comma-separated modules trained in full and saved with the adapter: classifier
	// (always) and pooler.
	LoraModulesToSave string `json:"lora_modules_to_save"`
	// Precision is the forward pass's arithmetic: "auto" (bf16 on a GPU, fp32 on the CPU), "fp32", "bf16"
	// (autocast, on a GPU or the CPU) or "fp16" (autocast with dynamic loss scaling, GPU only: the trainer refuses it
	// on the CPU). Weights, optimizer state and checkpoints stay float32 in every mode.
	Precision string `json:"precision"`
}

// Spec is one fine-tuning run: what to train on and how. The paths are the trainer's (local files).
type Spec struct {
	// Model is the base model folder (HF layout).
	Model string `json:"model"`
	// TrainFile is the training data: JSONL, CSV or TSV with a header.
	TrainFile string `json:"train_file"`
	// ValidationFile is evaluated after each epoch (or EvalEvery steps); "" for none.
	ValidationFile string `json:"validation_file,omitempty"`
	// ValidationSplit, without a ValidationFile, holds out that share of each label's rows of TrainFile for
	// validation, chosen by Seed (dataset.StratifiedSplit), in [0, 1); 0: no validation.
	ValidationSplit float64 `json:"validation_split,omitempty"`
	// OutputDir receives checkpoints/ and, at the end, the best model.
	OutputDir string `json:"output_dir"`
	// PreprocessModule is a preprocess .wasm file or builtin:NAME; "": the model folder's own, else
	// builtin:bert-wordpiece.
	PreprocessModule string `json:"preprocess_module,omitempty"`
	// EvaluateModule is an evaluate .wasm file or builtin:NAME; "": builtin:classification-metrics.
	EvaluateModule string `json:"evaluate_module,omitempty"`
	// TextColumn, TextPairColumn and LabelColumn name the data's columns; "": found by name.
	TextColumn     string `json:"text_column,omitempty"`
	TextPairColumn string `json:"text_pair_column,omitempty"`
	LabelColumn    string `json:"label_column,omitempty"`
	Hyperparameters
}

// Default returns the default hyperparameters (see the package doc for where they come from).
func Default() Hyperparameters {
	return Hyperparameters{
		Epochs:             3,
		BatchSize:          32,
		LearningRate:       5e-5,
		WarmupRatio:        0,
		WeightDecay:        0.01,
		Seed:               42,
		GradAccum:          1,
		MaxGradNorm:        1,
		MetricForBestModel: "accuracy",
		ClassWeights:       "none",
		Method:             "full",
		LoraR:              8,
		LoraAlpha:          8,
		LoraTargetModules:  "query,value",
		LoraModulesToSave:  "classifier",
		Precision:          "auto",
	}
}

// FieldError is a bad value: Name is the hyperparameter's JSON name (Flag its `whet train` flag).
type FieldError struct {
	Name, Flag, Msg string
}

// Error implements error.
func (e *FieldError) Error() string { return fmt.Sprintf("%s: %s", e.Name, e.Msg) }

// param is one row of the table every route reads: name, flag, usage and check of a Spec field.
type param struct {
	name, flag, usage string
	// ptr returns the field in s (*int, *int64, *float64 or *string).
	ptr func(s *Spec) any
	// check returns what is wrong with the field's value, or "".
	check func(s *Spec) string
}

var metricRE = regexp.MustCompile(`^[a-z_0-9]{1,64}$`)

// params lists every Spec field. Hyperparameters come first, in API order. A table, one row a field: its length is
// the number of fields.
func params() []param {
	return []param{
		{"n_epochs", "epochs", "passes over the training data", func(s *Spec) any { return &s.Epochs },
			func(s *Spec) string { return intIn(s.Epochs, 1, 1000) }},
		{"batch_size", "batch-size", "rows per batch", func(s *Spec) any { return &s.BatchSize },
			func(s *Spec) string { return intIn(s.BatchSize, 1, 4096) }},
		{"learning_rate", "learning-rate", "peak AdamW learning rate", func(s *Spec) any { return &s.LearningRate },
			func(s *Spec) string {
				if v := s.LearningRate; math.IsNaN(v) || v <= 0 || v > 1 {
					return fmt.Sprintf("must be > 0 and <= 1 (typical: 1e-5 to 5e-5), got %s", ftoa(v))
				}
				return ""
			}},
		{"max_seq_length", "max-seq-length", fmt.Sprintf("tokens per row, special tokens included, longer rows truncated (0: %d, or the model's max_position_embeddings if less)", DefaultMaxSeqLength),
			func(s *Spec) any { return &s.MaxSeqLength },
			func(s *Spec) string {
				if s.MaxSeqLength == 0 {
					return ""
				}
				return intIn(s.MaxSeqLength, 8, 8192)
			}},
		{"warmup_ratio", "warmup-ratio", "fraction of steps with a rising learning rate", func(s *Spec) any { return &s.WarmupRatio },
			func(s *Spec) string {
				if v := s.WarmupRatio; math.IsNaN(v) || v < 0 || v >= 1 {
					return fmt.Sprintf("must be >= 0 and < 1, got %s", ftoa(v))
				}
				return ""
			}},
		{"weight_decay", "weight-decay", "AdamW weight decay (not on biases and LayerNorm)", func(s *Spec) any { return &s.WeightDecay },
			func(s *Spec) string {
				if v := s.WeightDecay; math.IsNaN(v) || v < 0 || v > 1 {
					return fmt.Sprintf("must be between 0 and 1, got %s", ftoa(v))
				}
				return ""
			}},
		{"seed", "seed", "seed for the validation split, shuffling, dropout and fresh weights", func(s *Spec) any { return &s.Seed },
			func(s *Spec) string {
				if s.Seed < 0 {
					return fmt.Sprintf("must be >= 0, got %d", s.Seed)
				}
				return ""
			}},
		{"max_steps", "max-steps", "stop after this many optimizer steps (0: epochs decide)", func(s *Spec) any { return &s.MaxSteps },
			func(s *Spec) string { return intIn(s.MaxSteps, 0, math.MaxInt32) }},
		{"grad_accum", "grad-accum", "batches per optimizer step", func(s *Spec) any { return &s.GradAccum },
			func(s *Spec) string { return intIn(s.GradAccum, 1, 1024) }},
		{"max_grad_norm", "max-grad-norm", "gradient clipping norm (0: off)", func(s *Spec) any { return &s.MaxGradNorm },
			func(s *Spec) string {
				if v := s.MaxGradNorm; math.IsNaN(v) || v < 0 {
					return fmt.Sprintf("must be >= 0 (0: no clipping), got %s", ftoa(v))
				}
				return ""
			}},
		{"eval_every", "eval-every", "evaluate every N steps (0: each epoch)", func(s *Spec) any { return &s.EvalEvery },
			func(s *Spec) string { return intIn(s.EvalEvery, 0, math.MaxInt32) }},
		{"early_stopping_patience", "early-stopping-patience", "stop after N evaluations without improvement (0: never)",
			func(s *Spec) any { return &s.EarlyStoppingPatience },
			func(s *Spec) string { return intIn(s.EarlyStoppingPatience, 0, math.MaxInt32) }},
		{"metric_for_best_model", "metric-for-best-model", "metric that picks the best checkpoint (loss: lower is better)",
			func(s *Spec) any { return &s.MetricForBestModel },
			func(s *Spec) string {
				if !metricRE.MatchString(s.MetricForBestModel) {
					return fmt.Sprintf("must be a metric name such as macro_f1 or accuracy, got %q", s.MetricForBestModel)
				}
				return ""
			}},
		{"class_weights", "class-weights", "auto (n/(k*count), for imbalanced data) or none", func(s *Spec) any { return &s.ClassWeights },
			func(s *Spec) string {
				if s.ClassWeights != "none" && s.ClassWeights != "auto" {
					return fmt.Sprintf(`must be "auto" or "none", got %q`, s.ClassWeights)
				}
				return ""
			}},
		{"method", "method", "full (every weight) or lora (a peft LoRA adapter; the base stays frozen)", func(s *Spec) any { return &s.Method },
			func(s *Spec) string {
				if s.Method != "full" && s.Method != "lora" {
					return fmt.Sprintf(`must be "full" or "lora", got %q`, s.Method)
				}
				return ""
			}},
		{"lora_r", "lora-r", "LoRA rank (with method lora)", func(s *Spec) any { return &s.LoraR },
			func(s *Spec) string { return intIn(s.LoraR, 1, 4096) }},
		{"lora_alpha", "lora-alpha", "LoRA alpha: the update is scaled by alpha/r", func(s *Spec) any { return &s.LoraAlpha },
			func(s *Spec) string {
				if v := s.LoraAlpha; math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
					return fmt.Sprintf("must be > 0, got %s", ftoa(v))
				}
				return ""
			}},
		{"lora_dropout", "lora-dropout", "dropout on the LoRA input while training", func(s *Spec) any { return &s.LoraDropout },
			func(s *Spec) string {
				if v := s.LoraDropout; math.IsNaN(v) || v < 0 || v >= 1 {
					return fmt.Sprintf("must be >= 0 and < 1, got %s", ftoa(v))
				}
				return ""
			}},
		{"lora_target_modules", "lora-targets", "comma-separated module names or suffixes LoRA adapts (query,key,value,dense,word_embeddings,...)",
			func(s *Spec) any { return &s.LoraTargetModules },
			func(s *Spec) string {
				if strings.Trim(s.LoraTargetModules, ", ") == "" {
					return "must name at least one module (e.g. query,value)"
				}
				return ""
			}},
		{"lora_modules_to_save", "lora-modules-to-save", "modules trained in full and saved with the adapter: classifier (always) and pooler",
			func(s *Spec) any { return &s.LoraModulesToSave }, func(s *Spec) string { return "" }},
		{"precision", "precision", "forward-pass arithmetic: auto (bf16 on a GPU, fp32 on the CPU), fp32, bf16, or fp16 (GPU only, with loss scaling); weights and checkpoints stay fp32",
			func(s *Spec) any { return &s.Precision },
			func(s *Spec) string {
				if !slices.Contains(Precisions(), s.Precision) {
					return fmt.Sprintf("must be one of %s, got %q", strings.Join(Precisions(), ", "), s.Precision)
				}
				return ""
			}},
		{"model", "model", "base model folder (HF layout)", func(s *Spec) any { return &s.Model }, nil},
		{"train_file", "train", "training data: JSONL, CSV or TSV with a header", func(s *Spec) any { return &s.TrainFile }, nil},
		{"validation_file", "validation", "validation data, evaluated after each epoch", func(s *Spec) any { return &s.ValidationFile }, nil},
		{"validation_split", "validation-split", "without --validation, hold out this share of each label's training rows for validation (seeded by --seed)",
			func(s *Spec) any { return &s.ValidationSplit }, nil},
		{"output_dir", "out", "output folder (checkpoints/ and the best model)", func(s *Spec) any { return &s.OutputDir }, nil},
		{"preprocess_module", "preprocess-module", "preprocess .wasm module or builtin:NAME (default: the model folder's, else builtin:bert-wordpiece)",
			func(s *Spec) any { return &s.PreprocessModule }, nil},
		{"evaluate_module", "evaluate-module", "evaluate .wasm module or builtin:NAME (default: builtin:classification-metrics)",
			func(s *Spec) any { return &s.EvaluateModule }, nil},
		{"text_column", "text-column", "text column (default: found by name)", func(s *Spec) any { return &s.TextColumn }, nil},
		{"text_pair_column", "text-pair-column", "second text column for sentence pairs (default: text_pair/text_b if present)",
			func(s *Spec) any { return &s.TextPairColumn }, nil},
		{"label_column", "label-column", "label column (default: found by name)", func(s *Spec) any { return &s.LabelColumn }, nil},
	}
}

// Validate checks every hyperparameter and returns a *FieldError for the first bad one.
func (h Hyperparameters) Validate() error {
	s := Spec{Hyperparameters: h}
	for _, p := range params() {
		if p.check == nil {
			continue
		}
		if msg := p.check(&s); msg != "" {
			return &FieldError{Name: p.name, Flag: p.flag, Msg: msg}
		}
	}
	return nil
}

// Resolve fills MaxSeqLength when it is 0 (DefaultMaxSeqLength, at most maxPositions) and checks the
// hyperparameters; maxPositions, when > 0, is the model's max_position_embeddings, which MaxSeqLength may not
// exceed.
func (h *Hyperparameters) Resolve(maxPositions int) error {
	if h.MaxSeqLength == 0 {
		h.MaxSeqLength = DefaultMaxSeqLength
		if maxPositions > 0 {
			h.MaxSeqLength = min(h.MaxSeqLength, maxPositions)
		}
	}
	if err := h.Validate(); err != nil {
		return err
	}
	if maxPositions > 0 && h.MaxSeqLength > maxPositions {
		return &FieldError{Name: "max_seq_length", Flag: "max-seq-length",
			Msg: fmt.Sprintf("%d is more than the model's max_position_embeddings (%d)", h.MaxSeqLength, maxPositions)}
	}
	return nil
}

// FromAPI returns the defaults overlaid with the fields an API request sets (its zero fields and nil pointers
// mean "the default"). The result is not yet resolved or checked.
func FromAPI(req sdk.Hyperparameters) (Hyperparameters, error) {
	h := Default()
	b, err := json.Marshal(req)
	if err != nil {
		return h, err
	}
	err = json.Unmarshal(b, &h) // the JSON names are the same: set fields overwrite the defaults
	return h, err
}

// API returns h as the API reports a job's effective hyperparameters.
func (h Hyperparameters) API() sdk.Hyperparameters {
	var out sdk.Hyperparameters
	b, _ := json.Marshal(h)
	_ = json.Unmarshal(b, &out)
	return out
}

// BindFlags registers every `whet train` flag that sets a field of s on fs, bound to s, whose current values
// are the defaults the help shows.
func (s *Spec) BindFlags(fs *flag.FlagSet) { bind(fs, s, func(param) bool { return true }) }

// BindHyperparameterFlags registers only the hyperparameter flags (for `whet jobs create`).
func (s *Spec) BindHyperparameterFlags(fs *flag.FlagSet) {
	bind(fs, s, func(p param) bool { return p.check != nil })
}

func bind(fs *flag.FlagSet, s *Spec, keep func(param) bool) {
	for _, p := range params() {
		if !keep(p) {
			continue
		}
		switch v := p.ptr(s).(type) {
		case *int:
			fs.IntVar(v, p.flag, *v, p.usage)
		case *int64:
			fs.Int64Var(v, p.flag, *v, p.usage)
		case *float64:
			fs.Float64Var(v, p.flag, *v, p.usage)
		case *string:
			fs.StringVar(v, p.flag, *v, p.usage)
		}
	}
}

// Override sets in s every field whose flag was given on fs (bound to from by BindFlags): flags win over a spec
// file.
func (s *Spec) Override(fs *flag.FlagSet, from *Spec) {
	byFlag := map[string]param{}
	for _, p := range params() {
		byFlag[p.flag] = p
	}
	fs.Visit(func(f *flag.Flag) {
		p, ok := byFlag[f.Name]
		if !ok {
			return
		}
		switch v := p.ptr(s).(type) {
		case *int:
			*v = *p.ptr(from).(*int)
		case *int64:
			*v = *p.ptr(from).(*int64)
		case *float64:
			*v = *p.ptr(from).(*float64)
		case *string:
			*v = *p.ptr(from).(*string)
		}
	})
}

// Read reads a spec file. Unknown fields are an error (a typo must not silently train with a default); fields the
// file leaves out take their defaults. The result is not yet resolved.
func Read(path string) (Spec, error) {
	s := Spec{Hyperparameters: Default()}
	b, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("spec[%s]: %w", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("spec[%s]: %w", path, err)
	}
	return s, nil
}

// JSON returns s as an indented JSON document (what Write stores).
func (s Spec) JSON() []byte {
	b, _ := json.MarshalIndent(s, "", "  ")
	return append(b, '\n')
}

// Write stores s at path.
func (s Spec) Write(path string) error {
	return os.WriteFile(path, s.JSON(), 0o644)
}

// FlagError rewrites a *FieldError to name the command-line flag (for `whet train`); other errors pass through.
func FlagError(err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fmt.Errorf("--%s: %s", fe.Flag, fe.Msg)
	}
	return err
}

// Precisions returns the values Hyperparameters.Precision takes.
func Precisions() []string { return []string{"auto", "fp32", "bf16", "fp16"} }

func intIn(v, lo, hi int) string {
	if v < lo || v > hi {
		if hi == math.MaxInt32 {
			return fmt.Sprintf("must be >= %d, got %d", lo, v)
		}
		return fmt.Sprintf("must be between %d and %d, got %d", lo, hi, v)
	}
	return ""
}

func ftoa(f float64) string { return strings.TrimSuffix(fmt.Sprintf("%g", f), ".0") }
