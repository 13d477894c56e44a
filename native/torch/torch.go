package torch

/*
#cgo CXXFLAGS: -std=c++17 -O3 -Wno-stringop-overflow -I${SRCDIR} -include compat.h
#include <stddef.h>
#include "threads.h"
void whet_malloc_stats(size_t *in_use, size_t *held);
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

// AdoptThreads gives the calling OS thread the process's intra-op thread count (the last SetThreads, made on any
// thread). With OpenMP each OS thread keeps the count it had when it first ran libtorch work, so a thread that
// started under an earlier SetThreads would otherwise reduce with another count (and round differently). Native
// entry points call it after runtime.LockOSThread when no count is given. Cost: one call, no allocation.
func AdoptThreads() { C.whet_adopt_num_threads() }

// MallocTuned reports whether malloc.c applied whet's glibc malloc settings at load time (one arena, 256 MiB mmap
// threshold, 512 MiB trim threshold), which keep libtorch's per-step buffers mapped between training steps instead
// of faulting them back in every step. They are skipped when GLIBC_TUNABLES sets a glibc.malloc tunable or
// WHET_MALLOC_DEFAULTS is set.
func MallocTuned() bool { return C.whet_malloc_tuned != 0 }

// MallocStats reports C malloc's bytes in use (libtorch's tensors and everything else allocated through malloc,
// live now) and the bytes it holds from the system (its heap plus mmapped chunks: in use, or freed and kept for
// reuse), both 0 where libc is not glibc. In use growing step after step is a leak; held growing with in use flat is
// the allocator keeping freed memory.
func MallocStats() (inUse, held uint64) {
	var u, h C.size_t
	C.whet_malloc_stats(&u, &h)
	return uint64(u), uint64(h)
}

// Threads reports libtorch's intra-op thread count.
func Threads() int { return int(C.whet_get_num_threads()) }

// ManualSeed seeds libtorch's global generators (CPU and CUDA).
func ManualSeed(seed int64) { C.whet_manual_seed(C.uint64_t(seed)) }

// Device returns the device whet trains and predicts on when nothing names one: ParseDevice("auto"), or the CPU
// when WHET_DEVICE names a device this machine lacks.
func Device() gotch.Device {
	d, err := ParseDevice("auto")
	if err != nil {
		return gotch.CPU
	}
	return d
}

// ParseDevice resolves a --device value: "cpu", "cuda" (cuda:0), "cuda:N", or "auto"/"" — WHET_DEVICE when it is
// set, else the first CUDA device when libtorch has CUDA and one is visible, else the CPU. A CUDA device this
// libtorch cannot see is an error saying how many it sees.
func ParseDevice(s string) (gotch.Device, error) {
	if s == "" || strings.EqualFold(s, "auto") {
		if env := os.Getenv("WHET_DEVICE"); env != "" && !strings.EqualFold(env, "auto") {
			d, err := ParseDevice(env)
			if err != nil {
				return gotch.CPU, fmt.Errorf("WHET_DEVICE: %w", err)
			}
			return d, nil
		}
		return gotch.CudaIfAvailable(), nil
	}
	cuda, index, err := parseDeviceName(s)
	if err != nil {
		return gotch.CPU, err
	}
	if !cuda {
		return gotch.CPU, nil
	}
	if n := cudaDevices(); index >= n {
		return gotch.CPU, fmt.Errorf("device %q: this libtorch (%s) sees %d CUDA device(s); use --device cpu or auto", s, Version(), n)
	}
	return gotch.CudaBuilder(uint(index)), nil
}

// cudaDevices is the number of CUDA devices libtorch sees (0 without a CUDA libtorch).
func cudaDevices() int {
	if !gotch.CUDA.IsAvailable() {
		return 0
	}
	return int(gotch.CUDA.DeviceCount())
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
