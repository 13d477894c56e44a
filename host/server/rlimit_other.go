//go:build !unix

package server

// fdLimit is the process's soft limit on open files, or 0 when unknown.
func fdLimit() uint64 { return 0 }
