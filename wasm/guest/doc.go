// Package guest is the Go SDK for writing whet WebAssembly modules. A module author writes one function; the SDK
// provides the ABI exports (whet_abi_version, whet_alloc, whet_free, whet_info, whet_init, whet_preprocess,
// whet_evaluate via //go:wasmexport), keeps allocated buffers alive until the host frees them, and encodes and
// decodes requests with wasm/abi. The byte layouts are described in wasm/ABI.md.
//
// Everything except this file is built only for GOOS=wasip1 (//go:build wasip1). It imports wasm/abi and the
// standard library only; module packages add what they need (wasm/guest/bert adds HuggingFace-exact WordPiece).
//
// A module is a main package that registers its handler in an init function and has an empty main:
//
//	package main
//
//	import "github.com/whetml/whet/wasm/guest"
//
//	func init() {
//		guest.Preprocess("char-codes", nil, func(req guest.PreprocessRequest) ([]guest.Row, error) {
//			rows := make([]guest.Row, len(req.Texts))
//			for i, t := range req.Texts {
//				for _, r := range t {
//					rows[i].IDs = append(rows[i].IDs, int32(r))
//				}
//			}
//			return rows, nil
//		})
//	}
//
//	func main() {}
//
// Build it as a reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags="-s -w" -o char-codes.wasm .
//
// or with `whet module build DIR -o char-codes.wasm`.
package guest
