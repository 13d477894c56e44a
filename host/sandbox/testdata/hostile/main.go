//go:build wasip1

// Command hostile is a deliberately misbehaving preprocess module for host/sandbox's tests. It implements the ABI
// by hand (no guest SDK) so it can return anything. What whet_preprocess does depends on its texts (the first of
// them that is one of these words):
//
//	loop        spin forever
//	spin3s      busy-wait three seconds, then answer normally
//	hog         allocate until memory runs out
//	panic       panic
//	exit        os.Exit(3)
//	oob-ptr     return a result pointer past the end of memory
//	oob-len     return a result length past the end of memory
//	garbage     return bytes that are not a valid response
//	wrong-rows  return a valid response with the wrong number of rows
//	flood       write 8 MiB to stdout, then panic
//	probe       report what the sandbox exposes (environment, arguments, files) as each row's error
//	anything else: one row per text, ids = the text's bytes
//
// whet_init with options {"params":{"bad_alloc":true}} makes later whet_alloc calls return an out-of-range pointer.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
	"unsafe"

	"github.com/whetml/whet/wasm/abi"
)

var (
	pinned   = map[uint32][]byte{}
	result   []byte
	badAlloc bool
	hog      [][]byte
)

func ptr(b []byte) uint32 { return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b)))) }

func respond(b []byte) uint64 {
	result = b
	return abi.PackResult(ptr(result), uint32(len(result)))
}

//go:wasmexport whet_abi_version
func version() int32 { return abi.Version }

//go:wasmexport whet_alloc
func alloc(n uint32) uint32 {
	if badAlloc {
		return 0xfffffff0
	}
	b := make([]byte, max(n, 1))
	pinned[ptr(b)] = b
	return ptr(b)
}

//go:wasmexport whet_free
func free(p uint32) { delete(pinned, p) }

//go:wasmexport whet_info
func info() uint64 {
	return respond(abi.AppendOK(nil, abi.MarshalInfo(abi.Info{Kind: abi.KindPreprocess, Name: "hostile"})))
}

//go:wasmexport whet_init
func initialize(p, n uint32) uint64 {
	req, err := abi.DecodeInitRequest(pinned[p][:n])
	if err != nil {
		return respond(abi.AppendError(nil, err.Error()))
	}
	var params struct {
		BadAlloc bool `json:"bad_alloc"`
	}
	if len(req.Options.Params) > 0 {
		_ = json.Unmarshal(req.Options.Params, &params)
	}
	badAlloc = params.BadAlloc
	return respond(abi.AppendOK(nil, nil))
}

//go:wasmexport whet_preprocess
func preprocess(p, n uint32) uint64 {
	req, err := abi.DecodePreprocessRequest(pinned[p][:n])
	if err != nil {
		return respond(abi.AppendError(nil, err.Error()))
	}
	for _, text := range req.Texts {
		switch text {
		case "loop":
			for i := 0; ; i++ {
				if i < 0 {
					break
				}
			}
		case "spin3s":
			for start := time.Now(); time.Since(start) < 3*time.Second; {
			}
		case "hog":
			for {
				hog = append(hog, make([]byte, 16<<20))
			}
		case "panic":
			panic("hostile module panics on purpose")
		case "exit":
			os.Exit(3)
		case "oob-ptr":
			return abi.PackResult(0xffff0000, 16)
		case "oob-len":
			respond([]byte{0})
			return abi.PackResult(ptr(result), 0x7fffffff)
		case "garbage":
			return respond([]byte{abi.StatusOK, 1, 2, 3})
		case "wrong-rows":
			out := abi.AppendPreprocessHeader([]byte{abi.StatusOK}, len(req.Texts)+1, false)
			for range len(req.Texts) + 1 {
				out = abi.AppendRow(out, []int32{1}, []int32{0}, []int32{1}, nil, false)
			}
			return respond(out)
		case "probe":
			_, ferr := os.ReadFile("/etc/passwd")
			_, derr := os.ReadDir(".")
			msg := fmt.Sprintf("env=%d args=%d file=%v dir=%v", len(os.Environ()), len(os.Args), ferr != nil, derr != nil)
			out := abi.AppendPreprocessHeader([]byte{abi.StatusOK}, len(req.Texts), false)
			for range req.Texts {
				out = abi.AppendRowError(out, msg)
			}
			return respond(out)
		case "flood":
			line := strings.Repeat("x", 1023) + "\n"
			for i := 0; i < 8<<10; i++ {
				os.Stdout.WriteString(line)
			}
			panic("hostile module panics after flooding stdout")
		}
	}
	out := abi.AppendPreprocessHeader([]byte{abi.StatusOK}, len(req.Texts), false)
	for _, t := range req.Texts {
		ids := make([]int32, len(t))
		for i := range t {
			ids[i] = int32(t[i])
		}
		out = abi.AppendRow(out, ids, make([]int32, len(ids)), ones(len(ids)), nil, false)
	}
	return respond(out)
}

func ones(n int) []int32 {
	m := make([]int32, n)
	for i := range m {
		m[i] = 1
	}
	return m
}

func main() {}
