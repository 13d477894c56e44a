package server_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whetml/whet/internal/runspec"
	"github.com/whetml/whet/sdk"
)

// TestAPIAndCLITrainAlike: a fine-tune with default hyperparameters through the HTTP API and through `whet train`,
// given the same training and validation files, seed (0: a real seed on both routes) and precision (bf16: CPU
// autocast), writes byte-identical weights and the same training_args.json hyperparameters. Without a validation
// file, the API's job (which trains on the upload's stored rows) and `whet train --validation-split 0.1` hold out
// the same rows: identical weights again. Needs WHET_BIN (see TestEndToEnd).
func TestAPIAndCLITrainAlike(t *testing.T) {
	bin := whetBin(t)
	tmp := t.TempDir()
	base := tinyBERT(t, bin)
	rows, _ := e2eData(120)
	lines := strings.SplitAfter(strings.TrimSpace(rows), "\n")
	trainPath, valPath := filepath.Join(tmp, "train.jsonl"), filepath.Join(tmp, "validation.jsonl")
	if err := os.WriteFile(trainPath, []byte(strings.Join(lines[:100], "")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(valPath, []byte(strings.Join(lines[100:], "")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	srv := serveWhet(t, bin, filepath.Join(tmp, "data"))
	c := sdk.NewClient(srv.url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	model, err := c.CreateModel(ctx, sdk.CreateModelRequest{FromPath: base})
	if err != nil {
		t.Fatal(err)
	}
	var ids [2]string
	for i, p := range []string{trainPath, valPath} {
		b, _ := os.ReadFile(p)
		f, err := c.UploadFile(ctx, sdk.UploadFileRequest{Filename: filepath.Base(p), Content: bytes.NewReader(b)})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = f.ID
	}
	seed := int64(0)
	// train runs one job through the API and `whet train` with the CLI flags that mean the same, and compares the
	// weights; it returns both output folders.
	train := func(req sdk.CreateJobRequest, cliName string, cliArgs ...string) (apiOut, cliOut string) {
		t.Helper()
		req.Model, req.TrainingFile, req.Hyperparameters = model.ID, ids[0], sdk.Hyperparameters{Seed: &seed, Precision: "bf16"}
		job, err := c.CreateJob(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.StreamJobEvents(ctx, job.ID, 0, func(sdk.JobEvent) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if job, err = c.GetJob(ctx, job.ID); err != nil || job.Status != sdk.JobSucceeded {
			t.Fatalf("job = %+v, %v", job, err)
		}
		apiOut, cliOut = filepath.Join(tmp, "data", "jobs", job.ID, "out"), filepath.Join(tmp, cliName)
		args := append([]string{"train", "--model", base, "--train", trainPath, "--out", cliOut, "--seed", "0", "--precision", "bf16", "--threads", "2",
			"--progress", "none"}, cliArgs...)
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("whet train: %v\n%s", err, out)
		}
		apiW, err1 := os.ReadFile(filepath.Join(apiOut, "model.safetensors"))
		cliW, err2 := os.ReadFile(filepath.Join(cliOut, "model.safetensors"))
		if err1 != nil || err2 != nil || len(apiW) == 0 || !bytes.Equal(apiW, cliW) {
			t.Fatalf("%s: weights differ between the API run (%d bytes, %v) and whet train (%d bytes, %v)", cliName, len(apiW), err1, len(cliW), err2)
		}
		return apiOut, cliOut
	}
	apiOut, cliOut := train(sdk.CreateJobRequest{ValidationFile: ids[1]}, "cli", "--validation", valPath)
	apiSpec, err1 := runspec.Read(filepath.Join(apiOut, runspec.FileName))
	cliSpec, err2 := runspec.Read(filepath.Join(cliOut, runspec.FileName))
	if err1 != nil || err2 != nil || apiSpec.Hyperparameters != cliSpec.Hyperparameters || cliSpec.Seed != 0 ||
		cliSpec.Hyperparameters != func() runspec.Hyperparameters {
			h := runspec.Default()
			h.Seed, h.MaxSeqLength, h.Precision = 0, 64, "bf16"
			return h
		}() {
		t.Fatalf("training_args.json: API %+v (%v), CLI %+v (%v)", apiSpec.Hyperparameters, err1, cliSpec.Hyperparameters, err2)
	}
	train(sdk.CreateJobRequest{}, "cli-split", "--validation-split", "0.1")
}
