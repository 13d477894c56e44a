package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are applied in order, each once, each in its own transaction; applied versions are recorded in the
// migrations table. Append only: never edit a migration that has shipped.
var migrations = []string{
	// 1: initial schema
	`CREATE TABLE files (
		id TEXT PRIMARY KEY,
		filename TEXT NOT NULL,
		purpose TEXT NOT NULL,
		format TEXT NOT NULL,
		bytes INTEGER NOT NULL,
		sha256 TEXT NOT NULL,
		rows INTEGER NOT NULL,
		labels TEXT NOT NULL,
		label_counts TEXT NOT NULL,
		warnings TEXT NOT NULL,
		text_column TEXT NOT NULL,
		label_column TEXT NOT NULL,
		path TEXT NOT NULL,
		created_at INTEGER NOT NULL
	);
	CREATE TABLE modules (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		kind TEXT NOT NULL,
		sha256 TEXT NOT NULL,
		abi_version INTEGER NOT NULL,
		bytes INTEGER NOT NULL,
		path TEXT NOT NULL,
		created_at INTEGER NOT NULL
	);
	CREATE TABLE models (
		id TEXT PRIMARY KEY,
		path TEXT NOT NULL,
		source TEXT NOT NULL,
		owned_by TEXT NOT NULL,
		labels TEXT NOT NULL,
		architecture TEXT NOT NULL,
		base_model TEXT NOT NULL,
		job_id TEXT NOT NULL,
		owns_path INTEGER NOT NULL,
		created_at INTEGER NOT NULL
	);
	CREATE TABLE jobs (
		id TEXT PRIMARY KEY,
		status TEXT NOT NULL,
		model TEXT NOT NULL,
		training_file TEXT NOT NULL,
		validation_file TEXT NOT NULL,
		preprocess_module TEXT NOT NULL,
		evaluate_module TEXT NOT NULL,
		hyperparameters TEXT NOT NULL,
		suffix TEXT NOT NULL,
		fine_tuned_model TEXT,
		error TEXT NOT NULL DEFAULT '',
		metrics TEXT NOT NULL DEFAULT '',
		trained_steps INTEGER NOT NULL DEFAULT 0,
		attempts INTEGER NOT NULL DEFAULT 0,
		cancel_requested INTEGER NOT NULL DEFAULT 0,
		resume_from TEXT NOT NULL DEFAULT '',
		train_path TEXT NOT NULL DEFAULT '',
		validation_path TEXT NOT NULL DEFAULT '',
		out_dir TEXT NOT NULL DEFAULT '',
		created_at INTEGER NOT NULL,
		started_at INTEGER,
		finished_at INTEGER,
		heartbeat_at INTEGER
	);
	CREATE INDEX jobs_status ON jobs(status);
	CREATE TABLE events (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
		created_at INTEGER NOT NULL,
		level TEXT NOT NULL,
		type TEXT NOT NULL,
		message TEXT NOT NULL,
		data TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX events_job ON events(job_id, id);
	CREATE TABLE checkpoints (
		id TEXT PRIMARY KEY,
		job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
		step INTEGER NOT NULL,
		epoch REAL NOT NULL,
		path TEXT NOT NULL,
		metrics TEXT NOT NULL DEFAULT '',
		best INTEGER NOT NULL DEFAULT 0,
		created_at INTEGER NOT NULL
	);
	CREATE INDEX checkpoints_job ON checkpoints(job_id, step);
	CREATE TABLE api_keys (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		hash TEXT NOT NULL UNIQUE,
		created_at INTEGER NOT NULL
	);`,
	// 2: key scopes and revocation (keys made before scopes existed could do everything: they stay admin)
	`ALTER TABLE api_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'admin';
	ALTER TABLE api_keys ADD COLUMN revoked_at INTEGER;`,
	// 3: remote workers (host/cluster): who runs a job, the token of its current attempt, worker credentials
	`ALTER TABLE jobs ADD COLUMN worker TEXT NOT NULL DEFAULT '';
	ALTER TABLE jobs ADD COLUMN attempt_token TEXT NOT NULL DEFAULT '';
	CREATE TABLE workers (
		id TEXT PRIMARY KEY,
		host TEXT NOT NULL,
		credential TEXT NOT NULL,
		slots INTEGER NOT NULL,
		drain INTEGER NOT NULL DEFAULT 0,
		first_seen INTEGER NOT NULL,
		last_seen INTEGER NOT NULL
	);
	CREATE TABLE worker_credentials (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		hash TEXT NOT NULL,
		created_at INTEGER NOT NULL
	);`,
	// 4: a job's own attempt limit (0: the server's, for jobs made before)
	`ALTER TABLE jobs ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 0;`,
	// 5: how many progress lines of a remote attempt the server recorded (host/cluster), kept over a restart so
	// that a batch a worker sends again is not recorded twice
	`CREATE TABLE attempt_lines (
		job_id TEXT PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
		token TEXT NOT NULL,
		lines INTEGER NOT NULL
	);`,
	// 6: the claim id that started a remote attempt: the same claim sent again after a server restart (its reply was
	// lost) gets the same attempt instead of waiting for it to go stale
	`ALTER TABLE attempt_lines ADD COLUMN claim TEXT NOT NULL DEFAULT '';`,
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (
		version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrations table: %w", err)
	}
	for i, m := range migrations {
		version := i + 1
		err := s.tx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM migrations WHERE version=?`, version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO migrations(version, applied_at) VALUES(?, ?)`, version, now())
			return err
		})
		if err != nil {
			return fmt.Errorf("store: migration[%d]: %w", version, err)
		}
	}
	return nil
}
