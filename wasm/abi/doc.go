// Package abi defines whet's versioned WebAssembly module ABI: the export names, the ABI version, the module kinds,
// the status codes, and the byte layouts of every request and response that crosses the host/guest boundary.
//
// It is the single definition shared by the guest SDK (wasm/guest, built with GOOS=wasip1) and the host
// (host/sandbox), so both sides encode and decode with the same code. It is pure Go with no dependencies beyond the
// standard library and builds for the host and for wasip1. It may not import anything from whet.
//
// The ABI is documented for module authors in any language (Rust, C, AssemblyScript, Go) in wasm/ABI.md; this
// package is its reference implementation.
//
// # Example
//
// The host encodes a batch for whet_preprocess and decodes what comes back:
//
//	req := abi.PreprocessRequest{Texts: []string{"hello world"}, WithTokens: true}
//	in := req.Append(nil)
//	// ... copy in into guest memory, call whet_preprocess, copy the result out ...
//	body, err := abi.DecodeResponse(out)
//	if err != nil {
//		return err // the module reported an error for the whole call
//	}
//	resp, err := abi.DecodePreprocessResponse(body)
package abi
