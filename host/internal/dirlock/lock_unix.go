//go:build unix

// Package dirlock keeps a data folder to one whet process: an exclusive flock on a file in it.
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Lock takes an exclusive, non-blocking flock on path (created if missing) and returns the func that releases it.
// The kernel drops the lock when the process dies, so a crashed process never leaves the folder locked. who names
// the kind of process that uses the folder ("whet server"), for the error when another one holds it.
func Lock(path, who string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock[%s] is held by another %s using this data folder", path, who)
		}
		return nil, fmt.Errorf("lock[%s]: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
