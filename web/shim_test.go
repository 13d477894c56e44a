package web

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/whetml/whet/host/sandbox"
	"github.com/whetml/whet/wasm/wordpiece"
	"github.com/whetml/whet/wasm/wordpiece/hfref"
)

// shimRow is one row printed by test/shim.mjs.
type shimRow struct {
	IDs           []int32  `json:"ids"`
	TypeIDs       []int32  `json:"typeIds"`
	AttentionMask []int32  `json:"attentionMask"`
	Tokens        []string `json:"tokens"`
	Error         string   `json:"error"`
}

// runShim runs the built bert-wordpiece module through the page's WASI shim and ABI client in node.
func runShim(t *testing.T, root, vocab string, lower bool, maxLen int, texts []string) []shimRow {
	t.Helper()
	in := filepath.Join(t.TempDir(), "texts.json")
	b, _ := json.Marshal(texts)
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(root, "web/test/shim.mjs"),
		filepath.Join(root, "wasm/modules/bin/bert-wordpiece.wasm"), vocab, strconv.FormatBool(lower), strconv.Itoa(maxLen), in)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node shim.mjs: %v", err)
	}
	var doc struct {
		Info struct{ Kind, Name string }
		Rows []shimRow
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("shim output %q: %v", out, err)
	}
	if doc.Info.Kind != "preprocess" || doc.Info.Name != "bert-wordpiece" {
		t.Fatalf("whet_info through the shim = %+v", doc.Info)
	}
	if len(doc.Rows) != len(texts) {
		t.Fatalf("%d rows for %d texts", len(doc.Rows), len(texts))
	}
	return doc.Rows
}

// TestShimMatchesTokenizer runs the built bert-wordpiece.wasm in node through web/static/js/wasi.js and
// preprocess.js (the code the page runs) and checks every row against the same module in the server's sandbox
// (host/sandbox, wazero), the native Go tokenizer and, when node_modules has it, HuggingFace tokenizers.
func TestShimMatchesTokenizer(t *testing.T) {
	root := repoRoot(t)
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not on PATH: the shim test runs the page's JavaScript in node")
	}
	wasmPath := filepath.Join(root, "wasm/modules/bin/bert-wordpiece.wasm")
	if fi, err := os.Stat(wasmPath); err != nil || fi.Size() == 0 {
		t.Skip("wasm/modules/bin/bert-wordpiece.wasm not built: run `make wasm`")
	}
	vocabPath := hfref.TinyVocabPath(root)
	vocab, err := os.ReadFile(vocabPath)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, in := range hfref.EdgeCases() {
		if !in.HasPair {
			texts = append(texts, in.Text)
		}
	}
	texts = append(texts, "The movie was great, 我很喜欢!", "Ünïcödé wörds — «quoted» unaffable")

	ctx := context.Background()
	rt, err := sandbox.New(ctx, sandbox.Config{PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := rt.Compile(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		lower  bool
		maxLen int
	}{
		{"lowercase", true, 0},
		{"cased", false, 0},
		{"truncated", true, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := runShim(t, root, vocabPath, tc.lower, tc.maxLen, texts)
			pre, err := rt.NewPreprocessor(ctx, mod, sandbox.PreprocessOptions{Vocab: vocab, DoLowerCase: tc.lower, MaxLength: tc.maxLen})
			if err != nil {
				t.Fatal(err)
			}
			defer pre.Close(ctx)
			server, err := pre.Preprocess(ctx, sandbox.PreprocessRequest{Texts: texts, MaxLength: tc.maxLen, WithTokens: true})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := wordpiece.New(vocab, wordpiece.Options{DoLowerCase: tc.lower})
			if err != nil {
				t.Fatal(err)
			}
			for i, text := range texts {
				want, err := tok.Encode(text, wordpiece.EncodeOptions{MaxLength: tc.maxLen, Tokens: true})
				if err != nil {
					t.Fatalf("native Encode(%q): %v", text, err)
				}
				g := got[i]
				if g.Error != "" || server.Errors[i] != "" {
					t.Errorf("text %q: row error %q in the browser shim, %q in the sandbox", text, g.Error, server.Errors[i])
					continue
				}
				if !reflect.DeepEqual(g.IDs, server.InputIDs[i]) || !reflect.DeepEqual(g.Tokens, server.Tokens[i]) ||
					!reflect.DeepEqual(g.TypeIDs, server.TypeIDs[i]) || !reflect.DeepEqual(g.AttentionMask, server.AttentionMask[i]) {
					t.Errorf("text %q:\n shim    %v %q\n sandbox %v %q", text, g.IDs, g.Tokens, server.InputIDs[i], server.Tokens[i])
				}
				if !reflect.DeepEqual(g.IDs, want.IDs) || !reflect.DeepEqual(g.Tokens, want.Tokens) ||
					!reflect.DeepEqual(g.TypeIDs, want.TypeIDs) || !reflect.DeepEqual(g.AttentionMask, want.AttentionMask) {
					t.Errorf("text %q:\n shim   %v %q\n native %v %q", text, g.IDs, g.Tokens, want.IDs, want.Tokens)
				}
			}
			if tc.maxLen != 0 || hfref.Available(root) != nil {
				return
			}
			inputs := make([]hfref.Input, len(texts))
			for i, text := range texts {
				inputs[i] = hfref.Input{Text: text}
			}
			ref, err := hfref.Encode(context.Background(), root, vocabPath, hfref.Config{Lowercase: tc.lower}, inputs)
			if err != nil {
				t.Fatalf("HuggingFace reference: %v", err)
			}
			for i := range texts {
				if !reflect.DeepEqual(got[i].IDs, ref[i].IDs) {
					t.Errorf("text %q: shim %v, HuggingFace %v", texts[i], got[i].IDs, ref[i].IDs)
				}
			}
		})
	}
}

// repoRoot returns the repository root (the folder above web/).
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd)
}
