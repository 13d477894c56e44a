//go:build wasip1

// Command hf-tokenizer is the built-in preprocess module for models that ship a HuggingFace tokenizer.json instead
// of (or besides) a vocab.txt: BPE, Unigram, WordPiece and WordLevel tokenizers, loaded through
// github.com/sugarme/tokenizer. Built for GOOS=wasip1 as a reactor (see wasm/ABI.md).
//
// For BERT WordPiece models prefer bert-wordpiece: sugarme/tokenizer's BertNormalizer differs from HuggingFace
// (accents, non-breaking spaces, dotted capitals) and is slower. The library's panics are contained per row;
// a log.Fatal inside it exits the instance, which the host reports and replaces.
//
// whet_init needs tokenizer_json; options.max_length (or the request's max length) truncates longest-first and
// overrides the file's truncation settings; padding in the file is turned off (rows come back unpadded).
package main

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/sugarme/tokenizer"
	"github.com/sugarme/tokenizer/pretrained"

	"github.com/whetml/whet/wasm/guest"
)

var (
	tk        *tokenizer.Tokenizer
	maxLength int
)

func init() {
	guest.Preprocess("hf-tokenizer", configure, preprocess)
	guest.Describe("HuggingFace tokenizer.json (BPE, Unigram, WordPiece, WordLevel) through sugarme/tokenizer")
}

func configure(cfg guest.Config) (err error) {
	if len(cfg.TokenizerJSON) == 0 {
		return errors.New("no tokenizer.json: the host must pass one (PreprocessOptions.TokenizerJSON)")
	}
	if cfg.Options.MaxLength < 0 {
		return fmt.Errorf("max_length %d is negative", cfg.Options.MaxLength)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("load tokenizer.json: panic: %v", r)
		}
	}()
	t, err := pretrained.FromReader(bytes.NewReader(cfg.TokenizerJSON))
	if err != nil {
		return fmt.Errorf("load tokenizer.json: %w", err)
	}
	t.WithPadding(nil)
	tk, maxLength = t, cfg.Options.MaxLength
	if maxLength > 0 {
		tk.WithTruncation(&tokenizer.TruncationParams{MaxLength: maxLength, Strategy: tokenizer.LongestFirst})
	}
	return nil
}

func preprocess(req guest.PreprocessRequest) ([]guest.Row, error) {
	if req.MaxLength > 0 {
		tk.WithTruncation(&tokenizer.TruncationParams{MaxLength: req.MaxLength, Strategy: tokenizer.LongestFirst})
		defer func() {
			if maxLength > 0 {
				tk.WithTruncation(&tokenizer.TruncationParams{MaxLength: maxLength, Strategy: tokenizer.LongestFirst})
			} else {
				tk.WithTruncation(nil)
			}
		}()
	}
	rows := make([]guest.Row, len(req.Texts))
	for i := range rows {
		rows[i] = encode(req, i)
	}
	return rows, nil
}

// encode encodes one row; a panic inside the library fails only this row.
func encode(req guest.PreprocessRequest, i int) (row guest.Row) {
	defer func() {
		if r := recover(); r != nil {
			row = guest.Row{Err: fmt.Sprintf("tokenizer panicked: %v", r)}
		}
	}()
	var enc *tokenizer.Encoding
	var err error
	if req.TextPairs != nil {
		enc, err = tk.EncodePair(req.Texts[i], req.TextPairs[i], true)
	} else {
		enc, err = tk.EncodeSingle(req.Texts[i], true)
	}
	if err != nil {
		return guest.Row{Err: err.Error()}
	}
	row.IDs = toInt32(enc.GetIds())
	row.TypeIDs = toInt32(enc.GetTypeIds())
	row.AttentionMask = toInt32(enc.GetAttentionMask())
	if req.WithTokens {
		row.Tokens = enc.GetTokens()
	}
	return row
}

func toInt32(v []int) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}

func main() {}
