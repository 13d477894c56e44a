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
	if opts.Size == 0 {
		opts.Size = 8000
	}
	if opts.MinCount == 0 {
		opts.MinCount = 2
	}
	if opts.SuffixShare == 0 {
		opts.SuffixShare = 0.15
	}
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

	// Pass 1: a tokenizer whose vocab is every character (both cases and accent-free forms are covered because the
	// tokenizer normalizes before it looks anything up; unknown characters simply come back as [UNK]).
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
	charTok, err := New([]byte(cv.String()), Options{DoLowerCase: opts.DoLowerCase})
	if err != nil {
		return nil, fmt.Errorf("wordpiece: character vocab: %w", err)
	}

	// Pass 2: read words off the character pieces: a piece without "##" starts a new word.
	words := map[string]int{}
	seenChars := map[string]bool{}
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
				seenChars[rest] = true
				continue
			}
			flush()
			w.WriteString(p)
			seenChars[p] = true
		}
		flush()
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("wordpiece: scan corpus: %w", err)
	}

	// The vocab: specials, the characters the normalized corpus really uses, then suffixes and words by frequency.
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
	used := make([]string, 0, len(seenChars))
	for c := range seenChars {
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
	return []byte(strings.Join(out, "\n") + "\n"), nil
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
