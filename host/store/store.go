package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/whetml/whet/host/internal/dirlock"
)

// DefaultBusyTimeout is how long a statement waits for SQLite's write lock before failing.
const DefaultBusyTimeout = 10 * time.Second

// Options configures Open.
type Options struct {
	// Exclusive takes an exclusive lock on the data folder (whet.lock), so that only one server uses it; Open fails
	// when another process holds it. CLI tools that only add API keys leave it false. Default: false.
	Exclusive bool
	// BusyTimeout is how long a statement waits for the write lock. Default: DefaultBusyTimeout.
	BusyTimeout time.Duration
	// MaxBytes caps what the data folder holds (--max-storage): an upload that would pass it, or a job created at
	// it, is refused with a *QuotaError. Each check walks the folder. Default: 0 (no limit).
	MaxBytes int64
}

// Store is the server's persistent state. It is safe for concurrent use.
type Store struct {
	db       *sql.DB
	dir      string
	maxBytes int64
	unlock   func()
	closed   atomic.Bool
}

// Open opens (creating if needed) the data folder dir and its database, and applies pending migrations.
//
// # Errors
//
// The folder cannot be created, another server holds it (with Exclusive), or the database cannot be opened or
// migrated.
func Open(ctx context.Context, dir string, opts Options) (*Store, error) {
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = DefaultBusyTimeout
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("store: data dir[%s]: %w", dir, err)
	}
	for _, sub := range []string{"", "files", "modules", "models", "jobs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(abs, sub), 0o755); err != nil {
			return nil, fmt.Errorf("store: data dir[%s]: %w", abs, err)
		}
	}
	s := &Store{dir: abs, maxBytes: opts.MaxBytes, unlock: func() {}}
	if opts.Exclusive {
		unlock, err := dirlock.Lock(filepath.Join(abs, "whet.lock"), "whet server")
		if err != nil {
			return nil, fmt.Errorf("store: data dir[%s]: %w", abs, err)
		}
		s.unlock = unlock
		// Only the exclusive owner may clear staging: another server could be writing there.
		entries, _ := os.ReadDir(filepath.Join(abs, "tmp"))
		for _, e := range entries {
			_ = os.RemoveAll(filepath.Join(abs, "tmp", e.Name()))
		}
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opts.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(wal)")
	q.Add("_pragma", "synchronous(normal)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + filepath.Join(abs, "whet.db") + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		s.unlock()
		return nil, fmt.Errorf("store: open db[%s]: %w", dsn, err)
	}
	db.SetMaxOpenConns(8)
	s.db = db
	if err := s.migrate(ctx); err != nil {
		_ = db.Close()
		s.unlock()
		return nil, err
	}
	return s, nil
}

// Close closes the database and releases the folder lock. It is idempotent.
func (s *Store) Close(ctx context.Context) error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	err := s.db.Close()
	s.unlock()
	if err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Dir returns the absolute data folder.
func (s *Store) Dir() string { return s.dir }

// Path joins elem under the data folder.
func (s *Store) Path(elem ...string) string {
	return filepath.Join(append([]string{s.dir}, elem...)...)
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// NewID returns prefix followed by 24 random hex digits ("file-3f2a...").
func NewID(prefix string) string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return prefix + hex.EncodeToString(b[:])
}

func now() int64 { return time.Now().Unix() }

// tx runs fn in a transaction (BEGIN IMMEDIATE: it takes the write lock at once).
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

func mustJSON(v any) string {
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("store: encode %T: %v", v, err)) // only plain data types are stored
	}
	return string(b)
}

func fromJSON(s string, v any) error {
	if s == "" {
		return nil
	}
	return json.Unmarshal([]byte(s), v)
}

// ErrNotFound is matched (errors.Is) by every *NotFoundError.
var ErrNotFound = errors.New("not found")

// ErrInUse is matched by every *InUseError.
var ErrInUse = errors.New("in use")

// ErrConflict is matched by every *ConflictError.
var ErrConflict = errors.New("conflict")

// NotFoundError reports an unknown id.
type NotFoundError struct {
	// Kind is "file", "module", "model", "job" or "checkpoint".
	Kind string
	// ID is the id asked for.
	ID string
}

// Error implements error.
func (e *NotFoundError) Error() string { return fmt.Sprintf("%s[%s] not found", e.Kind, e.ID) }

// Is matches ErrNotFound.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// InUseError reports a delete refused because an unfinished job uses the object.
type InUseError struct {
	// Kind is "file", "module" or "model".
	Kind string
	// ID is the object's id.
	ID string
	// JobID is one unfinished job that uses it.
	JobID string
}

// Error implements error.
func (e *InUseError) Error() string {
	return fmt.Sprintf("%s[%s] is used by unfinished job[%s]: cancel it or wait for it to finish", e.Kind, e.ID, e.JobID)
}

// Is matches ErrInUse.
func (e *InUseError) Is(target error) bool { return target == ErrInUse }

// ConflictError reports a write that lost against the current state: a duplicate id, or a job transition whose
// expected status no longer holds.
type ConflictError struct {
	// Kind is the object kind.
	Kind string
	// ID is the object's id.
	ID string
	// Msg says what conflicted.
	Msg string
}

// Error implements error.
func (e *ConflictError) Error() string { return fmt.Sprintf("%s[%s]: %s", e.Kind, e.ID, e.Msg) }

// Is matches ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }
