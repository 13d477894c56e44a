package abi

import (
	"encoding/json"
	"fmt"
)

// Options are the JSON options of an InitRequest.
type Options struct {
	// DoLowerCase lowercases text and strips accents (HuggingFace do_lower_case).
	DoLowerCase bool `json:"do_lower_case"`
	// MaxLength is the default maximum sequence length, special tokens included; 0 means no truncation.
	MaxLength int `json:"max_length,omitempty"`
	// Params holds module-specific settings, passed through unchanged.
	Params json.RawMessage `json:"params,omitempty"`
}

// InitRequest is the whet_init input: how the host configures an instance once after _initialize.
//
// Layout (little-endian): u32 options_len, options (JSON Options); u32 vocab_len, vocab (vocab.txt bytes, may be
// empty); u32 tokenizer_len, tokenizer (HuggingFace tokenizer.json bytes, may be empty).
type InitRequest struct {
	// Options are the JSON options.
	Options Options
	// Vocab is a vocab.txt (one token per line, id = line number), or empty.
	Vocab []byte
	// TokenizerJSON is a HuggingFace tokenizer.json, or empty.
	TokenizerJSON []byte
}

// Append appends the encoded request to dst.
func (r InitRequest) Append(dst []byte) []byte {
	opts, _ := json.Marshal(r.Options) // cannot fail: Params is valid JSON or nil
	dst = appendBlob(dst, opts)
	dst = appendBlob(dst, r.Vocab)
	return appendBlob(dst, r.TokenizerJSON)
}

// DecodeInitRequest decodes a whet_init input. Vocab and TokenizerJSON alias b.
func DecodeInitRequest(b []byte) (InitRequest, error) {
	rd := reader{what: "init request", b: b}
	opts := rd.blob("options")
	vocab := rd.blob("vocab")
	tok := rd.blob("tokenizer_json")
	if err := rd.done(); err != nil {
		return InitRequest{}, err
	}
	var req InitRequest
	if len(opts) > 0 {
		if err := json.Unmarshal(opts, &req.Options); err != nil {
			return InitRequest{}, fmt.Errorf("abi: init request: options: %w", err)
		}
	}
	req.Vocab, req.TokenizerJSON = vocab, tok
	return req, nil
}
