//go:build cgo

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/whetml/whet/host/sandbox"
	"github.com/whetml/whet/internal/protocol"
)

// The predict worker's tokenizer tells whose a row error is: an input the module fails on alone (here it panics) is
// the module's (protocol.CodeModuleFailed, which the server answers with a 5xx), one the module rejects is the
// caller's (no code).
func TestTokenizerRowErrorCodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a wasm guest")
	}
	wasm := filepath.Join(t.TempDir(), "hostile.wasm")
	build := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", wasm, "./host/sandbox/testdata/hostile")
	build.Dir = filepath.Join("..", "..")
	build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the hostile guest: %v\n%s", err, out)
	}
	ctx := context.Background()
	tok, err := newModuleTokenizer(ctx, wasm, sandbox.PreprocessOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close(ctx)
	_, _, errs, err := tok.Encode(ctx, []string{"ok", "panic", "fine"}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != (protocol.RowError{}) || errs[2] != (protocol.RowError{}) || errs[1].Msg == "" || errs[1].Code != protocol.CodeModuleFailed {
		t.Errorf("a row the module panics on: row errors %+v, want only row 1's, coded %s", errs, protocol.CodeModuleFailed)
	}
	_, _, errs, err = tok.Encode(ctx, []string{"probe"}, nil, 0)
	if err != nil || errs[0].Msg == "" || errs[0].Code != "" {
		t.Errorf("a row the module rejects: row errors %+v (%v), want a message and no code", errs, err)
	}
}
