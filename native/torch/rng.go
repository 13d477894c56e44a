package torch

/*
#include "rng.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// RNGState is the state of libtorch's default generators: the CPU generator (which also keys Dropout's masks on
// CPU) and each CUDA device's (libtorch's dropout on the GPU). Restoring it with SetRNGState makes the following
// random draws repeat exactly.
type RNGState struct {
	// CPU is the CPU generator's state (about 5 KB).
	CPU []byte `json:"cpu"`
	// CUDA holds one state per CUDA device, in device order; empty on a CPU-only run.
	CUDA [][]byte `json:"cuda,omitempty"`
}

// GetRNGState returns the CPU generator's state and, when withCUDA is set, every CUDA device's.
func GetRNGState(withCUDA bool) (RNGState, error) {
	var s RNGState
	var err error
	if s.CPU, err = rngGet(-1); err != nil {
		return s, err
	}
	if withCUDA {
		for i := range int(C.whet_rng_cuda_count()) {
			b, err := rngGet(i)
			if err != nil {
				return s, err
			}
			s.CUDA = append(s.CUDA, b)
		}
	}
	return s, nil
}

// SetRNGState restores a state from GetRNGState. CUDA states beyond the visible devices are an error (the run is
// on a machine with fewer GPUs: its draws would differ).
func SetRNGState(s RNGState) error {
	if err := rngSet(-1, s.CPU); err != nil {
		return err
	}
	if n := int(C.whet_rng_cuda_count()); len(s.CUDA) > n {
		return fmt.Errorf("torch: rng state: saved for %d CUDA devices, %d visible", len(s.CUDA), n)
	}
	for i, b := range s.CUDA {
		if err := rngSet(i, b); err != nil {
			return err
		}
	}
	return nil
}

func rngGet(device int) ([]byte, error) {
	var n C.int64_t
	var cerr *C.char
	if C.whet_rng_get(C.int(device), nil, 0, &n, &cerr) != 0 {
		return nil, rngError("get", device, cerr)
	}
	b := make([]byte, int(n))
	if n > 0 && C.whet_rng_get(C.int(device), (*C.uint8_t)(unsafe.Pointer(&b[0])), n, &n, &cerr) != 0 {
		return nil, rngError("get", device, cerr)
	}
	return b, nil
}

func rngSet(device int, b []byte) error {
	var p *C.uint8_t
	if len(b) > 0 {
		p = (*C.uint8_t)(unsafe.Pointer(&b[0]))
	}
	var cerr *C.char
	if C.whet_rng_set(C.int(device), p, C.int64_t(len(b)), &cerr) != 0 {
		return rngError("set", device, cerr)
	}
	return nil
}

// rngError is cError for rng state op on device (-1 the CPU): "torch: rng state <op> (<device>): <message>".
func rngError(op string, device int, msg *C.char) error {
	what := "cpu"
	if device >= 0 {
		what = fmt.Sprintf("cuda:%d", device)
	}
	return cError(fmt.Sprintf("rng state %s (%s)", op, what), msg)
}
