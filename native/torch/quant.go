package torch

/*
#include <stdlib.h>
#include "quant.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/sugarme/gotch/ts"
)

// Quantize names a weight quantization for CPU inference. "" (or QuantizeNone) is none.
type Quantize string

const (
	// QuantizeNone runs every Linear layer in float32.
	QuantizeNone Quantize = "none"
	// QuantizeInt8 runs Linear layers as dynamic int8 (PackLinear).
	QuantizeInt8 Quantize = "int8"
)

// ParseQuantize resolves a --quantize value: "none" or "" (float32), or "int8".
func ParseQuantize(s string) (Quantize, error) {
	switch Quantize(s) {
	case "", QuantizeNone:
		return QuantizeNone, nil
	case QuantizeInt8:
		return QuantizeInt8, nil
	}
	return "", fmt.Errorf("quantize %q: want none or int8", s)
}

// PackedLinear is a Linear layer's weight quantized per output channel to symmetric int8 and prepacked by
// libtorch's quantized engine (oneDNN, else FBGEMM), with its float32 bias: what PyTorch's quantize_dynamic makes
// of an nn.Linear. Forward quantizes its input per call (dynamic quantization), so it needs no calibration. It owns
// C++ memory (about a quarter of the float32 weight's): Close frees it. CPU only.
type PackedLinear struct {
	h unsafe.Pointer
}

// QuantEngine selects the quantized engine PackLinear packs for and returns its name. It sets libtorch's global
// engine for the process.
//
// # Errors
//
// This libtorch has neither oneDNN nor FBGEMM.
func QuantEngine() (string, error) {
	var buf [32]C.char
	var cerr *C.char
	if C.whet_quant_engine(&buf[0], C.int(len(buf)), &cerr) != 0 {
		return "", cError("", cerr)
	}
	return C.GoString(&buf[0]), nil
}

// PackLinear quantizes w [out, in] (float32 on the CPU) and packs it with bias b (nil for none) for Forward; w and b
// are copied, not kept. Call QuantEngine first.
func PackLinear(w, b *ts.Tensor) (*PackedLinear, error) {
	if w == nil {
		return nil, errors.New("torch: int8 pack: no weight")
	}
	var bias unsafe.Pointer
	if b != nil {
		bias = b.Ctensor()
	}
	var h unsafe.Pointer
	var cerr *C.char
	if C.whet_linear_pack(w.Ctensor(), bias, &h, &cerr) != 0 {
		return nil, cError("", cerr) // the message names the operation (int8 pack: ...)
	}
	return &PackedLinear{h: h}, nil
}

// Forward returns x @ W^T + b for x [..., in] (float32 on the CPU), a new tensor the caller drops; x is not consumed.
func (p *PackedLinear) Forward(x *ts.Tensor) (*ts.Tensor, error) {
	if p.h == nil {
		return nil, errors.New("torch: int8 linear: closed")
	}
	var out unsafe.Pointer
	var cerr *C.char
	if C.whet_linear_dynamic(x.Ctensor(), p.h, &out, &cerr) != 0 {
		return nil, cError("", cerr)
	}
	return ts.FromCtensor(out), nil
}

// Close frees the packed weight. It is idempotent.
func (p *PackedLinear) Close() {
	if p.h != nil {
		C.whet_linear_free(p.h)
		p.h = nil
	}
}
