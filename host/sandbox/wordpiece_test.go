package sandbox_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/whetml/whet/host/sandbox"
	"github.com/whetml/whet/wasm/metrics"
	"github.com/whetml/whet/wasm/wordpiece/hfref"
)

// compareHF runs inputs through the bert-wordpiece module in wazero and through HuggingFace tokenizers, and fails
// on any difference in ids or type ids.
func compareHF(t *testing.T, trusted bool, vocabPath string, cfg hfref.Config, inputs []hfref.Input) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	want, err := hfref.Encode(ctx, repoRoot, vocabPath, cfg, inputs)
	if err != nil {
		t.Fatal(err)
	}
	vocab, err := os.ReadFile(vocabPath)
	if err != nil {
		t.Fatal(err)
	}
	rt := newRuntime(t, sandbox.Config{CacheDir: cacheDir, PoolSize: 2})
	pre, err := rt.NewPreprocessor(ctx, compile(t, rt, "bert-wordpiece", trusted),
		sandbox.PreprocessOptions{Vocab: vocab, DoLowerCase: cfg.Lowercase, MaxLength: cfg.MaxLength})
	if err != nil {
		t.Fatal(err)
	}
	defer pre.Close(ctx)
	// Single texts and pairs go in separate batches (a batch either has pairs or not).
	var singles, pairs []int
	for i, in := range inputs {
		if in.HasPair {
			pairs = append(pairs, i)
		} else {
			singles = append(singles, i)
		}
	}
	bad := 0
	for _, idx := range [][]int{singles, pairs} {
		if len(idx) == 0 {
			continue
		}
		req := sandbox.PreprocessRequest{WithTokens: true}
		for _, i := range idx {
			req.Texts = append(req.Texts, inputs[i].Text)
			if inputs[i].HasPair {
				req.TextPairs = append(req.TextPairs, inputs[i].Pair)
			}
		}
		out, err := pre.Preprocess(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		for k, i := range idx {
			if out.Errors[k] != "" {
				t.Fatalf("row %d %q: %s", i, inputs[i].Text, out.Errors[k])
			}
			if !reflect.DeepEqual(out.InputIDs[k], want[i].IDs) || !reflect.DeepEqual(out.TypeIDs[k], want[i].TypeIDs) ||
				!reflect.DeepEqual(out.Tokens[k], want[i].Tokens) {
				bad++
				if bad <= 5 {
					t.Errorf("row %d %+q:\n got %q %v\nwant %q %v", i, inputs[i].Text, out.Tokens[k], out.InputIDs[k], want[i].Tokens, want[i].IDs)
				}
			}
			for j, m := range out.AttentionMask[k] {
				if m != 1 || len(out.AttentionMask[k]) != len(out.InputIDs[k]) {
					t.Fatalf("row %d: attention mask %v at %d", i, out.AttentionMask[k], j)
				}
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d/%d rows differ from HuggingFace tokenizers", bad, len(inputs))
	}
	t.Logf("%d/%d rows identical to HuggingFace tokenizers (ids, type ids, tokens)", len(inputs), len(inputs))
}

func TestBertWordPieceMatchesHFEdgeCases(t *testing.T) {
	if err := hfref.Available(repoRoot); err != nil {
		t.Skip(err)
	}
	for _, cfg := range []hfref.Config{{Lowercase: true}, {Lowercase: false}, {Lowercase: true, MaxLength: 10}} {
		t.Run("tiny", func(t *testing.T) { compareHF(t, false, hfref.TinyVocabPath(repoRoot), cfg, hfref.EdgeCases()) })
	}
	shared, err := hfref.SharedDir(repoRoot)
	if err != nil {
		t.Logf("skipping the bert-base vocabs: %v", err)
		return
	}
	t.Run("uncased", func(t *testing.T) {
		compareHF(t, true, filepath.Join(shared, "data/vocab/bert-base-uncased-vocab.txt"), hfref.Config{Lowercase: true, MaxLength: 16}, hfref.EdgeCases())
	})
}

func TestBertWordPieceMatchesHFDatasets(t *testing.T) {
	if err := hfref.Available(repoRoot); err != nil {
		t.Skip(err)
	}
	shared, err := hfref.SharedDir(repoRoot)
	if err != nil {
		t.Skip(err)
	}
	for _, dc := range []struct{ name, file, column, vocab string }{
		{"sst2-dev", "data/sst2/dev.tsv", "sentence", "data/vocab/bert-base-uncased-vocab.txt"},
		{"trec-test", "data/trec/test.tsv", "text", "data/vocab/bert-base-uncased-vocab.txt"},
		{"chnsenticorp-dev", "data/chnsenticorp/dev.tsv", "text_a", "data/vocab/bert-base-chinese-vocab.txt"},
	} {
		t.Run(dc.name, func(t *testing.T) {
			texts, err := hfref.ReadTSVColumn(filepath.Join(shared, dc.file), dc.column)
			if err != nil {
				t.Fatal(err)
			}
			inputs := make([]hfref.Input, len(texts))
			for i, s := range texts {
				inputs[i] = hfref.Input{Text: s}
			}
			// The built-in module as the server runs it (trusted), untruncated.
			compareHF(t, true, filepath.Join(shared, dc.vocab), hfref.Config{Lowercase: true}, inputs)
		})
	}
}

func TestBertWordPieceConfigErrors(t *testing.T) {
	rt := newRuntime(t, testConfig())
	ctx := context.Background()
	mod := compile(t, rt, "bert-wordpiece", true)
	for _, tc := range []struct {
		name string
		opts sandbox.PreprocessOptions
		want string
	}{
		{"no vocab", sandbox.PreprocessOptions{}, "no vocab"},
		{"vocab without unk", sandbox.PreprocessOptions{Vocab: []byte("[CLS]\n[SEP]\n")}, "no [UNK]"},
		{"max length 2", sandbox.PreprocessOptions{Vocab: tinyVocab(t), MaxLength: 2}, "max_length 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rt.NewPreprocessor(ctx, mod, tc.opts)
			if err == nil || !strings.Contains(err.Error(), "module[bert-wordpiece] function[whet_init]") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want whet_init error with %q", err, tc.want)
			}
		})
	}
	// A per-row problem fails only its row.
	pre, err := rt.NewPreprocessor(ctx, mod, sandbox.PreprocessOptions{Vocab: tinyVocab(t), DoLowerCase: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pre.Close(ctx)
	out, err := pre.Preprocess(ctx, sandbox.PreprocessRequest{Texts: []string{"hello", "bad \xff utf8", "world"}, MaxLength: 8})
	if err != nil {
		t.Fatal(err)
	}
	if out.Errors[0] != "" || out.Errors[2] != "" || !strings.Contains(out.Errors[1], "UTF-8") || out.InputIDs[1] != nil || len(out.InputIDs[2]) != 3 {
		t.Fatalf("per-row errors = %q, ids = %v", out.Errors, out.InputIDs)
	}
}

func tinyVocab(t testing.TB) []byte {
	b, err := os.ReadFile(hfref.TinyVocabPath(repoRoot))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEmailCleanModule(t *testing.T) {
	rt := newRuntime(t, testConfig())
	ctx := context.Background()
	pre, err := rt.NewPreprocessor(ctx, compile(t, rt, "email-clean", false), sandbox.PreprocessOptions{Vocab: tinyVocab(t), DoLowerCase: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pre.Close(ctx)
	mail := "From: quick@fox.example\nSubject: the lazy dog\n\n<p>Hello <b>world</b></p>\nOn Monday, Dog wrote:\n> over the lazy dog\n-- \nthe fox"
	out, err := pre.Preprocess(ctx, sandbox.PreprocessRequest{Texts: []string{mail}, WithTokens: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"[CLS]", "hello", "world", "[SEP]"}; !reflect.DeepEqual(out.Tokens[0], want) {
		t.Fatalf("tokens = %q, want %q", out.Tokens[0], want)
	}
}

func TestClassificationMetricsModule(t *testing.T) {
	rt := newRuntime(t, testConfig())
	ctx := context.Background()
	ev, err := rt.NewEvaluator(ctx, compile(t, rt, "classification-metrics", false))
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close(ctx)
	req := sandbox.EvaluateRequest{Labels: []int{0, 0, 1, 1, 2, 2}, Predictions: []int{0, 1, 1, 1, 0, 0}, LabelNames: []string{"a", "b", "c"}}
	doc, err := ev.Evaluate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	want, err := metrics.Compute(req.Labels, req.Predictions, req.LabelNames)
	if err != nil {
		t.Fatal(err)
	}
	var got metrics.Report
	if err := json.Unmarshal(doc, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("module report %+v\nwant %+v", got, want)
	}
	_, err = ev.Evaluate(ctx, sandbox.EvaluateRequest{Labels: []int{5}, Predictions: []int{0}, LabelNames: []string{"a"}})
	if err == nil || !strings.Contains(err.Error(), "module[classification-metrics] function[whet_evaluate]") || !strings.Contains(err.Error(), "label 5 is outside") {
		t.Fatalf("bad labels: err = %v", err)
	}
	if _, err := ev.Evaluate(ctx, req); err != nil {
		t.Fatalf("after a module error: %v", err)
	}
}
