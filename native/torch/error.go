package torch

/*
#include <stdlib.h>
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// cError turns the message of a failed whet C function into "torch: <op>: <message>" ("torch: <message>" when op
// is "", for functions whose messages already name their operation) and frees it. The C side (guard.h) hands a
// failure's message back through the failing call's trailing char **err, malloc'd, so it is the message of that
// call whichever OS thread the goroutine is on by now; the caller passes it here once, on failure:
//
//	var cerr *C.char
//	if C.whet_dropout(x.Ctensor(), C.double(p), &out, &cerr) != 0 {
//		return nil, cError("dropout", cerr)
//	}
func cError(op string, msg *C.char) error {
	text := "no message (out of memory copying it)"
	if msg != nil {
		text = C.GoString(msg)
		C.free(unsafe.Pointer(msg))
	}
	if op == "" {
		return fmt.Errorf("torch: %s", text)
	}
	return fmt.Errorf("torch: %s: %s", op, text)
}
