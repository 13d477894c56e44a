// Package safetensors decodes the header of a safetensors file (the format of github.com/huggingface/safetensors):
// an 8-byte little-endian length, then a JSON object giving each tensor's dtype, shape and data offsets, with an
// optional "__metadata__" map of strings. Pure Go: native/checkpoint reads whole files through it, host/modeldir
// checks shapes from the header alone.
package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Entry is one tensor's header record.
type Entry struct {
	DType string  `json:"dtype"`
	Shape []int64 `json:"shape"`
	// DataOffsets are [begin, end) in the data that follows the header.
	DataOffsets []int64 `json:"data_offsets"`
}

// Header is a decoded header.
type Header struct {
	// Tensors holds each tensor's record by name.
	Tensors map[string]Entry
	// Metadata is the "__metadata__" entry; nil when there is none.
	Metadata map[string]string
}

// ParseHeader decodes the JSON header raw (the bytes after the length). Its errors read "header is not JSON: …",
// "__metadata__: …" or "tensor[NAME]: …"; it does not check dtypes, shapes or offsets against the data.
func ParseHeader(raw []byte) (Header, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return Header{}, fmt.Errorf("header is not JSON: %w", err)
	}
	h := Header{Tensors: make(map[string]Entry, len(fields))}
	for name, v := range fields {
		if name == "__metadata__" {
			if err := json.Unmarshal(v, &h.Metadata); err != nil {
				return Header{}, fmt.Errorf("__metadata__: %w", err)
			}
			continue
		}
		var e Entry
		if err := json.Unmarshal(v, &e); err != nil {
			return Header{}, fmt.Errorf("tensor[%s]: %w", name, err)
		}
		h.Tensors[name] = e
	}
	return h, nil
}

// ReadHeader reads and decodes the header at the start of r, refusing a header over limit bytes before reading
// it. Besides ParseHeader's, its errors read "no header length", "header length N is over the limit of M bytes" or
// "header cut short".
func ReadHeader(r io.Reader, limit uint64) (Header, error) {
	var n uint64
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
		return Header{}, errors.New("no header length")
	}
	if n > limit {
		return Header{}, fmt.Errorf("header length %d is over the limit of %d bytes", n, limit)
	}
	raw := make([]byte, n)
	if _, err := io.ReadFull(r, raw); err != nil {
		return Header{}, errors.New("header cut short")
	}
	return ParseHeader(raw)
}
