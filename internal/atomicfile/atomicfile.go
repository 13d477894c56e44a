// Package atomicfile writes files so that a reader sees either the old content or the new, never a torn write:
// the data goes to a temp file beside the target, is synced, renamed over the target, and the folder is synced.
//
// Every whet package that persists user data (model folders, datasets, modules, vocabularies) writes through it.
package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write writes data to path atomically with the given permissions.
func Write(path string, data []byte, perm os.FileMode) error {
	return WriteFrom(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFrom is Write for content produced by write, streamed into the temp file (large files need not be held in
// memory). When write fails, the target is left as it was.
func WriteFrom(path string, perm os.FileMode, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write file[%s]: %w", path, err)
	}
	err = write(f)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("write file[%s]: %w", path, err)
	}
	SyncDir(filepath.Dir(path))
	return nil
}

// SyncDir flushes a folder's entries (a rename is durable only once its folder is synced). Errors are ignored:
// some filesystems do not support syncing folders, and the rename itself has already succeeded.
func SyncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
