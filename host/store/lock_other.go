//go:build !unix

package store

// lockDir is a no-op where flock is not available: run one server per data folder.
func lockDir(path string) (func(), error) { return func() {}, nil }
