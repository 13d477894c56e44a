package wordpiece

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Default special tokens and limits, as in HuggingFace's BERT tokenizers.
const (
	DefaultUnkToken             = "[UNK]"
	DefaultClsToken             = "[CLS]"
	DefaultSepToken             = "[SEP]"
	DefaultPadToken             = "[PAD]"
	DefaultMaskToken            = "[MASK]"
	DefaultContinuingPrefix     = "##"
	DefaultMaxInputCharsPerWord = 100
)

// Options configure a Tokenizer. The zero value is a cased tokenizer (no lowercasing, no accent stripping).
type Options struct {
	// DoLowerCase lowercases the text (HuggingFace do_lower_case). Default: false.
	DoLowerCase bool
	// StripAccents removes accents (NFD, then drop non-spacing marks). nil follows DoLowerCase, as HuggingFace does.
	StripAccents *bool
	// MaxInputCharsPerWord turns longer words into [UNK]. Default: 100.
	MaxInputCharsPerWord int
}

// EncodeOptions configure one Encode or EncodePair call.
type EncodeOptions struct {
	// MaxLength truncates to at most this many tokens, special tokens included (longest-first for pairs);
	// 0 means no truncation. It must leave room for the special tokens (2 for a text, 3 for a pair).
	MaxLength int
	// Pad pads to MaxLength with [PAD] (type id 0, attention mask 0). Requires MaxLength > 0 and [PAD] in the vocab.
	Pad bool
	// Tokens fills Encoding.Tokens with the token strings.
	Tokens bool
}

// Encoding is the result of encoding one text or text pair.
type Encoding struct {
	// IDs are the vocabulary ids, [CLS] first.
	IDs []int32
	// TypeIDs are 0 for [CLS], the first text and its [SEP]; 1 for the pair text and the final [SEP].
	TypeIDs []int32
	// AttentionMask is 1 for real tokens and 0 for padding.
	AttentionMask []int32
	// Tokens are the token strings ("[CLS]", "hello", "##s", ...) when EncodeOptions.Tokens was set.
	Tokens []string
}

// Tokenizer is an immutable BERT WordPiece tokenizer. It is safe for concurrent use.
type Tokenizer struct {
	vocab      map[string]int32 // token -> id
	cont       map[string]int32 // continuation piece without "##" -> id of "##piece"
	inv        []string         // id -> token
	maxTok     int              // longest token in vocab, in bytes
	maxCont    int              // longest continuation piece (prefix stripped), in bytes
	lower      bool
	strip      bool
	maxChars   int
	unk        int32
	cls, sep   int32
	pad        int32 // -1 when the vocab has no [PAD]
	specials   []string
	specialIDs []int32
}

// ErrNoVocab is returned by New for an empty vocabulary.
var ErrNoVocab = errors.New("wordpiece: vocab is empty")

// New builds a Tokenizer from the bytes of a vocab.txt: one token per line, the id being the line number (0-based);
// trailing white space (including \r) is trimmed and a later duplicate overrides an earlier one, as HuggingFace
// reads it. The vocab must contain [UNK], [CLS] and [SEP].
func New(vocab []byte, opts Options) (*Tokenizer, error) {
	if len(bytes.TrimSpace(vocab)) == 0 {
		return nil, ErrNoVocab
	}
	if !utf8.Valid(vocab) {
		return nil, errors.New("wordpiece: vocab is not valid UTF-8")
	}
	all := string(vocab) // one copy; every token below is a substring of it
	lines := strings.Split(all, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) > 1<<31-1 {
		return nil, fmt.Errorf("wordpiece: vocab has %d lines, too many", len(lines))
	}
	t := &Tokenizer{
		vocab:    make(map[string]int32, len(lines)),
		cont:     make(map[string]int32, len(lines)/4),
		inv:      make([]string, len(lines)),
		lower:    opts.DoLowerCase,
		strip:    opts.DoLowerCase,
		maxChars: DefaultMaxInputCharsPerWord,
		pad:      -1,
	}
	if opts.StripAccents != nil {
		t.strip = *opts.StripAccents
	}
	if opts.MaxInputCharsPerWord > 0 {
		t.maxChars = opts.MaxInputCharsPerWord
	}
	for i, line := range lines {
		tok := strings.TrimRightFunc(line, unicode.IsSpace)
		t.vocab[tok] = int32(i)
		t.inv[i] = tok
		t.maxTok = max(t.maxTok, len(tok))
	}
	// Continuation pieces after the duplicates have been resolved, so ids agree with the vocab map.
	for tok, id := range t.vocab {
		if rest, ok := strings.CutPrefix(tok, DefaultContinuingPrefix); ok {
			t.cont[rest] = id
			t.maxCont = max(t.maxCont, len(rest))
		}
	}
	var ok bool
	for _, req := range []struct {
		name string
		id   *int32
	}{{DefaultUnkToken, &t.unk}, {DefaultClsToken, &t.cls}, {DefaultSepToken, &t.sep}} {
		if *req.id, ok = t.vocab[req.name]; !ok {
			return nil, fmt.Errorf("wordpiece: vocab has no %s token", req.name)
		}
	}
	if id, ok := t.vocab[DefaultPadToken]; ok {
		t.pad = id
	}
	for _, s := range []string{DefaultPadToken, DefaultUnkToken, DefaultClsToken, DefaultSepToken, DefaultMaskToken} {
		if id, ok := t.vocab[s]; ok {
			t.specials = append(t.specials, s)
			t.specialIDs = append(t.specialIDs, id)
		}
	}
	return t, nil
}

// VocabSize returns the number of lines (ids) in the vocabulary.
func (t *Tokenizer) VocabSize() int { return len(t.inv) }

// IDToken returns the token string for id, or "" when id is out of range.
func (t *Tokenizer) IDToken(id int32) string {
	if id < 0 || int(id) >= len(t.inv) {
		return ""
	}
	return t.inv[id]
}

// TokenID returns the id of token and whether the vocabulary has it.
func (t *Tokenizer) TokenID(token string) (int32, bool) {
	id, ok := t.vocab[token]
	return id, ok
}

// Tokenize returns the word pieces of text, without [CLS]/[SEP] and without truncation.
func (t *Tokenizer) Tokenize(text string) []string {
	ids := t.AppendIDs(nil, text)
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = t.inv[id]
	}
	return out
}

// Encode encodes one text as [CLS] text [SEP].
func (t *Tokenizer) Encode(text string, opts EncodeOptions) (Encoding, error) {
	if err := t.checkOptions(opts, 2); err != nil {
		return Encoding{}, err
	}
	a := t.AppendIDs(make([]int32, 0, len(text)/3+4), text)
	if opts.MaxLength > 0 && len(a) > opts.MaxLength-2 {
		a = a[:opts.MaxLength-2]
	}
	return t.assemble(a, nil, false, opts), nil
}

// EncodePair encodes a text pair as [CLS] text [SEP] pair [SEP], truncating longest-first.
func (t *Tokenizer) EncodePair(text, pair string, opts EncodeOptions) (Encoding, error) {
	if err := t.checkOptions(opts, 3); err != nil {
		return Encoding{}, err
	}
	a := t.AppendIDs(nil, text)
	b := t.AppendIDs(nil, pair)
	if opts.MaxLength > 0 {
		n1, n2 := truncateLongestFirst(len(a), len(b), opts.MaxLength-3)
		a, b = a[:n1], b[:n2]
	}
	return t.assemble(a, b, true, opts), nil
}

func (t *Tokenizer) checkOptions(opts EncodeOptions, specials int) error {
	if opts.MaxLength < 0 {
		return fmt.Errorf("wordpiece: max length %d is negative", opts.MaxLength)
	}
	if opts.MaxLength > 0 && opts.MaxLength < specials {
		return fmt.Errorf("wordpiece: max length %d leaves no room for the %d special tokens", opts.MaxLength, specials)
	}
	if opts.Pad && opts.MaxLength == 0 {
		return errors.New("wordpiece: padding needs a max length")
	}
	if opts.Pad && t.pad < 0 {
		return fmt.Errorf("wordpiece: padding needs a %s token, the vocab has none", DefaultPadToken)
	}
	return nil
}

// truncateLongestFirst returns the lengths HuggingFace's longest_first strategy keeps for a pair of n1 and n2
// tokens when at most limit tokens fit (tokenizers/src/utils/truncation.rs).
func truncateLongestFirst(n1, n2, limit int) (int, int) {
	if n1+n2 <= limit {
		return n1, n2
	}
	if limit == 0 {
		return 0, 0
	}
	swap := n1 > n2
	if swap {
		n1, n2 = n2, n1
	}
	if n1 > limit {
		n2 = n1
	} else {
		n2 = max(n1, limit-n1)
	}
	if n1+n2 > limit {
		n1 = limit / 2
		n2 = n1 + limit%2
	}
	if swap {
		n1, n2 = n2, n1
	}
	return n1, n2
}

func (t *Tokenizer) assemble(a, b []int32, isPair bool, opts EncodeOptions) Encoding {
	n := len(a) + 2
	if isPair {
		n += len(b) + 1
	}
	total := n
	if opts.Pad && opts.MaxLength > total {
		total = opts.MaxLength
	}
	buf := make([]int32, 3*total)
	enc := Encoding{IDs: buf[:0:total], TypeIDs: buf[total : 2*total : 2*total], AttentionMask: buf[2*total:]}
	enc.IDs = append(enc.IDs, t.cls)
	enc.IDs = append(enc.IDs, a...)
	enc.IDs = append(enc.IDs, t.sep)
	if isPair {
		enc.IDs = append(enc.IDs, b...)
		enc.IDs = append(enc.IDs, t.sep)
		for i := len(a) + 2; i < n; i++ {
			enc.TypeIDs[i] = 1
		}
	}
	for i := 0; i < n; i++ {
		enc.AttentionMask[i] = 1
	}
	for len(enc.IDs) < total {
		enc.IDs = append(enc.IDs, t.pad)
	}
	if opts.Tokens {
		enc.Tokens = make([]string, total)
		for i, id := range enc.IDs {
			enc.Tokens[i] = t.inv[id]
		}
	}
	return enc
}

// AppendIDs appends the word-piece ids of text (no special tokens, no truncation) to dst.
func (t *Tokenizer) AppendIDs(dst []int32, text string) []int32 {
	if len(t.specials) > 0 && strings.IndexByte(text, '[') >= 0 {
		for text != "" {
			i, tok, id := t.nextSpecial(text)
			if i < 0 {
				break
			}
			dst = t.appendSegment(dst, text[:i])
			dst = append(dst, id)
			text = text[i+len(tok):]
		}
	}
	return t.appendSegment(dst, text)
}

// nextSpecial finds the leftmost special token in s (they never prefix one another, so leftmost is also longest).
func (t *Tokenizer) nextSpecial(s string) (int, string, int32) {
	off := 0
	for {
		i := strings.IndexByte(s[off:], '[')
		if i < 0 {
			return -1, "", 0
		}
		off += i
		for k, sp := range t.specials {
			if strings.HasPrefix(s[off:], sp) {
				return off, sp, t.specialIDs[k]
			}
		}
		off++
	}
}

// appendSegment normalizes, pre-tokenizes and word-pieces a text segment that holds no special token.
func (t *Tokenizer) appendSegment(dst []int32, s string) []int32 {
	if s == "" {
		return dst
	}
	norm := t.normalize(s)
	word := make([]byte, 0, 64)
	flush := func() {
		if len(word) > 0 {
			dst = t.appendWord(dst, word)
			word = word[:0]
		}
	}
	for i := 0; i < len(norm); {
		c := norm[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case c == ' ':
				flush()
			case isASCIIPunct(c):
				flush()
				dst = t.appendWord(dst, []byte{c})
			default:
				if t.lower && 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				word = append(word, c)
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(norm[i:])
		i += size
		switch {
		case unicode.IsSpace(r) || unicode.Is(unicode.White_Space, r):
			flush()
		case unicode.IsPunct(r):
			flush()
			dst = t.appendWord(dst, []byte(norm[i-size:i]))
		default:
			if t.lower {
				if r == 'İ' { // full lowercase mapping, as Rust's char::to_lowercase
					word = append(word, "i\u0307"...)
					continue
				}
				r = unicode.ToLower(r)
			}
			word = utf8.AppendRune(word, r)
		}
	}
	flush()
	return dst
}

// normalize applies BertNormalizer's clean-text, Chinese-character and accent-stripping steps. Lowercasing happens
// during pre-tokenization, which is equivalent because lowercasing creates no marks, spaces or punctuation.
func (t *Tokenizer) normalize(s string) string {
	clean := true
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			ascii = false
			clean = false
			break
		}
		if c < 0x20 || c == 0x7f {
			clean = false
		}
	}
	if clean {
		return s
	}
	buf := make([]byte, 0, len(s)+8)
	for _, r := range s {
		switch {
		case r == 0 || r == utf8.RuneError:
		case r == '\t' || r == '\n' || r == '\r' || r == ' ':
			buf = append(buf, ' ')
		case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs):
		case r >= utf8.RuneSelf && unicode.Is(unicode.White_Space, r):
			buf = append(buf, ' ')
		case isChinese(r):
			buf = append(buf, ' ')
			buf = utf8.AppendRune(buf, r)
			buf = append(buf, ' ')
		default:
			buf = utf8.AppendRune(buf, r)
		}
	}
	if t.strip && !ascii {
		d := norm.NFD.Bytes(buf)
		buf = buf[:0]
		for i := 0; i < len(d); {
			r, size := utf8.DecodeRune(d[i:])
			if r < utf8.RuneSelf || !unicode.Is(unicode.Mn, r) {
				buf = append(buf, d[i:i+size]...)
			}
			i += size
		}
	}
	return string(buf)
}

// appendWord runs greedy longest-match-first WordPiece on one pre-tokenized, normalized word.
func (t *Tokenizer) appendWord(dst []int32, w []byte) []int32 {
	if len(w) > t.maxChars && utf8.RuneCount(w) > t.maxChars {
		return append(dst, t.unk)
	}
	mark := len(dst)
	for start := 0; start < len(w); {
		m, limit := t.vocab, t.maxTok
		if start > 0 {
			m, limit = t.cont, t.maxCont
		}
		end := min(len(w), start+limit)
		for end > start && end < len(w) && !utf8.RuneStart(w[end]) {
			end--
		}
		found := false
		for end > start {
			if id, ok := m[string(w[start:end])]; ok {
				dst = append(dst, id)
				found = true
				break
			}
			end--
			for end > start && !utf8.RuneStart(w[end]) {
				end--
			}
		}
		if !found {
			return append(dst[:mark], t.unk)
		}
		start = end
	}
	return dst
}

func isASCIIPunct(c byte) bool {
	return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)
}

// isChinese reports whether r is a CJK ideograph in the ranges HuggingFace's BertNormalizer pads with spaces.
func isChinese(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) ||
		(r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) ||
		(r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) ||
		(r >= 0x2B920 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) ||
		(r >= 0x2F800 && r <= 0x2FA1F)
}
