//go:build !whet_layer

package torch

// The default build compiles fused.cpp and threads.cpp into the binary and links libtorch; the whet_layer build
// takes them from libwhet_torch.so instead (third_party/gotch/libtch/lib_layer.go links it).

// #cgo LDFLAGS: -ltorch -ltorch_cpu -lc10 -lstdc++
import "C"
