package abi

import (
	"encoding/binary"
	"fmt"
)

// Request flag bits of a PreprocessRequest.
const (
	// FlagPairs marks a request that carries a second text per row (sentence pairs).
	FlagPairs uint32 = 1 << 0
	// FlagTokens asks the module to return the token strings (word pieces) as well as ids.
	FlagTokens uint32 = 1 << 1
)

// PreprocessRequest is the whet_preprocess input: a batch of texts.
//
// Layout (little-endian): u32 flags (FlagPairs, FlagTokens); u32 max_length (0 = the module's default); u32 n;
// n × (u32 len, UTF-8 text); if FlagPairs, n × (u32 len, UTF-8 pair text).
type PreprocessRequest struct {
	// Texts are the first (or only) texts, one per row.
	Texts []string
	// TextPairs are the second texts for sentence-pair tasks: nil, or one per row.
	TextPairs []string
	// MaxLength is the maximum sequence length, special tokens included; 0 means the module's configured default.
	MaxLength int
	// WithTokens asks for the token strings too.
	WithTokens bool
}

// Append appends the encoded request to dst. It panics if TextPairs is neither nil nor as long as Texts; hosts call
// Validate first.
func (r PreprocessRequest) Append(dst []byte) []byte {
	if err := r.Validate(); err != nil {
		panic(err)
	}
	var flags uint32
	if r.TextPairs != nil {
		flags |= FlagPairs
	}
	if r.WithTokens {
		flags |= FlagTokens
	}
	dst = appendU32(dst, flags)
	dst = appendU32(dst, uint32(r.MaxLength))
	dst = appendU32(dst, uint32(len(r.Texts)))
	for _, t := range r.Texts {
		dst = appendString(dst, t)
	}
	for _, t := range r.TextPairs {
		dst = appendString(dst, t)
	}
	return dst
}

// Size returns the encoded size of r in bytes.
func (r PreprocessRequest) Size() int {
	n := 12 + 4*len(r.Texts) + 4*len(r.TextPairs)
	for _, t := range r.Texts {
		n += len(t)
	}
	for _, t := range r.TextPairs {
		n += len(t)
	}
	return n
}

// Validate checks the request's shape.
func (r PreprocessRequest) Validate() error {
	if r.TextPairs != nil && len(r.TextPairs) != len(r.Texts) {
		return fmt.Errorf("abi: preprocess request: %d text pairs for %d texts", len(r.TextPairs), len(r.Texts))
	}
	if r.MaxLength < 0 || int64(r.MaxLength) > 1<<31-1 {
		return fmt.Errorf("abi: preprocess request: max length %d out of range", r.MaxLength)
	}
	return nil
}

// DecodePreprocessRequest decodes a whet_preprocess input. The strings are copies.
func DecodePreprocessRequest(b []byte) (PreprocessRequest, error) {
	rd := reader{what: "preprocess request", b: b}
	flags := rd.u32("flags")
	maxLen := rd.u32("max_length")
	n := rd.count("row count", 4)
	var req PreprocessRequest
	if rd.err == nil {
		req.Texts = make([]string, n)
		for i := range req.Texts {
			req.Texts[i] = string(rd.blob("text"))
		}
		if flags&FlagPairs != 0 {
			req.TextPairs = make([]string, n)
			for i := range req.TextPairs {
				req.TextPairs[i] = string(rd.blob("text pair"))
			}
		}
	}
	if err := rd.done(); err != nil {
		return PreprocessRequest{}, err
	}
	if maxLen > 1<<31-1 {
		return PreprocessRequest{}, fmt.Errorf("abi: preprocess request: max length %d out of range", maxLen)
	}
	req.MaxLength = int(maxLen)
	req.WithTokens = flags&FlagTokens != 0
	return req, nil
}

// Row is one row of a preprocess response: token ids for one text (or text pair), or an error for that row only.
type Row struct {
	// IDs are the token ids, special tokens included, unpadded unless the module was told to pad.
	IDs []int32
	// TypeIDs are the segment ids (0 for the first text, 1 for the pair), one per id.
	TypeIDs []int32
	// AttentionMask is 1 for real tokens and 0 for padding, one per id.
	AttentionMask []int32
	// Tokens are the token strings, one per id, when the request asked for them.
	Tokens []string
	// Err is the row's error message; "" means the row is fine.
	Err string
}

// PreprocessResponse is the body of a successful whet_preprocess response.
//
// Layout (little-endian): u32 flags (FlagTokens when tokens are present); u32 n; then n rows, each u8 status and
//
//	RowOK:    u32 m; m × i32 ids; m × u8 type_ids; m × u8 attention_mask; if FlagTokens, m × (u32 len, UTF-8 token)
//	RowError: u32 len, UTF-8 message
type PreprocessResponse struct {
	// Rows are the results, one per request row, in order.
	Rows []Row
	// HasTokens reports whether the rows carry token strings.
	HasTokens bool
}

// AppendPreprocessHeader appends the response header (flags and row count) to dst; rows follow with AppendRow and
// AppendRowError. Guests use it to stream rows without building a PreprocessResponse.
func AppendPreprocessHeader(dst []byte, rows int, withTokens bool) []byte {
	var flags uint32
	if withTokens {
		flags |= FlagTokens
	}
	dst = appendU32(dst, flags)
	return appendU32(dst, uint32(rows))
}

// AppendRow appends one successful row. typeIDs and mask must be as long as ids; tokens must be too when the header
// said FlagTokens, and is ignored otherwise.
func AppendRow(dst []byte, ids, typeIDs, mask []int32, tokens []string, withTokens bool) []byte {
	dst = append(dst, RowOK)
	dst = appendU32(dst, uint32(len(ids)))
	for _, id := range ids {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(id))
	}
	for i := range ids {
		dst = append(dst, byte(typeIDs[i]))
	}
	for i := range ids {
		dst = append(dst, byte(mask[i]))
	}
	if withTokens {
		for _, t := range tokens {
			dst = appendString(dst, t)
		}
	}
	return dst
}

// AppendRowError appends one failed row.
func AppendRowError(dst []byte, msg string) []byte {
	dst = append(dst, RowError)
	return appendString(dst, msg)
}

// Append appends the whole encoded response body to dst.
func (r PreprocessResponse) Append(dst []byte) []byte {
	dst = AppendPreprocessHeader(dst, len(r.Rows), r.HasTokens)
	for _, row := range r.Rows {
		if row.Err != "" {
			dst = AppendRowError(dst, row.Err)
			continue
		}
		dst = AppendRow(dst, row.IDs, row.TypeIDs, row.AttentionMask, row.Tokens, r.HasTokens)
	}
	return dst
}

// DecodePreprocessResponse decodes a whet_preprocess response body (after DecodeResponse). All slices are fresh
// copies; rows share a few large backing arrays to keep allocations low.
func DecodePreprocessResponse(b []byte) (PreprocessResponse, error) {
	rd := reader{what: "preprocess response", b: b}
	flags := rd.u32("flags")
	n := rd.count("row count", 5)
	if rd.err != nil {
		return PreprocessResponse{}, rd.err
	}
	resp := PreprocessResponse{Rows: make([]Row, n), HasTokens: flags&FlagTokens != 0}
	// Backing arrays sized from the remaining input: each token takes at least 6 bytes on the wire.
	ints := make([]int32, 0, 3*(len(b)-rd.off)/6)
	for i := range resp.Rows {
		row := &resp.Rows[i]
		switch st := rd.u8("row status"); st {
		case RowOK:
			m := rd.count("token count", 6)
			raw := rd.bytes("ids", uint32(4*m))
			types := rd.bytes("type ids", uint32(m))
			mask := rd.bytes("attention mask", uint32(m))
			if rd.err != nil {
				break
			}
			if cap(ints)-len(ints) < 3*m {
				ints = make([]int32, 0, max(3*m, 3*(len(b)-rd.off)/6))
			}
			start := len(ints)
			for j := 0; j < m; j++ {
				ints = append(ints, int32(binary.LittleEndian.Uint32(raw[4*j:])))
			}
			for j := 0; j < m; j++ {
				ints = append(ints, int32(types[j]))
			}
			for j := 0; j < m; j++ {
				ints = append(ints, int32(mask[j]))
			}
			row.IDs = ints[start : start+m : start+m]
			row.TypeIDs = ints[start+m : start+2*m : start+2*m]
			row.AttentionMask = ints[start+2*m : start+3*m : start+3*m]
			if resp.HasTokens {
				row.Tokens = make([]string, m)
				for j := range row.Tokens {
					row.Tokens[j] = string(rd.blob("token"))
				}
			}
		case RowError:
			row.Err = string(rd.blob("row error"))
			if rd.err == nil && row.Err == "" {
				row.Err = "module reported an error without a message"
			}
		default:
			if rd.err == nil {
				rd.err = fmt.Errorf("abi: preprocess response: row %d: unknown row status byte %d", i, st)
			}
		}
		if rd.err != nil {
			break
		}
	}
	if err := rd.done(); err != nil {
		return PreprocessResponse{}, err
	}
	return resp, nil
}
