package wordpiece

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/whetml/whet/wasm/wordpiece/hfref"
)

func tinyTokenizer(t testing.TB, opts Options) *Tokenizer {
	t.Helper()
	root, err := hfref.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	vocab, err := os.ReadFile(hfref.TinyVocabPath(root))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := New(vocab, opts)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTokenize(t *testing.T) {
	lower := tinyTokenizer(t, Options{DoLowerCase: true})
	cased := tinyTokenizer(t, Options{})
	for _, tc := range []struct {
		name string
		tok  *Tokenizer
		in   string
		want []string
	}{
		{"empty", lower, "", []string{}},
		{"only spaces", lower, " \t\n ", []string{}},
		{"accent stripped", lower, "Café", []string{"cafe"}},
		{"combining accent stripped", lower, "cafe\u0301 CAFÉ", []string{"cafe", "cafe"}},
		{"dotted capital I", lower, "İstanbul", []string{"istanbul"}},
		{"nbsp splits", lower, "hello\u00a0world", []string{"hello", "world"}},
		{"ideographic space splits", lower, "hello\u3000world", []string{"hello", "world"}},
		{"zero-width space removed", lower, "a\u200bb", []string{"ab"}},
		{"control chars removed", lower, "a\x00b\x07", []string{"ab"}},
		{"chinese split", lower, "你好世界", []string{"你", "好", "世", "界"}},
		{"chinese inside latin", lower, "中文abc中文", []string{"中", "文", "abc", "中", "文"}},
		{"emoji unknown", lower, "🥰", []string{"[UNK]"}},
		{"punctuation", lower, "don't!", []string{"don", "'", "t", "!"}},
		{"ascii symbols are punctuation", lower, "a$b", []string{"a", "$", "b"}},
		{"unicode punctuation", lower, "a·b«c»", []string{"a", "·", "b", "«", "c", "»"}},
		{"continuation pieces", lower, "unaffable", []string{"un", "##aff", "##able"}},
		{"uncoverable word is one unk", lower, "running", []string{"[UNK]"}},
		{"special tokens kept raw", lower, "hello[MASK]world [SEP]", []string{"hello", "[MASK]", "world", "[SEP]"}},
		{"special tokens case sensitive", lower, "[mask]", []string{"[", "[UNK]", "]"}},
		{"100 chars is a word", lower, strings.Repeat("a", 100), append([]string{"a"}, repeat("##a", 99)...)},
		{"101 chars is unk", lower, strings.Repeat("a", 101), []string{"[UNK]"}},
		{"duplicate vocab entry takes last id", cased, "é", []string{"é"}},
		{"cased keeps accents", cased, "Café café", []string{"Café", "café"}},
		{"cased dotted capital unknown", cased, "İstanbul", []string{"[UNK]"}},
		{"cased no lowercase", cased, "The the", []string{"[UNK]", "the"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.tok.Tokenize(tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Tokenize(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	if id, _ := lower.TokenID("é"); lower.IDToken(id) != "é" || id != int32(lower.VocabSize()-1) {
		t.Fatalf("duplicate é has id %d, want the last line %d", id, lower.VocabSize()-1)
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestEncode(t *testing.T) {
	tok := tinyTokenizer(t, Options{DoLowerCase: true})
	for _, tc := range []struct {
		name       string
		text, pair string
		isPair     bool
		opts       EncodeOptions
		tokens     []string
		types      []int32
		mask       []int32
		wantErr    string
	}{
		{name: "empty", opts: EncodeOptions{Tokens: true}, tokens: []string{"[CLS]", "[SEP]"}, types: []int32{0, 0}, mask: []int32{1, 1}},
		{name: "truncate single", text: "a b c d e", opts: EncodeOptions{MaxLength: 4, Tokens: true},
			tokens: []string{"[CLS]", "a", "b", "[SEP]"}, types: []int32{0, 0, 0, 0}, mask: []int32{1, 1, 1, 1}},
		{name: "pad", text: "a", opts: EncodeOptions{MaxLength: 5, Pad: true, Tokens: true},
			tokens: []string{"[CLS]", "a", "[SEP]", "[PAD]", "[PAD]"}, types: []int32{0, 0, 0, 0, 0}, mask: []int32{1, 1, 1, 0, 0}},
		{name: "pair", text: "a b", pair: "c", isPair: true, opts: EncodeOptions{Tokens: true},
			tokens: []string{"[CLS]", "a", "b", "[SEP]", "c", "[SEP]"}, types: []int32{0, 0, 0, 0, 1, 1}, mask: []int32{1, 1, 1, 1, 1, 1}},
		// limit 5: shorter first (5) vs 7 -> 2 and 3, the longer sequence gets the odd token.
		{name: "pair longest first", text: "a b c d e", pair: "s t a b c d e", isPair: true, opts: EncodeOptions{MaxLength: 8, Tokens: true},
			tokens: []string{"[CLS]", "a", "b", "[SEP]", "s", "t", "a", "[SEP]"}, types: []int32{0, 0, 0, 0, 1, 1, 1, 1}, mask: []int32{1, 1, 1, 1, 1, 1, 1, 1}},
		// limit 6: 1 and 9 -> the short one is kept whole, the long one gets the rest.
		{name: "pair short kept", text: "a", pair: "a b c d e s t a b", isPair: true, opts: EncodeOptions{MaxLength: 9, Tokens: true},
			tokens: []string{"[CLS]", "a", "[SEP]", "a", "b", "c", "d", "e", "[SEP]"}, types: []int32{0, 0, 0, 1, 1, 1, 1, 1, 1}, mask: []int32{1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{name: "max length too small", text: "a", opts: EncodeOptions{MaxLength: 1}, wantErr: "no room"},
		{name: "pair max length too small", text: "a", pair: "b", isPair: true, opts: EncodeOptions{MaxLength: 2}, wantErr: "no room"},
		{name: "pad without length", text: "a", opts: EncodeOptions{Pad: true}, wantErr: "needs a max length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var enc Encoding
			var err error
			if tc.isPair {
				enc, err = tok.EncodePair(tc.text, tc.pair, tc.opts)
			} else {
				enc, err = tok.Encode(tc.text, tc.opts)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(enc.Tokens, tc.tokens) || !reflect.DeepEqual(enc.TypeIDs, tc.types) || !reflect.DeepEqual(enc.AttentionMask, tc.mask) {
				t.Fatalf("got tokens %q types %v mask %v\nwant tokens %q types %v mask %v", enc.Tokens, enc.TypeIDs, enc.AttentionMask, tc.tokens, tc.types, tc.mask)
			}
			for i, id := range enc.IDs {
				if tok.IDToken(id) != enc.Tokens[i] {
					t.Fatalf("id %d at %d is %q, token says %q", id, i, tok.IDToken(id), enc.Tokens[i])
				}
			}
		})
	}
}

func TestTruncateLongestFirst(t *testing.T) {
	for _, tc := range []struct{ n1, n2, limit, w1, w2 int }{
		{3, 4, 10, 3, 4},
		{5, 7, 5, 2, 3},
		{7, 5, 5, 3, 2},
		{6, 6, 5, 2, 3},
		{1, 9, 6, 1, 5},
		{9, 1, 6, 5, 1},
		{10, 20, 0, 0, 0},
		{8, 9, 7, 3, 4},
	} {
		if g1, g2 := truncateLongestFirst(tc.n1, tc.n2, tc.limit); g1 != tc.w1 || g2 != tc.w2 {
			t.Errorf("truncateLongestFirst(%d,%d,%d) = %d,%d want %d,%d", tc.n1, tc.n2, tc.limit, g1, g2, tc.w1, tc.w2)
		}
	}
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct{ name, vocab, want string }{
		{"empty", "", "empty"},
		{"no unk", "[CLS]\n[SEP]\n", "[UNK]"},
		{"no cls", "[UNK]\n[SEP]\n", "[CLS]"},
		{"bad utf8", "[UNK]\n\xff\n", "UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New([]byte(tc.vocab), Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	root, err := hfref.RepoRoot()
	if err != nil {
		b.Fatal(err)
	}
	shared, err := hfref.SharedDir(root)
	if err != nil {
		b.Skip(err)
	}
	vocab, err := os.ReadFile(shared + "/data/vocab/bert-base-uncased-vocab.txt")
	if err != nil {
		b.Fatal(err)
	}
	texts, err := hfref.ReadTSVColumn(shared+"/data/sst2/dev.tsv", "sentence")
	if err != nil {
		b.Fatal(err)
	}
	tok, err := New(vocab, Options{DoLowerCase: true})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tok.Encode(texts[i%len(texts)], EncodeOptions{MaxLength: 128}); err != nil {
			b.Fatal(err)
		}
	}
}
