//go:build cgo

package torch

import (
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// leaf is a parameter with values p that requires grad, and the host copy the tests update by hand.
type leaf struct {
	t    *ts.Tensor
	vals []float64
	kind gotch.DType
}

func newLeaf(t *testing.T, vals []float64, kind gotch.DType) *leaf {
	t.Helper()
	x := ts.MustOfSlice(vals).MustTotype(kind, true).MustSetRequiresGrad(true, true)
	return &leaf{t: x, vals: append([]float64(nil), vals...), kind: kind}
}

// setGrad runs backward on sum(p * g) so that p's gradient is g.
func (l *leaf) setGrad(g []float64) {
	gt := ts.MustOfSlice(g).MustTotype(l.kind, true)
	loss := l.t.MustMul(gt, false).MustSum(l.kind, true)
	loss.MustBackward()
	loss.MustDrop()
	gt.MustDrop()
}

func randVals(rng *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64() * scale
	}
	return v
}

// TestAdamWMatchesTorchArithmetic steps the fused optimizer and checks every parameter against torch.optim.AdamW's
// update written out in float64: decoupled decay, bias-corrected moments, clipping by the global norm. On the CPU
// path the float64 parameter takes libtorch's op-by-op path, the float32 ones the fused kernel; sizes straddle the
// kernel's chunks. The device path (what parameters on a GPU take: clipping on the device, _fused_adamw_ on
// libtorch 2.4+, op by op before) is run here on the CPU.
func TestAdamWMatchesTorchArithmetic(t *testing.T) {
	for _, devicePath := range []bool{false, true} {
		t.Run(map[bool]string{false: "cpu", true: "device"}[devicePath], func(t *testing.T) {
			testAdamWArithmetic(t, devicePath)
		})
	}
}

func testAdamWArithmetic(t *testing.T, devicePath bool) {
	rng := rand.New(rand.NewSource(3))
	sizes := []int{1, 7, 65536, 65536*2 + 13}
	kinds := []gotch.DType{gotch.Float, gotch.Float, gotch.Float, gotch.Float, gotch.Double}
	sizes = append(sizes, 300)
	decays := []float64{0.01, 0, 0.01, 0.1, 0.01}
	var leaves []*leaf
	var params []*ts.Tensor
	for i, n := range sizes {
		l := newLeaf(t, randVals(rng, n, 1), kinds[i])
		defer l.t.MustDrop()
		leaves = append(leaves, l)
		params = append(params, l.t)
	}
	o, err := NewAdamW(params, decays)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	o.device = devicePath
	m := make([][]float64, len(sizes))
	v := make([][]float64, len(sizes))
	for i, n := range sizes {
		m[i], v[i] = make([]float64, n), make([]float64, n)
	}
	const b1, b2, eps = 0.9, 0.999, 1e-8
	for step := 1; step <= 4; step++ {
		lr := 1e-2 / float64(step)
		maxNorm := []float64{0, 1e9, 5, 5}[step-1] // off, not reached, clipping twice
		grads := make([][]float64, len(sizes))
		var ss float64
		for i, n := range sizes {
			grads[i] = randVals(rng, n, 0.5)
			leaves[i].setGrad(grads[i])
			for _, g := range grads[i] {
				ss += g * g
			}
		}
		norm, err := GradNorm(params)
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Step(lr, maxNorm); err != nil {
			t.Fatal(err)
		}
		want := math.Sqrt(ss)
		if math.Abs(norm-want) > 1e-5*want {
			t.Fatalf("step %d: grad norm %v, want %v", step, norm, want)
		}
		scale := 1.0
		if maxNorm > 0 && want > maxNorm {
			scale = maxNorm / (want + 1e-6)
		}
		bc1, bc2 := 1-math.Pow(b1, float64(step)), 1-math.Pow(b2, float64(step))
		for i := range sizes {
			for j, g := range grads[i] {
				g *= scale
				m[i][j] = b1*m[i][j] + (1-b1)*g
				v[i][j] = b2*v[i][j] + (1-b2)*g*g
				p := leaves[i].vals[j] * (1 - lr*decays[i])
				leaves[i].vals[j] = p - lr/bc1*m[i][j]/(math.Sqrt(v[i][j])/math.Sqrt(bc2)+eps)
			}
			got := leaves[i].t.MustDetach(false).MustTotype(gotch.Double, true)
			vals := got.Float64Values(true)
			for j := range vals {
				if d := math.Abs(vals[j] - leaves[i].vals[j]); d > 1e-5*(1+math.Abs(leaves[i].vals[j])) {
					t.Fatalf("step %d, param %d (%d elements, %v), element %d: %v, want %v", step, i, sizes[i],
						kinds[i], j, vals[j], leaves[i].vals[j])
				}
			}
		}
		if err := o.ZeroGrad(); err != nil {
			t.Fatal(err)
		}
	}
	if o.Steps() != 4 {
		t.Fatalf("Steps() = %d, want 4", o.Steps())
	}
}

// TestAdamWStepScaled: with float16 loss scaling, StepScaled on gradients multiplied by the scale updates as Step on
// the plain gradients (clipping included), and an inf gradient skips the update, on both paths.
func TestAdamWStepScaled(t *testing.T) {
	const lossScale = 1024.0
	for _, devicePath := range []bool{false, true} {
		t.Run(map[bool]string{false: "cpu", true: "device"}[devicePath], func(t *testing.T) {
			rng := rand.New(rand.NewSource(5))
			vals, grad := randVals(rng, 300, 1), randVals(rng, 300, 0.5)
			scaled := make([]float64, len(grad))
			for i, g := range grad {
				scaled[i] = g * lossScale
			}
			var results [2][]float64
			for k, scale := range []float64{1, lossScale} {
				l := newLeaf(t, vals, gotch.Float)
				defer l.t.MustDrop()
				o, err := NewAdamW([]*ts.Tensor{l.t}, []float64{0.01})
				if err != nil {
					t.Fatal(err)
				}
				defer o.Close()
				o.device = devicePath
				for step := 0; step < 2; step++ {
					if scale == 1 {
						l.setGrad(grad)
						err = o.Step(1e-2, 1)
					} else {
						l.setGrad(scaled)
						var skipped bool
						if skipped, err = o.StepScaled(1e-2, 1, scale); skipped {
							t.Fatalf("step %d skipped with finite gradients", step)
						}
					}
					if err != nil {
						t.Fatal(err)
					}
					if err := o.ZeroGrad(); err != nil {
						t.Fatal(err)
					}
				}
				results[k] = l.t.MustDetach(false).MustTotype(gotch.Double, true).Float64Values(true)
				if k == 1 {
					inf := append([]float64(nil), scaled...)
					inf[7] = math.Inf(1)
					l.setGrad(inf)
					skipped, err := o.StepScaled(1e-2, 1, scale)
					if err != nil || !skipped {
						t.Fatalf("inf gradient: skipped %v, err %v; want skipped", skipped, err)
					}
					after := l.t.MustDetach(false).MustTotype(gotch.Double, true).Float64Values(true)
					if o.Steps() != 2 || !slices.Equal(after, results[1]) {
						t.Fatalf("a skipped step changed the parameters or the step count (%d)", o.Steps())
					}
				}
			}
			for i := range results[0] {
				if d := math.Abs(results[0][i] - results[1][i]); d > 1e-6*(1+math.Abs(results[0][i])) {
					t.Fatalf("element %d: %v scaled, %v unscaled", i, results[1][i], results[0][i])
				}
			}
		})
	}
}

// TestAdamWPathsAgree: the AVX2, SSE and scalar AdamW code give the same bits (same operations in the same order,
// no FMA), so a run does not depend on the CPU it lands on. Paths the CPU lacks are skipped.
func TestAdamWPathsAgree(t *testing.T) {
	top := setAdamWPath(2)
	defer setAdamWPath(top)
	rng := rand.New(rand.NewSource(9))
	vals, grad := randVals(rng, 1003, 1), randVals(rng, 1003, 0.5)
	var want []float64
	for path := top; path >= 0; path-- {
		setAdamWPath(path)
		l := newLeaf(t, vals, gotch.Float)
		o, err := NewAdamW([]*ts.Tensor{l.t}, []float64{0.01})
		if err != nil {
			t.Fatal(err)
		}
		for step := 0; step < 3; step++ {
			l.setGrad(grad)
			if err := o.Step(1e-2, 0.5); err != nil {
				t.Fatal(err)
			}
			if err := o.ZeroGrad(); err != nil {
				t.Fatal(err)
			}
		}
		got := l.t.MustDetach(false).Float64Values(true)
		o.Close()
		l.t.MustDrop()
		if want == nil {
			want = got
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("path %d, element %d: %v, path %d gave %v", path, i, got[i], top, want[i])
			}
		}
	}
	if top == 0 {
		t.Log("only the scalar AdamW path on this CPU")
	}
}

// TestZeroGradDropsGradients: after ZeroGrad the next backward stores a fresh gradient, it does not add to the old.
func TestZeroGradDropsGradients(t *testing.T) {
	l := newLeaf(t, []float64{1, 2, 3}, gotch.Float)
	defer l.t.MustDrop()
	o, err := NewAdamW([]*ts.Tensor{l.t}, []float64{0})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	l.setGrad([]float64{5, 5, 5})
	if err := o.ZeroGrad(); err != nil {
		t.Fatal(err)
	}
	g := l.t.MustGrad(false)
	if g.MustDefined() {
		t.Fatal("gradient still defined after ZeroGrad")
	}
	g.MustDrop()
	l.setGrad([]float64{1, 2, 3})
	g = l.t.MustGrad(false)
	if got := g.Float64Values(true); got[0] != 1 || got[1] != 2 || got[2] != 3 {
		t.Fatalf("gradient after ZeroGrad and backward = %v, want [1 2 3]", got)
	}
	if n, _ := GradNorm([]*ts.Tensor{l.t}); math.Abs(n-math.Sqrt(14)) > 1e-6 {
		t.Fatalf("GradNorm = %v, want sqrt(14)", n)
	}
}

func TestNewAdamWChecksLengths(t *testing.T) {
	if _, err := NewAdamW(make([]*ts.Tensor, 2), []float64{0}); err == nil {
		t.Fatal("NewAdamW accepted 2 parameters with 1 weight decay")
	}
}

// dropout runs Dropout on n ones that require grad and returns the output values and the input's gradient for
// an all-ones upstream gradient.
func dropout(t *testing.T, n int, p float64, kind gotch.DType) (out, grad []float64) {
	t.Helper()
	x := ts.MustOnes([]int64{int64(n)}, kind, gotch.CPU).MustSetRequiresGrad(true, true)
	defer x.MustDrop()
	y, err := Dropout(x, p)
	if err != nil {
		t.Fatal(err)
	}
	s := y.MustSum(kind, false)
	s.MustBackward()
	s.MustDrop()
	out = y.MustDetach(true).MustTotype(gotch.Double, true).Float64Values(true)
	grad = x.MustGrad(false).MustTotype(gotch.Double, true).Float64Values(true)
	return out, grad
}

func TestDropout(t *testing.T) {
	const n, p = 1 << 20, 0.1
	scale := 1 / (1 - p)
	ManualSeed(11)
	out, grad := dropout(t, n, p, gotch.Float)
	kept, pairs := 0, 0
	for i, y := range out {
		switch {
		case y == 0:
		case math.Abs(y-scale) < 1e-6:
			kept++
		default:
			t.Fatalf("element %d = %v: neither 0 nor 1/(1-p)", i, y)
		}
		if grad[i] != y {
			t.Fatalf("element %d: gradient %v, want the output's mask*scale %v", i, grad[i], y)
		}
		if i > 0 && y == 0 && out[i-1] == 0 {
			pairs++
		}
	}
	// Binomial: the standard deviation of the kept share is sqrt(p(1-p)/n) ~ 0.0003; allow 10 of them.
	if share := float64(kept) / n; math.Abs(share-(1-p)) > 0.003 {
		t.Fatalf("kept %.4f of elements, want %.2f", share, 1-p)
	}
	// Neighbours must be independent: both dropped with probability p^2.
	if share := float64(pairs) / n; math.Abs(share-p*p) > 0.002 {
		t.Fatalf("adjacent pairs both dropped: %.4f, want %.4f", share, p*p)
	}

	// Reproducible from the seed, whatever the thread count; a second draw differs.
	defer SetThreads(Threads())
	SetThreads(1)
	ManualSeed(11)
	again, _ := dropout(t, n, p, gotch.Float)
	next, _ := dropout(t, n, p, gotch.Float)
	same := 0
	for i := range out {
		if again[i] != out[i] {
			t.Fatalf("same seed, element %d: %v then %v", i, out[i], again[i])
		}
		if next[i] == out[i] {
			same++
		}
	}
	if same == n {
		t.Fatal("two dropout calls in a row drew the same mask")
	}
}

func TestDropoutFallsBackOutsideFloat32(t *testing.T) {
	out, grad := dropout(t, 1000, 0.5, gotch.Double)
	for i, y := range out {
		if (y != 0 && y != 2) || grad[i] != y {
			t.Fatalf("float64 dropout element %d: out %v grad %v", i, y, grad[i])
		}
	}
	out, _ = dropout(t, 10, 0, gotch.Float)
	for _, y := range out {
		if y != 1 {
			t.Fatalf("p=0 changed values: %v", out)
		}
	}
}

// BenchmarkAdamW steps a tiny-BERT-sized parameter set (a 30522x128 embedding and 40 small tensors).
func BenchmarkAdamW(b *testing.B) {
	shapes := [][]int64{{30522, 128}}
	for range 40 {
		shapes = append(shapes, []int64{128, 128})
	}
	var params []*ts.Tensor
	var decay []float64
	for _, s := range shapes {
		p := ts.MustRandn(s, gotch.Float, gotch.CPU).MustSetRequiresGrad(true, true)
		defer p.MustDrop()
		l := p.MustSum(gotch.Float, false)
		l.MustBackward()
		l.MustDrop()
		params, decay = append(params, p), append(decay, 0.01)
	}
	o, err := NewAdamW(params, decay)
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	b.ResetTimer()
	for range b.N {
		if err := o.Step(1e-3, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDropout drops out a [32, 128, 1024] activation (a BERT-mini FFN output at batch 32).
func BenchmarkDropout(b *testing.B) {
	for _, name := range []string{"whet", "libtorch"} {
		b.Run(name, func(b *testing.B) {
			x := ts.MustOnes([]int64{32, 128, 1024}, gotch.Float, gotch.CPU)
			defer x.MustDrop()
			for range b.N {
				var y *ts.Tensor
				if name == "whet" {
					y, _ = Dropout(x, 0.1)
				} else {
					y = ts.MustDropout(x, 0.1, true)
				}
				y.MustDrop()
			}
		})
	}
}
