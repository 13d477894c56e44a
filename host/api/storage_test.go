package api_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/whetml/whet/host/internal/whettest"
	"github.com/whetml/whet/sdk"
)

// A finished job can be deleted with its events, data and checkpoints, keeping its fine-tuned model usable, or with
// the model too; an unfinished one is refused with 409 telling to cancel it first.
func TestDeleteJob(t *testing.T) {
	block := filepath.Join(t.TempDir(), "block")
	ts := start(t, opts{env: []string{"FAKEWHET_BLOCK_AT=2", "FAKEWHET_BLOCK_IF=" + block}})
	ctx := context.Background()
	m := ts.model("tiny", "neg", "pos")
	f := ts.upload("sst2.jsonl", whettest.SST2(40))
	create := func() *sdk.Job {
		t.Helper()
		j, err := ts.c.CreateJob(ctx, sdk.CreateJobRequest{Model: m.ID, TrainingFile: f.ID})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	kept, gone := create(), create()
	ts.follow(kept.ID)
	ts.follow(gone.ID)
	if err := os.WriteFile(block, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	running := create()
	waitCheckpoint(t, ts, running.ID)

	_, err := ts.c.DeleteJob(ctx, running.ID, sdk.DeleteJobRequest{})
	apiErr(t, err, 409, "cancel it first")

	jobDir := func(id string) string { return filepath.Join(ts.data, "jobs", id) }
	exists := func(p string) bool {
		_, err := os.Stat(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		return err == nil
	}
	// Keep the model: it still predicts from its folder; the job, its data and its checkpoints are gone.
	keptJob, _ := ts.c.GetJob(ctx, kept.ID)
	if _, err := ts.c.DeleteJob(ctx, kept.ID, sdk.DeleteJobRequest{}); err != nil {
		t.Fatal(err)
	}
	_, err = ts.c.GetJob(ctx, kept.ID)
	apiErr(t, err, 404, "not found")
	if exists(filepath.Join(jobDir(kept.ID), "train.jsonl")) || exists(filepath.Join(jobDir(kept.ID), "out", "checkpoints")) {
		t.Error("the deleted job's data or checkpoints are still on disk")
	}
	if _, err := ts.c.Predict(ctx, *keptJob.FineTunedModel, sdk.PredictRequest{Inputs: []string{"a fine film"}}); err != nil {
		t.Errorf("the kept fine-tuned model no longer predicts: %v", err)
	}
	// Delete the model too.
	goneJob, _ := ts.c.GetJob(ctx, gone.ID)
	out, err := ts.c.DeleteJob(ctx, gone.ID, sdk.DeleteJobRequest{DeleteModel: true})
	if err != nil || !out.Deleted || out.ID != gone.ID {
		t.Fatalf("delete with model: %+v, %v", out, err)
	}
	_, err = ts.c.GetModel(ctx, *goneJob.FineTunedModel)
	apiErr(t, err, 404, "not found")
	if exists(jobDir(gone.ID)) {
		t.Errorf("job folder %s is still on disk", jobDir(gone.ID))
	}
	// The running job, once cancelled.
	if _, err := ts.c.CancelJob(ctx, running.ID); err != nil {
		t.Fatal(err)
	}
	ts.follow(running.ID)
	if _, err := ts.c.DeleteJob(ctx, running.ID, sdk.DeleteJobRequest{DeleteModel: true}); err != nil {
		t.Fatal(err)
	}
	if exists(jobDir(running.ID)) {
		t.Errorf("cancelled job's folder %s is still on disk", jobDir(running.ID))
	}
	_, err = ts.c.DeleteJob(ctx, running.ID, sdk.DeleteJobRequest{})
	apiErr(t, err, 404, "not found")
}
