package ts

import "fmt"

// Fatal is what whet's copy of gotch panics with where upstream gotch calls log.Fatal: a failed libtorch call in a
// Must* wrapper (a shape mismatch, out of memory, a bad dtype) and a few helpers' invalid arguments. Upstream's
// log.Fatal ends the process, which no caller can turn into an error; whet recovers Fatal (and only Fatal) at its
// public boundary (native/torch.Recover). trim.py rewrites every log.Fatal into fatal/fatalf.
type Fatal struct{ Err error }

// Error returns the libtorch error's text.
func (f Fatal) Error() string { return f.Err.Error() }

// Unwrap returns the error the Must* call got.
func (f Fatal) Unwrap() error { return f.Err }

func fatal(err any) {
	if e, ok := err.(error); ok {
		panic(Fatal{e})
	}
	panic(Fatal{fmt.Errorf("%v", err)})
}

func fatalf(format string, a ...any) { panic(Fatal{fmt.Errorf(format, a...)}) }
