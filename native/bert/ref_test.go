//go:build cgo

package bert_test

import (
	"math"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/whetml/whet/native/bert"
	"github.com/whetml/whet/native/checkpoint"
	"github.com/whetml/whet/native/reftest"
	"github.com/whetml/whet/native/torch"
)

const tol = 1e-4

func testConfig(vocab int) bert.Config {
	c := bert.DefaultConfig()
	c.VocabSize = vocab
	c.HiddenSize = 32
	c.NumHiddenLayers = 2
	c.NumAttentionHeads = 4
	c.IntermediateSize = 64
	c.MaxPositionEmbeddings = 64
	c.SetLabels([]string{"neg", "pos", "neutral"})
	return c
}

// goForward runs m on rows (padded into one batch) without grad and returns per-row logits and MLM logits.
func goForward(t *testing.T, m *bert.Model, ids, types [][]int32) (logits [][]float32, mlm [][][]float32) {
	t.Helper()
	runtime.LockOSThread() // grad mode is thread-local
	defer runtime.UnlockOSThread()
	b, err := m.NewBatch(ids, types)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	torch.NoGrad(func() {
		if m.Heads()&bert.HeadClassifier != 0 {
			l := must(m.Classify(b, false))
			logits = rows2(t, l, b.Size, m.NumLabels())
			l.MustDrop()
		}
		if m.Heads()&bert.HeadMLM != 0 {
			seq := must(m.Encode(b, false))
			ml := must(m.MLMLogits(seq))
			seq.MustDrop()
			V := m.Config().VocabSize
			flat := rows2(t, ml, b.Size*b.Len, V)
			ml.MustDrop()
			for i := range b.Size {
				mlm = append(mlm, flat[i*b.Len:(i+1)*b.Len])
			}
		}
	})
	return logits, mlm
}

func rows2(t *testing.T, x *ts.Tensor, n, w int) [][]float32 {
	t.Helper()
	c := x.MustContiguous(false)
	defer c.MustDrop()
	vals := make([]float32, n*w)
	c.MustCopyData(vals, uint(n*w))
	out := make([][]float32, n)
	for i := range out {
		out[i] = vals[i*w : (i+1)*w]
	}
	return out
}

// loadFolder loads a model folder through the real path (checkpoint.ReadFolder + Match + bert.New).
func loadFolder(t *testing.T, dir string, heads bert.Heads) *bert.Model {
	t.Helper()
	f, err := checkpoint.ReadFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := len(f.Config.Labels())
	vals, rep, err := f.Match(f.Config, heads, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Missing) > 0 || len(rep.Unexpected) > 0 || rep.FreshClassifier {
		t.Fatalf("load %s: missing %v unexpected %v fresh classifier %v (%s)", dir, rep.Missing, rep.Unexpected, rep.FreshClassifier, rep.FreshReason)
	}
	m, err := bert.New(f.Config, bert.Options{Heads: heads, NumLabels: n, Device: gotch.CPU}, vals)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type encoded struct {
	ids, types [][]int32
}

func encodeAll(v *reftest.Vocab, pairs bool) encoded {
	var e encoded
	for i, s := range reftest.Sentences() {
		b := ""
		if pairs && i%2 == 0 {
			b = reftest.Sentences()[(i+1)%len(reftest.Sentences())]
		}
		ids, types := v.Encode(s, b)
		e.ids = append(e.ids, ids)
		e.types = append(e.types, types)
	}
	return e
}

// compare checks Go logits against the reference: batched (padded) and each row alone (unpadded).
func compare(t *testing.T, goLogits [][]float32, goMLM [][][]float32, ref reftest.ForwardResponse, e encoded) (worst float64) {
	t.Helper()
	for i := range e.ids {
		if goLogits != nil {
			worst = max(worst, reftest.MaxAbsDiff(goLogits[i], ref.Logits[i]), reftest.MaxAbsDiff(goLogits[i], ref.Rows[i].Logits))
		}
		if goMLM != nil {
			for j := range e.ids[i] { // real positions only
				worst = max(worst, reftest.MaxAbsDiff(goMLM[i][j], ref.MLMLogits[i][j]), reftest.MaxAbsDiff(goMLM[i][j], ref.Rows[i].MLMLogits[j]))
			}
		}
	}
	return worst
}

func pyForward(t *testing.T, dir string, e encoded, pad int32, v *reftest.Variant) reftest.ForwardResponse {
	pids, ptypes, mask := reftest.Pad(e.ids, e.types, pad)
	var resp reftest.ForwardResponse
	reftest.Run(t, "forward", reftest.ForwardRequest{Model: dir, InputIDs: pids, TokenTypeIDs: ptypes, AttentionMask: mask, Threads: 1, Variant: v}, &resp)
	return resp
}

// TestReferenceWhetFolder: a folder whet writes (random init, as `whet model init` does) gives the same classifier
// and MLM logits in whet and in the plain PyTorch reference, batched with padding and row by row.
func TestReferenceWhetFolder(t *testing.T) {
	reftest.SkipWithoutTorch(t)
	torch.SetThreads(1)
	vocab := reftest.NewVocab(reftest.Sentences(), 120)
	eps3 := 1e-3
	tests := []struct {
		name  string
		mod   func(*bert.Config)
		pairs bool
		// negative controls: reference variants that must NOT match (proves the test would catch the bug).
		controls map[string]reftest.Variant
	}{
		{name: "gelu eps1e-12 init0.02", mod: func(c *bert.Config) {}},
		{
			name:  "gelu eps1e-3 init0.3 pairs",
			mod:   func(c *bert.Config) { c.LayerNormEps = 1e-3; c.InitializerRange = 0.3 },
			pairs: true,
			controls: map[string]reftest.Variant{
				"no padding mask":      {Mask: "none"},
				"mask on keys":         {Mask: "keys"},
				"tanh gelu":            {GELU: "tanh"},
				"layer norm eps 1e-12": {Eps: ptr(1e-12)},
			},
		},
		{name: "gelu_new", mod: func(c *bert.Config) { c.HiddenAct = "gelu_new"; c.InitializerRange = 0.3 }},
		{name: "relu", mod: func(c *bert.Config) { c.HiddenAct = "relu"; c.LayerNormEps = eps3 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(len(vocab.Words))
			tt.mod(&cfg)
			heads := bert.HeadClassifier | bert.HeadMLM
			m0, err := bert.New(cfg, bert.Options{Heads: heads, NumLabels: 3, Device: gotch.CPU, Seed: 7}, nil)
			if err != nil {
				t.Fatal(err)
			}
			tensors, err := m0.Tensors()
			m0.Close()
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "model")
			if err := checkpoint.WriteFolder(dir, checkpoint.SaveOptions{Config: cfg, Tensors: tensors, Vocab: vocab.Text(), DoLowerCase: true}); err != nil {
				t.Fatal(err)
			}
			m := loadFolder(t, dir, heads)
			defer m.Close()
			e := encodeAll(vocab, tt.pairs)
			gl, gm := goForward(t, m, e.ids, e.types)
			ref := pyForward(t, dir, e, 0, nil)
			if d := compare(t, gl, gm, ref, e); d > tol {
				t.Fatalf("max abs diff vs PyTorch reference = %g > %g", d, tol)
			} else {
				t.Logf("max abs diff vs PyTorch reference = %.3g", d)
			}
			for name, v := range tt.controls {
				bad := pyForward(t, dir, e, 0, &v)
				if d := compare(t, gl, gm, bad, e); d < 10*tol {
					t.Errorf("negative control %q: whet matches a broken reference (diff %g): the test is not sensitive", name, d)
				} else {
					t.Logf("negative control %q differs by %.3g (good)", name, d)
				}
			}
		})
	}
}

// TestReferenceTorchFolder: folders the PyTorch reference writes (safetensors by hand, torch.save state_dict, legacy
// gamma/beta names; non-zero biases and LayerNorm parameters so any swapped tensor shows) load in whet with the
// reference's logits.
func TestReferenceTorchFolder(t *testing.T) {
	reftest.SkipWithoutTorch(t)
	torch.SetThreads(1)
	vocab := reftest.NewVocab(reftest.Sentences(), 100)
	tests := []struct {
		name   string
		format string
		legacy bool
		heads  []string
	}{
		{"safetensors", "safetensors", false, []string{"classifier", "mlm"}},
		{"pytorch_model.bin", "bin", false, []string{"classifier", "mlm"}},
		{"safetensors legacy gamma beta", "safetensors", true, []string{"classifier"}},
		{"pytorch_model.bin legacy gamma beta", "bin", true, []string{"classifier", "mlm"}},
		{"BertForMaskedLM only", "safetensors", false, []string{"mlm"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "torch-model")
			cfg := map[string]any{
				"vocab_size": len(vocab.Words), "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
				"intermediate_size": 48, "hidden_act": "gelu", "max_position_embeddings": 40, "type_vocab_size": 2,
				"layer_norm_eps": 1e-5, "initializer_range": 0.2, "pad_token_id": 0, "model_type": "bert",
				"hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
				"id2label": map[string]string{"0": "a", "1": "b"}, "label2id": map[string]int{"a": 0, "b": 1},
			}
			reftest.Run(t, "save", map[string]any{"out": dir, "config": cfg, "seed": 3, "format": tt.format, "legacy": tt.legacy, "heads": tt.heads}, nil)
			var heads bert.Heads
			for _, h := range tt.heads {
				if h == "classifier" {
					heads |= bert.HeadClassifier
				} else {
					heads |= bert.HeadMLM
				}
			}
			m := loadFolder(t, dir, heads)
			defer m.Close()
			e := encodeAll(vocab, true)
			gl, gm := goForward(t, m, e.ids, e.types)
			ref := pyForward(t, dir, e, 0, nil)
			if d := compare(t, gl, gm, ref, e); d > tol {
				t.Fatalf("max abs diff vs PyTorch reference = %g > %g", d, tol)
			} else {
				t.Logf("max abs diff = %.3g", d)
			}
		})
	}
}

func ptr(f float64) *float64 { return &f }

var _ = math.Abs
