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

	"github.com/sugarme/gotch"
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

// PretrainConfig is one masked-language-model pretraining run. Its hyperparameters (MLMProbability to Seed) are used
// as they are, 0 included (seed 0, no weight decay, no clipping): start from PretrainDefaults().
type PretrainConfig struct {
	// ModelDir continues from a model folder's weights (its MLM head when present, else a fresh one whose output
	// bias starts at the Texts' log unigram shares). Either ModelDir or Config is required.
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
	// MLMProbability is the share of tokens selected; of those 80% become [MASK], 10% a random token, 10% stay, in
	// (0, 1). Default: DefaultMLMProbability.
	MLMProbability float64
	// Epochs over Texts, at least 1 unless MaxSteps is set. Default: 1.
	Epochs int
	// MaxSteps, when positive, stops after that many optimizer steps. Default: 0.
	MaxSteps int
	// BatchSize is rows per step, at least 1. Default: runspec.Default().BatchSize.
	BatchSize int
	// LearningRate is AdamW's peak learning rate, positive. Default: DefaultPretrainLearningRate.
	LearningRate float64
	// WarmupRatio is the share of steps with a rising learning rate. Default: 0.
	WarmupRatio float64
	// WeightDecay as in Config. Default: runspec.Default().WeightDecay.
	WeightDecay float64
	// MaxGradNorm as in Config (0 disables clipping). Default: runspec.Default().MaxGradNorm.
	MaxGradNorm float64
	// Seed seeds masking, shuffling, dropout and fresh weights (0 is a seed). Default: runspec.Default().Seed.
	Seed int64
	// Threads sets libtorch's threads when positive.
	Threads int
	// Device as in Config.
	Device string
	// Progress receives step and done events.
	Progress func(protocol.Event)
	// Logger receives log lines. nil discards them.
	Logger *slog.Logger
}

// PretrainDefaults returns PretrainConfig's default hyperparameters (the fields that say "Default"), the rest zero.
func PretrainDefaults() PretrainConfig {
	def := runspec.Default()
	return PretrainConfig{MLMProbability: DefaultMLMProbability, Epochs: 1, BatchSize: def.BatchSize,
		LearningRate: DefaultPretrainLearningRate, WeightDecay: def.WeightDecay, MaxGradNorm: def.MaxGradNorm, Seed: def.Seed}
}

// validate names the first bad field.
func (cfg PretrainConfig) validate() error {
	switch {
	case cfg.OutDir == "":
		return errors.New("pretrain: config field[OutDir]: required")
	case len(cfg.Texts) == 0:
		return errors.New("pretrain: config field[Texts]: no text")
	case cfg.ModelDir == "" && cfg.Config == nil:
		return errors.New("pretrain: config field[ModelDir]: required (or Config for a model from scratch)")
	case cfg.MLMProbability <= 0 || cfg.MLMProbability >= 1:
		return fmt.Errorf("pretrain: config field[MLMProbability]: must be in (0, 1), got %g (start from PretrainDefaults())", cfg.MLMProbability)
	case cfg.BatchSize < 1:
		return fmt.Errorf("pretrain: config field[BatchSize]: must be at least 1, got %d (start from PretrainDefaults())", cfg.BatchSize)
	case cfg.Epochs < 1 && cfg.MaxSteps <= 0:
		return fmt.Errorf("pretrain: config field[Epochs]: must be at least 1 (or MaxSteps set), got %d", cfg.Epochs)
	case !(cfg.LearningRate > 0):
		return fmt.Errorf("pretrain: config field[LearningRate]: must be positive, got %g (start from PretrainDefaults())", cfg.LearningRate)
	case cfg.WeightDecay < 0 || cfg.MaxGradNorm < 0 || cfg.WarmupRatio < 0 || cfg.WarmupRatio >= 1:
		return fmt.Errorf("pretrain: config fields[WeightDecay, MaxGradNorm, WarmupRatio]: got %g, %g, %g: none may be negative, WarmupRatio below 1",
			cfg.WeightDecay, cfg.MaxGradNorm, cfg.WarmupRatio)
	}
	return nil
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
func Pretrain(ctx context.Context, cfg PretrainConfig) (_ *PretrainResult, err error) {
	defer torch.Recover(&err, "pretrain")
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	// libtorch's grad mode is thread-local and goroutines move between threads: stay on one thread so no step
	// ever runs on a thread where grad mode was left off.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dev, err := startDevice(cfg.Threads, cfg.Seed, cfg.Device)
	if err != nil {
		return nil, err
	}
	p, err := newPretraining(cfg, dev)
	if err != nil {
		return nil, err
	}
	defer p.close()
	res, err := p.loop(ctx)
	if err != nil {
		return res, err
	}
	if cfg.Progress != nil {
		cfg.Progress(protocol.Event{Type: protocol.EventDone, TrainSamplesPerSecond: res.TrainSamplesPerSecond})
	}
	return res, nil
}

// pretraining is a Pretrain run's model, optimizer and what it writes.
type pretraining struct {
	cfg     PretrainConfig
	mcfg    bert.Config
	tokCfg  map[string]any
	m       *bert.Model
	opt     *optim
	special map[int32]bool
}

// newPretraining builds the masked-LM model (from cfg.ModelDir's weights, else fresh from cfg.Config), checks the
// texts against it and makes the optimizer.
func newPretraining(cfg PretrainConfig, dev gotch.Device) (*pretraining, error) {
	p := &pretraining{cfg: cfg, special: map[int32]bool{}}
	for _, id := range cfg.SpecialIDs {
		p.special[id] = true
	}
	var values map[string][]float32
	if cfg.ModelDir != "" {
		f, err := checkpoint.ReadFolder(cfg.ModelDir)
		if err != nil {
			return nil, err
		}
		p.mcfg = f.Config
		p.mcfg.ID2Label = nil
		var rep *checkpoint.Report
		if values, rep, err = f.Match(p.mcfg, bert.HeadMLM, 0); err != nil {
			return nil, err
		}
		if len(rep.Missing) > 0 {
			cfg.Logger.Info("masked-LM head created fresh", "names", rep.Missing)
		}
		if len(rep.Unexpected) > 0 {
			cfg.Logger.Info("weights not used by the masked-LM model", "names", rep.Unexpected)
		}
		if p.cfg.Vocab == nil {
			if b, err := os.ReadFile(f.VocabPath()); err == nil {
				p.cfg.Vocab = b
			}
			p.cfg.DoLowerCase = f.DoLowerCase
		}
		p.tokCfg = f.TokenizerConfig
	} else {
		p.mcfg = *cfg.Config
		p.mcfg.ID2Label = nil
	}
	p.mcfg.Architectures = []string{bert.ArchMaskedLM}
	if _, ok := values[bert.NameMLMBias]; !ok {
		if values == nil {
			values = map[string][]float32{}
		}
		values[bert.NameMLMBias] = unigramBias(cfg.Texts, p.mcfg.VocabSize, p.special)
	}
	m, err := bert.New(p.mcfg, bert.Options{Heads: bert.HeadMLM, Device: dev, Seed: uint64(cfg.Seed)}, values)
	if err != nil {
		return nil, err
	}
	p.m = m
	for i, row := range cfg.Texts {
		if err := m.CheckRow(row, nil); err != nil {
			p.close()
			return nil, fmt.Errorf("pretrain: text line %d: %w", i+1, err)
		}
	}
	if int(cfg.MaskTokenID) < 0 || int(cfg.MaskTokenID) >= p.mcfg.VocabSize {
		p.close()
		return nil, fmt.Errorf("pretrain: [MASK] id %d outside the vocabulary (size %d)", cfg.MaskTokenID, p.mcfg.VocabSize)
	}
	if p.opt, err = newOptim(m.Parameters(), cfg.WeightDecay, cfg.MaxGradNorm); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// unigramBias is a fresh masked-LM head's output bias: the log of each token's share of the texts' maskable tokens
// (add-one smoothed; special tokens count 0), so the head predicts the corpus's unigram distribution from the first
// step. With Adam moving each bias by about the learning rate per step, a zero bias takes thousands of steps to get
// there (log shares span ~10), and pretraining spends them on word frequencies instead of context.
func unigramBias(texts [][]int32, vocab int, special map[int32]bool) []float32 {
	counts := make([]float64, vocab)
	total := 0.0
	for _, row := range texts {
		for _, id := range row {
			if id >= 0 && int(id) < vocab && !special[id] {
				counts[id]++
				total++
			}
		}
	}
	bias := make([]float32, vocab)
	for i, c := range counts {
		bias[i] = float32(math.Log((c + 1) / (total + float64(vocab))))
	}
	return bias
}

func (p *pretraining) close() {
	if p.opt != nil {
		p.opt.close()
	}
	p.m.Close()
}

// save writes the model so far to OutDir.
func (p *pretraining) save() error {
	tensors, err := p.m.Tensors()
	if err != nil {
		return err
	}
	return checkpoint.WriteFolder(p.cfg.OutDir, checkpoint.SaveOptions{Config: p.mcfg, Tensors: tensors, Vocab: p.cfg.Vocab,
		DoLowerCase: p.cfg.DoLowerCase, TokenizerConfig: p.tokCfg})
}

// loop runs the steps (planned as Run plans them) and writes the model, also when ctx is cancelled.
func (p *pretraining) loop(ctx context.Context) (*PretrainResult, error) {
	cfg, log := p.cfg, p.cfg.Logger
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
	var trainTime time.Duration
	samples := 0
	for epoch := 0; res.GlobalStep < total; epoch++ {
		maskRNG := rand.New(rand.NewPCG(uint64(cfg.Seed)^0xabcdef, uint64(epoch)))
		for _, batch := range planBatches(lengths, cfg.BatchSize, epochRNG(cfg.Seed, epoch)) {
			if res.GlobalStep >= total {
				break
			}
			if err := ctx.Err(); err != nil {
				if serr := p.save(); serr != nil {
					return res, errors.Join(err, serr)
				}
				log.Info("cancelled: model so far written", "path", cfg.OutDir, "step", res.GlobalStep)
				return res, err
			}
			start := time.Now()
			loss, err := mlmStep(p.m, cfg, batch, p.special, maskRNG)
			if err != nil {
				return res, err
			}
			lr := sched.lr(res.GlobalStep)
			if err := p.opt.step(lr); err != nil {
				return res, err
			}
			res.GlobalStep++
			samples += len(batch)
			trainTime += time.Since(start)
			res.TrainSamplesPerSecond = float64(samples) / trainTime.Seconds()
			res.Losses = append(res.Losses, loss)
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return res, fmt.Errorf("pretrain: step %d: loss is %g (lower the learning rate?)", res.GlobalStep, loss)
			}
			if cfg.Progress != nil {
				cfg.Progress(protocol.Event{Type: protocol.EventStep, Step: res.GlobalStep, TotalSteps: total,
					Epoch: float64(res.GlobalStep) / float64(batches), Loss: loss, LearningRate: lr, SamplesPerSecond: res.TrainSamplesPerSecond})
			}
		}
	}
	return res, p.save()
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
	seq, err := m.Encode(b, true)
	if err != nil {
		return 0, fmt.Errorf("pretrain: %w", err)
	}
	flat := seq.MustView([]int64{int64(b.Size * b.Len), H}, true)
	sel := flat.MustIndexSelect(0, posT, true)
	logits, err := m.MLMLogits(sel)
	sel.MustDrop()
	if err != nil {
		return 0, fmt.Errorf("pretrain: %w", err)
	}
	loss := logits.MustCrossEntropyLoss(tgtT, ts.None, ts.ReductionMean, -100, 0, true)
	v := loss.MustFloat64Value([]int64{})
	if err := loss.Backward(); err != nil {
		loss.MustDrop()
		return 0, fmt.Errorf("pretrain: backward: %w", err)
	}
	loss.MustDrop()
	return v, nil
}
