//go:build cgo

package train

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"time"

	"github.com/sugarme/gotch/ts"

	"github.com/whetml/whet/internal/protocol"
	"github.com/whetml/whet/internal/runspec"
	"github.com/whetml/whet/native/bert"
	"github.com/whetml/whet/native/checkpoint"
	"github.com/whetml/whet/native/torch"
)

// DefaultMLMProbability is the share of tokens selected for the masked-LM loss (BERT: 15%).
const DefaultMLMProbability = 0.15

// DefaultPretrainLearningRate is PretrainConfig.LearningRate's default (higher than fine-tuning's: MLM from a
// small or fresh model).
const DefaultPretrainLearningRate = 1e-4

// PretrainConfig is one masked-language-model pretraining run. Zero fields take the documented defaults.
type PretrainConfig struct {
	// ModelDir continues from a model folder's weights (its MLM head when present, else a fresh one). Either
	// ModelDir or Config is required.
	ModelDir string
	// Config builds a model from scratch (random weights) when ModelDir is empty.
	Config *bert.Config
	// Vocab is written as vocab.txt (default: ModelDir's vocab.txt).
	Vocab []byte
	// DoLowerCase is written to tokenizer_config.json (default with ModelDir: the folder's setting).
	DoLowerCase bool
	// OutDir receives the BertForMaskedLM folder. Required.
	OutDir string
	// Texts are the tokenized lines ([CLS] ... [SEP]). Required, non-empty.
	Texts [][]int32
	// MaskTokenID is the [MASK] id. Required.
	MaskTokenID int32
	// SpecialIDs are never selected for masking ([CLS], [SEP], [PAD], [UNK], ...).
	SpecialIDs []int32
	// MLMProbability is the share of tokens selected; of those 80% become [MASK], 10% a random token, 10% stay.
	// Default: DefaultMLMProbability.
	MLMProbability float64
	// Epochs over Texts. Default: 1.
	Epochs int
	// MaxSteps, when positive, stops after that many optimizer steps. Default: 0.
	MaxSteps int
	// BatchSize is rows per step. Default: runspec.Default().BatchSize.
	BatchSize int
	// LearningRate is AdamW's peak learning rate. Default: DefaultPretrainLearningRate.
	LearningRate float64
	// WarmupRatio is the share of steps with a rising learning rate. Default: 0.
	WarmupRatio float64
	// WeightDecay as in Config. Default: runspec.Default().WeightDecay; negative means 0.
	WeightDecay float64
	// MaxGradNorm as in Config. Default: runspec.Default().MaxGradNorm; negative disables.
	MaxGradNorm float64
	// Seed seeds masking, shuffling, dropout and fresh weights. Default: runspec.Default().Seed.
	Seed int64
	// Threads sets libtorch's threads when positive.
	Threads int
	// Device as in Config.
	Device string
	// Progress receives step and done events.
	Progress func(protocol.Event)
	// Logger receives log lines. Default: discard.
	Logger *slog.Logger
}

// PretrainResult is a finished (or cancelled) pretraining run.
type PretrainResult struct {
	// GlobalStep is the number of optimizer steps done.
	GlobalStep int
	// Losses is the masked-LM loss of each step.
	Losses []float64
	// TrainSamplesPerSecond is rows per second of training.
	TrainSamplesPerSecond float64
	// OutDir is where the model was written.
	OutDir string
}

// Pretrain continues (or starts) masked-language-model pretraining on unlabeled text and writes an HF folder with
// BertForMaskedLM weights (cls.predictions.*; the decoder is tied to the word embeddings) that Run can start from
// (the classifier head is then created fresh). On cancellation the model so far is written and ctx's error returned.
func Pretrain(ctx context.Context, cfg PretrainConfig) (*PretrainResult, error) {
	if cfg.MLMProbability == 0 {
		cfg.MLMProbability = DefaultMLMProbability
	}
	if cfg.Epochs == 0 {
		cfg.Epochs = 1
	}
	def := runspec.Default()
	if cfg.BatchSize == 0 {
		cfg.BatchSize = def.BatchSize
	}
	if cfg.LearningRate == 0 {
		cfg.LearningRate = DefaultPretrainLearningRate
	}
	if cfg.WeightDecay == 0 {
		cfg.WeightDecay = def.WeightDecay
	} else if cfg.WeightDecay < 0 {
		cfg.WeightDecay = 0
	}
	if cfg.MaxGradNorm == 0 {
		cfg.MaxGradNorm = def.MaxGradNorm
	}
	if cfg.Seed == 0 {
		cfg.Seed = def.Seed
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.OutDir == "":
		return nil, errors.New("pretrain: config field[OutDir]: required")
	case len(cfg.Texts) == 0:
		return nil, errors.New("pretrain: config field[Texts]: no text")
	case cfg.ModelDir == "" && cfg.Config == nil:
		return nil, errors.New("pretrain: config field[ModelDir]: required (or Config for a model from scratch)")
	case cfg.MLMProbability <= 0 || cfg.MLMProbability >= 1:
		return nil, fmt.Errorf("pretrain: config field[MLMProbability]: must be in (0, 1), got %g", cfg.MLMProbability)
	}
	// libtorch's grad mode is thread-local and goroutines move between threads: stay on one thread so no step
	// ever runs on a thread where grad mode was left off.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	log := cfg.Logger
	if cfg.Threads > 0 {
		torch.SetThreads(cfg.Threads)
	}
	torch.ManualSeed(cfg.Seed)
	dev, err := device(cfg.Device)
	if err != nil {
		return nil, err
	}

	var mcfg bert.Config
	var values map[string][]float32
	var tokCfg map[string]any
	if cfg.ModelDir != "" {
		f, err := checkpoint.ReadFolder(cfg.ModelDir)
		if err != nil {
			return nil, err
		}
		mcfg = f.Config
		mcfg.ID2Label = nil
		var rep *checkpoint.Report
		if values, rep, err = f.Match(mcfg, bert.HeadMLM, 0); err != nil {
			return nil, err
		}
		if len(rep.Missing) > 0 {
			log.Info("masked-LM head created fresh", "names", rep.Missing)
		}
		if len(rep.Unexpected) > 0 {
			log.Info("weights not used by the masked-LM model", "names", rep.Unexpected)
		}
		if cfg.Vocab == nil {
			if b, err := os.ReadFile(f.VocabPath()); err == nil {
				cfg.Vocab = b
			}
			cfg.DoLowerCase = f.DoLowerCase
		}
		tokCfg = f.TokenizerConfig
	} else {
		mcfg = *cfg.Config
		mcfg.ID2Label = nil
	}
	mcfg.Architectures = []string{bert.ArchMaskedLM}
	m, err := bert.New(mcfg, bert.Options{Heads: bert.HeadMLM, Device: dev, Seed: uint64(cfg.Seed)}, values)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	for i, row := range cfg.Texts {
		if err := m.CheckRow(row, nil); err != nil {
			return nil, fmt.Errorf("pretrain: text line %d: %w", i+1, err)
		}
	}
	if int(cfg.MaskTokenID) < 0 || int(cfg.MaskTokenID) >= mcfg.VocabSize {
		return nil, fmt.Errorf("pretrain: [MASK] id %d outside the vocabulary (size %d)", cfg.MaskTokenID, mcfg.VocabSize)
	}
	special := map[int32]bool{}
	for _, id := range cfg.SpecialIDs {
		special[id] = true
	}
	opt, err := newOptim(m.Parameters(), cfg.WeightDecay, cfg.MaxGradNorm)
	if err != nil {
		return nil, err
	}
	defer opt.close()
	batches := (len(cfg.Texts) + cfg.BatchSize - 1) / cfg.BatchSize
	total := batches * cfg.Epochs
	if cfg.MaxSteps > 0 {
		total = cfg.MaxSteps
	}
	sched := newSchedule(cfg.LearningRate, cfg.WarmupRatio, total)
	lengths := make([]int, len(cfg.Texts))
	for i, r := range cfg.Texts {
		lengths[i] = len(r)
	}
	log.Info("pretraining", "lines", len(cfg.Texts), "total_steps", total, "batch_size", cfg.BatchSize,
		"learning_rate", cfg.LearningRate, "mlm_probability", cfg.MLMProbability, "runtime", torch.Describe())

	res := &PretrainResult{OutDir: cfg.OutDir}
	save := func() error {
		tensors, err := m.Tensors()
		if err != nil {
			return err
		}
		return checkpoint.WriteFolder(cfg.OutDir, checkpoint.SaveOptions{Config: mcfg, Tensors: tensors, Vocab: cfg.Vocab, DoLowerCase: cfg.DoLowerCase, TokenizerConfig: tokCfg})
	}
	var trainTime time.Duration
	samples := 0
	step := 0
	for epoch := 0; step < total; epoch++ {
		rng := epochRNG(cfg.Seed, epoch)
		maskRNG := rand.New(rand.NewPCG(uint64(cfg.Seed)^0xabcdef, uint64(epoch)))
		for _, batch := range planBatches(lengths, cfg.BatchSize, rng) {
			if step >= total {
				break
			}
			if err := ctx.Err(); err != nil {
				res.GlobalStep = step
				if serr := save(); serr != nil {
					return res, errors.Join(err, serr)
				}
				log.Info("cancelled: model so far written", "path", cfg.OutDir, "step", step)
				return res, err
			}
			start := time.Now()
			loss, err := mlmStep(m, cfg, batch, special, maskRNG)
			if err != nil {
				return res, err
			}
			lr := sched.lr(step)
			if err := opt.step(lr); err != nil {
				return res, err
			}
			step++
			samples += len(batch)
			trainTime += time.Since(start)
			res.Losses = append(res.Losses, loss)
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return res, fmt.Errorf("pretrain: step %d: loss is %g (lower the learning rate?)", step, loss)
			}
			if cfg.Progress != nil {
				cfg.Progress(protocol.Event{Type: protocol.EventStep, Step: step, TotalSteps: total, Epoch: float64(step) / float64(batches),
					Loss: loss, LearningRate: lr, SamplesPerSecond: float64(samples) / trainTime.Seconds()})
			}
		}
	}
	res.GlobalStep = step
	if trainTime > 0 {
		res.TrainSamplesPerSecond = float64(samples) / trainTime.Seconds()
	}
	if err := save(); err != nil {
		return res, err
	}
	if cfg.Progress != nil {
		cfg.Progress(protocol.Event{Type: protocol.EventDone, TrainSamplesPerSecond: res.TrainSamplesPerSecond})
	}
	return res, nil
}

// maskRows applies BERT's masking to rows: each non-special token is selected with probability p; a selected token
// becomes [MASK] (80%), a random token (10%) or stays (10%). It returns the masked rows, the flat positions
// (row*T + col, T the longest row) of the selected tokens and their original ids.
func maskRows(rows [][]int32, p float64, maskID int32, vocab int, special map[int32]bool, rng *rand.Rand) (masked [][]int32, pos []int64, targets []int64) {
	T := 0
	for _, r := range rows {
		T = max(T, len(r))
	}
	masked = make([][]int32, len(rows))
	for i, r := range rows {
		out := append([]int32(nil), r...)
		for j, id := range r {
			if special[id] || rng.Float64() >= p {
				continue
			}
			pos = append(pos, int64(i*T+j))
			targets = append(targets, int64(id))
			switch u := rng.Float64(); {
			case u < 0.8:
				out[j] = maskID
			case u < 0.9:
				out[j] = int32(rng.IntN(vocab))
			}
		}
		masked[i] = out
	}
	if len(pos) == 0 {
		// Make sure every batch teaches something: select one ordinary token.
		for i, r := range rows {
			for j, id := range r {
				if !special[id] {
					pos, targets = append(pos, int64(i*T+j)), append(targets, int64(id))
					masked[i][j] = maskID
					return masked, pos, targets
				}
			}
		}
	}
	return masked, pos, targets
}

// mlmStep runs one masked-LM batch forward and backward and returns its loss; the head runs on the selected
// positions only.
func mlmStep(m *bert.Model, cfg PretrainConfig, batch []int, special map[int32]bool, rng *rand.Rand) (float64, error) {
	rows := make([][]int32, len(batch))
	for j, i := range batch {
		rows[j] = cfg.Texts[i]
	}
	masked, pos, targets := maskRows(rows, cfg.MLMProbability, cfg.MaskTokenID, m.Config().VocabSize, special, rng)
	if len(pos) == 0 {
		return 0, nil // only special tokens: nothing to learn from
	}
	b, err := m.NewBatch(masked, nil)
	if err != nil {
		return 0, fmt.Errorf("pretrain: %w", err)
	}
	defer b.Close()
	dev := m.Device()
	posT, err := bert.Int64Tensor(pos, []int64{int64(len(pos))}, dev)
	if err != nil {
		return 0, err
	}
	defer posT.MustDrop()
	tgtT, err := bert.Int64Tensor(targets, []int64{int64(len(targets))}, dev)
	if err != nil {
		return 0, err
	}
	defer tgtT.MustDrop()
	H := int64(m.Config().HiddenSize)
	seq := m.Encode(b, true)
	flat := seq.MustView([]int64{int64(b.Size * b.Len), H}, true)
	sel := flat.MustIndexSelect(0, posT, true)
	logits := m.MLMLogits(sel)
	sel.MustDrop()
	loss := logits.MustCrossEntropyLoss(tgtT, ts.None, ts.ReductionMean, -100, 0, true)
	v := loss.MustFloat64Value([]int64{})
	if err := loss.Backward(); err != nil {
		loss.MustDrop()
		return 0, fmt.Errorf("pretrain: backward: %w", err)
	}
	loss.MustDrop()
	return v, nil
}
