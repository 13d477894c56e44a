package onnx

import (
	"encoding/json"
	"fmt"
	"strings"
)

// specialTokens are BERT's special tokens, added to tokenizer.json when the vocabulary has them.
var specialTokens = [...]string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}

// BertTokenizerJSON builds a HuggingFace tokenizer.json equivalent to BertTokenizerFast for vocab.txt's content:
// BertNormalizer (clean text, Chinese characters split, accents stripped when lowercasing), BertPreTokenizer,
// WordPiece (##, [UNK], 100 characters per word), [CLS] a [SEP] b [SEP]. Tokens are read as HF reads vocab.txt: one
// per line, trailing whitespace trimmed, id = line number, a later duplicate winning.
//
// # Errors
//
// A vocabulary without [CLS], [SEP] or [UNK].
func BertTokenizerJSON(vocabTxt []byte, lowercase bool) ([]byte, error) {
	lines := strings.Split(string(vocabTxt), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	vocab := make(map[string]int, len(lines))
	for i, l := range lines {
		vocab[strings.TrimRight(l, " \t\r\n\v\f")] = i
	}
	for _, t := range []string{"[CLS]", "[SEP]", "[UNK]"} {
		if _, ok := vocab[t]; !ok {
			return nil, fmt.Errorf("vocab.txt has no %s token", t)
		}
	}
	var added []map[string]any
	for _, t := range specialTokens {
		id, ok := vocab[t]
		if !ok {
			continue
		}
		added = append(added, map[string]any{"id": id, "content": t, "single_word": false, "lstrip": false,
			"rstrip": false, "normalized": false, "special": true})
	}
	doc := map[string]any{
		"version":      "1.0",
		"truncation":   nil,
		"padding":      nil,
		"added_tokens": added,
		"normalizer": map[string]any{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
			"strip_accents": nil, "lowercase": lowercase},
		"pre_tokenizer": map[string]any{"type": "BertPreTokenizer"},
		"post_processor": map[string]any{"type": "BertProcessing",
			"sep": []any{"[SEP]", vocab["[SEP]"]}, "cls": []any{"[CLS]", vocab["[CLS]"]}},
		"decoder": map[string]any{"type": "WordPiece", "prefix": "##", "cleanup": true},
		"model": map[string]any{"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
			"max_input_chars_per_word": 100, "vocab": vocab},
	}
	return json.Marshal(doc)
}
