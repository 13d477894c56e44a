//go:build cgo

package bert

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/whetml/whet/native/torch"
)

func maxDiff(t *testing.T, a, b *ts.Tensor) float64 {
	t.Helper()
	x, y := a.Float64Values(), b.Float64Values()
	if len(x) != len(y) {
		t.Fatalf("%d values vs %d", len(x), len(y))
	}
	worst := 0.0
	for i := range x {
		worst = math.Max(worst, math.Abs(x[i]-y[i]))
	}
	return worst
}

// Classify's shortcuts are exact: the [CLS]-only last layer against the full encoder followed by the pooler, and an
// unpadded batch without the attention mask against the same batch with an all-ones mask.
func TestClassifyShortcutsMatchFullEncoder(t *testing.T) {
	cfg := DefaultConfig()
	cfg.VocabSize, cfg.HiddenSize, cfg.NumHiddenLayers, cfg.NumAttentionHeads, cfg.IntermediateSize = 50, 32, 3, 4, 64
	cfg.MaxPositionEmbeddings = 32
	m, err := New(cfg, Options{Heads: HeadClassifier, NumLabels: 3, Device: gotch.CPU, Seed: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	full := func(b *Batch) *ts.Tensor {
		seq := must(m.Encode(b, false))
		pooled := m.Pool(seq)
		seq.MustDrop()
		return linear(pooled, m.clsW, m.clsB, true)
	}
	for _, c := range []struct {
		rows     [][]int32
		unpadded bool
	}{
		{[][]int32{{2, 7, 9, 11, 3}, {2, 8, 3}, {2, 5, 6, 3}}, false},
		{[][]int32{{2, 7, 9, 3}, {2, 8, 10, 3}}, true},
	} {
		rows := c.rows
		b, err := m.NewBatch(rows, nil)
		if err != nil {
			t.Fatal(err)
		}
		if b.Unpadded != c.unpadded {
			t.Fatalf("rows %v: Unpadded = %v", rows, b.Unpadded)
		}
		got, want := must(m.Classify(b, false)), full(b)
		if d := maxDiff(t, got, want); d > 1e-5 {
			t.Errorf("rows %v: [CLS]-only last layer differs from the full encoder by %g", rows, d)
		}
		if b.Unpadded {
			b.Unpadded = false // forces the all-ones mask
			masked := must(m.Classify(b, false))
			if d := maxDiff(t, got, masked); d > 1e-6 {
				t.Errorf("rows %v: skipping the all-ones mask changed logits by %g", rows, d)
			}
			masked.MustDrop()
		}
		got.MustDrop()
		want.MustDrop()
		b.Close()
	}
}

// must returns v; err fails the test (a panic: it is called inside torch.NoGrad closures too).
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestMisuseIsAnError: the forward functions return errors (they panicked) for a missing head, a closed model and a
// closed adapter.
func TestMisuseIsAnError(t *testing.T) {
	cfg := DefaultConfig()
	cfg.VocabSize, cfg.HiddenSize, cfg.NumHiddenLayers, cfg.NumAttentionHeads, cfg.IntermediateSize = 50, 16, 1, 2, 32
	cfg.MaxPositionEmbeddings = 16
	mlm := must(New(cfg, Options{Heads: HeadMLM, Device: gotch.CPU, Seed: 1}, nil))
	defer mlm.Close()
	b := must(mlm.NewBatch([][]int32{{2, 7, 3}}, nil))
	defer b.Close()
	if _, err := mlm.Classify(b, false); err == nil || !strings.Contains(err.Error(), "without a classifier head") {
		t.Errorf("Classify without a classifier: err = %v", err)
	}
	cls := must(New(cfg, Options{Heads: HeadClassifier, NumLabels: 2, Device: gotch.CPU, Seed: 1}, nil))
	seq := must(cls.Encode(b, false))
	if _, err := cls.MLMLogits(seq); err == nil || !strings.Contains(err.Error(), "without an MLM head") {
		t.Errorf("MLMLogits without an MLM head: err = %v", err)
	}
	seq.MustDrop()
	ad := must(NewAdapter(cls, LoRA{R: 2}, 2, nil, 1))
	ad.Close()
	if _, err := cls.ClassifyWith(b, ad, false); err == nil || !strings.Contains(err.Error(), "closed adapter") {
		t.Errorf("closed adapter: err = %v", err)
	}
	cls.Close()
	if _, err := cls.Encode(b, false); !errors.Is(err, ErrClosed) {
		t.Errorf("Encode on a closed model: err = %v", err)
	}
	if _, err := cls.Classify(b, false); !errors.Is(err, ErrClosed) {
		t.Errorf("Classify on a closed model: err = %v", err)
	}
}

// TestLibtorchFailureIsAnError: an op libtorch rejects inside the forward pass returns an error naming the operation
// (whet's gotch copy panicked with ts.Fatal, recovered at the boundary) instead of ending the process (upstream
// gotch's log.Fatal).
func TestLibtorchFailureIsAnError(t *testing.T) {
	cfg := DefaultConfig()
	cfg.VocabSize, cfg.HiddenSize, cfg.NumHiddenLayers, cfg.NumAttentionHeads, cfg.IntermediateSize = 50, 16, 1, 2, 32
	cfg.MaxPositionEmbeddings = 16
	m := must(New(cfg, Options{Heads: HeadMLM | HeadClassifier, NumLabels: 2, Device: gotch.CPU, Seed: 1}, nil))
	defer m.Close()
	wide := ts.MustOnes([]int64{1, 3, 17}, gotch.Float, gotch.CPU) // hidden size 17, the model's is 16
	defer wide.MustDrop()
	_, err := m.MLMLogits(wide)
	var te *torch.Error
	if !errors.As(err, &te) || !strings.HasPrefix(err.Error(), "bert: MLM head: libtorch: ") {
		t.Errorf("MLMLogits of a [1, 3, 17] tensor: err = %v, want a bert: MLM head: libtorch error", err)
	}
	bigCfg := cfg
	bigCfg.VocabSize = 100
	big := must(New(bigCfg, Options{Heads: HeadClassifier, NumLabels: 2, Device: gotch.CPU, Seed: 1}, nil))
	defer big.Close()
	b := must(big.NewBatch([][]int32{{2, 70, 3}}, nil)) // id 70 is outside m's vocabulary of 50
	defer b.Close()
	if _, err := m.Classify(b, false); !errors.As(err, &te) || !strings.HasPrefix(err.Error(), "bert: classify: libtorch: ") {
		t.Errorf("Classify with an id outside the vocabulary: err = %v", err)
	}
	if _, err := m.Encode(b, false); !errors.As(err, &te) || !strings.HasPrefix(err.Error(), "bert: encode: libtorch: ") {
		t.Errorf("Encode with an id outside the vocabulary: err = %v", err)
	}
}
