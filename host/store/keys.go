package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
)

// KeyPrefix starts every API key whet generates.
const KeyPrefix = "whet-"

// API key scopes, from least to most allowed (see host/api for what each may do).
const (
	// ScopeRead may read (GET) and run inference.
	ScopeRead = "read"
	// ScopeUser may also upload, train, evaluate and delete.
	ScopeUser = "user"
	// ScopeAdmin may also register folders of the server's disk (from_path).
	ScopeAdmin = "admin"
)

// Scopes returns the scopes from least to most allowed.
func Scopes() []string { return []string{ScopeRead, ScopeUser, ScopeAdmin} }

// ScopeAllows reports whether a key of scope has may do what needs scope need.
func ScopeAllows(has, need string) bool {
	return slices.Index(Scopes(), has) >= slices.Index(Scopes(), need) && slices.Contains(Scopes(), has)
}

// Key is a stored API key (never the key itself: only its hash is stored).
type Key struct {
	// ID is "key-...".
	ID string
	// Name is the name given at creation.
	Name string
	// Scope is ScopeRead, ScopeUser or ScopeAdmin.
	Scope string
	// CreatedAt is a Unix time.
	CreatedAt int64
	// RevokedAt is the Unix time of the revocation, 0 while the key is valid.
	RevokedAt int64
}

// HashKey returns the hex sha256 of an API key: the only form in which keys are stored.
func HashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// CreateKey generates a new API key of scope (one of Scopes) named name, stores its hash and returns the key itself
// (shown once: it cannot be recovered) and its id.
func (s *Store) CreateKey(ctx context.Context, name, scope string) (key, id string, err error) {
	if !slices.Contains(Scopes(), scope) {
		return "", "", fmt.Errorf("store: create key[%s]: scope must be one of %v, got %q", name, Scopes(), scope)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("store: create key: %w", err)
	}
	key = KeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	id = NewID("key-")
	if _, err := s.db.ExecContext(ctx, `INSERT INTO api_keys(id, name, hash, scope, created_at) VALUES(?,?,?,?,?)`,
		id, name, HashKey(key), scope, now()); err != nil {
		return "", "", fmt.Errorf("store: create key[%s]: %w", name, err)
	}
	return key, id, nil
}

// HasKeys reports whether any API key was ever stored, revoked ones included: a server that had keys never
// silently becomes open by revoking them.
func (s *Store) HasKeys(ctx context.Context) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_keys`).Scan(&n); err != nil {
		return false, fmt.Errorf("store: count keys: %w", err)
	}
	return n > 0, nil
}

// LookupKey returns the stored, unrevoked key matching key (compared by sha256 hash), or nil.
func (s *Store) LookupKey(ctx context.Context, key string) (*Key, error) {
	var k Key
	var revoked sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT id, name, scope, created_at, revoked_at FROM api_keys WHERE hash=?`,
		HashKey(key)).Scan(&k.ID, &k.Name, &k.Scope, &k.CreatedAt, &revoked)
	if errors.Is(err, sql.ErrNoRows) || revoked.Valid {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: verify key: %w", err)
	}
	return &k, nil
}

// ListKeys returns every stored key, revoked ones included, oldest first.
func (s *Store) ListKeys(ctx context.Context) ([]Key, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, scope, created_at, COALESCE(revoked_at, 0) FROM api_keys ORDER BY rowid`)
	if err != nil {
		return nil, fmt.Errorf("store: list keys: %w", err)
	}
	defer rows.Close()
	var out []Key
	for rows.Next() {
		var k Key
		if err := rows.Scan(&k.ID, &k.Name, &k.Scope, &k.CreatedAt, &k.RevokedAt); err != nil {
			return nil, fmt.Errorf("store: list keys: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeKey revokes the key with id: it stops working at once, and stays listed. Revoking a revoked key is a
// no-op; an unknown id is a *NotFoundError.
func (s *Store) RevokeKey(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE api_keys SET revoked_at=COALESCE(revoked_at, ?) WHERE id=?`, now(), id)
	if err != nil {
		return fmt.Errorf("store: revoke key[%s]: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return &NotFoundError{Kind: "key", ID: id}
	}
	return nil
}
