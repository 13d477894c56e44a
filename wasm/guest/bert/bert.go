//go:build wasip1

package bert

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/whetml/whet/wasm/guest"
	"github.com/whetml/whet/wasm/wordpiece"
)

// CleanFunc rewrites one text before tokenization (strip markup, headers, ...). It must be deterministic.
type CleanFunc func(text string) string

// Register registers a preprocess module called name that applies clean (nil: none) to every text and pair text
// and tokenizes the result with BERT WordPiece. Call it once, from an init function.
func Register(name, description string, clean CleanFunc) {
	m := &module{clean: clean}
	guest.Preprocess(name, m.init, m.preprocess)
	guest.Describe(description)
}

type module struct {
	clean     CleanFunc
	tok       *wordpiece.Tokenizer
	maxLength int
}

func (m *module) init(cfg guest.Config) error {
	if len(cfg.Vocab) == 0 {
		return errors.New("no vocab: the host must pass a vocab.txt")
	}
	tok, err := wordpiece.New(cfg.Vocab, wordpiece.Options{DoLowerCase: cfg.Options.DoLowerCase})
	if err != nil {
		return err
	}
	if cfg.Options.MaxLength < 0 || (cfg.Options.MaxLength > 0 && cfg.Options.MaxLength < 3) {
		return fmt.Errorf("max_length %d: must be 0 (no truncation) or at least 3", cfg.Options.MaxLength)
	}
	m.tok, m.maxLength = tok, cfg.Options.MaxLength
	return nil
}

func (m *module) preprocess(req guest.PreprocessRequest) ([]guest.Row, error) {
	opts := wordpiece.EncodeOptions{MaxLength: m.maxLength, Tokens: req.WithTokens}
	if req.MaxLength > 0 {
		opts.MaxLength = req.MaxLength
	}
	rows := make([]guest.Row, len(req.Texts))
	for i := range rows {
		rows[i] = m.row(req, i, opts)
	}
	return rows, nil
}

// row encodes one row; a panic (a bug, or a text that trips one) fails only that row.
func (m *module) row(req guest.PreprocessRequest, i int, opts wordpiece.EncodeOptions) (row guest.Row) {
	defer func() {
		if r := recover(); r != nil {
			row = guest.Row{Err: fmt.Sprintf("panic: %v", r)}
		}
	}()
	text := req.Texts[i]
	if !utf8.ValidString(text) {
		return guest.Row{Err: "text is not valid UTF-8"}
	}
	if m.clean != nil {
		text = m.clean(text)
	}
	var enc wordpiece.Encoding
	var err error
	if req.TextPairs != nil {
		pair := req.TextPairs[i]
		if !utf8.ValidString(pair) {
			return guest.Row{Err: "text pair is not valid UTF-8"}
		}
		if m.clean != nil {
			pair = m.clean(pair)
		}
		enc, err = m.tok.EncodePair(text, pair, opts)
	} else {
		enc, err = m.tok.Encode(text, opts)
	}
	if err != nil {
		return guest.Row{Err: err.Error()}
	}
	return guest.Row{IDs: enc.IDs, TypeIDs: enc.TypeIDs, AttentionMask: enc.AttentionMask, Tokens: enc.Tokens}
}
