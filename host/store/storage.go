package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// SweepReport says what Sweep removed.
type SweepReport struct {
	// Removed are the paths removed, relative to the data folder.
	Removed []string
	// Bytes is how much they held.
	Bytes int64
}

// Sweep removes what no record refers to, as a crash or a failed delete leaves it: job folders without a job,
// dataset contents and rows and module contents without a file or module, uploaded model folders without a model (Open with
// Exclusive already empties tmp/, where uploads are staged). A server calls it once at start, before it accepts
// uploads or starts jobs, so that nothing it removes is in use. Errors removing one path are joined and the sweep
// goes on.
func (s *Store) Sweep(ctx context.Context) (SweepReport, error) {
	var rep SweepReport
	live := map[string]bool{}
	for _, q := range []string{`SELECT path FROM files`, `SELECT id FROM files`, `SELECT path FROM modules`,
		`SELECT path FROM models`, `SELECT out_dir FROM jobs`} {
		rows, err := s.db.QueryContext(ctx, q)
		if err != nil {
			return rep, fmt.Errorf("store: sweep: %w", err)
		}
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				rows.Close()
				return rep, fmt.Errorf("store: sweep: %w", err)
			}
			if q == `SELECT id FROM files` {
				p = s.RowsPath(p)
			}
			live[filepath.Clean(p)] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return rep, fmt.Errorf("store: sweep: %w", err)
		}
	}
	var errs []error
	for _, sub := range []string{"files", "modules", "models", "jobs"} {
		entries, err := os.ReadDir(s.Path(sub))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range entries {
			p := s.Path(sub, e.Name())
			if live[p] || sub == "jobs" && live[filepath.Join(p, "out")] {
				continue
			}
			n := du(p)
			if err := os.RemoveAll(p); err != nil {
				errs = append(errs, err)
				continue
			}
			rep.Removed = append(rep.Removed, filepath.Join(sub, e.Name()))
			rep.Bytes += n
		}
	}
	if err := errors.Join(errs...); err != nil {
		return rep, fmt.Errorf("store: sweep: %w", err)
	}
	return rep, nil
}

// du returns the bytes held by the regular files under p.
func du(p string) int64 {
	var n int64
	_ = filepath.WalkDir(p, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// QuotaError reports that the data folder would hold more than Options.MaxBytes.
type QuotaError struct {
	// Used is what the data folder holds, in bytes.
	Used int64
	// Limit is Options.MaxBytes.
	Limit int64
	// What names what was refused ("file[train.csv]", "job").
	What string
}

// Error implements error.
func (e *QuotaError) Error() string {
	return fmt.Sprintf("%s refused: the data folder holds %s of its %s limit (--max-storage); delete jobs "+
		"(DELETE /v1/fine_tuning/jobs/{id}), models or files to make room", e.What, humanBytes(e.Used), humanBytes(e.Limit))
}

// Usage returns the bytes the data folder holds (database included).
func (s *Store) Usage() int64 { return du(s.dir) }

// CheckQuota returns a *QuotaError naming what when the data folder holds Options.MaxBytes or more (nil without a
// limit). Uploads are checked as they are staged; a job, whose checkpoints grow the folder, is checked when created.
func (s *Store) CheckQuota(what string) error {
	if s.maxBytes <= 0 {
		return nil
	}
	if used := s.Usage(); used >= s.maxBytes {
		return &QuotaError{Used: used, Limit: s.maxBytes, What: what}
	}
	return nil
}
