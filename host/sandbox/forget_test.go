package sandbox_test

import (
	"context"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/whetml/whet/host/sandbox"
)

// cacheFileCount counts the regular files under dir.
func cacheFileCount(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Forgetting a deleted module releases its compiled code (the next Compile compiles again) and removes its compile
// cache files; ForgetAllBut does the same for modules deleted while the server was down.
func TestForgetReleasesModule(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig()
	cfg.CacheDir = t.TempDir()
	rt := newRuntime(t, cfg)
	first := compile(t, rt, "email-clean", false)
	if n := cacheFileCount(t, cfg.CacheDir); n < 2 { // the machine code and the index
		t.Fatalf("%d files in the compile cache after compiling an upload", n)
	}
	if err := rt.Forget(ctx, first.Info().SHA256); err != nil {
		t.Fatal(err)
	}
	if n := cacheFileCount(t, cfg.CacheDir); n != 0 {
		t.Errorf("%d files left in the compile cache after Forget", n)
	}
	again := compile(t, rt, "email-clean", false)
	if again == first {
		t.Error("Compile after Forget returned the released module")
	}
	pre, err := rt.NewPreprocessor(ctx, again, sandbox.PreprocessOptions{Vocab: []byte("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n"), MaxLength: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer pre.Close(ctx)
	if _, err := pre.Preprocess(ctx, sandbox.PreprocessRequest{Texts: []string{"hello"}}); err != nil {
		t.Fatalf("the recompiled module does not run: %v", err)
	}

	// A restart: a new runtime finds the index of a module the store no longer has.
	rt2 := newRuntime(t, cfg)
	if err := rt2.ForgetAllBut(ctx, func(string) bool { return true }); err != nil || cacheFileCount(t, cfg.CacheDir) < 2 {
		t.Fatalf("ForgetAllBut(keep all) removed cache files (err %v)", err)
	}
	if err := rt2.ForgetAllBut(ctx, func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	if n := cacheFileCount(t, cfg.CacheDir); n != 0 {
		t.Errorf("%d files left in the compile cache after ForgetAllBut", n)
	}
}
