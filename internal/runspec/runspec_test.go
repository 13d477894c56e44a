package runspec_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/whetml/whet/internal/runspec"
	"github.com/whetml/whet/sdk"
)

func jsonKeys(t *testing.T, v any) []string {
	t.Helper()
	var keys []string
	rt := reflect.TypeOf(v)
	for i := range rt.NumField() {
		if f := rt.Field(i); !f.Anonymous {
			keys = append(keys, strings.Split(f.Tag.Get("json"), ",")[0])
		}
	}
	sort.Strings(keys)
	return keys
}

// TestNamesMatchTheAPI: every hyperparameter has the API's JSON name, so FromAPI/API carry every field.
func TestNamesMatchTheAPI(t *testing.T) {
	if got, want := jsonKeys(t, runspec.Hyperparameters{}), jsonKeys(t, sdk.Hyperparameters{}); !reflect.DeepEqual(got, want) {
		t.Fatalf("runspec names %v, sdk names %v", got, want)
	}
	h := runspec.Default()
	h.MaxSeqLength, h.Seed, h.WarmupRatio, h.MaxSteps, h.EvalEvery, h.EarlyStoppingPatience = 64, 0, 0.2, 7, 5, 2
	h.Precision = "bf16"
	back, err := runspec.FromAPI(h.API())
	if err != nil || back != h {
		t.Fatalf("FromAPI(API(h)) = %+v, %v; want %+v", back, err, h)
	}
}

func TestDefaultsAndChecks(t *testing.T) {
	if err := runspec.Default().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	tests := []struct {
		change func(h *runspec.Hyperparameters)
		name   string
	}{
		{func(h *runspec.Hyperparameters) { h.Epochs = 0 }, "n_epochs"},
		{func(h *runspec.Hyperparameters) { h.LearningRate = 0 }, "learning_rate"},
		{func(h *runspec.Hyperparameters) { h.MaxSeqLength = 4 }, "max_seq_length"},
		{func(h *runspec.Hyperparameters) { h.WarmupRatio = 1 }, "warmup_ratio"},
		{func(h *runspec.Hyperparameters) { h.Seed = -1 }, "seed"},
		{func(h *runspec.Hyperparameters) { h.MaxGradNorm = -1 }, "max_grad_norm"},
		{func(h *runspec.Hyperparameters) { h.ClassWeights = "" }, "class_weights"},
		{func(h *runspec.Hyperparameters) { h.MetricForBestModel = "F1!" }, "metric_for_best_model"},
		{func(h *runspec.Hyperparameters) { h.Precision = "fp8" }, "precision"},
		{func(h *runspec.Hyperparameters) { h.Precision = "" }, "precision"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := runspec.Default()
			tt.change(&h)
			var fe *runspec.FieldError
			if err := h.Validate(); !errors.As(err, &fe) || fe.Name != tt.name {
				t.Fatalf("Validate = %v, want a FieldError for %s", err, tt.name)
			}
		})
	}
	h := runspec.Default()
	if err := h.Resolve(64); err != nil || h.MaxSeqLength != 64 {
		t.Fatalf("Resolve(64): max_seq_length %d, %v; want 64", h.MaxSeqLength, err)
	}
	h.MaxSeqLength = 100
	if err := h.Resolve(64); err == nil || !strings.Contains(err.Error(), "max_position_embeddings (64)") {
		t.Fatalf("Resolve(64) of 100 = %v", err)
	}
}

// TestFlags: each flag shows one default (the spec's), zero values are real values, a spec file is overridden by
// the flags given.
func TestFlags(t *testing.T) {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	s := runspec.Spec{Hyperparameters: runspec.Default()}
	s.BindFlags(fs)
	var help bytes.Buffer
	fs.SetOutput(&help)
	fs.PrintDefaults()
	for _, line := range strings.Split(help.String(), "\n") {
		if strings.Count(line, "(default") > 1 {
			t.Errorf("two defaults: %q", line)
		}
	}
	if !strings.Contains(help.String(), "(default 5e-05)") || !strings.Contains(help.String(), "(default 42)") {
		t.Errorf("help lacks the defaults:\n%s", help.String())
	}
	if err := fs.Parse([]string{"--seed", "0", "--weight-decay", "0", "--max-grad-norm", "0", "--train", "t.jsonl"}); err != nil {
		t.Fatal(err)
	}
	if s.Seed != 0 || s.WeightDecay != 0 || s.MaxGradNorm != 0 || s.Validate() != nil {
		t.Fatalf("zero flags: %+v", s.Hyperparameters)
	}
	file := runspec.Spec{Model: "m", TrainFile: "file.jsonl", OutputDir: "o", Hyperparameters: runspec.Default()}
	file.Epochs, file.Seed = 9, 5
	path := filepath.Join(t.TempDir(), "spec.json")
	if err := file.Write(path); err != nil {
		t.Fatal(err)
	}
	got, err := runspec.Read(path)
	if err != nil || got != file {
		t.Fatalf("Read = %+v, %v; want %+v", got, err, file)
	}
	got.Override(fs, &s)
	want := file
	want.Seed, want.WeightDecay, want.MaxGradNorm, want.TrainFile = 0, 0, 0, "t.jsonl"
	if got != want {
		t.Fatalf("Override = %+v, want %+v", got, want)
	}
	os.WriteFile(path, []byte(`{"n_epoch":3}`), 0o644)
	if _, err := runspec.Read(path); err == nil || !strings.Contains(err.Error(), "n_epoch") {
		t.Fatalf("typo in a spec file: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(file.JSON(), &doc); err != nil || doc["n_epochs"] != 9.0 || doc["train_file"] != "file.jsonl" {
		t.Fatalf("spec JSON = %s", file.JSON())
	}
}
