package torch

/*
#include "copy.h"
*/
import "C"

import (
	"unsafe"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// HostTensor copies b, the raw bytes of a tensor of kind and shape, into a new tensor on dev. On a GPU the bytes go
// through pinned host memory and a non-blocking copy (the host does not wait for the transfer; the kernels that
// use the tensor are queued after it); on the CPU it is a plain tensor.
func HostTensor(b []byte, shape []int64, kind gotch.DType, dev gotch.Device) (*ts.Tensor, error) {
	if !dev.IsCuda() {
		return ts.OfDataSize(b, shape, kind)
	}
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	if n == 0 || len(b) == 0 {
		t, err := ts.OfDataSize(b, shape, kind)
		if err != nil {
			return nil, err
		}
		return t.To(dev, true)
	}
	var out unsafe.Pointer
	var cerr *C.char
	var shp *C.int64_t
	if len(shape) > 0 {
		shp = (*C.int64_t)(unsafe.Pointer(&shape[0]))
	}
	if C.whet_to_device(unsafe.Pointer(&b[0]), C.int64_t(len(b)), shp, C.int(len(shape)),
		C.int(kind.CInt()), C.int(dev.CInt()), &out, &cerr) != 0 {
		return nil, cError("copy to "+deviceName(dev), cerr)
	}
	return ts.FromCtensor(out), nil
}
