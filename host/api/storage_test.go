package api_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whetml/whet/host/internal/whettest"
	"github.com/whetml/whet/host/server"
	"github.com/whetml/whet/host/store"
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

// --max-storage refuses an upload that would pass it with 507 naming the limit (and a job once the folder is full);
// a dataset over --max-file-size is 413 naming that limit. Leftovers of a crash are swept at the next start. Bodies
// stay small enough for the client to finish sending before the refusal.
func TestStorageLimits(t *testing.T) {
	data := t.TempDir()
	ts := start(t, opts{data: data, srv: func(c *server.Config) { c.MaxFileBytes = 64 << 10 }})
	_, err := ts.c.UploadFile(context.Background(), sdk.UploadFileRequest{Filename: "big.jsonl",
		Content: strings.NewReader(whettest.SST2(2000)), Purpose: sdk.PurposeFineTune})
	apiErr(t, err, 413, "file[big.jsonl] is larger than the limit of 65536 bytes (64 KiB)")
	ts.stop()

	// A crash left an orphan job folder and a stored file without its record.
	for _, p := range []string{filepath.Join(data, "jobs", "ftjob-orphan", "train.jsonl"), filepath.Join(data, "files", "abc.jsonl")} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, 1<<20), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.Open(context.Background(), data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	used := st.Usage() - 2<<20
	st.Close(context.Background())
	ts = start(t, opts{data: data, srv: func(c *server.Config) { c.MaxStorage = used + 48<<10 }})
	for _, p := range []string{filepath.Join(data, "jobs", "ftjob-orphan"), filepath.Join(data, "files", "abc.jsonl")} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("leftover %s survived the restart (err %v)", p, err)
		}
	}
	m := ts.model("tiny", "neg", "pos")
	small := ts.upload("small.jsonl", whettest.SST2(40))
	_, err = ts.c.UploadFile(context.Background(), sdk.UploadFileRequest{Filename: "big.jsonl",
		Content: strings.NewReader(whettest.SST2(1500)), Purpose: sdk.PurposeFineTune})
	if se := apiErr(t, err, 507, "file[big.jsonl] refused: the data folder holds"); !strings.Contains(se.Err.Message, "--max-storage") {
		t.Errorf("message %q does not name --max-storage", se.Err.Message)
	}
	if err := os.WriteFile(filepath.Join(data, "files", "filler"), make([]byte, 64<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ts.c.CreateJob(context.Background(), sdk.CreateJobRequest{Model: m.ID, TrainingFile: small.ID})
	apiErr(t, err, 507, "fine-tuning job refused")
}

// A row longer than the per-row limit is refused at upload naming its line and the limit, instead of failing the
// job later with "out of memory".
func TestUploadRefusesHugeRow(t *testing.T) {
	ts := start(t, opts{})
	huge := `{"text":"fine","label":"a"}` + "\n" + `{"text":"` + strings.Repeat("word ", 400<<10) + `","label":"b"}` + "\n"
	_, err := ts.c.UploadFile(context.Background(), sdk.UploadFileRequest{Filename: "huge.jsonl",
		Content: strings.NewReader(huge), Purpose: sdk.PurposeFineTune})
	se := apiErr(t, err, 400, `huge.jsonl:2: field "text": 2048000 bytes of text, more than the limit of 1048576 per row`)
	if param(se) != "file" {
		t.Errorf("param = %q, want file", param(se))
	}
}

// An upload is parsed once: its checked rows are stored with it and every job on the file trains on them (no copy
// per job); the sweep at the next start keeps them.
func TestJobsShareUploadedRows(t *testing.T) {
	data := t.TempDir()
	ts := start(t, opts{data: data})
	ctx := context.Background()
	m := ts.model("tiny", "neg", "pos")
	f := ts.upload("sst2.jsonl", whettest.SST2(40))
	rows := filepath.Join(data, "files", f.ID+".rows.jsonl")
	if _, err := os.Stat(rows); err != nil {
		t.Fatalf("upload stored no rows: %v", err)
	}
	run := func() {
		t.Helper()
		j, err := ts.c.CreateJob(ctx, sdk.CreateJobRequest{Model: m.ID, TrainingFile: f.ID})
		if err != nil {
			t.Fatal(err)
		}
		if evs := ts.follow(j.ID); evs[len(evs)-1].Data.Status != sdk.JobSucceeded {
			t.Fatalf("job[%s] ended with %+v", j.ID, evs[len(evs)-1])
		}
	}
	run()
	run()
	copies, _ := filepath.Glob(filepath.Join(data, "jobs", "*", "*.jsonl"))
	if len(copies) > 0 {
		t.Errorf("jobs copied the data: %v", copies)
	}
	ts.stop()
	ts = start(t, opts{data: data})
	if _, err := os.Stat(rows); err != nil {
		t.Fatalf("the sweep at start removed a live file's rows: %v", err)
	}
	run()
}

// The rows an upload stores with it count against --max-storage: an upload that fits but whose rows would take the
// folder past the limit is refused with 507 naming the limit, and leaves neither its content nor its rows behind.
func TestStorageLimitCountsUploadRows(t *testing.T) {
	content := whettest.SST2(600)
	// Measure the upload and its rows on a server without a limit.
	probe := t.TempDir()
	ts := start(t, opts{data: probe})
	f := ts.upload("sst2.jsonl", content)
	info, err := os.Stat(filepath.Join(probe, "files", f.ID+".rows.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	ts.stop()
	size, rows := int64(len(content)), info.Size()

	data := t.TempDir()
	ts = start(t, opts{data: data})
	ts.stop()
	st, err := store.Open(context.Background(), data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	used := st.Usage()
	st.Close(context.Background())
	// Room for the upload and half its rows.
	ts = start(t, opts{data: data, srv: func(c *server.Config) { c.MaxStorage = used + size + rows/2 }})
	_, err = ts.c.UploadFile(context.Background(), sdk.UploadFileRequest{Filename: "sst2.jsonl",
		Content: strings.NewReader(content), Purpose: sdk.PurposeFineTune})
	apiErr(t, err, 507, "file[sst2.jsonl] refused: the data folder holds")
	for _, sub := range []string{"files", "tmp"} {
		left, _ := os.ReadDir(filepath.Join(data, sub))
		if len(left) > 0 {
			t.Errorf("the refused upload left %s/%s", sub, left[0].Name())
		}
	}
}
