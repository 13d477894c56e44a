package wordpiece

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/whetml/whet/wasm/wordpiece/hfref"
)

// compareHF encodes inputs natively and with HuggingFace tokenizers and fails on the first few mismatches.
func compareHF(t *testing.T, root, vocabPath string, cfg hfref.Config, inputs []hfref.Input) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	want, err := hfref.Encode(ctx, root, vocabPath, cfg, inputs)
	if err != nil {
		t.Fatal(err)
	}
	vocab, err := os.ReadFile(vocabPath)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := New(vocab, Options{DoLowerCase: cfg.Lowercase})
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for i, in := range inputs {
		opts := EncodeOptions{MaxLength: cfg.MaxLength, Tokens: true}
		var got Encoding
		if in.HasPair {
			got, err = tok.EncodePair(in.Text, in.Pair, opts)
		} else {
			got, err = tok.Encode(in.Text, opts)
		}
		if err != nil {
			t.Fatalf("row %d %q: %v", i, in.Text, err)
		}
		if !reflect.DeepEqual(got.IDs, want[i].IDs) || !reflect.DeepEqual(got.TypeIDs, want[i].TypeIDs) {
			bad++
			if bad <= 5 {
				t.Errorf("row %d %+q pair %+q:\n got %q %v\nwant %q %v", i, in.Text, in.Pair, got.Tokens, got.IDs, want[i].Tokens, want[i].IDs)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d/%d rows differ from HuggingFace", bad, len(inputs))
	}
	t.Logf("%d/%d rows identical to HuggingFace tokenizers", len(inputs), len(inputs))
}

func TestMatchesHFEdgeCases(t *testing.T) {
	root, err := hfref.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := hfref.Available(root); err != nil {
		t.Skip(err)
	}
	vocabs := map[string]string{"tiny": hfref.TinyVocabPath(root)}
	if shared, err := hfref.SharedDir(root); err == nil {
		vocabs["uncased"] = filepath.Join(shared, "data/vocab/bert-base-uncased-vocab.txt")
		vocabs["chinese"] = filepath.Join(shared, "data/vocab/bert-base-chinese-vocab.txt")
	}
	for name, path := range vocabs {
		for _, cfg := range []hfref.Config{{Lowercase: true}, {Lowercase: false}, {Lowercase: true, MaxLength: 12}, {Lowercase: true, MaxLength: 3}} {
			t.Run(name, func(t *testing.T) { compareHF(t, root, path, cfg, hfref.EdgeCases()) })
		}
	}
}

// DatasetCases lists the shared data sets the HuggingFace comparison covers.
var datasetCases = []struct{ name, file, column, vocab string }{
	{"sst2-dev", "data/sst2/dev.tsv", "sentence", "data/vocab/bert-base-uncased-vocab.txt"},
	{"trec-test", "data/trec/test.tsv", "text", "data/vocab/bert-base-uncased-vocab.txt"},
	{"chnsenticorp-dev", "data/chnsenticorp/dev.tsv", "text_a", "data/vocab/bert-base-chinese-vocab.txt"},
}

func TestMatchesHFDatasets(t *testing.T) {
	root, err := hfref.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := hfref.Available(root); err != nil {
		t.Skip(err)
	}
	shared, err := hfref.SharedDir(root)
	if err != nil {
		t.Skip(err)
	}
	for _, dc := range datasetCases {
		t.Run(dc.name, func(t *testing.T) {
			texts, err := hfref.ReadTSVColumn(filepath.Join(shared, dc.file), dc.column)
			if err != nil {
				t.Fatal(err)
			}
			inputs := make([]hfref.Input, len(texts))
			for i, s := range texts {
				inputs[i] = hfref.Input{Text: s}
			}
			compareHF(t, root, filepath.Join(shared, dc.vocab), hfref.Config{Lowercase: true}, inputs)
		})
	}
}
