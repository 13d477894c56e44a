package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/internal/runspec"
	"github.com/whetml/whet/sdk"
)

// Dispatcher hands queued jobs to remote workers (host/cluster). With Config.Dispatcher set the queue trains
// nothing itself: workers claim jobs with ClaimRemote and report through the RemoteRun it returns.
type Dispatcher interface {
	// Dispatch makes the queued job j available to workers. The scheduler calls it for every queued job on each
	// pass, so it must be cheap for a job it already dispatched (same ID and Attempts). An error is logged and
	// the job is offered again on the next pass.
	Dispatch(ctx context.Context, j *store.Job) error
}

func (q *Queue) dispatch(ctx context.Context) {
	queued, err := q.st.JobsWithStatus(ctx, string(Queued))
	if err != nil {
		q.log.Error("list queued jobs", "err", err)
		return
	}
	for _, j := range queued {
		if q.stopped() {
			return
		}
		if err := q.cfg.Dispatcher.Dispatch(ctx, j); err != nil {
			q.log.Error("dispatch job", "job_id", j.ID, "err", err)
		}
	}
}

// ClaimError says why a worker may not start an attempt: Drop when the job needs no more work (finished,
// cancelled, out of attempts), otherwise the claim may succeed later (the job still runs elsewhere).
type ClaimError struct {
	ID   string
	Drop bool
	Msg  string
}

// Error implements error.
func (e *ClaimError) Error() string { return fmt.Sprintf("job[%s]: %s", e.ID, e.Msg) }

// ClaimRemote starts a new attempt of job id on worker and returns it. A queued job starts running there. A
// running job whose last heartbeat is older than stale moves to worker (its previous worker stopped reporting) and
// resumes from its last checkpoint; the previous attempt's token stops being accepted, so two workers never both
// finish the job. Claims are idempotent per attempt: of two racing claims one wins, the other gets a *ClaimError.
func (q *Queue) ClaimRemote(ctx context.Context, id, worker string, stale time.Duration) (*RemoteRun, error) {
	j, err := q.st.GetJob(ctx, id)
	if err != nil {
		var nf *store.NotFoundError
		if errors.As(err, &nf) {
			return nil, &ClaimError{ID: id, Drop: true, Msg: "no such job"}
		}
		return nil, err
	}
	token := newToken()
	st := State(j.Status)
	var nj *store.Job
	switch {
	case st.Terminal():
		return nil, &ClaimError{ID: id, Drop: true, Msg: "job is " + j.Status}
	case st == Queued:
		resume := q.usableCheckpoint(ctx, j, j.ResumeFrom)
		msg := fmt.Sprintf("training started on worker %s (attempt %d)", worker, j.Attempts+1)
		if resume != "" {
			msg = fmt.Sprintf("training resumed from %s on worker %s (attempt %d)", filepath.Base(resume), worker, j.Attempts+1)
		}
		nj, err = q.transition(ctx, id, Queued, Running, store.JobChange{Started: true, Worker: &worker,
			AttemptToken: &token, ResumeFrom: &resume}, "info", msg)
		if err == nil && j.Attempts > 0 {
			q.forgetUndone(ctx, id, resumeStep(resume))
		}
	case st == Running:
		staleBefore := time.Now().Add(-stale).Unix() + 1
		if time.Unix(j.HeartbeatAt, 0).Unix() >= staleBefore {
			return nil, &ClaimError{ID: id, Msg: fmt.Sprintf("job is running on %s (heartbeat %ds ago)", workerName(j),
				time.Now().Unix()-j.HeartbeatAt)}
		}
		prev := workerName(j)
		cond := store.JobChange{IfAttemptToken: &j.AttemptToken, IfHeartbeatBefore: staleBefore}
		switch {
		case j.CancelRequested:
			cond.Finished = true
			_, err = q.transition(ctx, id, Running, Cancelled, cond, "warn", fmt.Sprintf("job cancelled (%s stopped reporting)", prev))
			if err == nil {
				return nil, &ClaimError{ID: id, Drop: true, Msg: "job cancelled"}
			}
		case j.Attempts >= q.maxAttempts(j):
			msg := fmt.Sprintf("%s stopped reporting during attempt %d of %d; not resumed again (max_attempts)",
				prev, j.Attempts, q.maxAttempts(j))
			cond.Finished, cond.Error = true, &sdk.JobError{Code: "interrupted", Message: msg}
			_, err = q.transition(ctx, id, Running, Failed, cond, "error", "job failed: "+msg)
			if err == nil {
				return nil, &ClaimError{ID: id, Drop: true, Msg: "job failed: out of attempts"}
			}
		default:
			resume := q.usableCheckpoint(ctx, j, q.latestCheckpoint(ctx, id))
			from := "the beginning (no checkpoint yet)"
			if resume != "" {
				from = filepath.Base(resume)
			}
			cond.Started, cond.Worker, cond.AttemptToken, cond.ResumeFrom = true, &worker, &token, &resume
			cond.Event = &sdk.JobEvent{Level: "warn", Type: sdk.EventStatus, Data: &sdk.EventData{Status: string(Running)},
				Message: fmt.Sprintf("%s stopped reporting: training moved to worker %s, resuming from %s (attempt %d)",
					prev, worker, from, j.Attempts+1)}
			nj, err = q.st.Transition(ctx, id, string(Running), string(Running), cond)
			if err == nil {
				q.log.Warn("job moved to another worker", "job_id", id, "from", prev, "to", worker, "resume", resume)
				q.forgetUndone(ctx, id, resumeStep(resume))
				q.hub.notify(id)
			}
		}
	default:
		return nil, &ClaimError{ID: id, Msg: "job is " + j.Status}
	}
	if errors.Is(err, store.ErrConflict) {
		return nil, &ClaimError{ID: id, Msg: err.Error()}
	}
	if err != nil {
		return nil, err
	}
	return q.newRemoteRun(nj), nil
}

// RemoteRun returns the attempt of job id holding token (after a server restart too), or a *ClaimError with
// Drop set when that attempt no longer holds the job (it finished, was cancelled or moved to another worker).
func (q *Queue) RemoteRun(ctx context.Context, id, token string) (*RemoteRun, error) {
	j, err := q.st.GetJob(ctx, id)
	if err != nil {
		return nil, err
	}
	if j.Status != string(Running) || j.AttemptToken != token || token == "" {
		return nil, &ClaimError{ID: id, Drop: true, Msg: "this attempt no longer holds the job (status " + j.Status + ")"}
	}
	return q.newRemoteRun(j), nil
}

func (q *Queue) newRemoteRun(j *store.Job) *RemoteRun {
	return &RemoteRun{q: q, job: j, r: &run{id: j.ID, token: j.AttemptToken}, p: &progress{}}
}

// usableCheckpoint returns path when it still holds a readable checkpoint, else "" (with a warning event when
// path was set).
func (q *Queue) usableCheckpoint(ctx context.Context, j *store.Job, path string) string {
	if path == "" {
		return ""
	}
	if _, err := checkpointStep(path); err != nil {
		q.event(ctx, j.ID, sdk.JobEvent{Level: "warn", Message: fmt.Sprintf("checkpoint %s is gone or unreadable (%v): restarting from the beginning", filepath.Base(path), err)})
		return ""
	}
	return path
}

// resumeStep is the step a run resuming from checkpoint folder path starts after (0: from the beginning).
func resumeStep(path string) int {
	if path == "" {
		return 0
	}
	step, _ := checkpointStep(path)
	return step
}

func workerName(j *store.Job) string {
	if j.Worker == nil {
		return "the server"
	}
	return "worker " + *j.Worker
}

func newToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// RemoteRun is one attempt of a job on a remote worker: its trainer's progress lines and exit go through it
// into the store and event streams exactly as a local trainer's. Safe for concurrent use.
type RemoteRun struct {
	q   *Queue
	job *store.Job
	r   *run

	mu sync.Mutex
	p  *progress
}

// Job returns the job as it was when the attempt started.
func (a *RemoteRun) Job() *store.Job { return a.job }

// Token returns the attempt's token.
func (a *RemoteRun) Token() string { return a.r.token }

// ValidationSplit returns the share of each label's training rows the trainer holds out for validation
// (runspec.Spec.ValidationSplit): 0 when the job has a validation file.
func (a *RemoteRun) ValidationSplit() float64 { return a.q.validationSplit(a.job) }

// Resume returns the checkpoint folder (on this server) the attempt resumes from, or "".
func (a *RemoteRun) Resume() string { return a.job.ResumeFrom }

// Hyperparameters returns the job's hyperparameters as `whet train --spec` takes them.
func (a *RemoteRun) Hyperparameters() (runspec.Hyperparameters, error) {
	return runspec.FromAPI(a.job.Hyperparameters)
}

// Line handles one line of the trainer's stderr (`--progress json`). A checkpoint line's path must already name
// a folder on this server.
func (a *RemoteRun) Line(ctx context.Context, raw []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.q.handleLine(ctx, a.job, a.p, raw)
}

// Heartbeat records that the attempt is alive. It returns stop=true when the worker must interrupt the trainer:
// the job was cancelled or the attempt no longer holds it.
func (a *RemoteRun) Heartbeat(ctx context.Context) (stop bool, err error) {
	j, err := a.q.st.GetJob(ctx, a.job.ID)
	if err != nil {
		return false, err
	}
	if j.Status != string(Running) || j.AttemptToken != a.r.token {
		return true, nil
	}
	a.mu.Lock()
	step := a.p.step
	a.mu.Unlock()
	if err := a.q.st.Heartbeat(ctx, a.job.ID, step); err != nil {
		return false, err
	}
	return j.CancelRequested, nil
}

// Finish records how the trainer ended: exitErr nil means it exited cleanly and its output folder is already in
// the job's OutDir. It returns the job's final state, or a *ClaimError when another attempt holds the job.
func (a *RemoteRun) Finish(ctx context.Context, exitErr error, summary string) (State, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.p.step > 0 {
		_ = a.q.st.Heartbeat(ctx, a.job.ID, a.p.step)
	}
	a.q.finishRun(ctx, a.job, a.r, a.p, exitErr, summary)
	j, err := a.q.st.GetJob(ctx, a.job.ID)
	if err != nil {
		return "", err
	}
	if j.AttemptToken != a.r.token || !State(j.Status).Terminal() {
		return State(j.Status), &ClaimError{ID: j.ID, Drop: true, Msg: "another attempt holds the job"}
	}
	return State(j.Status), nil
}
