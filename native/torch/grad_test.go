//go:build cgo

package torch

import (
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// scribble fills a stretch of the goroutine's stack with ones: the frames called next at that depth start on dirty
// memory, as they do after any deeper call.
//
//go:noinline
func scribble() byte {
	var b [512]byte
	for i := range b {
		b[i] = 0xff
	}
	var x byte
	for _, v := range b {
		x ^= v
	}
	return x
}

// gradOn reports whether grad mode is on, leaving it as it was.
func gradOn(t *testing.T) bool {
	t.Helper()
	prev, err := ts.GradSetEnabled(true)
	if err == nil {
		_, err = ts.GradSetEnabled(prev)
	}
	if err != nil {
		t.Fatal(err)
	}
	return prev
}

// TestGradSetEnabledReportsPrevious: upstream gotch read at_grad_set_enabled's 4-byte result as 8 bytes, so on a
// dirty stack it reported grad mode off when it was on, and ts.NoGrad "restored" it to off: every backward pass
// after the first evaluation then failed ("element 0 of tensors does not require grad").
func TestGradSetEnabledReportsPrevious(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ts.MustGradSetEnabled(true)
	for i := range 100 {
		scribble()
		if prev, err := ts.GradSetEnabled(false); err != nil || !prev {
			t.Fatalf("try %d: GradSetEnabled(false) after true = %v, %v; want true", i, prev, err)
		}
		scribble()
		if prev, err := ts.GradSetEnabled(true); err != nil || prev {
			t.Fatalf("try %d: GradSetEnabled(true) after false = %v, %v; want false", i, prev, err)
		}
	}
}

// TestNoGradRestoresAfterPanic: a libtorch failure inside NoGrad, recovered into an error, leaves grad mode as it was
// (gotch's ts.NoGrad left it off), so a later backward pass on the thread still works.
func TestNoGradRestoresAfterPanic(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, on := range []bool{true, false} {
		ts.MustGradSetEnabled(on)
		inside := on
		failed := func() (err error) {
			defer Recover(&err, "no grad")
			NoGrad(func() {
				inside = gradOn(t)
				a := ts.MustOnes([]int64{2, 3}, gotch.Float, gotch.CPU)
				b := ts.MustOnes([]int64{4, 5}, gotch.Float, gotch.CPU)
				a.MustAdd(b, true) // [2,3] + [4,5] do not broadcast
			})
			return nil
		}()
		if failed == nil {
			t.Fatal("a failed op inside NoGrad: no error")
		}
		if inside {
			t.Errorf("grad mode on inside NoGrad (was %v before)", on)
		}
		if got := gradOn(t); got != on {
			t.Errorf("grad mode %v before a failed NoGrad, %v after", on, got)
		}
	}
	ts.MustGradSetEnabled(true)
	w := ts.MustOnes([]int64{3}, gotch.Float, gotch.CPU).MustSetRequiresGrad(true, true)
	defer w.MustDrop()
	NoGrad(func() {})
	loss := w.MustSum(gotch.Float, false)
	defer loss.MustDrop()
	if err := loss.Backward(); err != nil {
		t.Errorf("backward after NoGrad: %v", err)
	}
}
