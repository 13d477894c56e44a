//go:build wasip1

package guest

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/whetml/whet/wasm/abi"
)

// Config is what the host passes to whet_init: the JSON options, a vocab.txt and a tokenizer.json (either may be
// empty). The byte slices stay valid for the life of the instance.
type Config = abi.InitRequest

// Options are the JSON options inside Config.
type Options = abi.Options

// PreprocessRequest is one whet_preprocess batch.
type PreprocessRequest = abi.PreprocessRequest

// Row is one preprocess result: ids (type ids and attention mask may be left nil: they default to 0 and 1), or
// Err for that row only.
type Row = abi.Row

// EvaluateRequest is one whet_evaluate call's input.
type EvaluateRequest = abi.EvaluateRequest

// InitFunc configures the module from the host's Config; an error fails whet_init with its message.
type InitFunc func(cfg Config) error

// PreprocessFunc turns a batch into one Row per text. An error fails the whole call; per-row problems belong in
// Row.Err. When req.WithTokens is set, fill Row.Tokens (one per id).
type PreprocessFunc func(req PreprocessRequest) ([]Row, error)

// EvaluateFunc returns the metrics document (any value encoding/json can marshal).
type EvaluateFunc func(req EvaluateRequest) (any, error)

var (
	info       abi.Info
	initFn     InitFunc
	preprocess PreprocessFunc
	evaluate   EvaluateFunc
	configured bool

	// pinned keeps every whet_alloc buffer reachable (so the GC neither frees nor reuses it) until whet_free.
	pinned = map[uint32][]byte{}
	// result holds the last response; it stays valid until the next call, when its storage is reused.
	result []byte
	// config keeps the bytes of whet_init alive for the life of the instance.
	config []byte
)

// Preprocess registers the module as a preprocess module named name. Call it once, from an init function. init may
// be nil when the module needs no configuration.
func Preprocess(name string, init InitFunc, fn PreprocessFunc) {
	register(abi.KindPreprocess, name, init)
	preprocess = fn
}

// Evaluate registers the module as an evaluate module named name. Call it once, from an init function.
func Evaluate(name string, fn EvaluateFunc) {
	register(abi.KindEvaluate, name, nil)
	evaluate = fn
}

// Describe sets the one-line description whet_info reports.
func Describe(description string) { info.Description = description }

func register(kind abi.Kind, name string, init InitFunc) {
	if info.Kind != "" {
		panic(fmt.Sprintf("guest: module already registered as %s %q", info.Kind, info.Name))
	}
	info.Kind, info.Name = kind, name
	initFn = init
}

//go:wasmexport whet_abi_version
func whetABIVersion() int32 { return abi.Version }

//go:wasmexport whet_alloc
func whetAlloc(size uint32) uint32 {
	b := make([]byte, max(size, 1))
	p := ptrOf(b)
	pinned[p] = b
	return p
}

//go:wasmexport whet_free
func whetFree(ptr uint32) { delete(pinned, ptr) }

//go:wasmexport whet_info
func whetInfo() uint64 {
	if info.Kind == "" {
		return respondErr(errors.New("no handler registered: call guest.Preprocess or guest.Evaluate from an init function"))
	}
	return respond(abi.MarshalInfo(info))
}

//go:wasmexport whet_init
func whetInit(ptr, length uint32) uint64 {
	in, err := input(ptr, length)
	if err != nil {
		return respondErr(err)
	}
	config = append([]byte(nil), in...)
	cfg, err := abi.DecodeInitRequest(config)
	if err != nil {
		return respondErr(err)
	}
	if initFn != nil {
		if err := safely(func() error { return initFn(cfg) }); err != nil {
			return respondErr(err)
		}
	}
	configured = true
	return respond(nil)
}

//go:wasmexport whet_preprocess
func whetPreprocess(ptr, length uint32) uint64 {
	if preprocess == nil {
		return respondErr(fmt.Errorf("module %q is a %s module, not a preprocess module", info.Name, info.Kind))
	}
	if !configured {
		return respondErr(errors.New("whet_preprocess called before whet_init"))
	}
	in, err := input(ptr, length)
	if err != nil {
		return respondErr(err)
	}
	req, err := abi.DecodePreprocessRequest(in)
	if err != nil {
		return respondErr(err)
	}
	var rows []Row
	if err := safely(func() (err error) { rows, err = preprocess(req); return err }); err != nil {
		return respondErr(err)
	}
	if len(rows) != len(req.Texts) {
		return respondErr(fmt.Errorf("module returned %d rows for %d texts", len(rows), len(req.Texts)))
	}
	result = abi.AppendPreprocessHeader(append(result[:0], abi.StatusOK), len(rows), req.WithTokens)
	var ones, zeros []int32
	for _, row := range rows {
		n := len(row.IDs)
		switch {
		case row.Err != "":
			result = abi.AppendRowError(result, row.Err)
			continue
		case row.TypeIDs != nil && len(row.TypeIDs) != n,
			row.AttentionMask != nil && len(row.AttentionMask) != n,
			req.WithTokens && len(row.Tokens) != n:
			result = abi.AppendRowError(result, fmt.Sprintf("module bug: %d ids but %d type ids, %d mask values, %d tokens",
				n, len(row.TypeIDs), len(row.AttentionMask), len(row.Tokens)))
			continue
		}
		if row.TypeIDs == nil || row.AttentionMask == nil {
			for len(ones) < n {
				ones, zeros = append(ones, 1), append(zeros, 0)
			}
			if row.TypeIDs == nil {
				row.TypeIDs = zeros[:n]
			}
			if row.AttentionMask == nil {
				row.AttentionMask = ones[:n]
			}
		}
		result = abi.AppendRow(result, row.IDs, row.TypeIDs, row.AttentionMask, row.Tokens, req.WithTokens)
	}
	return packResult()
}

//go:wasmexport whet_evaluate
func whetEvaluate(ptr, length uint32) uint64 {
	if evaluate == nil {
		return respondErr(fmt.Errorf("module %q is a %s module, not an evaluate module", info.Name, info.Kind))
	}
	in, err := input(ptr, length)
	if err != nil {
		return respondErr(err)
	}
	req, err := abi.DecodeEvaluateRequest(in)
	if err != nil {
		return respondErr(err)
	}
	var doc any
	if err := safely(func() (err error) { doc, err = evaluate(req); return err }); err != nil {
		return respondErr(err)
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return respondErr(fmt.Errorf("encode metrics document: %w", err))
	}
	return respond(body)
}

// input returns the host's request bytes, which must lie inside a buffer from whet_alloc.
func input(ptr, length uint32) ([]byte, error) {
	if length == 0 {
		return nil, nil
	}
	b, ok := pinned[ptr]
	if !ok {
		return nil, fmt.Errorf("input pointer %#x was not returned by whet_alloc (or was freed)", ptr)
	}
	if uint64(length) > uint64(len(b)) {
		return nil, fmt.Errorf("input length %d exceeds the %d-byte buffer at %#x", length, len(b), ptr)
	}
	return b[:length], nil
}

// safely runs fn, turning a panic into an error so one bad input does not kill the instance.
func safely(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return fn()
}

func respond(body []byte) uint64 {
	result = abi.AppendOK(result[:0], body)
	return packResult()
}

func respondErr(err error) uint64 {
	result = abi.AppendError(result[:0], err.Error())
	return packResult()
}

func packResult() uint64 { return abi.PackResult(ptrOf(result), uint32(len(result))) }
