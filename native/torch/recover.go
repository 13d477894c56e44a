//go:build cgo

package torch

import (
	"fmt"
	"strings"

	"github.com/sugarme/gotch/ts"
)

// Recover, deferred at a public entry point of native/ with a named error result, turns a libtorch failure that
// panicked through gotch (a Must* call whose op libtorch rejected: mismatched shapes, out of memory; whet's gotch
// copy panics with ts.Fatal where upstream ends the process) into *errp: "<op>: libtorch: <message>", with op
// formatted from format and args when deferred. Any other panic is a bug and is re-raised unchanged.
//
//	func Run(ctx context.Context, cfg Config) (res *Result, err error) {
//		defer torch.Recover(&err, "train")
//
// Tensors the failed call had in flight are not dropped (their owners never got them): after an error, drop the
// model rather than reuse it for long.
func Recover(errp *error, format string, args ...any) {
	v := recover()
	if v == nil {
		return
	}
	f, ok := v.(ts.Fatal)
	if !ok {
		panic(v)
	}
	*errp = &Error{Op: fmt.Sprintf(format, args...), Err: f.Err}
}

// Error is a libtorch failure recovered by Recover; errors.As(err, new(*torch.Error)) tells it from whet's own errors.
type Error struct {
	Op  string // what whet was doing, e.g. "train: step 12"
	Err error  // gotch's error: libtorch's exception text
}

// Error returns "<op>: libtorch: <first line of libtorch's message>": libtorch's C++ backtrace is cut.
func (e *Error) Error() string {
	msg := strings.TrimPrefix(strings.TrimSpace(e.Err.Error()), "Libtorch API Error: ")
	if i := strings.Index(msg, "\nException raised from"); i >= 0 {
		msg = strings.TrimSpace(msg[:i])
	}
	return e.Op + ": libtorch: " + msg
}

// Unwrap returns gotch's error.
func (e *Error) Unwrap() error { return e.Err }
