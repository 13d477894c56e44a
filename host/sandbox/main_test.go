package sandbox_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/whetml/whet/host/sandbox"
)

// Built once by TestMain (GOOS=wasip1, the Makefile's flags) into a temp dir; compiled machine code is shared by
// all tests through cacheDir.
var (
	repoRoot string
	wasmDir  string
	cacheDir string
	guests   = map[string]string{
		"bert-wordpiece":         "./wasm/modules/bert-wordpiece",
		"classification-metrics": "./wasm/modules/classification-metrics",
		"email-clean":            "./wasm/examples/email-clean",
		"hostile":                "./host/sandbox/testdata/hostile",
		"hf-tokenizer":           "./wasm/modules/hf-tokenizer",
	}
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if repoRoot, err = filepath.Abs("../.."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "whet-sandbox-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	wasmDir, cacheDir = filepath.Join(tmp, "wasm"), filepath.Join(tmp, "cache")
	if err := buildGuests(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func buildGuests() error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, 2)
	)
	for name, pkg := range guests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s -w",
				"-o", filepath.Join(wasmDir, name+".wasm"), pkg)
			cmd.Dir = repoRoot
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			if out, err := cmd.CombinedOutput(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("build %s: %v\n%s", pkg, err, out))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

func guestBytes(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(wasmDir, name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testConfig is small and fast: 64 MiB per instance, 2 s per call, 2 instances.
func testConfig() sandbox.Config {
	return sandbox.Config{CacheDir: cacheDir, MemoryLimitPages: 1024, CallTimeout: 2 * time.Second, PoolSize: 2, MaxOutputBytes: 4096}
}

func newRuntime(t testing.TB, cfg sandbox.Config) *sandbox.Runtime {
	t.Helper()
	rt, err := sandbox.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	return rt
}

func compile(t testing.TB, rt *sandbox.Runtime, name string, trusted bool) *sandbox.Compiled {
	t.Helper()
	var mod *sandbox.Compiled
	var err error
	if trusted {
		mod, err = rt.CompileTrusted(context.Background(), guestBytes(t, name))
	} else {
		mod, err = rt.Compile(context.Background(), guestBytes(t, name))
	}
	if err != nil {
		t.Fatal(err)
	}
	return mod
}
