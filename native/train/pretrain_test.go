//go:build cgo

package train_test

import (
	"context"
	"errors"
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
	cfg.Epochs, cfg.BatchSize, cfg.LearningRate, cfg.Seed = 15, 16, 3e-3, 5
	res, err := train.Pretrain(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	first, last := mean(res.Losses[:5]), mean(res.Losses[len(res.Losses)-5:])
	t.Logf("MLM loss %.3f -> %.3f over %d steps", first, last, res.GlobalStep)
	if last > first-0.3 {
		t.Errorf("MLM loss did not fall: %.3f -> %.3f", first, last)
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
