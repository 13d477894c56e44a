package torch

/*
#cgo CXXFLAGS: -std=c++17 -O3
#cgo LDFLAGS: -ltorch -ltorch_cpu -lc10 -lstdc++
#include "threads.h"
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/sugarme/gotch"
)

// SetThreads sets libtorch's intra-op thread count (at::set_num_threads). n <= 0 means one per core.
// libtorch starts with one thread on some machines, so callers set it explicitly. With OpenMP the count belongs to the
// calling OS thread: call it, and run native work, under runtime.LockOSThread (whet's binary locks main's thread).
func SetThreads(n int) {
	if n <= 0 {
		n = runtime.NumCPU()
	}
	C.whet_set_num_threads(C.int(n))
}

// MallocTuned reports whether malloc.c applied whet's glibc malloc settings at load time (one arena, 256 MiB mmap
// threshold, 512 MiB trim threshold), which keep libtorch's per-step buffers mapped between training steps instead
// of faulting them back in every step. They are skipped when GLIBC_TUNABLES sets a glibc.malloc tunable or
// WHET_MALLOC_DEFAULTS is set.
func MallocTuned() bool { return C.whet_malloc_tuned != 0 }

// Threads reports libtorch's intra-op thread count.
func Threads() int { return int(C.whet_get_num_threads()) }

// ManualSeed seeds libtorch's global generators (CPU and CUDA).
func ManualSeed(seed int64) { C.whet_manual_seed(C.uint64_t(seed)) }

// Device returns the device whet trains and predicts on: the first CUDA device when libtorch was built with CUDA
// and one is visible, else the CPU. Setting WHET_DEVICE=cpu forces the CPU.
func Device() gotch.Device {
	if strings.EqualFold(os.Getenv("WHET_DEVICE"), "cpu") {
		return gotch.CPU
	}
	return gotch.CudaIfAvailable()
}

// Describe returns a one-line description of the runtime for logs and benchmark reports.
func Describe() string {
	return fmt.Sprintf("libtorch %s device=%s threads=%d", Version(), deviceName(Device()), Threads())
}

// Version is the libtorch version whet was built against.
func Version() string { return C.GoString(C.whet_torch_version()) }

func deviceName(d gotch.Device) string {
	if d.IsCuda() {
		return fmt.Sprintf("cuda:%d", d.Value)
	}
	return "cpu"
}
