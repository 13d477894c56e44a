// Package torch is whet's narrow boundary to libtorch: thread count, seeding, device choice and the compat header
// that lets gotch v0.7.0 build on Debian's libtorch 1.13.1.
//
// It is the only whet package with its own cgo. Everything else under native/ talks to libtorch through gotch's
// Go API and this package; nothing outside native/ and cmd/whet imports either.
//
//	torch.SetThreads(2)
//	torch.ManualSeed(42)
//	dev := torch.Device() // CUDA when a CUDA libtorch and a GPU are present, else CPU
package torch
