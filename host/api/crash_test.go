package api_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whetml/whet/host/internal/whettest"
	"github.com/whetml/whet/sdk"
)

// A trainer killed by SIGKILL mid-job (as the OOM killer would) is resumed from its checkpoint; the job succeeds
// after two attempts, and the killed trainer's last output is served with the job.
func TestKilledTrainerResumesAndKeepsItsLog(t *testing.T) {
	dir := t.TempDir()
	mark, block := filepath.Join(dir, "mark"), filepath.Join(dir, "block")
	if err := os.WriteFile(block, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ts := start(t, opts{env: []string{"FAKEWHET_BLOCK_AT=2", "FAKEWHET_MARK=" + mark, "FAKEWHET_BLOCK_IF=" + block}})
	ctx := context.Background()
	m := ts.model("tiny", "neg", "pos")
	f := ts.upload("sst2.jsonl", whettest.SST2(40))
	job, err := ts.c.CreateJob(ctx, sdk.CreateJobRequest{Model: m.ID, TrainingFile: f.ID})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(ts.url + "/v1/fine_tuning/jobs/" + job.ID + "/log")
	if err != nil || resp.StatusCode != 404 {
		t.Fatalf("log before any failure: %v, %v", resp.Status, err)
	}
	resp.Body.Close()
	whettest.KillAtMark(t, mark, func() { os.Remove(block) })
	ts.follow(job.ID)
	got, err := ts.c.GetJob(ctx, job.ID)
	if err != nil || got.Status != sdk.JobSucceeded || got.Attempts != 2 {
		t.Fatalf("job after the kill: %+v, %v; want succeeded after 2 attempts", got, err)
	}
	resp, err = http.Get(ts.url + "/v1/fine_tuning/jobs/" + job.ID + "/log")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "plain log line at step 2") {
		t.Errorf("trainer log: %s %q", resp.Status, body)
	}
}

// A predict request that fails because of the model's preprocess module (or the model) is the server's side: a 5xx
// naming the model and the module, not a 400 about the caller's inputs.
func TestPredictModuleFailureIsServerSide(t *testing.T) {
	ts := start(t, opts{})
	m := ts.model("tiny", "neg", "pos")
	_, err := ts.c.Predict(context.Background(), m.ID, sdk.PredictRequest{Inputs: []string{"a TRAP for the module"}})
	se := apiErr(t, err, 500, "predict: model[tiny]: module[hash-pre] function[whet_preprocess]: wasm trap")
	if param(se) != "" || se.Err.Type != "server_error" {
		t.Errorf("param %q type %q: want no param and server_error", param(se), se.Err.Type)
	}
}

// In a batch of inputs, one the model's preprocess module fails on (it hangs past its row time limit) is the
// server's side too: a 5xx naming the model and the module, while an input the module rejects stays the caller's
// 400.
func TestPredictModuleRowFailureIsServerSide(t *testing.T) {
	ts := start(t, opts{})
	m := ts.model("tiny", "neg", "pos")
	ctx := context.Background()
	_, err := ts.c.Predict(ctx, m.ID, sdk.PredictRequest{Inputs: []string{"fine", "a FAULT for the module", "also fine"}})
	se := apiErr(t, err, 500, "predict: model[tiny]: input 1: module[hash-pre] function[whet_preprocess]: time limit exceeded")
	if param(se) != "" || se.Err.Type != "server_error" {
		t.Errorf("param %q type %q: want no param and server_error", param(se), se.Err.Type)
	}
	_, err = ts.c.Predict(ctx, m.ID, sdk.PredictRequest{Inputs: []string{"fine", "a FAIL of the input"}})
	if se := apiErr(t, err, 400, "input 1: input contains FAIL"); param(se) != "inputs" {
		t.Errorf("rejected input: param %q, want inputs", param(se))
	}
}
