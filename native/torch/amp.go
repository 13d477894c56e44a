package torch

/*
#include "amp.h"
*/
import "C"

import (
	"fmt"

	"github.com/sugarme/gotch"
)

// Autocast turns libtorch's autocast on for the calling OS thread, on dev's device type, in precision p (FP32 turns
// it off). Callers lock the goroutine to its thread (runtime.LockOSThread) around the forward pass and call
// AutocastOff before the backward pass, as torch.autocast is used in PyTorch.
func Autocast(dev gotch.Device, p Precision) error {
	dtype := 0
	switch p {
	case FP32:
	case BF16:
		dtype = 15 // at::kBFloat16
	case FP16:
		dtype = 5 // at::kHalf
	default:
		return fmt.Errorf("torch: autocast: precision %q", p)
	}
	var cerr *C.char
	if C.whet_autocast(C.int(boolInt(dev.IsCuda())), C.int(dtype), &cerr) != 0 {
		return cError(fmt.Sprintf("autocast %s on %s", p, deviceName(dev)), cerr)
	}
	return nil
}

// PrecisionFor resolves a --precision value for dev (ResolvePrecision, asking a GPU whether it has bf16).
func PrecisionFor(s string, dev gotch.Device) (Precision, error) {
	cuda := dev.IsCuda()
	return ResolvePrecision(s, cuda, cuda && C.whet_cuda_bf16(C.int(dev.Value)) != 0)
}

// AutocastOff turns autocast off on dev's device type for the calling thread and drops its cache of cast weights.
func AutocastOff(dev gotch.Device) error { return Autocast(dev, FP32) }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
