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
)

// KeyPrefix starts every API key whet generates.
const KeyPrefix = "whet-"

// HashKey returns the hex sha256 of an API key: the only form in which keys are stored.
func HashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// CreateKey generates a new API key named name, stores its hash and returns the key itself (shown once: it
// cannot be recovered) and its id.
func (s *Store) CreateKey(ctx context.Context, name string) (key, id string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("store: create key: %w", err)
	}
	key = KeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	id = NewID("key-")
	if _, err := s.db.ExecContext(ctx, `INSERT INTO api_keys(id, name, hash, created_at) VALUES(?,?,?,?)`,
		id, name, HashKey(key), now()); err != nil {
		return "", "", fmt.Errorf("store: create key[%s]: %w", name, err)
	}
	return key, id, nil
}

// HasKeys reports whether any API key is stored.
func (s *Store) HasKeys(ctx context.Context) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_keys`).Scan(&n); err != nil {
		return false, fmt.Errorf("store: count keys: %w", err)
	}
	return n > 0, nil
}

// VerifyKey reports whether key is a stored API key (compared by sha256 hash).
func (s *Store) VerifyKey(ctx context.Context, key string) (bool, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT id FROM api_keys WHERE hash=?`, HashKey(key)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: verify key: %w", err)
	}
	return true, nil
}
