//go:build cgo

package torch

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

func TestParseQuantize(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Quantize
		wantErr string
	}{
		{in: "", want: QuantizeNone},
		{in: "none", want: QuantizeNone},
		{in: "int8", want: QuantizeInt8},
		{in: "int4", wantErr: `quantize "int4": want none or int8`},
		{in: "INT8", wantErr: "want none or int8"},
	} {
		got, err := ParseQuantize(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseQuantize(%q) = %v, want error %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseQuantize(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestPackedLinear checks the int8 Linear against float32 x @ W^T + b: per-channel weight rounding (<= scale/2 per
// weight) plus per-call activation rounding bound the error well below the outputs' spread, and the error grows with
// no structure (its mean is near 0).
func TestPackedLinear(t *testing.T) {
	engine, err := QuantEngine()
	if err != nil {
		t.Skipf("no int8 engine: %v", err)
	}
	ManualSeed(3)
	w := ts.MustRandn([]int64{96, 64}, gotch.Float, gotch.CPU)
	defer w.MustDrop()
	b := ts.MustRandn([]int64{96}, gotch.Float, gotch.CPU)
	defer b.MustDrop()
	x := ts.MustRandn([]int64{3, 5, 64}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	for _, bias := range []*ts.Tensor{b, nil} {
		p, err := PackLinear(w, bias)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		want := ts.MustLinear(x, w, biasOrNone(bias))
		if g, w := got.MustSize(), want.MustSize(); len(g) != 3 || g[2] != 96 || g[0] != w[0] || g[1] != w[1] {
			t.Fatalf("shape %v, want %v", g, w)
		}
		gv, wv := got.Float64Values(), want.Float64Values()
		got.MustDrop()
		want.MustDrop()
		p.Close()
		p.Close() // idempotent
		var maxErr, sumErr, sumSq float64
		for i := range gv {
			d := gv[i] - wv[i]
			maxErr = max(maxErr, math.Abs(d))
			sumErr += d
			sumSq += wv[i] * wv[i]
		}
		rms := math.Sqrt(sumSq / float64(len(wv)))
		// Measured on oneDNN (libtorch 1.13): max error 0.28 (3.5% of the outputs' RMS, 8), mean error 0.0015.
		if maxErr > 0.05*rms || math.Abs(sumErr/float64(len(gv))) > 0.002*rms {
			t.Errorf("%s int8 linear (bias %v): max error %.4f, mean error %.5f, output RMS %.2f", engine, bias != nil, maxErr, sumErr/float64(len(gv)), rms)
		}
		t.Logf("%s: max |int8 - fp32| %.4f, output RMS %.2f", engine, maxErr, rms)
		if _, err := p.Forward(x); err == nil {
			t.Error("Forward after Close: no error")
		}
	}
}

func TestPackLinearRefusesBadWeight(t *testing.T) {
	if _, err := QuantEngine(); err != nil {
		t.Skipf("no int8 engine: %v", err)
	}
	w := ts.MustOnes([]int64{4, 4, 4}, gotch.Float, gotch.CPU)
	defer w.MustDrop()
	if _, err := PackLinear(w, nil); err == nil || !strings.Contains(err.Error(), "2-D float32 CPU tensor") {
		t.Fatalf("PackLinear of a 3-D weight: %v", err)
	}
}

func biasOrNone(b *ts.Tensor) *ts.Tensor {
	if b == nil {
		return ts.None
	}
	return b
}

// TestErrorMessageFromEveryThread: each failing call gets its own C error message. The message comes back with the
// failing call (its char **err out-parameter, guard.h), not from a second call reading per-thread state, so nothing
// pins the goroutine to its OS thread; a goroutine that moves to another thread after the call still has its own
// message (a thread-local message read in a second call returned another thread's, often empty: the flaky
// TestPackLinearRefusesBadWeight). Many goroutines fail at once while others keep every P busy, so they move
// between threads; each checks that its message names its own weight's shape.
func TestErrorMessageFromEveryThread(t *testing.T) {
	if _, err := QuantEngine(); err != nil {
		t.Skipf("no int8 engine: %v", err)
	}
	// Busy goroutines keep every P taken, so a goroutine returning from a cgo call that sysmon took its P from
	// waits in the run queue and may resume on another thread: what a loaded machine does.
	stop := make(chan struct{})
	defer close(stop)
	for range runtime.GOMAXPROCS(0) {
		go func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
	}
	var wg sync.WaitGroup
	bad := make(chan string, 1)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each goroutine's weight has its own shape, which the message names: another thread's message shows.
			w := ts.MustOnes([]int64{int64(i + 2), 3, 3}, gotch.Float, gotch.CPU)
			defer w.MustDrop()
			want := fmt.Sprintf("[%d, 3, 3]", i+2)
			for range 300 {
				if _, err := PackLinear(w, nil); err == nil || !strings.Contains(err.Error(), want) {
					select {
					case bad <- fmt.Sprintf("want a message naming %s, got %v", want, err):
					default:
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case msg := <-bad:
		t.Fatalf("PackLinear of a 3-D weight, from many goroutines: %s", msg)
	default:
	}
}
