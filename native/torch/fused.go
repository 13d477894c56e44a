package torch

/*
#include <stdlib.h>
#include "fused.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// AdamW is AdamW with decoupled weight decay (torch.optim.AdamW's arithmetic, as in the transformers tutorials)
// and global-norm gradient clipping, run as one fused pass over each float32 CPU parameter instead of libtorch's
// ~10 tensor ops per parameter; other CPU parameters take libtorch's ops, same arithmetic. Parameters on a GPU take
// the device path: clipping and loss scaling computed on the device and libtorch's _fused_adamw_ (2.x; op by op on
// 1.13), so a step reads nothing back to the host (except whether a float16 step overflowed).
//
// It owns its moment tensors (Moments) and C arrays of tensor handles; Close frees them. It does not own the
// parameters, which must outlive it.
type AdamW struct {
	params []*ts.Tensor
	m, v   []*ts.Tensor
	// C arrays: the handles of params, m and v, and each parameter's weight decay.
	cp, cm, cv unsafe.Pointer
	wd         *C.double
	step       int64
	// device: updates take the device path (parameters off the CPU; tests set it to run that path on the CPU).
	device bool
	// Beta1, Beta2 and Eps are AdamW's constants: 0.9, 0.999 and 1e-8 from NewAdamW.
	Beta1, Beta2, Eps float64
}

// NewAdamW makes an AdamW over params with zeroed moments; weightDecay[i] is params[i]'s decoupled weight decay
// (0 for biases and LayerNorm weights, by convention).
func NewAdamW(params []*ts.Tensor, weightDecay []float64) (*AdamW, error) {
	if len(params) != len(weightDecay) {
		return nil, fmt.Errorf("torch: adamw: %d parameters but %d weight decays", len(params), len(weightDecay))
	}
	n := len(params)
	o := &AdamW{params: params, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	if n > 0 {
		o.device = params[0].MustDevice() != gotch.CPU
	}
	ptrs := C.size_t(max(n, 1)) * C.size_t(unsafe.Sizeof(uintptr(0)))
	o.cp, o.cm, o.cv = C.malloc(ptrs), C.malloc(ptrs), C.malloc(ptrs)
	o.wd = (*C.double)(C.malloc(C.size_t(max(n, 1)) * C.size_t(unsafe.Sizeof(C.double(0)))))
	cp, wd := handles(o.cp, n), unsafe.Slice(o.wd, n)
	for i, p := range params {
		cp[i] = p.Ctensor()
		wd[i] = C.double(weightDecay[i])
	}
	var cerr *C.char
	if C.whet_adamw_init(o.cpp(), C.int(n), o.cmp(), o.cvp(), &cerr) != 0 {
		err := cError("adamw init", cerr)
		o.free()
		return nil, err
	}
	cm, cv := handles(o.cm, n), handles(o.cv, n)
	for i := range params {
		o.m = append(o.m, ts.FromCtensor(cm[i]))
		o.v = append(o.v, ts.FromCtensor(cv[i]))
	}
	return o, nil
}

// Step clips the gradients to a global L2 norm of maxNorm (when maxNorm > 0, as clip_grad_norm_) and applies one
// AdamW update at learning rate lr to every parameter that has a gradient. It leaves the gradients in place;
// ZeroGrad drops them. GradNorm gives the norm (reading it back costs a device sync on a GPU).
func (o *AdamW) Step(lr, maxNorm float64) error {
	_, err := o.update(lr, maxNorm, 1, false)
	return err
}

// StepScaled is Step for the gradients of a loss multiplied by lossScale (float16 dynamic loss scaling, as
// torch.amp.GradScaler): it divides them by lossScale within the same update, and when they hold an inf or a NaN
// (the scale was too high) it changes nothing and returns skipped.
func (o *AdamW) StepScaled(lr, maxNorm, lossScale float64) (skipped bool, err error) {
	return o.update(lr, maxNorm, lossScale, true)
}

func (o *AdamW) update(lr, maxNorm, lossScale float64, skipNonFinite bool) (bool, error) {
	if o.cp == nil {
		return false, errors.New("torch: adamw: step after Close")
	}
	var cerr *C.char
	if o.device {
		var skipped C.int
		if C.whet_adamw_step_device(o.cpp(), o.cmp(), o.cvp(), o.wd, C.int(len(o.params)), C.int64_t(o.step+1),
			C.double(lr), C.double(o.Beta1), C.double(o.Beta2), C.double(o.Eps), C.double(maxNorm), C.double(lossScale),
			C.int(boolInt(skipNonFinite)), &skipped, &cerr) != 0 {
			return false, cError("adamw step", cerr)
		}
		if skipped == 0 {
			o.step++
		}
		return skipped != 0, nil
	}
	norm, err := gradNorm(o.cpp(), len(o.params))
	if err != nil {
		return false, err
	}
	if lossScale != 1 {
		norm /= lossScale
	}
	if skipNonFinite && (math.IsNaN(norm) || math.IsInf(norm, 0)) {
		return true, nil
	}
	scale := 1.0
	if maxNorm > 0 && norm > maxNorm {
		scale = maxNorm / (norm + 1e-6)
	}
	if lossScale != 1 {
		scale /= lossScale
	}
	o.step++
	if C.whet_adamw_step(o.cpp(), o.cmp(), o.cvp(), o.wd, C.int(len(o.params)), C.int64_t(o.step), C.double(lr),
		C.double(o.Beta1), C.double(o.Beta2), C.double(o.Eps), C.double(scale), &cerr) != 0 {
		return false, cError("adamw step", cerr)
	}
	return false, nil
}

// ZeroGrad drops the parameters' gradients (PyTorch's zero_grad(set_to_none=True)): the next backward pass then
// stores fresh gradients instead of adding into zeroed ones.
func (o *AdamW) ZeroGrad() error {
	if o.cp == nil {
		return errors.New("torch: adamw: zero grad after Close")
	}
	var cerr *C.char
	if C.whet_grad_reset(o.cpp(), C.int(len(o.params)), &cerr) != 0 {
		return cError("zero grad", cerr)
	}
	return nil
}

// Steps is the number of updates applied so far.
func (o *AdamW) Steps() int64 { return o.step }

// Moments returns the first and second moment tensors, one per parameter in NewAdamW's order; they stay owned by o.
func (o *AdamW) Moments() (m, v []*ts.Tensor) { return o.m, o.v }

// SetState restores the update count and the moments saved from an AdamW over parameters of the same shapes (a
// checkpoint's optimizer state), so that a resumed run continues as if it had not stopped.
func (o *AdamW) SetState(steps int64, m, v [][]float32) error {
	if len(m) != len(o.m) || len(v) != len(o.v) {
		return fmt.Errorf("torch: adamw: state for %d/%d tensors, have %d parameters", len(m), len(v), len(o.m))
	}
	for i := range o.m {
		for _, pair := range []struct {
			dst  *ts.Tensor
			vals []float32
		}{{o.m[i], m[i]}, {o.v[i], v[i]}} {
			if uint(len(pair.vals)) != pair.dst.Numel() {
				return fmt.Errorf("torch: adamw: parameter %d: %d saved values for %d elements", i, len(pair.vals), pair.dst.Numel())
			}
			if len(pair.vals) == 0 {
				continue
			}
			src, err := ts.OfSlice(pair.vals)
			if err != nil {
				return fmt.Errorf("torch: adamw: %w", err)
			}
			flat := pair.dst.MustView([]int64{-1}, false)
			flat.Copy_(src) // to the moment's device
			flat.MustDrop()
			src.MustDrop()
		}
	}
	o.step = steps
	return nil
}

// Close frees the moments and the handle arrays. It is safe to call twice.
func (o *AdamW) Close() {
	for _, t := range append(o.m, o.v...) {
		t.MustDrop()
	}
	o.m, o.v = nil, nil
	o.free()
}

func (o *AdamW) free() {
	for _, p := range []unsafe.Pointer{o.cp, o.cm, o.cv, unsafe.Pointer(o.wd)} {
		C.free(p)
	}
	o.cp, o.cm, o.cv, o.wd = nil, nil, nil, nil
}

func (o *AdamW) cpp() *unsafe.Pointer { return (*unsafe.Pointer)(o.cp) }
func (o *AdamW) cmp() *unsafe.Pointer { return (*unsafe.Pointer)(o.cm) }
func (o *AdamW) cvp() *unsafe.Pointer { return (*unsafe.Pointer)(o.cv) }

// GradNorm returns the global L2 norm of params' gradients (parameters without one count as zero), summed in a
// fixed order so it does not depend on the thread count.
func GradNorm(params []*ts.Tensor) (float64, error) {
	if len(params) == 0 {
		return 0, nil
	}
	arr := C.malloc(C.size_t(len(params)) * C.size_t(unsafe.Sizeof(uintptr(0))))
	defer C.free(arr)
	h := handles(arr, len(params))
	for i, p := range params {
		h[i] = p.Ctensor()
	}
	return gradNorm((*unsafe.Pointer)(arr), len(params))
}

// gradNorm is GradNorm over a C array of n tensor handles.
func gradNorm(params *unsafe.Pointer, n int) (float64, error) {
	var ss C.double
	var cerr *C.char
	if C.whet_grad_sum_squares(params, C.int(n), &ss, &cerr) != 0 {
		return 0, cError("grad norm", cerr)
	}
	return math.Sqrt(float64(ss)), nil
}

// Dropout zeroes each element of x with probability p and scales the rest by 1/(1-p), as training-mode
// torch.nn.functional.dropout, with gradient. On float32 CPU tensors it draws the mask from a counter-based hash
// keyed by libtorch's seeded CPU generator (so ManualSeed makes it reproducible) and keeps it as one byte per
// element; elsewhere it is libtorch's dropout. x is not consumed.
func Dropout(x *ts.Tensor, p float64) (*ts.Tensor, error) {
	var out unsafe.Pointer
	var cerr *C.char
	if C.whet_dropout(x.Ctensor(), C.double(p), &out, &cerr) != 0 {
		return nil, cError("dropout", cerr)
	}
	return ts.FromCtensor(out), nil
}

// Float32s copies a tensor's values, on any device and of any float type, to Go memory as float32, in row-major
// order. t is not consumed.
func Float32s(t *ts.Tensor) ([]float32, error) {
	d, err := t.Detach(false)
	if err != nil {
		return nil, err
	}
	c, err := d.To(gotch.CPU, true)
	if err != nil {
		return nil, err
	}
	cc, err := c.Contiguous(true)
	if err != nil {
		return nil, err
	}
	defer cc.MustDrop()
	n := cc.Numel()
	vals := make([]float32, n)
	if n == 0 {
		return vals, nil
	}
	if cc.DType() != gotch.Float {
		f, err := cc.Totype(gotch.Float, false)
		if err != nil {
			return nil, err
		}
		defer f.MustDrop()
		cc = f
	}
	// One copy from the contiguous CPU buffer: gotch's CopyData checks and copies element by element through
	// reflect, seconds for a BERT-small checkpoint.
	ptr, err := cc.DataPtr()
	if err != nil {
		return nil, err
	}
	copy(vals, unsafe.Slice((*float32)(ptr), n))
	return vals, nil
}

// setAdamWPath switches the AdamW kernel's code path (2 AVX2, 1 SSE, 0 scalar; capped at what the CPU has) and
// returns the previous one; for tests.
func setAdamWPath(path int) int { return int(C.whet_adamw_path(C.int(path))) }

// handles views a C array of n tensor handles.
func handles(arr unsafe.Pointer, n int) []unsafe.Pointer {
	return unsafe.Slice((*unsafe.Pointer)(arr), n)
}
