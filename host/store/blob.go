package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/whetml/whet/internal/atomicfile"
	"io"
	"os"
	"path/filepath"
)

// TooLargeError reports content over a size limit.
type TooLargeError struct {
	// What names the content ("file", "module", "model archive").
	What string
	// Limit is the limit in bytes.
	Limit int64
}

// Error implements error.
func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s is larger than the limit of %d bytes (%s)", e.What, e.Limit, humanBytes(e.Limit))
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// Staged is content copied into the data folder's tmp/, hashed, not yet in place. Call Commit to move it into its
// content-addressed place, or Discard.
type Staged struct {
	// Path is the staged file.
	Path string
	// SHA256 is the hex digest of the content.
	SHA256 string
	// Size is the content's length in bytes.
	Size int64
}

// Stage copies r into tmp/ (synced to disk), refusing more than limit bytes with a *TooLargeError naming what, and
// content that would take the data folder past Options.MaxBytes with a *QuotaError (it stops copying there).
func (s *Store) Stage(r io.Reader, what string, limit int64) (*Staged, error) {
	room, err := s.room(what)
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(s.Path("tmp"), "stage-*")
	if err != nil {
		return nil, fmt.Errorf("store: stage %s: %w", what, err)
	}
	h := sha256.New()
	most := limit
	if room >= 0 && room < limit {
		most = room
	}
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, most+1))
	switch {
	case err == nil && n > most && most == limit:
		err = &TooLargeError{What: what, Limit: limit}
	case err == nil && n > most:
		err = &QuotaError{Used: s.maxBytes - room, Limit: s.maxBytes, What: what}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		var tl *TooLargeError
		var qe *QuotaError
		if errors.As(err, &tl) || errors.As(err, &qe) {
			return nil, err
		}
		return nil, fmt.Errorf("store: stage %s: %w", what, err)
	}
	return &Staged{Path: f.Name(), SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

// room returns the bytes the data folder may still take under Options.MaxBytes (-1: no limit), or a *QuotaError
// naming what when it has none left. It walks the folder.
func (s *Store) room(what string) (int64, error) {
	if s.maxBytes <= 0 {
		return -1, nil
	}
	used := s.Usage()
	if used >= s.maxBytes {
		return 0, &QuotaError{Used: used, Limit: s.maxBytes, What: what}
	}
	return s.maxBytes - used, nil
}

// WriteFile writes path atomically (atomicfile.WriteFrom) with what write produces, refusing content that would
// take the data folder past Options.MaxBytes with a *QuotaError naming what (it stops writing there). A refused or
// failed write leaves path as it was and no temp file.
func (s *Store) WriteFile(path, what string, perm os.FileMode, write func(io.Writer) error) error {
	room, err := s.room(what)
	if err != nil {
		return err
	}
	return atomicfile.WriteFrom(path, perm, func(w io.Writer) error {
		if room >= 0 {
			w = &quotaWriter{w: w, room: room, err: &QuotaError{Used: s.maxBytes - room, Limit: s.maxBytes, What: what}}
		}
		return write(w)
	})
}

// quotaWriter passes at most room bytes to w and fails with err past them.
type quotaWriter struct {
	w    io.Writer
	room int64
	err  error
}

func (q *quotaWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > q.room {
		return 0, q.err
	}
	n, err := q.w.Write(p)
	q.room -= int64(n)
	return n, err
}

// Commit renames the staged content to <data>/<kind>/<sha256><ext> and returns that path. Identical content
// already in place is kept and the staged copy dropped.
func (st *Staged) Commit(s *Store, kind, ext string) (string, error) {
	dst := s.Path(kind, st.SHA256+ext)
	if _, err := os.Stat(dst); err == nil {
		_ = os.Remove(st.Path)
		return dst, nil
	}
	if err := os.Rename(st.Path, dst); err != nil {
		return "", fmt.Errorf("store: commit %s[%s]: %w", kind, st.SHA256, err)
	}
	atomicfile.SyncDir(filepath.Dir(dst))
	return dst, nil
}

// Discard removes the staged content.
func (st *Staged) Discard() { _ = os.Remove(st.Path) }

// TempDir creates a fresh folder under tmp/ for staging a tree (a model archive being extracted).
func (s *Store) TempDir(pattern string) (string, error) {
	d, err := os.MkdirTemp(s.Path("tmp"), pattern)
	if err != nil {
		return "", fmt.Errorf("store: temp dir: %w", err)
	}
	return d, nil
}
