package abi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Version is the ABI version this package implements. A module reports the version it was built against from
// whet_abi_version; the host refuses modules whose version it does not support.
const Version = 1

// Export names every whet module must (or, for the kind-specific calls, may) export.
const (
	// ExportMemory is the module's linear memory; requests and responses live in it.
	ExportMemory = "memory"
	// ExportInitialize is the WASI reactor initializer; the host calls it once per instance, before anything else.
	ExportInitialize = "_initialize"
	// ExportABIVersion is `whet_abi_version() -> i32`.
	ExportABIVersion = "whet_abi_version"
	// ExportAlloc is `whet_alloc(size i32) -> ptr i32`: a buffer the guest keeps alive until whet_free.
	ExportAlloc = "whet_alloc"
	// ExportFree is `whet_free(ptr i32)`: releases a buffer returned by whet_alloc.
	ExportFree = "whet_free"
	// ExportInfo is `whet_info() -> i64`: a response whose body is the Info JSON document.
	ExportInfo = "whet_info"
	// ExportInit is `whet_init(ptr i32, len i32) -> i64`: configures the instance with an InitRequest.
	ExportInit = "whet_init"
	// ExportPreprocess is `whet_preprocess(ptr i32, len i32) -> i64`: tokenizes a PreprocessRequest batch.
	ExportPreprocess = "whet_preprocess"
	// ExportEvaluate is `whet_evaluate(ptr i32, len i32) -> i64`: computes metrics for an EvaluateRequest.
	ExportEvaluate = "whet_evaluate"
)

// RequiredExports returns the functions every module exports, whatever its kind.
func RequiredExports() []string {
	return []string{ExportInitialize, ExportABIVersion, ExportAlloc, ExportFree, ExportInfo, ExportInit}
}

// Kind is what a module does.
type Kind string

const (
	// KindPreprocess modules turn texts into token ids (whet_preprocess).
	KindPreprocess Kind = "preprocess"
	// KindEvaluate modules turn labels and predictions into a metrics document (whet_evaluate).
	KindEvaluate Kind = "evaluate"
)

// Export returns the kind-specific export a module of kind k must have, or "" for an unknown kind.
func (k Kind) Export() string {
	switch k {
	case KindPreprocess:
		return ExportPreprocess
	case KindEvaluate:
		return ExportEvaluate
	}
	return ""
}

// Response status bytes: the first byte of every response.
const (
	// StatusOK means the rest of the response is the call's body.
	StatusOK byte = 0
	// StatusError means the rest of the response is a UTF-8 error message for the whole call.
	StatusError byte = 1
)

// Row status bytes in a preprocess response.
const (
	// RowOK means the row carries token ids.
	RowOK byte = 0
	// RowError means the row carries a UTF-8 error message; other rows are unaffected.
	RowError byte = 1
)

// PackResult packs a guest buffer into the i64 that whet_info, whet_init, whet_preprocess and whet_evaluate return:
// ptr in the high 32 bits, length in the low 32 bits.
func PackResult(ptr, length uint32) uint64 { return uint64(ptr)<<32 | uint64(length) }

// UnpackResult splits an i64 result into its pointer and length. The host must still bounds-check both against the
// guest's memory size.
func UnpackResult(v uint64) (ptr, length uint32) { return uint32(v >> 32), uint32(v) }

// AppendOK appends a success response (StatusOK followed by body) to dst.
func AppendOK(dst, body []byte) []byte {
	dst = append(dst, StatusOK)
	return append(dst, body...)
}

// AppendError appends an error response (StatusError followed by msg) to dst.
func AppendError(dst []byte, msg string) []byte {
	dst = append(dst, StatusError)
	return append(dst, msg...)
}

// ModuleError is an error a module reported for a whole call (a StatusError response).
type ModuleError struct {
	// Message is the module's UTF-8 message, as sent.
	Message string
}

func (e *ModuleError) Error() string { return "module error: " + e.Message }

// ErrEmptyResponse is returned by DecodeResponse for a zero-length response.
var ErrEmptyResponse = errors.New("abi: empty response (no status byte)")

// DecodeResponse splits a response into its body. A StatusError response becomes a *ModuleError. The returned body
// aliases resp.
func DecodeResponse(resp []byte) ([]byte, error) {
	if len(resp) == 0 {
		return nil, ErrEmptyResponse
	}
	switch resp[0] {
	case StatusOK:
		return resp[1:], nil
	case StatusError:
		return nil, &ModuleError{Message: string(resp[1:])}
	}
	return nil, fmt.Errorf("abi: unknown response status byte %d", resp[0])
}

// reader decodes little-endian fields from a byte slice, remembering the first error.
type reader struct {
	what string // what is being decoded, for error messages
	b    []byte
	off  int
	err  error
}

func (r *reader) fail(field string, need int) {
	if r.err == nil {
		r.err = fmt.Errorf("abi: %s: truncated at byte %d reading %s (need %d bytes, have %d)",
			r.what, r.off, field, need, len(r.b)-r.off)
	}
}

func (r *reader) u8(field string) byte {
	if r.err != nil {
		return 0
	}
	if len(r.b)-r.off < 1 {
		r.fail(field, 1)
		return 0
	}
	v := r.b[r.off]
	r.off++
	return v
}

func (r *reader) u32(field string) uint32 {
	if r.err != nil {
		return 0
	}
	if len(r.b)-r.off < 4 {
		r.fail(field, 4)
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

// bytes returns the next n bytes as a view of the input.
func (r *reader) bytes(field string, n uint32) []byte {
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(r.b)-r.off) {
		r.fail(field, int(min(uint64(n), math.MaxInt32)))
		return nil
	}
	v := r.b[r.off : r.off+int(n) : r.off+int(n)]
	r.off += int(n)
	return v
}

// blob reads a u32 length followed by that many bytes.
func (r *reader) blob(field string) []byte { return r.bytes(field, r.u32(field+" length")) }

// count reads a u32 element count and checks that at least minSize bytes per element remain, so a hostile count
// cannot make the decoder allocate more than the input justifies.
func (r *reader) count(field string, minSize int) int {
	n := r.u32(field)
	if r.err != nil {
		return 0
	}
	if minSize > 0 && uint64(n)*uint64(minSize) > uint64(len(r.b)-r.off) {
		r.err = fmt.Errorf("abi: %s: %s %d needs at least %d bytes, only %d remain", r.what, field, n,
			uint64(n)*uint64(minSize), len(r.b)-r.off)
		return 0
	}
	return int(n)
}

func (r *reader) done() error {
	if r.err == nil && r.off != len(r.b) {
		r.err = fmt.Errorf("abi: %s: %d trailing bytes after byte %d", r.what, len(r.b)-r.off, r.off)
	}
	return r.err
}

func appendU32(dst []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(dst, v) }

func appendBlob(dst, b []byte) []byte {
	dst = appendU32(dst, uint32(len(b)))
	return append(dst, b...)
}

func appendString(dst []byte, s string) []byte {
	dst = appendU32(dst, uint32(len(s)))
	return append(dst, s...)
}
