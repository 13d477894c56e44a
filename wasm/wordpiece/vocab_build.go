package wordpiece

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"
)

// BuildOptions configure BuildVocab.
type BuildOptions struct {
	// Size is the target vocabulary size, special tokens and single characters included. Default: 8000.
	Size int
	// DoLowerCase lowercases and strips accents, as the tokenizer that will use the vocab does. Default: false.
	DoLowerCase bool
	// MinCount drops words seen fewer times. Default: 2.
	MinCount int
	// SuffixShare is the share of the non-character entries given to "##" continuation pieces (word endings such as
	// "##ing"); the rest goes to whole words. Default: 0.15.
	SuffixShare float64
}

// Specials returns the special tokens BuildVocab puts first, in BERT's order of use ([PAD] gets id 0).
func Specials() []string { return []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"} }

// BuildVocab makes a WordPiece vocab.txt from unlabeled text (one document per line): the special tokens, every
// character seen (as itself and as a "##" piece, so no word of the corpus becomes [UNK]), the most frequent word
// endings and the most frequent whole words. It is a frequency vocabulary, not HuggingFace's likelihood-driven
// trainer: good enough to give a small model made from scratch a sensible input space.
//
// Words are cut exactly as Tokenizer cuts them (normalization, punctuation and CJK splitting), because BuildVocab
// runs a character-level Tokenizer over the corpus and reads the word boundaries off its output.
func BuildVocab(r io.Reader, opts BuildOptions) ([]byte, error) {
	opts = opts.withDefaults()
	if opts.Size < len(Specials())+2 {
		return nil, fmt.Errorf("wordpiece: vocab size %d is too small (at least %d)", opts.Size, len(Specials())+2)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("wordpiece: read corpus: %w", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("wordpiece: corpus is empty")
	}
	charTok, err := charTokenizer(data, opts.DoLowerCase)
	if err != nil {
		return nil, err
	}
	words, chars, err := countWords(data, charTok)
	if err != nil {
		return nil, err
	}
	return []byte(strings.Join(vocabOf(words, chars, opts), "\n") + "\n"), nil
}

func (o BuildOptions) withDefaults() BuildOptions {
	if o.Size == 0 {
		o.Size = 8000
	}
	if o.MinCount == 0 {
		o.MinCount = 2
	}
	if o.SuffixShare == 0 {
		o.SuffixShare = 0.15
	}
	return o
}

// charTokenizer returns a tokenizer whose vocab is every character of data, each also as a "##" piece (both cases
// and accent-free forms are covered because the tokenizer normalizes before it looks anything up; unknown characters
// simply come back as [UNK]).
func charTokenizer(data []byte, lower bool) (*Tokenizer, error) {
	chars := map[string]bool{}
	for _, r := range string(data) {
		if r != utf8.RuneError {
			chars[string(r)] = true
			chars[strings.ToLower(string(r))] = true
		}
	}
	charList := make([]string, 0, len(chars))
	for c := range chars {
		charList = append(charList, c)
	}
	sort.Strings(charList)
	var cv strings.Builder
	for _, s := range Specials() {
		cv.WriteString(s + "\n")
	}
	for _, c := range charList {
		if strings.TrimSpace(c) == "" {
			continue
		}
		cv.WriteString(c + "\n" + DefaultContinuingPrefix + c + "\n")
	}
	tok, err := New([]byte(cv.String()), Options{DoLowerCase: lower})
	if err != nil {
		return nil, fmt.Errorf("wordpiece: character vocab: %w", err)
	}
	return tok, nil
}

// countWords counts the words of data (one document per line) as charTok cuts them, reading them off its character
// pieces (a piece without "##" starts a new word), and returns the set of characters those words use.
func countWords(data []byte, charTok *Tokenizer) (words map[string]int, chars map[string]bool, err error) {
	words, chars = map[string]int{}, map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var w strings.Builder
	flush := func() {
		if w.Len() > 0 {
			words[w.String()]++
			w.Reset()
		}
	}
	for sc.Scan() {
		for _, p := range charTok.Tokenize(sc.Text()) {
			if p == "[UNK]" {
				flush()
				continue
			}
			if rest, ok := strings.CutPrefix(p, DefaultContinuingPrefix); ok && w.Len() > 0 {
				w.WriteString(rest)
				chars[rest] = true
				continue
			}
			flush()
			w.WriteString(p)
			chars[p] = true
		}
		flush()
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("wordpiece: scan corpus: %w", err)
	}
	return words, chars, nil
}

// vocabOf lists the vocab: specials, the characters the normalized corpus really uses (alone and as "##" pieces),
// then word endings and whole words by frequency, up to opts.Size entries.
func vocabOf(words map[string]int, chars map[string]bool, opts BuildOptions) []string {
	out := append([]string(nil), Specials()...)
	have := map[string]bool{}
	for _, s := range Specials() {
		have[s] = true
	}
	add := func(s string) {
		if !have[s] && len(out) < opts.Size {
			have[s] = true
			out = append(out, s)
		}
	}
	used := make([]string, 0, len(chars))
	for c := range chars {
		used = append(used, c)
	}
	sort.Strings(used)
	for _, c := range used {
		add(c)
	}
	for _, c := range used {
		add(DefaultContinuingPrefix + c)
	}

	room := opts.Size - len(out)
	suffixes := map[string]int{}
	for word, n := range words {
		rs := []rune(word)
		for k := 2; k <= 4 && k < len(rs); k++ {
			suffixes[string(rs[len(rs)-k:])] += n
		}
	}
	for _, s := range topByCount(suffixes, opts.MinCount, int(float64(room)*opts.SuffixShare)) {
		add(DefaultContinuingPrefix + s)
	}
	for _, word := range topByCount(words, opts.MinCount, opts.Size) {
		add(word)
	}
	return out
}

// topByCount returns up to n keys seen at least min times, most frequent first (ties in lexical order, so the
// result does not depend on map order).
func topByCount(counts map[string]int, min, n int) []string {
	keys := make([]string, 0, len(counts))
	for k, c := range counts {
		if c >= min {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if counts[keys[i]] != counts[keys[j]] {
			return counts[keys[i]] > counts[keys[j]]
		}
		return keys[i] < keys[j]
	})
	if len(keys) > n {
		keys = keys[:n]
	}
	return keys
}
