package hfref

import (
	"path/filepath"
	"strings"
)

// TinyVocab is the path, relative to the repository root, of a small hand-made vocab.txt (90 lines, with a
// duplicate token) that the edge cases exercise without needing ../shared.
const TinyVocab = "wasm/wordpiece/hfref/tiny-vocab.txt"

// TinyVocabPath returns TinyVocab under root.
func TinyVocabPath(root string) string { return filepath.Join(root, filepath.FromSlash(TinyVocab)) }

// EdgeCases returns hand-written sentences and pairs that stress every step of BERT tokenization: accents,
// Turkish dotted capitals, non-breaking and ideographic spaces, control and format characters, CJK, emoji,
// punctuation classes, special tokens inside text, long words, empty texts and pairs.
func EdgeCases() []Input {
	single := []string{
		"",
		" ",
		"Café",
		"café CAFÉ cafe\u0301",
		"İstanbul",
		"ISTANBUL ıstanbul i̇stanbul",
		"hello\u00a0world",
		"hello\u3000world\u2028the\u202fdog",
		"a\u200bb a\u200db a\ufeffb a\u00adb",
		"hello\tworld\nthe\r\ndog",
		"a\x00b a\ufffdb a\x07b a\x1bb",
		"你好世界",
		"中文abc中文",
		"emoji 🥰 and 😀!",
		"the quick brown fox, don't!",
		"a$b+c<d>e=f^g`h|i~j",
		"x—y«z»§a·b",
		"hello[MASK]world [CLS] [SEP][PAD] [UNK] [mask] [MASK",
		"unaffable running tested",
		strings.Repeat("a", 100),
		strings.Repeat("a", 101),
		strings.Repeat("é", 101),
		"abc abcabc abcd 1234",
		"ἀ ä Ä ǅ ß ẞ Σ ς",
		"çok güzel ğ Ğ",
		"mailbox@email.com",
		"\u0085x\u180ey",
		"\ue000private\U000f0000",
		"ﬁne ① ｆｕｌｌ",
		"\u0301\u0301a",
		"\U0002B820\U0002B920\U0002CEAF\U00030000",
		"tab\t\t\tsep",
	}
	var out []Input
	for _, s := range single {
		out = append(out, Input{Text: s})
	}
	pairs := [][2]string{
		{"", ""},
		{"hello", ""},
		{"", "world"},
		{"the quick brown fox", "over the lazy dog"},
		{"Café İstanbul", "你好 hello[SEP]world"},
		{strings.Repeat("the ", 40), strings.Repeat("dog ", 7)},
		{strings.Repeat("dog ", 7), strings.Repeat("the ", 40)},
		{strings.Repeat("a b ", 20), strings.Repeat("c d ", 20)},
	}
	for _, p := range pairs {
		out = append(out, Input{Text: p[0], Pair: p[1], HasPair: true})
	}
	return out
}
