package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whetml/whet/host/sandbox"
)

// healthy asserts that pre still answers a normal call correctly.
func healthy(t *testing.T, pre *sandbox.Preprocessor) {
	t.Helper()
	out, err := pre.Preprocess(context.Background(), sandbox.PreprocessRequest{Texts: []string{"ok", "fine"}})
	if err != nil {
		t.Fatalf("normal call after the hostile one: %v", err)
	}
	if want := [][]int32{{'o', 'k'}, {'f', 'i', 'n', 'e'}}; !reflect.DeepEqual(out.InputIDs, want) {
		t.Fatalf("normal call after the hostile one: ids %v, want %v", out.InputIDs, want)
	}
}

func TestHostileCalls(t *testing.T) {
	cfg := testConfig()
	rt := newRuntime(t, cfg)
	mod := compile(t, rt, "hostile", false)
	ctx := context.Background()
	pre, err := rt.NewPreprocessor(ctx, mod, sandbox.PreprocessOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pre.Close(ctx)
	healthy(t, pre)
	for _, tc := range []struct {
		text string
		want error
		msg  string
	}{
		{"loop", sandbox.ErrTimeout, "limit"},
		{"hog", sandbox.ErrOutOfMemory, "64 MiB"},
		{"panic", sandbox.ErrGuestPanic, "hostile module panics on purpose"},
		{"exit", sandbox.ErrTrap, "exited with code 3"},
		{"oob-ptr", sandbox.ErrBadResult, "outside the"},
		{"oob-len", sandbox.ErrBadResult, "outside the"},
		{"garbage", sandbox.ErrBadResult, "truncated"},
		{"wrong-rows", sandbox.ErrBadResult, "2 rows for 1 texts"},
		{"flood", sandbox.ErrGuestPanic, "earlier bytes dropped"},
	} {
		t.Run(tc.text, func(t *testing.T) {
			start := time.Now()
			_, err := pre.Preprocess(ctx, sandbox.PreprocessRequest{Texts: []string{tc.text, "x"}})
			elapsed := time.Since(start)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "module[hostile] function[whet_preprocess]: ") || !strings.Contains(msg, tc.msg) {
				t.Fatalf("error %q does not name the module and function or lacks %q", msg, tc.msg)
			}
			if limit := cfg.CallTimeout + time.Second; elapsed > limit {
				t.Fatalf("took %s, more than %s", elapsed, limit)
			}
			if len(msg) > cfg.MaxOutputBytes+1024 {
				t.Fatalf("error message is %d bytes: guest output is not bounded", len(msg))
			}
			if tc.want == sandbox.ErrTimeout && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("timeout %v does not match context.DeadlineExceeded", err)
			}
			healthy(t, pre)
		})
	}
}

// TestNoAmbientAuthority: a guest sees no environment variables, no arguments and no files.
func TestNoAmbientAuthority(t *testing.T) {
	t.Setenv("WHET_SECRET", "s3cret")
	rt := newRuntime(t, testConfig())
	ctx := context.Background()
	pre, err := rt.NewPreprocessor(ctx, compile(t, rt, "hostile", false), sandbox.PreprocessOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pre.Close(ctx)
	out, err := pre.Preprocess(ctx, sandbox.PreprocessRequest{Texts: []string{"probe"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "env=0 args=0 file=true dir=true"; out.Errors[0] != want {
		t.Fatalf("guest sees %q, want %q", out.Errors[0], want)
	}
	if out.Faulted[0] {
		t.Error("a row the module rejected is marked as the module's fault")
	}
}

// TestTrustedTimeout: a trusted module cannot be interrupted, but the caller still gets ErrTimeout at the deadline
// and the pool replaces the abandoned instance.
func TestTrustedTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.CallTimeout = time.Second
	rt := newRuntime(t, cfg)
	mod := compile(t, rt, "hostile", true)
	if !mod.Info().Trusted {
		t.Fatal("CompileTrusted module is not marked trusted")
	}
	ctx := context.Background()
	pre, err := rt.NewPreprocessor(ctx, mod, sandbox.PreprocessOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pre.Close(ctx)
	start := time.Now()
	_, err = pre.Preprocess(ctx, sandbox.PreprocessRequest{Texts: []string{"spin3s"}})
	if !errors.Is(err, sandbox.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if elapsed := time.Since(start); elapsed > cfg.CallTimeout+time.Second {
		t.Fatalf("took %s", elapsed)
	}
	healthy(t, pre)
}

func TestHostileAlloc(t *testing.T) {
	rt := newRuntime(t, testConfig())
	mod := compile(t, rt, "hostile", false)
	ctx := context.Background()
	bad, err := rt.NewPreprocessor(ctx, mod, sandbox.PreprocessOptions{Params: json.RawMessage(`{"bad_alloc":true}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close(ctx)
	_, err = bad.Preprocess(ctx, sandbox.PreprocessRequest{Texts: []string{"x"}})
	if !errors.Is(err, sandbox.ErrBadResult) || !strings.Contains(err.Error(), "function[whet_alloc]") {
		t.Fatalf("err = %v, want ErrBadResult from whet_alloc", err)
	}
	good, err := rt.NewPreprocessor(ctx, mod, sandbox.PreprocessOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close(ctx)
	healthy(t, good)
}

// TestHostileHammer mixes crashing and normal batches from many goroutines: crashes fail only their own calls.
func TestHostileHammer(t *testing.T) {
	rt := newRuntime(t, testConfig())
	mod := compile(t, rt, "hostile", false)
	ctx := context.Background()
	pre, err := rt.NewPreprocessor(ctx, mod, sandbox.PreprocessOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pre.Close(ctx)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 6; i++ {
				if (g+i)%3 == 0 {
					if _, err := pre.Preprocess(ctx, sandbox.PreprocessRequest{Texts: []string{"panic"}}); !errors.Is(err, sandbox.ErrGuestPanic) {
						errs <- err
					}
					continue
				}
				out, err := pre.Preprocess(ctx, sandbox.PreprocessRequest{Texts: []string{"ab"}})
				if err != nil || !reflect.DeepEqual(out.InputIDs, [][]int32{{'a', 'b'}}) {
					errs <- errors.Join(errors.New("normal call failed"), err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Hand-assembled binaries.
var (
	wasmHeader = []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	// (import "env" "f" (func)): a forbidden import.
	forbiddenImport = append(append([]byte{}, wasmHeader...),
		0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: () -> ()
		0x02, 0x09, 0x01, 0x03, 'e', 'n', 'v', 0x01, 'f', 0x00, 0x00) // import section
	// A command module: (memory 1) (func) exported as "memory" and "_start".
	commandModule = append(append([]byte{}, wasmHeader...),
		0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section
		0x03, 0x02, 0x01, 0x00, // function section
		0x05, 0x03, 0x01, 0x00, 0x01, // memory section: min 1
		0x07, 0x13, 0x02, 0x06, 'm', 'e', 'm', 'o', 'r', 'y', 0x02, 0x00, 0x06, '_', 's', 't', 'a', 'r', 't', 0x00, 0x00,
		0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b) // code section
)

func TestCompileRejects(t *testing.T) {
	rt := newRuntime(t, testConfig())
	bert := guestBytes(t, "bert-wordpiece")
	small := testConfig()
	small.MaxModuleBytes = 1 << 20
	rtSmall := newRuntime(t, small)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		rt   *sandbox.Runtime
		wasm []byte
		want error
		msg  string
	}{
		{"forbidden import", rt, forbiddenImport, sandbox.ErrInvalidModule, "env.f"},
		{"malformed", rt, []byte("#!/bin/sh\necho not wasm\n"), sandbox.ErrInvalidModule, "invalid module"},
		{"empty", rt, nil, sandbox.ErrInvalidModule, "invalid module"},
		{"truncated", rt, bert[:len(bert)/2], sandbox.ErrInvalidModule, "invalid module"},
		{"header only", rt, wasmHeader, sandbox.ErrInvalidModule, "memory"},
		{"command module", rt, commandModule, sandbox.ErrInvalidModule, "_start"},
		{"oversized", rtSmall, bert, sandbox.ErrModuleTooLarge, "Config.MaxModuleBytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.rt.Compile(ctx, tc.wasm)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "module[sha256:") {
				t.Fatalf("err = %v, want %v mentioning %q and the module hash", err, tc.want, tc.msg)
			}
			// The runtime keeps serving.
			pre, err := tc.rt.NewPreprocessor(ctx, compile(t, rt, "hostile", false), sandbox.PreprocessOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer pre.Close(ctx)
			healthy(t, pre)
		})
	}
}

func TestWrongKind(t *testing.T) {
	rt := newRuntime(t, testConfig())
	ctx := context.Background()
	if _, err := rt.NewEvaluator(ctx, compile(t, rt, "hostile", false)); !errors.Is(err, sandbox.ErrWrongKind) {
		t.Fatalf("NewEvaluator(preprocess module) = %v", err)
	}
	if _, err := rt.NewPreprocessor(ctx, compile(t, rt, "classification-metrics", false), sandbox.PreprocessOptions{}); !errors.Is(err, sandbox.ErrWrongKind) {
		t.Fatalf("NewPreprocessor(evaluate module) = %v", err)
	}
}

func TestCompileCache(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t, testConfig())
	a := compile(t, rt, "classification-metrics", false)
	b := compile(t, rt, "classification-metrics", false)
	if a != b {
		t.Fatal("compiling the same bytes twice did not return the cached module")
	}
	info := a.Info()
	if info.Kind != "evaluate" || info.Name != "classification-metrics" || info.ABIVersion != 1 || len(info.SHA256) != 64 {
		t.Fatalf("Info = %+v", info)
	}
	entries, err := os.ReadDir(cacheDir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("file-backed compilation cache %s is empty: %v", cacheDir, err)
	}
	if _, err := sandbox.New(ctx, sandbox.Config{CacheDir: filepath.Join(guestPath(t, "hostile"), "x")}); err == nil {
		t.Fatal("New with a CacheDir under a file: no error")
	}
}

func guestPath(t testing.TB, name string) string { return filepath.Join(wasmDir, name+".wasm") }

// One input that hangs the module (or traps it) fails alone: its row gets the error, the other rows of the call
// are answered, the faulted instance is replaced, and the call is stopped after Config.RowTimeout per row rather
// than Config.CallTimeout. A call whose every row faults fails as a whole, naming the module.
func TestHungRowFailsAlone(t *testing.T) {
	cfg := testConfig()
	cfg.PoolSize, cfg.CallTimeout, cfg.RowTimeout = 1, 10*time.Second, 300*time.Millisecond
	rt := newRuntime(t, cfg)
	ctx := context.Background()
	pre, err := rt.NewPreprocessor(ctx, compile(t, rt, "hostile", false), sandbox.PreprocessOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pre.Close(ctx)
	for _, bad := range []string{"loop", "panic"} {
		start := time.Now()
		out, err := pre.Preprocess(ctx, sandbox.PreprocessRequest{Texts: []string{"ok", bad, "fine"}})
		if err != nil {
			t.Fatalf("%s: the call failed as a whole: %v", bad, err)
		}
		if elapsed := time.Since(start); elapsed > 3*time.Second {
			t.Errorf("%s: took %s: the row budget did not bound the call", bad, elapsed)
		}
		if !strings.HasPrefix(out.Errors[1], "module[hostile] function[whet_preprocess]: ") || out.Errors[0] != "" || out.Errors[2] != "" {
			t.Errorf("%s: row errors %q", bad, out.Errors)
		}
		if want := []bool{false, true, false}; !reflect.DeepEqual(out.Faulted, want) {
			t.Errorf("%s: faulted rows %v, want %v (the module's fault, not the input's)", bad, out.Faulted, want)
		}
		if want := [][]int32{{'o', 'k'}, nil, {'f', 'i', 'n', 'e'}}; !reflect.DeepEqual(out.InputIDs, want) {
			t.Errorf("%s: ids %v, want %v", bad, out.InputIDs, want)
		}
		healthy(t, pre)
	}
	_, err = pre.Preprocess(ctx, sandbox.PreprocessRequest{Texts: []string{"loop", "loop"}})
	if !errors.Is(err, sandbox.ErrTimeout) || !strings.Contains(err.Error(), "Config.RowTimeout") {
		t.Fatalf("every row hangs: err = %v, want the call's timeout naming Config.RowTimeout", err)
	}
	healthy(t, pre)
}
