// Package torch is whet's narrow boundary to libtorch: thread count, seeding, device and precision choice, the
// compat header (compat.h) that lets the C++ layer build on libtorch 1.13 and 2.x, and glibc malloc settings applied
// at load time (malloc.c: one arena and raised mmap/trim thresholds, so a training step's buffers are not faulted
// back in every step; WHET_MALLOC_DEFAULTS=1 turns them off), fused CPU kernels for the memory-bound parts of a
// training step (fused.cpp): AdamW with clipping in one pass per parameter, and dropout with a counter-based mask
// instead of libtorch's serial Bernoulli draws; and their GPU paths: AdamW with clipping and loss scaling on the
// device through libtorch's _fused_adamw_, libtorch's CUDA dropout, autocast (amp.cpp) and batches copied through
// pinned memory (copy.cpp).//
// It is the only whet package with its own cgo. Everything else under native/ talks to libtorch through gotch's
// Go API and this package; nothing outside native/ and cmd/whet imports either.
//
//	torch.SetThreads(2)
//	torch.ManualSeed(42)
//	dev := torch.Device() // CUDA when a CUDA libtorch and a GPU are present, else CPU
package torch
