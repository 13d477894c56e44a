package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/sdk"
)

// rescue handles running jobs this queue does not own whose heartbeat is older than staleAfter (0: all of them,
// as at Start): cancelled if a cancel was pending, requeued to resume from their last checkpoint while attempts
// remain, failed with a reason otherwise.
func (q *Queue) rescue(ctx context.Context, staleAfter time.Duration) error {
	running, err := q.st.JobsWithStatus(ctx, string(Running))
	if err != nil {
		return fmt.Errorf("jobs: rescue: %w", err)
	}
	for _, j := range running {
		q.mu.Lock()
		_, ours := q.runs[j.ID]
		q.mu.Unlock()
		stale := staleAfter
		if j.Worker != nil && stale == 0 {
			stale = q.cfg.StaleAfter // a remote worker may still be training while this server restarts
		}
		if ours || (stale > 0 && time.Since(time.Unix(j.HeartbeatAt, 0)) < stale) {
			continue
		}
		q.log.Warn("rescuing orphaned job", "job_id", j.ID, "attempts", j.Attempts)
		// Each change applies only to the attempt seen here: one started meanwhile is left alone.
		switch attempt := &j.AttemptToken; {
		case j.CancelRequested:
			_, err = q.transition(ctx, j.ID, Running, Cancelled, store.JobChange{Finished: true, IfAttemptToken: attempt},
				"warn", "job cancelled (its trainer stopped with the previous server)")
		case j.Attempts >= q.maxAttempts(j):
			msg := fmt.Sprintf("the trainer stopped with the server during attempt %d of %d; not resumed again (max_attempts)",
				j.Attempts, q.maxAttempts(j))
			_, err = q.transition(ctx, j.ID, Running, Failed, store.JobChange{Finished: true, IfAttemptToken: attempt,
				Error: &sdk.JobError{Code: "interrupted", Message: msg}}, "error", "job failed: "+msg)
		default:
			resume := q.latestCheckpoint(ctx, j.ID)
			msg := "server restarted while the job was running: restarting from the beginning (no checkpoint yet)"
			if resume != "" {
				msg = fmt.Sprintf("server restarted while the job was running: resuming from %s", filepath.Base(resume))
			}
			_, err = q.transition(ctx, j.ID, Running, Queued, store.JobChange{ResumeFrom: &resume, IfAttemptToken: attempt}, "warn", msg)
		}
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("jobs: rescue job[%s]: %w", j.ID, err)
		}
	}
	return nil
}

// maxAttempts is how many times job j may start running: its own max_attempts, else Config.MaxAttempts (jobs
// created before jobs had one).
func (q *Queue) maxAttempts(j *store.Job) int {
	if j.MaxAttempts > 0 {
		return j.MaxAttempts
	}
	return q.cfg.MaxAttempts
}

// latestCheckpoint returns the folder of the job's highest-step checkpoint still on disk, or "".
func (q *Queue) latestCheckpoint(ctx context.Context, id string) string {
	cks, err := q.st.ListCheckpoints(ctx, id)
	if err != nil {
		q.log.Error("list checkpoints", "job_id", id, "err", err)
		return ""
	}
	for _, c := range cks {
		if _, err := os.Stat(filepath.Join(c.Path, "trainer_state.json")); err == nil {
			return c.Path
		}
	}
	return ""
}
