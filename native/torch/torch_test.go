//go:build cgo

package torch

import (
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

func TestSetThreads(t *testing.T) {
	runtime.LockOSThread() // OpenMP's thread count is per OS thread; a goroutine may move between them
	defer runtime.UnlockOSThread()
	for _, n := range []int{1, 2, 3} {
		SetThreads(n)
		if got := Threads(); got != n {
			t.Fatalf("SetThreads(%d): Threads() = %d", n, got)
		}
	}
}

// A thread that first ran libtorch work under one count keeps it after SetThreads on another thread (OpenMP's count
// is per thread) until it adopts the new one: a training run on such a thread reduced with another thread count and
// its losses differed from a run on a fresh thread at 1e-9 (TestResumeWithDropoutIsExact failed now and then).
func TestAdoptThreads(t *testing.T) {
	first, adopted := make(chan int), make(chan int)
	next := make(chan bool)
	go func() {
		runtime.LockOSThread() // keep this thread to itself: it never runs other goroutines' work
		SetThreads(1)
		first <- Threads()
		<-next
		before := Threads()
		AdoptThreads()
		adopted <- before
		adopted <- Threads()
	}()
	if n := <-first; n != 1 {
		t.Fatalf("Threads() = %d after SetThreads(1)", n)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	SetThreads(2)
	next <- true
	if before := <-adopted; before != 1 {
		t.Logf("the other thread saw %d before adopting (OpenMP kept 1 on libtorch 1.13)", before)
	}
	if n := <-adopted; n != 2 {
		t.Fatalf("after AdoptThreads the other thread runs with %d threads, want the process's 2", n)
	}
}

func TestManualSeedIsReproducible(t *testing.T) {
	draw := func() []float64 {
		ManualSeed(7)
		x := ts.MustRandn([]int64{4}, gotch.Float, gotch.CPU)
		defer x.MustDrop()
		return x.Float64Values()
	}
	a, b := draw(), draw()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed gave different draws: %v vs %v", a, b)
		}
	}
}

func TestVersionIsSupported(t *testing.T) {
	v := Version()
	if !strings.HasPrefix(v, "1.13.") && !strings.HasPrefix(v, "2.") {
		t.Fatalf("libtorch %s: whet builds against 1.13 and 2.x (compat.h)", v)
	}
}

func TestParseDevice(t *testing.T) {
	t.Setenv("WHET_DEVICE", "")
	for _, tc := range []struct {
		in      string
		want    gotch.Device
		wantErr string
	}{
		{in: "cpu", want: gotch.CPU},
		{in: "CPU", want: gotch.CPU},
		{in: "auto", want: gotch.CudaIfAvailable()},
		{in: "", want: gotch.CudaIfAvailable()},
		{in: "cuda:x", wantErr: "want auto, cpu, cuda or cuda:N"},
		{in: "cuda:-1", wantErr: "want auto, cpu, cuda or cuda:N"},
		{in: "gpu", wantErr: "want auto, cpu, cuda or cuda:N"},
		{in: "cuda:99", wantErr: "CUDA device(s)"},
	} {
		got, err := ParseDevice(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseDevice(%q) error = %v, want one containing %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseDevice(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	t.Setenv("WHET_DEVICE", "cpu")
	if d, err := ParseDevice("auto"); err != nil || d != gotch.CPU {
		t.Errorf("WHET_DEVICE=cpu: ParseDevice(auto) = %v, %v; want the CPU", d, err)
	}
	t.Setenv("WHET_DEVICE", "tpu")
	if _, err := ParseDevice("auto"); err == nil || !strings.Contains(err.Error(), "WHET_DEVICE") {
		t.Errorf("WHET_DEVICE=tpu: error %v, want one naming WHET_DEVICE", err)
	}
	if d, err := ParseDevice("cpu"); err != nil || d != gotch.CPU {
		t.Errorf("an explicit --device wins over WHET_DEVICE: got %v, %v", d, err)
	}
}

func TestMallocSettingsApplied(t *testing.T) {
	if os.Getenv("WHET_MALLOC_DEFAULTS") != "" || strings.Contains(os.Getenv("GLIBC_TUNABLES"), "glibc.malloc.") {
		if MallocTuned() {
			t.Fatal("malloc settings applied despite WHET_MALLOC_DEFAULTS / GLIBC_TUNABLES")
		}
		return
	}
	if !MallocTuned() {
		t.Fatal("malloc.c's load-time constructor did not apply the glibc malloc settings")
	}
}

// Restoring the generators' state repeats the dropout masks drawn after it was taken (exact resume depends on it).
func TestRNGStateRepeatsDropout(t *testing.T) {
	ManualSeed(7)
	x := ts.MustOnes([]int64{4096}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	mask := func() []float32 {
		y, err := Dropout(x, 0.5)
		if err != nil {
			t.Fatal(err)
		}
		defer y.MustDrop()
		v, err := Float32s(y)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	first := mask()
	st, err := GetRNGState(true)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.CPU) == 0 {
		t.Fatal("empty CPU generator state")
	}
	want := mask()
	if slices.Equal(first, want) {
		t.Fatal("two dropout calls drew the same mask: the test cannot see the generator")
	}
	_ = mask() // move the generator on
	if err := SetRNGState(st); err != nil {
		t.Fatal(err)
	}
	if got := mask(); !slices.Equal(got, want) {
		t.Error("after SetRNGState the next dropout mask differs from the one drawn after GetRNGState")
	}
	if err := SetRNGState(RNGState{CPU: []byte{1, 2, 3}}); err == nil || !strings.Contains(err.Error(), "rng state set (cpu)") {
		t.Errorf("a truncated state: err = %v, want a named error", err)
	}
}

// TestRecover: a failed Must* op (whet's gotch panics with ts.Fatal) becomes an *Error naming the operation, with
// libtorch's backtrace cut; any other panic is re-raised.
func TestRecover(t *testing.T) {
	shapes := func() (err error) {
		defer Recover(&err, "op %d", 3)
		a := ts.MustOnes([]int64{2, 3}, gotch.Float, gotch.CPU)
		b := ts.MustOnes([]int64{4, 5}, gotch.Float, gotch.CPU)
		a.MustAdd(b, true) // [2,3] + [4,5] do not broadcast
		return nil
	}
	err := shapes()
	if err == nil || !strings.HasPrefix(err.Error(), "op 3: libtorch: ") || strings.Contains(err.Error(), "Exception raised from") {
		t.Errorf("add of [2,3] and [4,5]: err = %v", err)
	}
	other := func() (err error) {
		defer Recover(&err, "op")
		panic("a Go bug")
	}
	defer func() {
		if v := recover(); v != "a Go bug" {
			t.Errorf("a plain panic: recovered %v, want it re-raised", v)
		}
	}()
	_ = other()
	t.Error("a plain panic was swallowed")
}
