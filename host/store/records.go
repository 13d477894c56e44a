package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/whetml/whet/sdk"
)

// ForgetMissingCheckpoints deletes job jobID's checkpoint records whose folders no longer exist (the trainer keeps
// only the best and the last checkpoint; a crash can leave records of folders it had removed) and returns how many
// it deleted.
func (s *Store) ForgetMissingCheckpoints(ctx context.Context, jobID string) (int, error) {
	cks, err := s.ListCheckpoints(ctx, jobID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range cks {
		if _, err := os.Stat(c.Path); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if _, err := s.db.ExecContext(ctx, `DELETE FROM checkpoints WHERE id=?`, c.ID); err != nil {
			return n, fmt.Errorf("store: forget checkpoint[%s]: %w", c.ID, err)
		}
		n++
	}
	return n, nil
}

// DropEventsAfterStep deletes job jobID's metrics, eval and checkpoint events about steps after step and returns
// how many it deleted. A run that resumes from the checkpoint of that step (0: from the beginning) redoes those
// steps, so the log keeps one record of each step: the one of the run that produced the model.
func (s *Store) DropEventsAfterStep(ctx context.Context, jobID string, step int) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM events WHERE job_id=? AND type IN (?,?,?) AND data<>''
		AND json_extract(data, '$.step') > ?`, jobID, sdk.EventMetrics, sdk.EventEval, sdk.EventCheckpoint, step)
	if err != nil {
		return 0, fmt.Errorf("store: drop events of job[%s] after step %d: %w", jobID, step, err)
	}
	return res.RowsAffected()
}

// DeleteJob removes the finished job id with its events and checkpoint records, and its folder: the data handed to
// the trainer and the checkpoints, and the output folder too unless its fine-tuned model stays registered. With
// deleteModel the fine-tuned model is unregistered in the same transaction (refused with an *InUseError while an
// unfinished job fine-tunes it). It returns a *NotFoundError for an unknown id and a *ConflictError while the job is
// not finished (cancel it first).
func (s *Store) DeleteJob(ctx context.Context, id string, deleteModel bool) error {
	var j *Job
	modelKept := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		j, err = scanJob(tx.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE id=?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return &NotFoundError{Kind: "job", ID: id}
		}
		if err != nil {
			return err
		}
		var finished bool
		if err := tx.QueryRowContext(ctx, `SELECT status IN `+terminalSQL+` FROM jobs WHERE id=?`, id).Scan(&finished); err != nil {
			return err
		}
		if !finished {
			return &ConflictError{Kind: "job", ID: id, Msg: fmt.Sprintf("status is %s: cancel it first (POST /v1/fine_tuning/jobs/%s/cancel)", j.Status, id)}
		}
		if j.FineTunedModel != nil {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM models WHERE id=? AND path=?`, *j.FineTunedModel, j.OutDir).Scan(&n); err != nil {
				return err
			}
			if n > 0 && deleteModel {
				var user string
				switch err := tx.QueryRowContext(ctx, `SELECT id FROM jobs WHERE status NOT IN `+terminalSQL+`
					AND model=? LIMIT 1`, *j.FineTunedModel).Scan(&user); {
				case err == nil:
					return &InUseError{Kind: "model", ID: *j.FineTunedModel, JobID: user}
				case !errors.Is(err, sql.ErrNoRows):
					return err
				}
				if _, err := tx.ExecContext(ctx, `DELETE FROM models WHERE id=?`, *j.FineTunedModel); err != nil {
					return err
				}
			}
			modelKept = n > 0 && !deleteModel
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM jobs WHERE id=?`, id) // events and checkpoints cascade
		return err
	})
	if err != nil {
		var nf *NotFoundError
		var iu *InUseError
		var ce *ConflictError
		if errors.As(err, &nf) || errors.As(err, &iu) || errors.As(err, &ce) {
			return err
		}
		return fmt.Errorf("store: delete job[%s]: %w", id, err)
	}
	return removeJobFolder(s.Path("jobs", id), j.OutDir, modelKept)
}

// removeJobFolder removes a job's folder; when its output folder is a registered model, only the checkpoints and
// the trainer's data are removed.
func removeJobFolder(dir, outDir string, keepOut bool) error {
	if !keepOut {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("store: remove %s: %w", dir, err)
		}
		return nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: remove job folder: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if p := filepath.Join(dir, e.Name()); p != filepath.Clean(outDir) {
			errs = append(errs, os.RemoveAll(p))
		}
	}
	errs = append(errs, os.RemoveAll(filepath.Join(outDir, "checkpoints")))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: remove job folder: %w", err)
	}
	return nil
}
