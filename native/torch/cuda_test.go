//go:build cgo

package torch

import (
	"math"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// The CUDA code paths, checked against the CPU ones. They skip without a GPU; scripts/gpu-check.sh runs them on one
// (`make layer` builds them as build/layer/torch.test).

func cudaOrSkip(t *testing.T) gotch.Device {
	t.Helper()
	if cudaDevices() == 0 {
		t.Skip("no CUDA device (scripts/gpu-check.sh runs this on a GPU machine)")
	}
	return gotch.CudaBuilder(0)
}

// onDevice returns a float32 leaf with vals on dev that requires grad.
func onDevice(vals []float64, dev gotch.Device) *ts.Tensor {
	return ts.MustOfSlice(vals).MustTotype(gotch.Float, true).MustTo(dev, true).MustSetRequiresGrad(true, true)
}

// setGradOn runs backward on sum(p * g) so that p's gradient is g, on p's device.
func setGradOn(p *ts.Tensor, g []float64, dev gotch.Device) {
	gt := ts.MustOfSlice(g).MustTotype(gotch.Float, true).MustTo(dev, true)
	loss := p.MustMul(gt, false).MustSum(gotch.Float, true)
	loss.MustBackward()
	loss.MustDrop()
	gt.MustDrop()
}

func values(t *ts.Tensor) []float64 {
	return t.MustDetach(false).MustTotype(gotch.Double, true).Float64Values(true)
}

// TestCUDAAdamW: AdamW on CUDA parameters (the device path: clipping on the device, _fused_adamw_ on libtorch 2.x)
// gives the CPU kernel's parameters to float32 rounding, with clipping off, reached and not reached; a float16 step
// with an inf gradient is skipped on the device.
func TestCUDAAdamW(t *testing.T) {
	dev := cudaOrSkip(t)
	rng := rand.New(rand.NewSource(7))
	sizes := []int{3, 1000, 70000}
	decays := []float64{0, 0.01, 0.01}
	var cpu, gpu []*ts.Tensor
	for _, n := range sizes {
		v := randVals(rng, n, 1)
		c, g := onDevice(v, gotch.CPU), onDevice(v, dev)
		defer c.MustDrop()
		defer g.MustDrop()
		cpu, gpu = append(cpu, c), append(gpu, g)
	}
	oc, err := NewAdamW(cpu, decays)
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close()
	og, err := NewAdamW(gpu, decays)
	if err != nil {
		t.Fatal(err)
	}
	defer og.Close()
	if !og.device || oc.device {
		t.Fatalf("paths: cuda device=%v cpu device=%v", og.device, oc.device)
	}
	for step, maxNorm := range []float64{0, 1e9, 2} {
		for i, n := range sizes {
			g := randVals(rng, n, 0.5)
			setGradOn(cpu[i], g, gotch.CPU)
			setGradOn(gpu[i], g, dev)
		}
		if err := oc.Step(1e-2, maxNorm); err != nil {
			t.Fatal(err)
		}
		if err := og.Step(1e-2, maxNorm); err != nil {
			t.Fatal(err)
		}
		for _, o := range []*AdamW{oc, og} {
			if err := o.ZeroGrad(); err != nil {
				t.Fatal(err)
			}
		}
		for i := range sizes {
			want, got := values(cpu[i]), values(gpu[i])
			for j := range want {
				if d := math.Abs(got[j] - want[j]); d > 1e-5*(1+math.Abs(want[j])) {
					t.Fatalf("step %d, param %d, element %d: cuda %v, cpu %v", step+1, i, j, got[j], want[j])
				}
			}
		}
	}
	before := values(gpu[1])
	inf := make([]float64, sizes[1])
	inf[5] = math.Inf(1)
	setGradOn(gpu[1], inf, dev)
	skipped, err := og.StepScaled(1e-2, 1, 1024)
	if err != nil || !skipped || og.Steps() != 3 || !slices.Equal(values(gpu[1]), before) {
		t.Fatalf("inf gradient on CUDA: skipped %v, err %v, steps %d; want a skipped step that changes nothing", skipped, err, og.Steps())
	}
}

// TestCUDAHostTensor: batches copied through pinned memory arrive whole, float32 and int64.
func TestCUDAHostTensor(t *testing.T) {
	dev := cudaOrSkip(t)
	f := []float32{1.5, -2, 3.25, 0, 7, 8}
	x, err := HostTensor(unsafeBytes(f), []int64{2, 3}, gotch.Float, dev)
	if err != nil {
		t.Fatal(err)
	}
	if d := x.MustDevice(); d != dev {
		t.Fatalf("device %v, want %v", d, dev)
	}
	if got := values(x); !slices.Equal(got, []float64{1.5, -2, 3.25, 0, 7, 8}) {
		t.Fatalf("float32 copy: %v", got)
	}
	x.MustDrop()
	i := []int64{1 << 40, -3, 5}
	y, err := HostTensor(unsafeBytes(i), []int64{3}, gotch.Int64, dev)
	if err != nil {
		t.Fatal(err)
	}
	c := y.MustTo(gotch.CPU, true)
	got := c.Int64Values(true)
	if !slices.Equal(got, i) {
		t.Fatalf("int64 copy: %v", got)
	}
}

// TestCUDADropout: on CUDA, Dropout is libtorch's (fused) dropout: each element 0 or 1/(1-p), about 1-p of them kept,
// the gradient the same mask.
func TestCUDADropout(t *testing.T) {
	dev := cudaOrSkip(t)
	const n, p = 1 << 20, 0.1
	x := ts.MustOnes([]int64{n}, gotch.Float, dev).MustSetRequiresGrad(true, true)
	defer x.MustDrop()
	y, err := Dropout(x, p)
	if err != nil {
		t.Fatal(err)
	}
	s := y.MustSum(gotch.Float, false)
	s.MustBackward()
	s.MustDrop()
	out, grad := values(y), values(x.MustGrad(false))
	y.MustDrop()
	kept := 0
	for i, v := range out {
		if v != 0 && math.Abs(v-1/(1-p)) > 1e-6 || grad[i] != v {
			t.Fatalf("element %d: out %v grad %v", i, v, grad[i])
		}
		if v != 0 {
			kept++
		}
	}
	if share := float64(kept) / n; math.Abs(share-(1-p)) > 0.003 {
		t.Fatalf("kept %.4f, want %.2f", share, 1-p)
	}
}

func unsafeBytes[T float32 | int64](v []T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), int(unsafe.Sizeof(v[0]))*len(v))
}

// TestPackLinearRefusesCUDA: int8 Linear layers are a CPU kernel; a GPU weight is refused, naming its device.
func TestPackLinearRefusesCUDA(t *testing.T) {
	dev := cudaOrSkip(t)
	if _, err := QuantEngine(); err != nil {
		t.Skipf("no int8 engine: %v", err)
	}
	w := ts.MustOnes([]int64{4, 4}, gotch.Float, dev)
	defer w.MustDrop()
	if _, err := PackLinear(w, nil); err == nil || !strings.Contains(err.Error(), "2-D float32 CPU tensor") || !strings.Contains(err.Error(), "cuda") {
		t.Fatalf("PackLinear of a cuda:0 weight: %v", err)
	}
}
