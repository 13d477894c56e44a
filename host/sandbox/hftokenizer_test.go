package sandbox_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/whetml/whet/host/sandbox"
	"github.com/whetml/whet/wasm/wordpiece/hfref"
)

// TestHFTokenizerModule loads a tokenizer.json written by HuggingFace tokenizers into the hf-tokenizer module and
// compares ids on plain sentences (sugarme/tokenizer's BertNormalizer is known to differ on accents and
// non-breaking spaces, which is why bert-wordpiece exists).
func TestHFTokenizerModule(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t, testConfig())
	mod := compile(t, rt, "hf-tokenizer", true)
	if _, err := rt.NewPreprocessor(ctx, mod, sandbox.PreprocessOptions{}); err == nil || !strings.Contains(err.Error(), "no tokenizer.json") {
		t.Fatalf("without tokenizer.json: err = %v", err)
	}
	if _, err := rt.NewPreprocessor(ctx, mod, sandbox.PreprocessOptions{TokenizerJSON: []byte("{not json")}); err == nil ||
		!strings.Contains(err.Error(), "module[hf-tokenizer] function[whet_init]") {
		t.Fatalf("bad tokenizer.json: err = %v", err)
	}
	if err := hfref.Available(repoRoot); err != nil {
		t.Skip(err)
	}
	vocab := hfref.TinyVocabPath(repoRoot)
	tokJSON := filepath.Join(t.TempDir(), "tokenizer.json")
	cmd := exec.Command("node", hfref.Script, "--vocab", vocab, "--save", tokJSON)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node --save: %v\n%s", err, out)
	}
	tj, err := os.ReadFile(tokJSON)
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{"hello world", "the quick brown fox, don't!", "unaffable dog", "abc 123 mailbox", ""}
	inputs := make([]hfref.Input, len(texts))
	for i, s := range texts {
		inputs[i] = hfref.Input{Text: s}
	}
	want, err := hfref.Encode(ctx, repoRoot, vocab, hfref.Config{Lowercase: true, MaxLength: 6}, inputs)
	if err != nil {
		t.Fatal(err)
	}
	pre, err := rt.NewPreprocessor(ctx, mod, sandbox.PreprocessOptions{TokenizerJSON: tj, MaxLength: 6})
	if err != nil {
		t.Fatal(err)
	}
	defer pre.Close(ctx)
	out, err := pre.Preprocess(ctx, sandbox.PreprocessRequest{Texts: texts, WithTokens: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range texts {
		if out.Errors[i] != "" {
			t.Fatalf("row %d %q: %s", i, texts[i], out.Errors[i])
		}
		if !reflect.DeepEqual(out.InputIDs[i], want[i].IDs) {
			t.Errorf("row %d %q: got %q %v, want %q %v", i, texts[i], out.Tokens[i], out.InputIDs[i], want[i].Tokens, want[i].IDs)
		}
	}
}
