package torch

import (
	"fmt"
	"strconv"
	"strings"
)

// This file needs no cgo: configurations are checked where libtorch is absent.

// parseDeviceName checks a device name's syntax: cpu, cuda or cuda:N.
func parseDeviceName(s string) (cuda bool, index int, err error) {
	name := strings.ToLower(strings.TrimSpace(s))
	switch {
	case name == "cpu":
		return false, 0, nil
	case name == "cuda":
		return true, 0, nil
	case strings.HasPrefix(name, "cuda:"):
		n, err := strconv.Atoi(name[len("cuda:"):])
		if err == nil && n >= 0 {
			return true, n, nil
		}
	}
	return false, 0, fmt.Errorf("device %q: want auto, cpu, cuda or cuda:N", s)
}

// CheckDeviceName reports whether s is a device name ParseDevice accepts, without looking for the device: for
// validating a configuration on a machine that will not run it.
func CheckDeviceName(s string) error {
	if s == "" || strings.EqualFold(s, "auto") {
		return nil
	}
	_, _, err := parseDeviceName(s)
	return err
}

// Precision is the arithmetic of a model's forward pass; weights, gradients, optimizer state and checkpoints stay
// float32 whatever it is.
type Precision string

const (
	// FP32 computes in float32.
	FP32 Precision = "fp32"
	// BF16 runs the forward pass under libtorch's autocast in bfloat16 (matrix products in bf16, reductions and
	// normalization in float32), on CUDA or the CPU.
	BF16 Precision = "bf16"
	// FP16 runs it under autocast in float16 with dynamic loss scaling (CUDA only): for GPUs without bf16.
	FP16 Precision = "fp16"
)

// ResolvePrecision checks a --precision value for a device: "auto" or "" is bf16 on a GPU that has it (cudaBF16:
// compute capability 8.0 and later), fp16 on an older GPU and fp32 on the CPU; fp16 on the CPU is refused.
// PrecisionFor asks the device.
func ResolvePrecision(s string, cuda, cudaBF16 bool) (Precision, error) {
	switch p := Precision(strings.ToLower(strings.TrimSpace(s))); p {
	case "", "auto":
		switch {
		case cuda && cudaBF16:
			return BF16, nil
		case cuda:
			return FP16, nil
		}
		return FP32, nil
	case FP32, BF16:
		return p, nil
	case FP16:
		if !cuda {
			return "", fmt.Errorf("precision %q: float16 autocast needs a CUDA device; use bf16 or fp32 on the CPU", s)
		}
		return p, nil
	}
	return "", fmt.Errorf("precision %q: want auto, fp32, bf16 or fp16", s)
}
