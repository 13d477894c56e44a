package sandbox

import (
	"errors"
	"fmt"
)

// Sentinel errors, matched with errors.Is on what the sandbox returns.
var (
	// ErrModuleTooLarge: the binary is larger than Config.MaxModuleBytes.
	ErrModuleTooLarge = errors.New("module too large")
	// ErrInvalidModule: the binary is not a valid whet module (malformed, forbidden imports, missing exports,
	// unsupported ABI version, bad whet_info).
	ErrInvalidModule = errors.New("invalid module")
	// ErrTimeout: a call ran past Config.CallTimeout. Errors wrapping it also match context.DeadlineExceeded.
	ErrTimeout = errors.New("time limit exceeded")
	// ErrOutOfMemory: the guest ran out of memory (Config.MemoryLimitPages).
	ErrOutOfMemory = errors.New("out of memory")
	// ErrGuestPanic: the guest panicked or aborted.
	ErrGuestPanic = errors.New("guest panicked")
	// ErrTrap: the guest trapped (unreachable, out-of-bounds memory access, ...) or exited.
	ErrTrap = errors.New("guest trapped")
	// ErrBadResult: the guest returned a pointer or length outside its memory, or bytes that do not decode.
	ErrBadResult = errors.New("bad result from guest")
	// ErrModuleError: the guest reported an error for the whole call (its message follows).
	ErrModuleError = errors.New("module error")
	// ErrWrongKind: the module is not of the kind the caller needs (an evaluate module given to NewPreprocessor).
	ErrWrongKind = errors.New("wrong module kind")
	// ErrClosed: the runtime, preprocessor or evaluator was closed.
	ErrClosed = errors.New("sandbox closed")
)

// CallError is a failure of one guest call (or of instantiation). It names the module and the function, wraps a
// sentinel above, and carries the tail of what the guest wrote to stdout/stderr.
type CallError struct {
	// Module is the module's name from whet_info, or "sha256:<prefix>" before it is known.
	Module string
	// Function is the export that failed ("whet_preprocess", "_initialize", ...).
	Function string
	// Err is the cause; it wraps one of the sentinel errors.
	Err error
	// Output is the tail of the guest's stdout and stderr during the call, possibly empty.
	Output string
}

func (e *CallError) Error() string {
	msg := fmt.Sprintf("module[%s] function[%s]: %v", e.Module, e.Function, e.Err)
	if e.Output != "" {
		msg += fmt.Sprintf("; guest output: %q", e.Output)
	}
	return msg
}

// Unwrap returns the cause.
func (e *CallError) Unwrap() error { return e.Err }
