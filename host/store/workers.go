package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
)

// Worker is a remote worker (host/cluster) as last seen by this server.
type Worker struct {
	// ID names the worker process ("wrk-..."); Host is the machine it runs on.
	ID, Host string
	// Credential is the id of the worker credentials it connected with.
	Credential string
	// Slots is how many jobs it trains at once.
	Slots int
	// Drain is set by an admin: the worker takes no new jobs and exits when idle.
	Drain bool
	// FirstSeen and LastSeen are Unix seconds.
	FirstSeen, LastSeen int64
}

// SeenWorker records that worker w is alive now (inserting it on first sight) and returns its drain flag.
func (s *Store) SeenWorker(ctx context.Context, w Worker) (drain bool, err error) {
	t := now()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO workers(id, host, credential, slots, first_seen, last_seen)
			VALUES(?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET last_seen=excluded.last_seen, slots=excluded.slots`,
			w.ID, w.Host, w.Credential, w.Slots, t, t); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT drain FROM workers WHERE id=?`, w.ID).Scan(&drain)
	})
	if err != nil {
		return false, fmt.Errorf("store: worker[%s]: %w", w.ID, err)
	}
	return drain, nil
}

// ListWorkers returns every worker seen after since (Unix seconds), most recently seen first.
func (s *Store) ListWorkers(ctx context.Context, since int64) ([]*Worker, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, host, credential, slots, drain, first_seen, last_seen FROM workers
		WHERE last_seen >= ? ORDER BY last_seen DESC, id`, since)
	if err != nil {
		return nil, fmt.Errorf("store: list workers: %w", err)
	}
	defer rows.Close()
	var out []*Worker
	for rows.Next() {
		w := &Worker{}
		if err := rows.Scan(&w.ID, &w.Host, &w.Credential, &w.Slots, &w.Drain, &w.FirstSeen, &w.LastSeen); err != nil {
			return nil, fmt.Errorf("store: list workers: %w", err)
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// DrainWorker sets worker id's drain flag, or returns a *NotFoundError.
func (s *Store) DrainWorker(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE workers SET drain=1 WHERE id=?`, id)
	if err != nil {
		return fmt.Errorf("store: drain worker[%s]: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return &NotFoundError{Kind: "worker", ID: id}
	}
	return nil
}

// CreateWorkerCredential makes a worker credential named name and returns its id and secret; only the secret's
// sha256 is stored, so the secret is shown once.
func (s *Store) CreateWorkerCredential(ctx context.Context, name string) (id, secret string, err error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	id, secret = NewID("wcred-"), hex.EncodeToString(b)
	sum := sha256.Sum256([]byte(secret))
	if _, err := s.db.ExecContext(ctx, `INSERT INTO worker_credentials(id, name, hash, created_at) VALUES(?,?,?,?)`,
		id, name, hex.EncodeToString(sum[:]), now()); err != nil {
		return "", "", fmt.Errorf("store: create worker credential: %w", err)
	}
	return id, secret, nil
}

// CheckWorkerCredential reports whether secret is the secret of worker credential id.
func (s *Store) CheckWorkerCredential(ctx context.Context, id, secret string) (bool, error) {
	var hash string
	err := s.db.QueryRowContext(ctx, `SELECT hash FROM worker_credentials WHERE id=?`, id).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: check worker credential: %w", err)
	}
	sum := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(hash)) == 1, nil
}

// AttemptLines returns how many progress lines of attempt token of job jobID were recorded (SetAttemptLines);
// 0 when none were, or when they were of another attempt.
func (s *Store) AttemptLines(ctx context.Context, jobID, token string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT lines FROM attempt_lines WHERE job_id=? AND token=?`, jobID, token).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: attempt lines of job[%s]: %w", jobID, err)
	}
	return n, nil
}

// SetAttemptLines records that n progress lines of attempt token of job jobID were recorded, replacing the count
// of the job's previous attempt. One row per job, deleted with it.
func (s *Store) SetAttemptLines(ctx context.Context, jobID, token string, n int) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO attempt_lines(job_id, token, lines) VALUES(?,?,?)
		ON CONFLICT(job_id) DO UPDATE SET token=excluded.token, lines=excluded.lines,
		claim=CASE WHEN attempt_lines.token=excluded.token THEN attempt_lines.claim ELSE '' END`, jobID, token, n); err != nil {
		return fmt.Errorf("store: attempt lines of job[%s]: %w", jobID, err)
	}
	return nil
}

// SetAttemptClaim records that the worker's claim id claim started attempt token of job jobID (no lines recorded
// yet), replacing the job's previous attempt.
func (s *Store) SetAttemptClaim(ctx context.Context, jobID, token, claim string) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO attempt_lines(job_id, token, lines, claim) VALUES(?,?,0,?)
		ON CONFLICT(job_id) DO UPDATE SET token=excluded.token, lines=0, claim=excluded.claim`, jobID, token, claim); err != nil {
		return fmt.Errorf("store: attempt claim of job[%s]: %w", jobID, err)
	}
	return nil
}

// AttemptByClaim returns the token of the attempt of job jobID that claim id claim started (SetAttemptClaim) if it
// is the job's latest attempt, else "".
func (s *Store) AttemptByClaim(ctx context.Context, jobID, claim string) (string, error) {
	var token string
	err := s.db.QueryRowContext(ctx, `SELECT token FROM attempt_lines WHERE job_id=? AND claim=? AND claim<>''`, jobID, claim).Scan(&token)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: attempt claim of job[%s]: %w", jobID, err)
	}
	return token, nil
}
