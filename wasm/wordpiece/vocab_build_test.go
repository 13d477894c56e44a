package wordpiece

import (
	"strings"
	"testing"
)

func TestBuildVocab(t *testing.T) {
	corpus := strings.Repeat("The runner was running; runners run. Café au lait! 你好世界\n", 3) + "once\n"
	vocab, err := BuildVocab(strings.NewReader(corpus), BuildOptions{Size: 200, DoLowerCase: true})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(vocab)), "\n")
	for i, s := range Specials() {
		if lines[i] != s {
			t.Fatalf("line %d = %q, want %q", i, lines[i], s)
		}
	}
	tok, err := New(vocab, Options{DoLowerCase: true})
	if err != nil {
		t.Fatalf("built vocab does not load: %v", err)
	}
	tests := []struct {
		text string
		want []string
	}{
		{"running", []string{"running"}},             // frequent word: whole
		{"Café", []string{"cafe"}},                   // normalized exactly as the tokenizer does
		{"你好", []string{"你", "好"}},                   // CJK split per character
		{"once", []string{"o", "##n", "##c", "##e"}}, // seen once: below MinCount, spelled out
		{"runs", []string{"run", "##s"}},             // a known word then characters
		{"unseenq", []string{"[UNK]"}},               // 'q' never appears in the corpus
	}
	for _, tt := range tests {
		if got := tok.Tokenize(tt.text); strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("Tokenize(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}

func TestBuildVocabErrors(t *testing.T) {
	if _, err := BuildVocab(strings.NewReader("  \n"), BuildOptions{}); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty corpus: err = %v", err)
	}
	if _, err := BuildVocab(strings.NewReader("a b"), BuildOptions{Size: 3}); err == nil || !strings.Contains(err.Error(), "too small") {
		t.Fatalf("tiny size: err = %v", err)
	}
}
