package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/whetml/whet/internal/protocol"
	"github.com/whetml/whet/internal/runspec"
	"github.com/whetml/whet/native/bert"
	"github.com/whetml/whet/native/torch"
)

// DefaultEvalBatch is Config.EvalBatchSize's default.
const DefaultEvalBatch = 64

// Example is one tokenized training or validation row.
type Example struct {
	// InputIDs are the token ids including [CLS] and [SEP], unpadded.
	InputIDs []int32
	// TypeIDs are the token type ids (nil means all 0).
	TypeIDs []int32
	// Label is the label name.
	Label string
	// Source names the row for errors ("train.tsv:12").
	Source string
}

// EvalInput is what an evaluation hook gets: true and predicted label indices, probabilities and label names.
type EvalInput struct {
	// Labels are the true label indices.
	Labels []int
	// Predictions are the predicted label indices.
	Predictions []int
	// Probabilities are the softmax outputs, one row per example.
	Probabilities [][]float32
	// LabelNames name the indices.
	LabelNames []string
}

// EvaluateFunc computes the metrics document for one evaluation (e.g. through a WASM evaluate module). The trainer
// adds "loss" to what it returns.
type EvaluateFunc func(ctx context.Context, in EvalInput) (json.RawMessage, error)

// Config is one fine-tuning run. Zero fields take the documented defaults (WithDefaults).
type Config struct {
	// ModelDir is the base HF model folder (config.json, weights, vocab.txt). Required unless Resume is set.
	ModelDir string
	// OutDir receives checkpoints/checkpoint-<step>/ and, at the end, a copy of the best checkpoint. Required.
	OutDir string
	// Files are more files written into every checkpoint (name -> content), so the model folder carries what it
	// needs to be used as it was trained, such as the preprocess module. Default: none.
	Files map[string][]byte
	// TokenizerConfig are keys added to tokenizer_config.json in every checkpoint (e.g. model_max_length, the
	// sequence length trained with). Default: none.
	TokenizerConfig map[string]any
	// Train are the training rows. Required, non-empty.
	Train []Example
	// Validation are the rows evaluated after each epoch (or EvalEvery steps). Optional.
	Validation []Example
	// Hyperparameters tune the run; every field is used as it is (0 is a real value: seed 0, no weight decay, no
	// clipping): start from runspec.Default(). MaxSeqLength is not used (rows come tokenized). Required.
	runspec.Hyperparameters
	// Threads sets libtorch's intra-op threads when positive. Default: 0 (leave as set).
	Threads int
	// EvalBatchSize is the batch size for evaluation. Default: DefaultEvalBatch.
	EvalBatchSize int
	// Resume is a checkpoint folder to continue from: its weights, trainer_state.json step and optimizer.safetensors
	// AdamW state (moments restart from zero, with a warning, when a checkpoint lacks it). Default: "" (start fresh).
	Resume string
	// Device is "auto" or "" (WHET_DEVICE, else CUDA when available, else CPU), "cpu", "cuda" or "cuda:N"
	// (torch.ParseDevice). Default: "".
	Device string
	// LoRA, when set, trains a LoRA adapter instead of the whole model (Method "lora"). Resuming from an adapter
	// checkpoint trains LoRA with the checkpoint's settings whether or not this is set. Default: nil (full
	// fine-tuning).
	LoRA *LoRAOptions
	// Evaluate computes the metrics document; nil uses wasm/metrics directly. Default: nil.
	Evaluate EvaluateFunc
	// Progress receives step, eval, checkpoint and done events, on the training goroutine. Default: nil.
	Progress func(protocol.Event)
	// Logger receives log lines. Default: a logger that discards.
	Logger *slog.Logger
}

// WithDefaults returns a copy of c with EvalBatchSize and Logger set when zero (the hyperparameters have no
// hidden defaults).
func (c Config) WithDefaults() Config {
	if c.EvalBatchSize == 0 {
		c.EvalBatchSize = DefaultEvalBatch
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// LoRAOptions are the settings of a LoRA run (see bert.LoRA for the adapter's own): the base weights are frozen (no
// gradients, no optimizer state), the adapter and the classifier are trained, and every checkpoint and OutDir are
// peft adapter folders (adapter_config.json, adapter_model.safetensors) plus whet's files (labels, tokenizer,
// preprocess module, trainer_state.json).
type LoRAOptions struct {
	// LoRA is the adapter's shape: rank, alpha, dropout, targets, modules to save. Zero fields take peft's defaults.
	bert.LoRA
	// BaseName is written as adapter_config.json's base_model_name_or_path. Default: ModelDir made absolute.
	BaseName string
}

// validate names the first bad field.
func (c Config) validate() error {
	if c.LoRA != nil {
		if err := c.LoRA.WithDefaults().Validate(); err != nil {
			return fmt.Errorf("train: config field[LoRA]: %w", err)
		}
	}
	switch {
	case c.ModelDir == "" && c.Resume == "":
		return errors.New("train: config field[ModelDir]: required (or Resume)")
	case c.OutDir == "":
		return errors.New("train: config field[OutDir]: required")
	case len(c.Train) == 0:
		return errors.New("train: config field[Train]: no training rows")
	}
	if err := torch.CheckDeviceName(c.Device); err != nil {
		return fmt.Errorf("train: config field[Device]: %w", err)
	}
	if err := c.Hyperparameters.Validate(); err != nil {
		return fmt.Errorf("train: config hyperparameter %w", err)
	}
	for i, e := range c.Train {
		if e.Label == "" {
			return fmt.Errorf("train: training row %s: no label", sourceOf(e, i))
		}
	}
	for i, e := range c.Validation {
		if e.Label == "" {
			return fmt.Errorf("train: validation row %s: no label", sourceOf(e, i))
		}
	}
	return nil
}

func sourceOf(e Example, i int) string {
	if e.Source != "" {
		return e.Source
	}
	return fmt.Sprintf("#%d", i)
}

// Result is a finished (or cancelled) run.
type Result struct {
	// Labels are the label names in class-index order.
	Labels []string
	// Metrics is the best evaluation's metrics document (nil without validation rows).
	Metrics json.RawMessage
	// TrainSamplesPerSecond is training rows processed per second of training time (evaluation excluded).
	TrainSamplesPerSecond float64
	// GlobalStep is the number of optimizer steps done.
	GlobalStep int
	// Epoch is the fractional epoch reached.
	Epoch float64
	// BestCheckpoint is the folder of the best checkpoint (the last one without validation rows).
	BestCheckpoint string
	// LastCheckpoint is the folder of the last checkpoint written (on cancel: the cancel checkpoint).
	LastCheckpoint string
	// Losses is the training loss of every optimizer step, in order.
	Losses []float64
	// StoppedEarly is set when early stopping ended the run.
	StoppedEarly bool
	// TrainableParams and TotalParams count the numbers the optimizer updates and the model uses in all (with LoRA:
	// the adapter's and the base's plus the adapter's).
	TrainableParams, TotalParams int64
}
