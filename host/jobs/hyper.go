package jobs

import (
	"fmt"
	"math"
	"regexp"
	"strconv"

	"github.com/whetml/whet/sdk"
)

// Hyperparameter defaults, per common BERT fine-tuning practice (Devlin et al. 2019; HF run_glue).
const (
	DefaultEpochs       = 3
	DefaultBatchSize    = 32
	DefaultLearningRate = 3e-5
	DefaultMaxSeqLength = 128
	DefaultWarmupRatio  = 0.1
	DefaultWeightDecay  = 0.01
	DefaultSeed         = int64(42)
	DefaultGradAccum    = 1
)

// ValidationError is a bad request field. Param names it as in the JSON request
// ("hyperparameters.learning_rate").
type ValidationError struct {
	// Param is the field at fault.
	Param string
	// Msg says what is wrong and what is allowed.
	Msg string
}

// Error implements error.
func (e *ValidationError) Error() string { return fmt.Sprintf("%s: %s", e.Param, e.Msg) }

// ParamError wraps an error about the object a request field refers to (an unknown file id), naming the field.
type ParamError struct {
	// Param is the request field.
	Param string
	// Err is the underlying error (a *store.NotFoundError, say).
	Err error
}

// Error implements error.
func (e *ParamError) Error() string { return fmt.Sprintf("%s: %v", e.Param, e.Err) }

// Unwrap returns Err.
func (e *ParamError) Unwrap() error { return e.Err }

var suffixRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,40}$`)

// ResolveHyperparameters checks h and returns it with every default filled. maxPositions, when > 0, caps
// max_seq_length (the model's max_position_embeddings).
func ResolveHyperparameters(h sdk.Hyperparameters, maxPositions int) (sdk.Hyperparameters, error) {
	bad := func(field, format string, args ...any) error {
		return &ValidationError{Param: "hyperparameters." + field, Msg: fmt.Sprintf(format, args...)}
	}
	if h.NEpochs == 0 {
		h.NEpochs = DefaultEpochs
	}
	if h.NEpochs < 1 || h.NEpochs > 1000 {
		return h, bad("n_epochs", "must be between 1 and 1000, got %d", h.NEpochs)
	}
	if h.BatchSize == 0 {
		h.BatchSize = DefaultBatchSize
	}
	if h.BatchSize < 1 || h.BatchSize > 4096 {
		return h, bad("batch_size", "must be between 1 and 4096, got %d", h.BatchSize)
	}
	if h.LearningRate == 0 {
		h.LearningRate = DefaultLearningRate
	}
	if math.IsNaN(h.LearningRate) || h.LearningRate <= 0 || h.LearningRate > 1 {
		return h, bad("learning_rate", "must be > 0 and <= 1 (typical: 1e-5 to 5e-5), got %s", ftoa(h.LearningRate))
	}
	if h.MaxSeqLength == 0 {
		h.MaxSeqLength = DefaultMaxSeqLength
		if maxPositions > 0 && h.MaxSeqLength > maxPositions {
			h.MaxSeqLength = maxPositions
		}
	}
	if h.MaxSeqLength < 8 || h.MaxSeqLength > 8192 {
		return h, bad("max_seq_length", "must be between 8 and 8192, got %d", h.MaxSeqLength)
	}
	if maxPositions > 0 && h.MaxSeqLength > maxPositions {
		return h, bad("max_seq_length", "%d is more than the model's max_position_embeddings (%d)", h.MaxSeqLength, maxPositions)
	}
	if h.WarmupRatio == nil {
		h.WarmupRatio = ptr(DefaultWarmupRatio)
	}
	if w := *h.WarmupRatio; math.IsNaN(w) || w < 0 || w >= 1 {
		return h, bad("warmup_ratio", "must be >= 0 and < 1, got %s", ftoa(w))
	}
	if h.WeightDecay == nil {
		h.WeightDecay = ptr(DefaultWeightDecay)
	}
	if w := *h.WeightDecay; math.IsNaN(w) || w < 0 || w > 1 {
		return h, bad("weight_decay", "must be between 0 and 1, got %s", ftoa(w))
	}
	if h.Seed == nil {
		h.Seed = ptr(DefaultSeed)
	}
	if *h.Seed < 0 {
		return h, bad("seed", "must be >= 0, got %d", *h.Seed)
	}
	if h.MaxSteps < 0 {
		return h, bad("max_steps", "must be >= 0 (0 = no limit), got %d", h.MaxSteps)
	}
	if h.GradAccum == 0 {
		h.GradAccum = DefaultGradAccum
	}
	if h.GradAccum < 1 || h.GradAccum > 1024 {
		return h, bad("grad_accum", "must be between 1 and 1024, got %d", h.GradAccum)
	}
	if math.IsNaN(h.MaxGradNorm) || h.MaxGradNorm < 0 {
		return h, bad("max_grad_norm", "must be >= 0 (0 = the trainer's default), got %s", ftoa(h.MaxGradNorm))
	}
	if h.EvalEvery < 0 {
		return h, bad("eval_every", "must be >= 0 (0 = every epoch), got %d", h.EvalEvery)
	}
	if h.EarlyStoppingPatience < 0 {
		return h, bad("early_stopping_patience", "must be >= 0 (0 = never stop early), got %d", h.EarlyStoppingPatience)
	}
	if h.MetricForBestModel != "" && !regexp.MustCompile(`^[a-z_0-9]{1,64}$`).MatchString(h.MetricForBestModel) {
		return h, bad("metric_for_best_model", "must be a metric name such as macro_f1 or accuracy, got %q", h.MetricForBestModel)
	}
	switch h.ClassWeights {
	case "", "auto", "none":
	default:
		return h, bad("class_weights", `must be "auto" or "none", got %q`, h.ClassWeights)
	}
	return h, nil
}

// trainFlags renders resolved hyperparameters as `whet train` flags.
func trainFlags(h sdk.Hyperparameters) []string {
	args := []string{
		"--epochs", strconv.Itoa(h.NEpochs),
		"--batch-size", strconv.Itoa(h.BatchSize),
		"--learning-rate", ftoa(h.LearningRate),
		"--max-seq-length", strconv.Itoa(h.MaxSeqLength),
		"--warmup-ratio", ftoa(*h.WarmupRatio),
		"--weight-decay", ftoa(*h.WeightDecay),
		"--seed", strconv.FormatInt(*h.Seed, 10),
	}
	if h.MaxSteps > 0 {
		args = append(args, "--max-steps", strconv.Itoa(h.MaxSteps))
	}
	if h.GradAccum > 1 {
		args = append(args, "--grad-accum", strconv.Itoa(h.GradAccum))
	}
	if h.MaxGradNorm > 0 {
		args = append(args, "--max-grad-norm", ftoa(h.MaxGradNorm))
	}
	if h.EvalEvery > 0 {
		args = append(args, "--eval-every", strconv.Itoa(h.EvalEvery))
	}
	if h.EarlyStoppingPatience > 0 {
		args = append(args, "--early-stopping-patience", strconv.Itoa(h.EarlyStoppingPatience))
	}
	if h.MetricForBestModel != "" {
		args = append(args, "--metric-for-best-model", h.MetricForBestModel)
	}
	if h.ClassWeights != "" {
		args = append(args, "--class-weights", h.ClassWeights)
	}
	return args
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func ptr[T any](v T) *T { return &v }
