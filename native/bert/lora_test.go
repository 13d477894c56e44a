//go:build cgo

package bert_test

import (
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/whetml/whet/native/bert"
	"github.com/whetml/whet/native/torch"
)

func tensors(ps []bert.NamedParam) []*ts.Tensor {
	out := make([]*ts.Tensor, len(ps))
	for i, p := range ps {
		out[i] = p.Tensor()
	}
	return out
}

// Training through an adapter on a frozen model: the base parameters get no gradient and do not require one, the
// adapter's do; lora_A starts kaiming-uniform within +-1/sqrt(in) and lora_B at zero (an Embedding's
// lora_embedding_A at zero and lora_embedding_B standard normal), so an untrained adapter leaves the logits as they
// were; applying an adapter changes nothing in the model.
func TestAdapterFrozenBaseAndInit(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cfg := testConfig(50)
	m, err := bert.New(cfg, bert.Options{Heads: bert.HeadClassifier, NumLabels: 3, Device: gotch.CPU, Seed: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.Freeze()
	a, err := bert.NewAdapter(m, bert.LoRA{R: 4, Targets: []string{"query", "value", "dense", "word_embeddings"}, Dropout: 0.2}, 3, nil, 9)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if got := len(a.Targets()); got != 1+2*5+1 { // the word embeddings; query, value, 3 dense per layer; the pooler
		t.Errorf("%d targets, want 12", got)
	}
	tens, err := a.Tensors()
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	for _, x := range tens {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, v := range x.Values {
			lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
		}
		switch {
		case len(x.Name) > 14 && x.Name[len(x.Name)-14:] == ".lora_A.weight":
			bound := 1 / math.Sqrt(float64(x.Shape[1]))
			if lo < -bound || hi > bound || hi-lo < bound {
				t.Errorf("%s in [%g, %g], want spread over +-%g", x.Name, lo, hi, bound)
			}
		case strings.HasSuffix(x.Name, ".lora_B.weight"), strings.HasSuffix(x.Name, ".lora_embedding_A"):
			if lo != 0 || hi != 0 {
				t.Errorf("%s not zero", x.Name)
			}
		case strings.HasSuffix(x.Name, ".lora_embedding_B"): // standard normal, as peft draws it
			sum, sq := 0.0, 0.0
			for _, v := range x.Values {
				sum, sq = sum+float64(v), sq+float64(v)*float64(v)
			}
			n := float64(len(x.Values))
			if mean, sd := sum/n, math.Sqrt(sq/n-(sum/n)*(sum/n)); math.Abs(mean) > 0.3 || sd < 0.7 || sd > 1.3 {
				t.Errorf("%s mean %g sd %g, want standard normal", x.Name, mean, sd)
			}
			seen = true
		}
	}
	if !seen {
		t.Errorf("no lora_embedding_B among the adapter's tensors")
	}
	ids := [][]int32{{2, 7, 8, 9, 3}, {2, 10, 3}}
	b, err := m.NewBatch(ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var plain, with []float32
	torch.NoGrad(func() {
		l := must(m.Classify(b, false))
		plain, _ = torch.Float32s(l)
		l.MustDrop()
		l = must(m.ClassifyWith(b, a, false))
		with, _ = torch.Float32s(l)
		l.MustDrop()
	})
	for i := range plain {
		if d := math.Abs(float64(plain[i] - with[i])); d > 1e-6 {
			t.Fatalf("an untrained adapter (lora_B = 0, classifier copied) changes logit %d by %g", i, d)
		}
	}
	logits := must(m.ClassifyWith(b, a, true))
	loss := logits.MustSum(gotch.Float, true)
	if err := loss.Backward(); err != nil {
		t.Fatal(err)
	}
	loss.MustDrop()
	for _, p := range m.Parameters() {
		if p.Tensor().MustRequiresGrad() {
			t.Fatalf("frozen %s requires grad", p.Name)
		}
	}
	if n, err := torch.GradNorm(tensors(m.Parameters())); err != nil || n != 0 {
		t.Errorf("base gradient norm = %g (%v), want 0", n, err)
	}
	if n, err := torch.GradNorm(tensors(a.Parameters())); err != nil || n == 0 {
		t.Errorf("adapter gradient norm = %g (%v), want > 0", n, err)
	}
}

func TestLoRAResolve(t *testing.T) {
	cfg := testConfig(50)
	for _, tt := range []struct {
		l     bert.LoRA
		first string
		n     int
	}{
		{bert.LoRA{}.WithDefaults(), "bert.encoder.layer.0.attention.self.query", 4},
		{bert.LoRA{Targets: []string{"output.dense"}}, "bert.encoder.layer.0.attention.output.dense", 4},
		{bert.LoRA{Targets: []string{"bert.encoder.layer.1.attention.self.key"}}, "bert.encoder.layer.1.attention.self.key", 1},
		{bert.LoRA{TargetRegex: `.*layer\.0\..*(query|key)`}, "bert.encoder.layer.0.attention.self.query", 2},
		{bert.LoRA{Targets: []string{"dense"}}, "bert.encoder.layer.0.attention.output.dense", 7},
		{bert.LoRA{Targets: []string{"value", "word_embeddings"}}, "bert.embeddings.word_embeddings", 3},
		{bert.LoRA{TargetRegex: `.*_embeddings`}, "bert.embeddings.word_embeddings", 3},
	} {
		got, _, err := tt.l.Resolve(cfg)
		if err != nil {
			t.Errorf("%+v: %v", tt.l, err)
			continue
		}
		if len(got) != tt.n || got[0].Module != tt.first {
			t.Errorf("%+v: %d targets from %s, want %d from %s", tt.l, len(got), got[0].Module, tt.n, tt.first)
		}
	}
}

// must returns v; err fails the test (a panic: it is called inside torch.NoGrad closures too).
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
