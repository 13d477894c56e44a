package jobs_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/whetml/whet/host/jobs"
	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/sdk"
)

// After a crash the job resumes from its last checkpoint: the records match what exists. Steps the interrupted
// attempt reported after that checkpoint are reported once (by the attempt that produced the model), and records of
// checkpoint folders the trainer had removed are gone.
func TestResumeKeepsOneRecordPerStep(t *testing.T) {
	e := newEnv(t, "FAKEWHET_BLOCK_AT=2")
	j := blockedJob(t, e)
	ctx := context.Background()
	jobs.KillForTest(e.q)
	// What the interrupted attempt had recorded beyond checkpoint-2 before the crash: step 3, and a checkpoint whose
	// folder the trainer had pruned.
	loss := 0.5
	if _, err := e.st.AddEvent(ctx, j.ID, sdk.JobEvent{Type: sdk.EventMetrics, Message: "step 3/4",
		Data: &sdk.EventData{Step: 3, TotalSteps: 4, Loss: &loss}}); err != nil {
		t.Fatal(err)
	}
	gone := &store.Checkpoint{Checkpoint: sdk.Checkpoint{ID: store.NewID("ftckpt-"), FineTuningJobID: j.ID, StepNumber: 1},
		Path: filepath.Join(j.OutDir, "checkpoints", "checkpoint-1")}
	if err := e.st.AddCheckpoint(ctx, gone); err != nil {
		t.Fatal(err)
	}
	e.st.Close(ctx)

	e.open()
	e.waitStatus(j.ID, sdk.JobSucceeded)
	seen := map[int]int{}
	for _, ev := range e.events(j.ID) {
		if ev.Type == sdk.EventMetrics {
			seen[ev.Data.Step]++
		}
	}
	for step := 1; step <= 4; step++ {
		if seen[step] != 1 {
			t.Errorf("step %d reported %d times (all: %v), want once", step, seen[step], seen)
		}
	}
	cks, err := e.st.ListCheckpoints(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cks {
		if c.ID == gone.ID {
			t.Errorf("checkpoint record %s of the removed folder %s is still listed", c.ID, c.Path)
		}
	}
}
