//go:build cgo

package infer_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/whetml/whet/native/bert"
	"github.com/whetml/whet/native/infer"
	"github.com/whetml/whet/native/torch"
)

// TestLogitsOrderAndPadding: batched, length-sorted inference returns rows in input order with the same logits as
// running each row alone (padding trimmed and masked).
func TestLogitsOrderAndPadding(t *testing.T) {
	torch.SetThreads(1)
	cfg := bert.DefaultConfig()
	cfg.VocabSize, cfg.HiddenSize, cfg.NumHiddenLayers, cfg.NumAttentionHeads, cfg.IntermediateSize = 30, 16, 1, 2, 32
	cfg.MaxPositionEmbeddings = 16
	cfg.InitializerRange = 0.3
	m, err := bert.New(cfg, bert.Options{Heads: bert.HeadClassifier, NumLabels: 3, Device: gotch.CPU, Seed: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rows := [][]int32{{2, 5, 3}, {2, 9, 9, 9, 9, 9, 9, 3}, {2, 3}, {2, 7, 8, 3}, {2, 11, 12, 13, 14, 3}}
	p := infer.New(m, infer.Options{BatchSize: 2})
	all, err := p.Logits(context.Background(), rows, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		one, err := p.Logits(context.Background(), [][]int32{r}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for j := range one[0] {
			if d := math.Abs(float64(one[0][j] - all[i][j])); d > 1e-5 {
				t.Errorf("row %d logit %d: batched %g alone %g", i, j, all[i][j], one[0][j])
			}
		}
	}
	tests := []struct {
		rows [][]int32
		want string
	}{
		{[][]int32{{2, 3}, {}}, "infer: row 1: no tokens"},
		{[][]int32{{2, 99, 3}}, "infer: row 0: position 1: token id 99 outside the vocabulary (size 30)"},
		{[][]int32{make([]int32, 17)}, "infer: row 0: 17 tokens, more than max_position_embeddings 16"},
	}
	for _, tt := range tests {
		if _, err := p.Logits(context.Background(), tt.rows, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("err = %v, want %q", err, tt.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Logits(ctx, rows, nil); err != context.Canceled {
		t.Errorf("cancelled ctx: err = %v", err)
	}
}

// TestLogitsBF16: inference under bfloat16 autocast (Options.Precision, on the CPU here: libtorch 1.13 and 2.x have
// it) gives float32 logits that differ from fp32's (autocast acted) by no more than bf16 rounding explains, and the
// model is back to fp32 afterwards (autocast turned off).
func TestLogitsBF16(t *testing.T) {
	torch.SetThreads(1)
	cfg := bert.DefaultConfig()
	cfg.VocabSize, cfg.HiddenSize, cfg.NumHiddenLayers, cfg.NumAttentionHeads, cfg.IntermediateSize = 30, 32, 2, 2, 64
	cfg.MaxPositionEmbeddings = 16
	m, err := bert.New(cfg, bert.Options{Heads: bert.HeadClassifier, NumLabels: 3, Device: gotch.CPU, Seed: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rows := [][]int32{{2, 5, 3}, {2, 9, 8, 7, 6, 3}, {2, 11, 12, 13, 14, 3}}
	logits := func(p torch.Precision) [][]float32 {
		l, err := infer.New(m, infer.Options{Precision: p}).Logits(context.Background(), rows, nil)
		if err != nil {
			t.Fatalf("precision %q: %v", p, err)
		}
		return l
	}
	fp32, bf16, again := logits(torch.FP32), logits(torch.BF16), logits("")
	diff, changed := 0.0, false
	for i := range fp32 {
		for j := range fp32[i] {
			d := math.Abs(float64(fp32[i][j] - bf16[i][j]))
			diff, changed = max(diff, d), changed || d > 0
			if again[i][j] != fp32[i][j] {
				t.Fatalf("fp32 after a bf16 run: row %d logit %d %g, was %g", i, j, again[i][j], fp32[i][j])
			}
		}
	}
	t.Logf("max |bf16 - fp32| = %.2e", diff)
	if !changed || diff > 0.05 {
		t.Fatalf("max |bf16 - fp32| = %g: want > 0 (autocast acted) and <= 0.05 (bf16 rounding)", diff)
	}
}
