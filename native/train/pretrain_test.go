//go:build cgo

package train_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/whetml/whet/internal/protocol"
	"github.com/whetml/whet/internal/runspec"
	"github.com/whetml/whet/native/bert"
	"github.com/whetml/whet/native/checkpoint"
	"github.com/whetml/whet/native/reftest"
	"github.com/whetml/whet/native/torch"
	"github.com/whetml/whet/native/train"
)

// corpus makes lines with a learnable pattern: token 8+k is always followed by token 9+k.
func corpus(n int) [][]int32 {
	rows := synthetic(n, 21)
	out := make([][]int32, n)
	for i, r := range rows {
		ids := append([]int32(nil), r.InputIDs...)
		for j := 1; j+1 < len(ids)-1; j += 2 {
			ids[j+1] = 8 + (ids[j]-8+1)%int32(vocabSize-8)
		}
		out[i] = ids
	}
	return out
}

func TestPretrainThenFineTune(t *testing.T) {
	torch.SetThreads(2)
	base := tinyModel(t, []string{"neg", "pos"}, nil)
	out := filepath.Join(t.TempDir(), "mlm")
	cfg := train.PretrainDefaults()
	cfg.ModelDir, cfg.OutDir, cfg.Texts, cfg.MaskTokenID, cfg.SpecialIDs = base, out, corpus(400), 4, []int32{0, 1, 2, 3, 4}
	cfg.Epochs, cfg.BatchSize, cfg.LearningRate, cfg.Seed = 15, 8, 3e-3, 5
	res, err := train.Pretrain(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The fresh head starts at the unigram entropy H. Without reading the neighbours a model gets no lower than 0.9 H
	// (the 10% of selected tokens left in place can be copied; the [MASK]ed and randomised 90% need the context).
	first, last, entropy := mean(res.Losses[:5]), mean(res.Losses[len(res.Losses)-5:]), unigramEntropy(cfg.Texts, vocabSize, 5)
	t.Logf("MLM loss %.3f -> %.3f over %d steps; unigram entropy %.3f", first, last, res.GlobalStep, entropy)
	if last > 0.9*entropy-0.15 {
		t.Errorf("MLM loss %.3f -> %.3f: not 0.15 below 0.9 x the unigram entropy %.3f, so the context is not used", first, last, entropy)
	}
	f, err := checkpoint.ReadFolder(out)
	if err != nil {
		t.Fatal(err)
	}
	if f.Config.Architectures[0] != bert.ArchMaskedLM || f.Weights["cls.predictions.transform.dense.weight"] == nil || f.Weights["classifier.weight"] != nil {
		t.Fatalf("pretrain output: arch %v, has MLM head %v", f.Config.Architectures, f.Weights["cls.predictions.transform.dense.weight"] != nil)
	}
	// The MLM folder is a valid base for fine-tuning (fresh classifier).
	tr, err := train.Run(context.Background(), train.Config{ModelDir: out, OutDir: filepath.Join(t.TempDir(), "ft"),
		Train: synthetic(64, 1), Hyperparameters: hp(func(h *runspec.Hyperparameters) { h.Epochs = 1; h.BatchSize = 16 })})
	if err != nil {
		t.Fatal(err)
	}
	if tr.GlobalStep != 4 {
		t.Errorf("fine-tune steps = %d", tr.GlobalStep)
	}
	// And its MLM logits match the PyTorch reference.
	if testing.Short() {
		return
	}
	reftest.SkipWithoutTorch(t)
	vals, _, err := f.Match(f.Config, bert.HeadMLM, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := bert.New(f.Config, bert.Options{Heads: bert.HeadMLM, Device: gotch.CPU}, vals)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	runtime.LockOSThread() // grad mode is thread-local
	defer runtime.UnlockOSThread()
	rows := corpus(3)
	b, err := m.NewBatch(rows, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var got []float32
	torch.NoGrad(func() {
		seq := must(m.Encode(b, false))
		l := must(m.MLMLogits(seq))
		seq.MustDrop()
		got = make([]float32, b.Size*b.Len*vocabSize)
		l.MustCopyData(got, uint(len(got)))
		l.MustDrop()
	})
	pids, ptypes, mask := reftest.Pad(rows, nil, 0)
	var ref reftest.ForwardResponse
	reftest.Run(t, "forward", reftest.ForwardRequest{Model: out, InputIDs: pids, TokenTypeIDs: ptypes, AttentionMask: mask, Threads: 1}, &ref)
	worst := 0.0
	for i, r := range rows {
		for j := range r {
			worst = max(worst, reftest.MaxAbsDiff(got[(i*b.Len+j)*vocabSize:(i*b.Len+j+1)*vocabSize], ref.MLMLogits[i][j]))
		}
	}
	if worst > 1e-4 {
		t.Errorf("MLM logits differ from the PyTorch reference by %g", worst)
	}
}

func TestPretrainCancel(t *testing.T) {
	torch.SetThreads(2)
	base := tinyModel(t, []string{"neg", "pos"}, nil)
	out := filepath.Join(t.TempDir(), "mlm")
	ctx, cancel := context.WithCancel(context.Background())
	cfg := train.PretrainDefaults()
	cfg.ModelDir, cfg.OutDir, cfg.Texts, cfg.MaskTokenID, cfg.SpecialIDs, cfg.BatchSize = base, out, corpus(200), 4, []int32{0, 1, 2, 3, 4}, 8
	cfg.Progress = func(e protocol.Event) {
		if e.Type == protocol.EventStep && e.Step == 3 {
			cancel()
		}
	}
	res, err := train.Pretrain(ctx, cfg)
	if !errors.Is(err, context.Canceled) || res.GlobalStep != 3 {
		t.Fatalf("err %v step %d", err, res.GlobalStep)
	}
	if _, err := checkpoint.ReadFolder(out); err != nil {
		t.Errorf("no model written on cancel: %v", err)
	}
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// TestPretrainSeedZero: seed 0 is a seed, not "the default" (it was turned into 42); a zero hyperparameter is used as
// it is, and one that cannot be is refused naming the field.
func TestPretrainSeedZero(t *testing.T) {
	torch.SetThreads(2)
	base := tinyModel(t, []string{"neg", "pos"}, nil)
	losses := map[int64][]float64{}
	for _, seed := range []int64{0, 0, 42} {
		cfg := train.PretrainDefaults()
		cfg.ModelDir, cfg.OutDir, cfg.Texts, cfg.MaskTokenID, cfg.SpecialIDs = base, t.TempDir(), corpus(64), 4, []int32{0, 1, 2, 3, 4}
		cfg.MaxSteps, cfg.BatchSize, cfg.Seed = 2, 8, seed
		res, err := train.Pretrain(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if prev, ok := losses[seed]; ok && !slices.Equal(prev, res.Losses) {
			t.Fatalf("seed %d twice: losses %v then %v", seed, prev, res.Losses)
		}
		losses[seed] = res.Losses
	}
	if slices.Equal(losses[0], losses[42]) {
		t.Fatalf("seed 0 trained as seed 42: losses %v", losses[0])
	}
	_, err := train.Pretrain(context.Background(), train.PretrainConfig{ModelDir: base, OutDir: t.TempDir(), Texts: corpus(8), MLMProbability: 0.15})
	if err == nil || !strings.Contains(err.Error(), "BatchSize") {
		t.Fatalf("zero batch size: err = %v", err)
	}
}

// must returns v; err fails the test (a panic: it is called inside torch.NoGrad closures too).
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestPretrainFreshHeadStartsAtUnigram: a fresh masked-LM head starts from the texts' unigram distribution, so the
// first steps' loss is the corpus's unigram entropy, not ln(vocab) (a zero bias that Adam would take thousands of
// steps to move there).
func TestPretrainFreshHeadStartsAtUnigram(t *testing.T) {
	torch.SetThreads(2)
	base := tinyModel(t, []string{"neg", "pos"}, nil) // a classifier folder: no MLM head
	rng := rand.New(rand.NewPCG(3, 1))
	weights := make([]float64, vocabSize)
	sum := 0.0
	for id := 5; id < vocabSize; id++ {
		weights[id] = math.Pow(float64(id-4), -1.5) // Zipf-like, as words are
		sum += weights[id]
	}
	texts := make([][]int32, 512)
	for i := range texts {
		row := []int32{2}
		for range 12 {
			r, id := rng.Float64()*sum, 5
			for ; id < vocabSize-1 && r > weights[id]; id++ {
				r -= weights[id]
			}
			row = append(row, int32(id))
		}
		texts[i] = append(row, 3)
	}
	entropy := unigramEntropy(texts, vocabSize, 5)
	cfg := train.PretrainDefaults()
	cfg.ModelDir, cfg.OutDir, cfg.Texts, cfg.MaskTokenID, cfg.SpecialIDs = base, t.TempDir(), texts, 4, []int32{0, 1, 2, 3, 4}
	cfg.MaxSteps, cfg.BatchSize, cfg.LearningRate, cfg.Seed = 4, 128, 1e-9, 1 // weights stay put: the loss is the start's
	res, err := train.Pretrain(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	first := mean(res.Losses)
	t.Logf("first steps' MLM loss %.3f, unigram entropy %.3f, ln(vocab) %.3f", first, entropy, math.Log(vocabSize))
	if math.Abs(first-entropy) > 0.25 {
		t.Errorf("a fresh MLM head starts at loss %.3f, want the unigram entropy %.3f (ln(vocab) = %.3f)", first, entropy, math.Log(vocabSize))
	}
}

// unigramEntropy is the entropy (nats) of the texts' tokens from id first on: the masked-LM loss of a model that
// predicts every masked token from word frequencies alone.
func unigramEntropy(texts [][]int32, vocab int, first int32) float64 {
	counts, total := make([]float64, vocab), 0.0
	for _, row := range texts {
		for _, id := range row {
			if id >= first {
				counts[id]++
				total++
			}
		}
	}
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			h -= c / total * math.Log(c/total)
		}
	}
	return h
}
