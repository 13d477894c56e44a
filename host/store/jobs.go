package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/whetml/whet/sdk"
)

// Job is a stored fine-tuning job: the wire record plus the runner's bookkeeping.
type Job struct {
	sdk.Job
	// CancelRequested is set by a cancel of a running job, before its worker is interrupted; a job found running
	// with it set after a restart is cancelled, not resumed.
	CancelRequested bool
	// ResumeFrom is the checkpoint folder the next run resumes from ("" = from the start).
	ResumeFrom string
	// TrainPath and ValidationPath are the data files handed to the trainer (the automatic split, when made).
	TrainPath, ValidationPath string
	// OutDir is the trainer's output folder.
	OutDir string
	// HeartbeatAt is the last time the running job's runner reported in, in Unix seconds (0 = never).
	HeartbeatAt int64
	// AttemptToken names the current attempt on a remote worker ("" for local runs): only the holder of the
	// current token may report progress or finish the job.
	AttemptToken string
}

// InsertJob records a new job. Inside the same transaction it checks that the model, files and modules it names
// exist, returning a *NotFoundError for the first that does not, so that a concurrent delete cannot slip between
// the check and the insert.
func (s *Store) InsertJob(ctx context.Context, j *Job) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		refs := []struct{ table, kind, id string }{
			{"models", "model", j.Model},
			{"files", "file", j.TrainingFile},
			{"files", "file", j.ValidationFile},
			{"modules", "module", j.PreprocessModule},
			{"modules", "module", j.EvaluateModule},
		}
		for _, r := range refs {
			if r.id == "" {
				continue
			}
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+r.table+` WHERE id=?`, r.id).Scan(&n); err != nil {
				return fmt.Errorf("store: insert job[%s]: %w", j.ID, err)
			}
			if n == 0 {
				return &NotFoundError{Kind: r.kind, ID: r.id}
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO jobs(id, status, model, training_file, validation_file,
			preprocess_module, evaluate_module, hyperparameters, suffix, out_dir, created_at, max_attempts)
			VALUES(?,?,?,?,?,?,?,?,?,?,?,?)`, j.ID, j.Status, j.Model, j.TrainingFile, j.ValidationFile,
			j.PreprocessModule, j.EvaluateModule, mustJSON(j.Hyperparameters), j.Suffix, j.OutDir, j.CreatedAt, j.MaxAttempts)
		if err != nil {
			return fmt.Errorf("store: insert job[%s]: %w", j.ID, err)
		}
		return nil
	})
}

const jobCols = `id, status, model, training_file, validation_file, preprocess_module, evaluate_module,
	hyperparameters, suffix, fine_tuned_model, error, metrics, trained_steps, attempts, cancel_requested,
	resume_from, train_path, validation_path, out_dir, created_at, started_at, finished_at, heartbeat_at, worker,
	attempt_token, max_attempts`

func scanJob(sc interface{ Scan(...any) error }) (*Job, error) {
	var j Job
	var hp, jerr, metrics string
	var ftm sql.NullString
	var started, finished, heartbeat sql.NullInt64
	var worker string
	if err := sc.Scan(&j.ID, &j.Status, &j.Model, &j.TrainingFile, &j.ValidationFile, &j.PreprocessModule,
		&j.EvaluateModule, &hp, &j.Suffix, &ftm, &jerr, &metrics, &j.TrainedSteps, &j.Attempts, &j.CancelRequested,
		&j.ResumeFrom, &j.TrainPath, &j.ValidationPath, &j.OutDir, &j.CreatedAt, &started, &finished,
		&heartbeat, &worker, &j.AttemptToken, &j.MaxAttempts); err != nil {
		return nil, err
	}
	j.Object = sdk.ObjectJob
	if ftm.Valid {
		j.FineTunedModel = &ftm.String
	}
	if started.Valid {
		j.StartedAt = &started.Int64
	}
	if finished.Valid {
		j.FinishedAt = &finished.Int64
	}
	j.HeartbeatAt = heartbeat.Int64
	if worker != "" {
		j.Worker = &worker
	}
	if metrics != "" {
		j.Metrics = json.RawMessage(metrics)
	}
	if jerr != "" {
		j.Error = new(sdk.JobError)
	}
	if err := errors.Join(fromJSON(hp, &j.Hyperparameters), fromJSON(jerr, j.Error)); err != nil {
		return nil, fmt.Errorf("store: job[%s]: corrupt row: %w", j.ID, err)
	}
	return &j, nil
}

// GetJob returns the job id, or a *NotFoundError.
func (s *Store) GetJob(ctx context.Context, id string) (*Job, error) {
	j, err := scanJob(s.db.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE id=?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &NotFoundError{Kind: "job", ID: id}
	}
	if err != nil {
		return nil, fmt.Errorf("store: get job[%s]: %w", id, err)
	}
	return j, nil
}

// ListJobs returns up to limit jobs, newest first, starting after the job after ("" = from the newest), and
// whether more remain.
func (s *Store) ListJobs(ctx context.Context, after string, limit int) ([]*Job, bool, error) {
	q := `SELECT ` + jobCols + ` FROM jobs`
	args := []any{}
	if after != "" {
		q += ` WHERE rowid < (SELECT rowid FROM jobs WHERE id=?)`
		args = append(args, after)
	}
	q += ` ORDER BY rowid DESC LIMIT ?`
	args = append(args, limit+1)
	jobs, err := s.queryJobs(ctx, q, args...)
	if err != nil {
		return nil, false, err
	}
	more := len(jobs) > limit
	if more {
		jobs = jobs[:limit]
	}
	return jobs, more, nil
}

// JobsWithStatus returns every job in one of statuses, oldest first (queue order).
func (s *Store) JobsWithStatus(ctx context.Context, statuses ...string) ([]*Job, error) {
	if len(statuses) == 0 {
		return nil, nil
	}
	marks := strings.TrimSuffix(strings.Repeat("?,", len(statuses)), ",")
	args := make([]any, len(statuses))
	for i, st := range statuses {
		args[i] = st
	}
	return s.queryJobs(ctx, `SELECT `+jobCols+` FROM jobs WHERE status IN (`+marks+`) ORDER BY rowid`, args...)
}

func (s *Store) queryJobs(ctx context.Context, q string, args ...any) ([]*Job, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list jobs: %w", err)
	}
	defer rows.Close()
	var out []*Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list jobs: %w", err)
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// CountJobs returns the number of jobs in each status.
func (s *Store) CountJobs(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT status, COUNT(*) FROM jobs GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("store: count jobs: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("store: count jobs: %w", err)
		}
		out[st] = n
	}
	return out, rows.Err()
}

// JobChange lists what a Transition sets besides the status; nil fields are left as they are.
type JobChange struct {
	// Started sets started_at to now and counts an attempt (entering running).
	Started bool
	// Finished sets finished_at to now (entering a terminal status).
	Finished bool
	// Error sets the failure reason.
	Error *sdk.JobError
	// Metrics sets the final metrics document.
	Metrics json.RawMessage
	// FineTunedModel sets the produced model's id; RegisterModel, when also set, is inserted in the same
	// transaction, so the model exists as soon as the job says succeeded.
	FineTunedModel *string
	// RegisterModel is the model to register with the transition.
	RegisterModel *Model
	// ResumeFrom sets the checkpoint the next run resumes from.
	ResumeFrom *string
	// TrainPath and ValidationPath set the data files handed to the trainer.
	TrainPath, ValidationPath *string
	// ClearCancel resets the cancel request.
	ClearCancel bool
	// Worker sets the worker running the job ("" = this server); AttemptToken sets the attempt's token.
	Worker, AttemptToken *string
	// IfAttemptToken, when set, makes the transition conditional on the job's current attempt token too.
	IfAttemptToken *string
	// IfHeartbeatBefore, when > 0, makes the transition conditional on a heartbeat older than this Unix time.
	IfHeartbeatBefore int64
	// Event, when set, is appended to the job's log in the same transaction (so a reader that sees the new
	// status also sees its event).
	Event *sdk.JobEvent
}

// Transition moves job id from status from to status to, applying ch, as one conditional UPDATE ... WHERE id=?
// AND status=?. It returns the updated job; a *NotFoundError for an unknown id; a *ConflictError when the job is
// no longer in from (someone else moved it first).
func (s *Store) Transition(ctx context.Context, id, from, to string, ch JobChange) (*Job, error) {
	sets, args := ch.sets(to)
	where, wargs := ch.where(id, from)
	args = append(args, wargs...)
	var out *Job
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET `+sets+` WHERE `+where, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return whyUnchanged(ctx, tx, id, from, ch)
		}
		if ch.RegisterModel != nil {
			if err := insertModel(ctx, tx, ch.RegisterModel); err != nil {
				return err
			}
		}
		if ch.Event != nil {
			if _, err := addEvent(ctx, tx, id, *ch.Event); err != nil {
				return err
			}
		}
		out, err = scanJob(tx.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE id=?`, id))
		return err
	})
	if err != nil {
		var nf *NotFoundError
		var ce *ConflictError
		if errors.As(err, &nf) || errors.As(err, &ce) {
			return nil, err
		}
		return nil, fmt.Errorf("store: job[%s] %s -> %s: %w", id, from, to, err)
	}
	return out, nil
}

// sets returns the SET clause of a Transition to status to, and its arguments.
func (ch JobChange) sets(to string) (string, []any) {
	t := now()
	sets := []string{"status=?"}
	args := []any{to}
	set := func(col string, val any) {
		sets, args = append(sets, col+"=?"), append(args, val)
	}
	if ch.Started {
		sets = append(sets, "attempts=attempts+1")
		set("started_at", t)
		set("heartbeat_at", t)
	}
	if ch.Finished {
		set("finished_at", t)
	}
	if ch.Error != nil {
		set("error", mustJSON(ch.Error))
	}
	if ch.Metrics != nil {
		set("metrics", string(ch.Metrics))
	}
	if ch.ClearCancel {
		sets = append(sets, "cancel_requested=0")
	}
	for _, c := range []struct {
		col string
		val *string // nil: left as it is
	}{
		{"fine_tuned_model", ch.FineTunedModel}, {"resume_from", ch.ResumeFrom}, {"train_path", ch.TrainPath},
		{"validation_path", ch.ValidationPath}, {"worker", ch.Worker}, {"attempt_token", ch.AttemptToken},
	} {
		if c.val != nil {
			set(c.col, *c.val)
		}
	}
	return strings.Join(sets, ", "), args
}

// where returns the WHERE clause of a Transition of job id from status from, and its arguments.
func (ch JobChange) where(id, from string) (string, []any) {
	where := "id=? AND status=?"
	args := []any{id, from}
	if ch.IfAttemptToken != nil {
		where += " AND attempt_token=?"
		args = append(args, *ch.IfAttemptToken)
	}
	if ch.IfHeartbeatBefore > 0 {
		where += " AND COALESCE(heartbeat_at, 0) < ?"
		args = append(args, ch.IfHeartbeatBefore)
	}
	return where, args
}

// whyUnchanged says why a Transition of job id from status from updated no row: a *NotFoundError or a
// *ConflictError naming the condition that failed.
func whyUnchanged(ctx context.Context, tx *sql.Tx, id, from string, ch JobChange) error {
	var cur, token string
	if err := tx.QueryRowContext(ctx, `SELECT status, attempt_token FROM jobs WHERE id=?`, id).Scan(&cur, &token); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return &NotFoundError{Kind: "job", ID: id}
		}
		return err
	}
	switch {
	case cur != from:
		return &ConflictError{Kind: "job", ID: id, Msg: fmt.Sprintf("status is %s, not %s", cur, from)}
	case ch.IfAttemptToken != nil && token != *ch.IfAttemptToken:
		return &ConflictError{Kind: "job", ID: id, Msg: "another attempt holds the job now"}
	default:
		return &ConflictError{Kind: "job", ID: id, Msg: "its runner is still alive (recent heartbeat)"}
	}
}

// RequestCancel marks the job id as to be cancelled if it is in status; it reports whether it was.
func (s *Store) RequestCancel(ctx context.Context, id, status string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE jobs SET cancel_requested=1 WHERE id=? AND status=?`, id, status)
	if err != nil {
		return false, fmt.Errorf("store: cancel job[%s]: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// Heartbeat records that the running job id is alive, and its last step when step > 0.
func (s *Store) Heartbeat(ctx context.Context, id string, step int) error {
	var err error
	if step > 0 {
		_, err = s.db.ExecContext(ctx, `UPDATE jobs SET heartbeat_at=?, trained_steps=? WHERE id=?`, now(), step, id)
	} else {
		_, err = s.db.ExecContext(ctx, `UPDATE jobs SET heartbeat_at=? WHERE id=?`, now(), id)
	}
	if err != nil {
		return fmt.Errorf("store: heartbeat job[%s]: %w", id, err)
	}
	return nil
}

// AddEvent appends ev to job jobID's log and returns it with its ID and CreatedAt set.
func (s *Store) AddEvent(ctx context.Context, jobID string, ev sdk.JobEvent) (sdk.JobEvent, error) {
	return addEvent(ctx, s.db, jobID, ev)
}

func addEvent(ctx context.Context, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, jobID string, ev sdk.JobEvent) (sdk.JobEvent, error) {
	if ev.CreatedAt == 0 {
		ev.CreatedAt = now()
	}
	if ev.Level == "" {
		ev.Level = "info"
	}
	if ev.Type == "" {
		ev.Type = sdk.EventMessage
	}
	ev.Object = sdk.ObjectJobEvent
	data := ""
	if ev.Data != nil {
		data = mustJSON(ev.Data)
	}
	res, err := db.ExecContext(ctx, `INSERT INTO events(job_id, created_at, level, type, message, data)
		VALUES(?,?,?,?,?,?)`, jobID, ev.CreatedAt, ev.Level, ev.Type, ev.Message, data)
	if err != nil {
		return ev, fmt.Errorf("store: add event to job[%s]: %w", jobID, err)
	}
	ev.ID, err = res.LastInsertId()
	return ev, err
}

// ListEvents returns up to limit events of job jobID with an ID above after, oldest first, and whether more
// remain.
func (s *Store) ListEvents(ctx context.Context, jobID string, after int64, limit int) ([]sdk.JobEvent, bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, created_at, level, type, message, data FROM events
		WHERE job_id=? AND id>? ORDER BY id LIMIT ?`, jobID, after, limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("store: list events of job[%s]: %w", jobID, err)
	}
	defer rows.Close()
	out := []sdk.JobEvent{}
	for rows.Next() {
		ev := sdk.JobEvent{Object: sdk.ObjectJobEvent}
		var data string
		if err := rows.Scan(&ev.ID, &ev.CreatedAt, &ev.Level, &ev.Type, &ev.Message, &data); err != nil {
			return nil, false, fmt.Errorf("store: list events of job[%s]: %w", jobID, err)
		}
		if data != "" {
			ev.Data = new(sdk.EventData)
			if err := fromJSON(data, ev.Data); err != nil {
				return nil, false, fmt.Errorf("store: event[%d]: corrupt row: %w", ev.ID, err)
			}
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}

// Checkpoint is a stored checkpoint: the wire record plus its folder.
type Checkpoint struct {
	sdk.Checkpoint
	// Path is the checkpoint folder (a full model folder plus trainer_state.json).
	Path string
}

// AddCheckpoint records c; a checkpoint already recorded for the same job and path is updated instead.
func (s *Store) AddCheckpoint(ctx context.Context, c *Checkpoint) error {
	if c.CreatedAt == 0 {
		c.CreatedAt = now()
	}
	c.Object = sdk.ObjectCheckpoint
	return s.tx(ctx, func(tx *sql.Tx) error {
		var existing string
		err := tx.QueryRowContext(ctx, `SELECT id FROM checkpoints WHERE job_id=? AND path=?`, c.FineTuningJobID, c.Path).Scan(&existing)
		switch {
		case err == nil:
			c.ID = existing
			_, err = tx.ExecContext(ctx, `UPDATE checkpoints SET step=?, epoch=?, metrics=?, best=?, created_at=?
				WHERE id=?`, c.StepNumber, c.Epoch, string(c.Metrics), c.Best, c.CreatedAt, c.ID)
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, `INSERT INTO checkpoints(id, job_id, step, epoch, path, metrics, best,
				created_at) VALUES(?,?,?,?,?,?,?,?)`, c.ID, c.FineTuningJobID, c.StepNumber, c.Epoch, c.Path,
				string(c.Metrics), c.Best, c.CreatedAt)
		}
		if err != nil {
			return fmt.Errorf("store: add checkpoint to job[%s]: %w", c.FineTuningJobID, err)
		}
		return nil
	})
}

// ListCheckpoints returns job jobID's checkpoints, newest (highest step) first.
func (s *Store) ListCheckpoints(ctx context.Context, jobID string) ([]*Checkpoint, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, job_id, step, epoch, path, metrics, best, created_at
		FROM checkpoints WHERE job_id=? ORDER BY step DESC, created_at DESC`, jobID)
	if err != nil {
		return nil, fmt.Errorf("store: list checkpoints of job[%s]: %w", jobID, err)
	}
	defer rows.Close()
	var out []*Checkpoint
	for rows.Next() {
		c := &Checkpoint{}
		var metrics string
		if err := rows.Scan(&c.ID, &c.FineTuningJobID, &c.StepNumber, &c.Epoch, &c.Path, &metrics, &c.Best,
			&c.CreatedAt); err != nil {
			return nil, fmt.Errorf("store: list checkpoints of job[%s]: %w", jobID, err)
		}
		c.Object = sdk.ObjectCheckpoint
		if metrics != "" {
			c.Metrics = json.RawMessage(metrics)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
