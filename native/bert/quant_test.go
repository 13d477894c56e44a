//go:build cgo

package bert

import (
	"strings"
	"testing"

	"github.com/sugarme/gotch"
)

// TestQuantizeInt8: a quantized model's inference logits stay close to float32's (every encoder and pooler Linear
// in int8), training forward passes keep the float32 weights exactly, and a GPU model is refused.
func TestQuantizeInt8(t *testing.T) {
	cfg := DefaultConfig()
	cfg.VocabSize, cfg.HiddenSize, cfg.NumHiddenLayers, cfg.NumAttentionHeads, cfg.IntermediateSize = 60, 64, 2, 4, 128
	cfg.MaxPositionEmbeddings = 32
	cfg.InitializerRange = 0.2
	cfg.HiddenDropoutProb, cfg.AttentionProbsDropoutProb = 0, 0
	m, err := New(cfg, Options{Heads: HeadClassifier, NumLabels: 3, Device: gotch.CPU, Seed: 5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	b, err := m.NewBatch([][]int32{{2, 7, 9, 11, 30, 41, 3}, {2, 8, 3}, {2, 5, 6, 55, 3}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	fp32 := must(m.Classify(b, false))
	defer fp32.MustDrop()
	engine, err := m.QuantizeInt8(0)
	if err != nil {
		t.Skipf("no int8 engine: %v", err)
	}
	if !m.Quantized() || len(m.packed) != 6*cfg.NumHiddenLayers+1 {
		t.Fatalf("Quantized() = %v with %d packed layers", m.Quantized(), len(m.packed))
	}
	if _, err := m.QuantizeInt8(0); err != nil || len(m.packed) != 6*cfg.NumHiddenLayers+1 {
		t.Fatalf("second QuantizeInt8: %v, %d packed layers", err, len(m.packed))
	}
	q := must(m.Classify(b, false))
	defer q.MustDrop()
	d := maxDiff(t, q, fp32)
	scale := 0.0
	for _, v := range fp32.Float64Values() {
		scale = max(scale, abs(v))
	}
	t.Logf("%s: max |int8 - fp32| logit %.5f, largest |logit| %.3f", engine, d, scale)
	// Measured (oneDNN, libtorch 1.13): 0.036 with logits up to 1.6 (2.2%), every call in int8 (bound 0).
	if d == 0 || d > 0.05*scale {
		t.Errorf("int8 logits differ by %g (largest |logit| %g), want (0, 5%%]", d, scale)
	}
	// Calls under the size bound take float32: with a bound above every call, the logits are float32's exactly.
	m.int8MinMACs = 1 << 62
	all32 := must(m.Classify(b, false))
	defer all32.MustDrop()
	if d := maxDiff(t, all32, fp32); d != 0 {
		t.Errorf("every call under int8MinMACs: logits differ from float32 by %g, want 0", d)
	}
	tr := must(m.Classify(b, true)) // no dropout in this config: equal to float32 inference
	defer tr.MustDrop()
	if d := maxDiff(t, tr, fp32); d > 1e-6 {
		t.Errorf("training forward of a quantized model differs from float32 by %g", d)
	}
}

func TestQuantizeInt8RefusesGPU(t *testing.T) {
	if !gotch.CUDA.IsAvailable() {
		t.Skip("no CUDA device: the GPU refusal needs a model on a GPU")
	}
	cfg := DefaultConfig()
	cfg.VocabSize, cfg.HiddenSize, cfg.NumHiddenLayers, cfg.NumAttentionHeads, cfg.IntermediateSize = 30, 16, 1, 2, 32
	m, err := New(cfg, Options{Heads: HeadClassifier, NumLabels: 2, Device: gotch.CudaBuilder(0)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.QuantizeInt8(0); err == nil || !strings.Contains(err.Error(), "int8 runs on the CPU only") {
		t.Fatalf("QuantizeInt8 on cuda:0: %v", err)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
