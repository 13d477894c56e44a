//go:build whet_layer

package libtch

// The whet_layer build links no libtorch: gotch's C API and whet's kernels come from libwhet_torch.so, built by
// scripts/build-layer.sh against whichever libtorch the machine has and found at run time next to the binary or on
// LD_LIBRARY_PATH (see the Makefile's layer targets).

// #cgo LDFLAGS: -lwhet_torch
import "C"
