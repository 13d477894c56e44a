package jobs_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whetml/whet/host/internal/whettest"
	"github.com/whetml/whet/host/jobs"
	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/sdk"
)

// reopenQueue replaces e's queue by one with cfg changed, on the same store.
func (e *env) reopenQueue(change func(*jobs.Config), fakeEnv ...string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e.q.StopAndCancel(ctx)
	cfg := jobs.Config{Store: e.st, Bin: fakeBin, Env: fakeEnv, CancelGrace: 10 * time.Second, StepEventInterval: time.Nanosecond}
	change(&cfg)
	q, err := jobs.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.q = q
}

// A trainer killed by a signal (as by the OOM killer) is retried from its last checkpoint while attempts remain,
// with the reason recorded; once they are used up the job fails with a one-line reason naming the signal and step.
func TestTrainerKilledBySignalIsRetried(t *testing.T) {
	dir := t.TempDir()
	mark, block := filepath.Join(dir, "mark"), filepath.Join(dir, "block")
	if err := os.WriteFile(block, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "FAKEWHET_BLOCK_AT=2", "FAKEWHET_MARK="+mark, "FAKEWHET_BLOCK_IF="+block)
	j := e.create(sdk.CreateJobRequest{})
	whettest.KillAtMark(t, mark, func() { os.Remove(block) })
	done := e.waitStatus(j.ID, sdk.JobSucceeded)
	if done.Attempts != 2 {
		t.Errorf("attempts = %d, want 2", done.Attempts)
	}
	var reason string
	for _, ev := range e.events(j.ID) {
		if ev.Type == sdk.EventStatus && ev.Data.Status == sdk.JobQueued && strings.Contains(ev.Message, "SIGKILL") {
			reason = ev.Message
		}
	}
	if want := "trainer killed by SIGKILL after step 2 (attempt 1 of 3): resuming from checkpoint-2; its last output: GET /v1/fine_tuning/jobs/" + j.ID + "/log"; reason != want {
		t.Errorf("retry reason %q, want %q", reason, want)
	}

	// No attempts left.
	os.Remove(mark)
	e.reopenQueue(func(c *jobs.Config) { c.MaxAttempts = 1 }, "FAKEWHET_BLOCK_AT=2", "FAKEWHET_MARK="+mark)
	j = e.create(sdk.CreateJobRequest{})
	whettest.KillAtMark(t, mark, nil)
	failed := e.waitStatus(j.ID, sdk.JobFailed)
	want := "trainer killed by SIGKILL after step 2 (attempt 1 of 1, no attempts left"
	if failed.Error == nil || failed.Error.Code != "trainer_crashed" || !strings.HasPrefix(failed.Error.Message, want) {
		t.Errorf("error = %+v, want code trainer_crashed and a message starting %q", failed.Error, want)
	}
	if strings.Contains(failed.Error.Message, "\n") {
		t.Errorf("reason spans lines: %q", failed.Error.Message)
	}
	logged, err := os.ReadFile(filepath.Join(e.dir, "jobs", j.ID, jobs.TrainerLogFile))
	if err != nil || !strings.Contains(string(logged), "plain log line at step 2") {
		t.Errorf("trainer log: %q, %v", logged, err)
	}
}

// A local attempt that no longer holds its job (the rescuer or another worker started a newer one) changes
// nothing when its trainer ends: it neither requeues nor finishes the job (the attempt-token guard of remote runs).
func TestStaleLocalAttemptCannotFinishJob(t *testing.T) {
	mark := filepath.Join(t.TempDir(), "mark")
	e := newEnv(t, "FAKEWHET_BLOCK_AT=2", "FAKEWHET_MARK="+mark)
	j := e.create(sdk.CreateJobRequest{})
	whettest.KillAtMark(t, mark, func() {
		ctx := context.Background()
		cur, err := e.st.GetJob(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		newer := "newer-attempt"
		if _, err := e.st.Transition(ctx, j.ID, sdk.JobRunning, sdk.JobRunning, store.JobChange{
			IfAttemptToken: &cur.AttemptToken, AttemptToken: &newer}); err != nil {
			t.Fatal(err)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for e.q.Running() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got, err := e.st.GetJob(context.Background(), j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != sdk.JobRunning || got.AttemptToken != "newer-attempt" || got.Attempts != 1 {
		t.Fatalf("after the stale attempt's trainer died: status %s, token %q, attempts %d; want running, the newer token, 1",
			got.Status, got.AttemptToken, got.Attempts)
	}
}

// A job's own max_attempts overrides the server's: with 1, a trainer killed by a signal fails the job at once;
// the value is checked and shown resolved on the job.
func TestMaxAttemptsPerJob(t *testing.T) {
	mark := filepath.Join(t.TempDir(), "mark")
	e := newEnv(t, "FAKEWHET_BLOCK_AT=2", "FAKEWHET_MARK="+mark)
	for _, bad := range []int{-1, 101} {
		_, err := e.q.Create(context.Background(), sdk.CreateJobRequest{Model: e.model, TrainingFile: e.file, MaxAttempts: bad})
		var ve *jobs.ValidationError
		if !errors.As(err, &ve) || ve.Param != "max_attempts" {
			t.Errorf("max_attempts %d: err = %v, want a ValidationError naming max_attempts", bad, err)
		}
	}
	j := e.create(sdk.CreateJobRequest{MaxAttempts: 1})
	if j.MaxAttempts != 1 {
		t.Errorf("job max_attempts = %d, want 1", j.MaxAttempts)
	}
	whettest.KillAtMark(t, mark, nil)
	failed := e.waitStatus(j.ID, sdk.JobFailed)
	if want := "trainer killed by SIGKILL after step 2 (attempt 1 of 1, no attempts left: max_attempts)"; failed.Error == nil ||
		!strings.HasPrefix(failed.Error.Message, want) {
		t.Errorf("error = %+v, want a message starting %q", failed.Error, want)
	}
	if j := e.create(sdk.CreateJobRequest{}); j.MaxAttempts != jobs.DefaultMaxAttempts {
		t.Errorf("default max_attempts = %d, want %d", j.MaxAttempts, jobs.DefaultMaxAttempts)
	}
}
