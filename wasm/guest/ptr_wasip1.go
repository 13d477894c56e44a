//go:build wasip1

package guest

import "unsafe"

// ptrOf returns the linear-memory address of b's first byte (wasm32 addresses fit in 32 bits).
func ptrOf(b []byte) uint32 {
	if len(b) == 0 {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}
