//go:build cgo

package torch

import "github.com/sugarme/gotch/ts"

// NoGrad runs fn with libtorch's autograd off (PyTorch's torch.no_grad()) and restores the grad mode it found, also
// when fn panics (a failed Must* op, recovered by Recover further up): gotch's ts.NoGrad restores it only when fn
// returns, and a thread left without grad mode fails every later backward pass on it ("element 0 of tensors does
// not require grad"). Grad mode is per OS thread: call it under runtime.LockOSThread.
func NoGrad(fn func()) {
	prev := ts.MustGradSetEnabled(false)
	defer ts.MustGradSetEnabled(prev)
	fn()
}
