//go:build !whet_layer

package libtch

// whet's cgo flags for gotch's C API (upstream's hard-coded -std=c++14 and CUDA libraries are gone). The libtorch
// include and library paths come from the environment (the Makefile's `make env`): CGO_CXXFLAGS names the headers,
// CGO_LDFLAGS the library folder, and the CUDA libraries only when that libtorch has them.

// #cgo CXXFLAGS: -std=c++17 -O2 -Wno-deprecated-declarations -I${SRCDIR} -I${SRCDIR}/../../../native/torch -include compat.h
// #cgo LDFLAGS: -ltorch -ltorch_cpu -lc10 -lstdc++
import "C"
