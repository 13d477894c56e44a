package jobs_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/whetml/whet/dataset"
	"github.com/whetml/whet/host/internal/whettest"
	"github.com/whetml/whet/host/jobs"
	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/internal/runspec"
	"github.com/whetml/whet/sdk"
)

var fakeBin string

func TestMain(m *testing.M) { whettest.RunWithFake(m, &fakeBin) }

type env struct {
	t     *testing.T
	dir   string
	st    *store.Store
	q     *jobs.Queue
	model string
	file  string
}

// newEnv opens a store in a fresh data folder with one model and one training file registered, and starts a
// queue whose trainer is fakewhet with the given FAKEWHET_* settings.
func newEnv(t *testing.T, fakeEnv ...string) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir()}
	e.open(fakeEnv...)
	ctx := context.Background()
	mdir := filepath.Join(t.TempDir(), "tiny")
	if err := whettest.WriteModel(mdir, "neg", "pos"); err != nil {
		t.Fatal(err)
	}
	e.model = "tiny"
	if err := e.st.InsertModel(ctx, &store.Model{Model: sdk.Model{ID: "tiny", Source: "path", OwnedBy: "user"}, Path: mdir}); err != nil {
		t.Fatal(err)
	}
	e.file = e.addFile(whettest.SST2(40))
	return e
}

func (e *env) open(fakeEnv ...string) {
	e.t.Helper()
	st, err := store.Open(context.Background(), e.dir, store.Options{Exclusive: true})
	if err != nil {
		e.t.Fatal(err)
	}
	e.st = st
	q, err := jobs.New(jobs.Config{Store: st, Bin: fakeBin, Env: fakeEnv, CancelGrace: 10 * time.Second,
		StepEventInterval: time.Nanosecond})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.q = q
	e.t.Cleanup(e.close)
}

func (e *env) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e.q.StopAndCancel(ctx)
	e.st.Close(ctx)
}

func (e *env) addFile(content string) string {
	e.t.Helper()
	st, err := e.st.Stage(strings.NewReader(content), "file", 1<<20)
	if err != nil {
		e.t.Fatal(err)
	}
	path, err := st.Commit(e.st, "files", ".jsonl")
	if err != nil {
		e.t.Fatal(err)
	}
	ds, err := dataset.ReadFile(path, dataset.Options{RequireLabel: true})
	if err != nil {
		e.t.Fatal(err)
	}
	f := &store.File{File: sdk.File{ID: store.NewID("file-"), Filename: "train.jsonl", Purpose: sdk.PurposeFineTune,
		Format: ds.Format, Bytes: st.Size, SHA256: st.SHA256, Rows: len(ds.Rows), Labels: ds.Labels,
		LabelCounts: ds.Counts}, Path: path}
	if err := e.st.InsertFile(context.Background(), f); err != nil {
		e.t.Fatal(err)
	}
	return f.ID
}

// wait blocks until job id satisfies ok, waking on the queue's notifications (no polling sleeps).
func (e *env) wait(id string, ok func(*store.Job) bool) *store.Job {
	e.t.Helper()
	return whettest.WaitJob(e.t, 30*time.Second, e.q, e.st, id, ok, func(j *store.Job) string {
		return fmt.Sprintf("last status %s, error %+v", j.Status, j.Error)
	})
}

func (e *env) waitStatus(id string, status string) *store.Job {
	e.t.Helper()
	return e.wait(id, func(j *store.Job) bool {
		if jobs.State(j.Status).Terminal() && j.Status != status {
			e.t.Fatalf("job[%s] is %s, want %s (error %+v)", id, j.Status, status, j.Error)
		}
		return j.Status == status
	})
}

func (e *env) events(id string) []sdk.JobEvent {
	evs, _, err := e.st.ListEvents(context.Background(), id, 0, 10000)
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

func (e *env) create(req sdk.CreateJobRequest) *store.Job {
	e.t.Helper()
	if req.Model == "" {
		req.Model = e.model
	}
	if req.TrainingFile == "" {
		req.TrainingFile = e.file
	}
	j, err := e.q.Create(context.Background(), req)
	if err != nil {
		e.t.Fatal(err)
	}
	return j
}

// Jobs on one file share its stored rows (nothing is copied per job), and those rows keep the user's file id, name
// and line numbers for the trainer's errors.
func TestJobsShareStoredRows(t *testing.T) {
	e := newEnv(t)
	file := e.addFile("\n\n" + whettest.SST2(40)) // rows start at line 3
	a, b := e.create(sdk.CreateJobRequest{TrainingFile: file}), e.create(sdk.CreateJobRequest{TrainingFile: file})
	a, b = e.waitStatus(a.ID, sdk.JobSucceeded), e.waitStatus(b.ID, sdk.JobSucceeded)
	if a.TrainPath != e.st.RowsPath(file) || b.TrainPath != a.TrainPath {
		t.Fatalf("train paths %q and %q, want both %q", a.TrainPath, b.TrainPath, e.st.RowsPath(file))
	}
	for _, j := range []*store.Job{a, b} {
		entries, _ := os.ReadDir(filepath.Join(e.dir, "jobs", j.ID))
		for _, en := range entries {
			if strings.HasSuffix(en.Name(), ".jsonl") {
				t.Errorf("job[%s] has its own copy of the data: %s", j.ID, en.Name())
			}
		}
	}
	ds, err := dataset.ReadFile(a.TrainPath, dataset.Options{RequireLabel: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := "file[" + file + "] train.jsonl"; ds.File != want || ds.Rows[0].Line != 3 || len(ds.Rows) != 40 {
		t.Fatalf("stored rows: file %q, first line %d, %d rows; want %q, 3, 40", ds.File, ds.Rows[0].Line, len(ds.Rows), want)
	}
	// Deleting the file (its jobs are finished) removes its rows too.
	if err := e.st.DeleteFile(context.Background(), file); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a.TrainPath); !os.IsNotExist(err) {
		t.Errorf("rows of a deleted file still stored: %v", err)
	}
}

func TestJobSucceeds(t *testing.T) {
	e := newEnv(t)
	j := e.create(sdk.CreateJobRequest{Suffix: "sst2"})
	if j.Status != sdk.JobValidatingFiles || j.Hyperparameters.LearningRate != 5e-5 || j.Hyperparameters.NEpochs != 3 {
		t.Fatalf("created job = %+v", j.Job)
	}
	done := e.waitStatus(j.ID, sdk.JobSucceeded)
	want := "ft:tiny:sst2:" + j.ID
	if done.FineTunedModel == nil || *done.FineTunedModel != want {
		t.Fatalf("fine_tuned_model = %v, want %s", done.FineTunedModel, want)
	}
	if !strings.Contains(string(done.Metrics), "accuracy") || done.TrainedSteps != 4 || done.Attempts != 1 {
		t.Fatalf("job = %+v", done.Job)
	}
	m, err := e.st.GetModel(context.Background(), want)
	if err != nil || m.JobID != j.ID || !slices.Equal(m.Labels, []string{"neg", "pos"}) {
		t.Fatalf("model = %+v, %v", m, err)
	}
	// The trainer was handed the job's spec as a file, with the data and the effective hyperparameters.
	spec, err := runspec.Read(filepath.Join(filepath.Dir(done.OutDir), "spec.json"))
	if err != nil || spec.TrainFile != done.TrainPath || spec.ValidationFile != "" || spec.OutputDir != done.OutDir ||
		spec.Hyperparameters.API().LearningRate != done.Hyperparameters.LearningRate || spec.Seed != *done.Hyperparameters.Seed {
		t.Fatalf("spec.json = %+v, %v; job %+v", spec, err, done.Job)
	}
	// The automatic split, made by the trainer: 10% of each label held out, seeded.
	if spec.ValidationSplit != jobs.DefaultValidationFraction {
		t.Fatalf("spec validation_split = %v, want %v", spec.ValidationSplit, jobs.DefaultValidationFraction)
	}
	val, err := e.q.ValidationRows(done, 0)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, r := range val {
		counts[r.Label]++
	}
	if counts["pos"] != 2 || counts["neg"] != 2 {
		t.Fatalf("validation split counts = %v, want 2 of each", counts)
	}
	var types []string
	for _, ev := range e.events(j.ID) {
		types = append(types, ev.Type)
	}
	for _, want := range []string{sdk.EventStatus, sdk.EventMetrics, sdk.EventEval, sdk.EventCheckpoint, sdk.EventMessage} {
		if !slices.Contains(types, want) {
			t.Errorf("no %s event among %v", want, types)
		}
	}
	cks, _ := e.st.ListCheckpoints(context.Background(), j.ID)
	if len(cks) != 1 || cks[0].StepNumber != 4 || !strings.Contains(string(cks[0].Metrics), "accuracy") {
		t.Fatalf("checkpoints = %+v", cks)
	}
}

// TestJobFailsWithTrainerError: the trainer's error event sets the job's error code and message; a server-side
// failure also says how the process ended.
func TestJobFailsWithTrainerError(t *testing.T) {
	for _, tc := range []struct {
		env, code, want string
		exit            bool
	}{
		{"FAKEWHET_FAIL_CODE=", "training_failed", "out of memory on device cuda:0", true},
		{"FAKEWHET_FAIL_CODE=invalid_file", "invalid_file", "out of memory on device cuda:0", false},
		{"FAKEWHET_FAIL_CODE=module_invalid", "module_invalid", "out of memory on device cuda:0", false},
	} {
		t.Run(tc.code, func(t *testing.T) {
			e := newEnv(t, "FAKEWHET_FAIL=out of memory on device cuda:0", tc.env)
			j := e.create(sdk.CreateJobRequest{})
			done := e.waitStatus(j.ID, sdk.JobFailed)
			if done.Error == nil || done.Error.Code != tc.code || !strings.Contains(done.Error.Message, tc.want) ||
				strings.Contains(done.Error.Message, "exit status 1") != tc.exit {
				t.Fatalf("error = %+v", done.Error)
			}
		})
	}
}

func TestJobFailsOnSingleLabel(t *testing.T) {
	e := newEnv(t)
	f := e.addFile("{\"text\":\"a\",\"label\":\"x\"}\n{\"text\":\"b\",\"label\":\"x\"}\n")
	j := e.create(sdk.CreateJobRequest{TrainingFile: f})
	done := e.waitStatus(j.ID, sdk.JobFailed)
	if done.Error == nil || done.Error.Param == nil || *done.Error.Param != "training_file" || !strings.Contains(done.Error.Message, "at least 2 labels") {
		t.Fatalf("error = %+v", done.Error)
	}
}

func TestValidationLabelsMustBeKnown(t *testing.T) {
	e := newEnv(t)
	v := e.addFile("{\"text\":\"a\",\"label\":\"pos\"}\n{\"text\":\"b\",\"label\":\"meh\"}\n")
	j := e.create(sdk.CreateJobRequest{ValidationFile: v})
	done := e.waitStatus(j.ID, sdk.JobFailed)
	if done.Error == nil || !strings.Contains(done.Error.Message, `line 2: label "meh" does not occur`) {
		t.Fatalf("error = %+v", done.Error)
	}
}

// blockedJob starts a job whose fake trainer blocks after step 2 (a checkpoint written) and waits for that.
func blockedJob(t *testing.T, e *env) *store.Job {
	j := e.create(sdk.CreateJobRequest{})
	e.wait(j.ID, func(j *store.Job) bool {
		cks, _ := e.st.ListCheckpoints(context.Background(), j.ID)
		return j.Status == sdk.JobRunning && len(cks) > 0
	})
	return j
}

func TestCancelRunningJob(t *testing.T) {
	e := newEnv(t, "FAKEWHET_BLOCK_AT=2")
	j := blockedJob(t, e)
	got, err := e.q.Cancel(context.Background(), j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != sdk.JobRunning && got.Status != sdk.JobCancelled {
		t.Fatalf("status right after cancel = %s", got.Status)
	}
	done := e.waitStatus(j.ID, sdk.JobCancelled)
	if done.FinishedAt == nil || done.FineTunedModel != nil {
		t.Fatalf("cancelled job = %+v", done.Job)
	}
	if _, err := e.q.Cancel(context.Background(), j.ID); !errors.As(err, new(*jobs.StateError)) {
		t.Fatalf("second cancel: err = %v, want *StateError", err)
	}
}

func TestCancelQueuedJob(t *testing.T) {
	e := newEnv(t, "FAKEWHET_BLOCK_AT=2")
	first := blockedJob(t, e)
	second := e.create(sdk.CreateJobRequest{})
	e.waitStatus(second.ID, sdk.JobQueued) // concurrency 1: it waits behind the first
	got, err := e.q.Cancel(context.Background(), second.ID)
	if err != nil || got.Status != sdk.JobCancelled {
		t.Fatalf("cancel queued: %v, %v", got, err)
	}
	if _, err := e.q.Cancel(context.Background(), first.ID); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(first.ID, sdk.JobCancelled)
}

// TestShutdownResumes stops the queue in the middle of a job: the job goes back to queued and the next queue
// resumes it from the checkpoint.
func TestShutdownResumes(t *testing.T) {
	e := newEnv(t, "FAKEWHET_BLOCK_AT=2")
	j := blockedJob(t, e)
	e.close()
	st, err := store.Open(context.Background(), e.dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := st.GetJob(context.Background(), j.ID)
	st.Close(context.Background())
	if got.Status != sdk.JobQueued || !strings.HasSuffix(got.ResumeFrom, "checkpoint-2") {
		t.Fatalf("after shutdown: status %s resume_from %q", got.Status, got.ResumeFrom)
	}
	e.open() // no blocking this time
	done := e.waitStatus(j.ID, sdk.JobSucceeded)
	if done.Attempts != 2 {
		t.Fatalf("attempts = %d, want 2", done.Attempts)
	}
	var resumed bool
	for _, ev := range e.events(j.ID) {
		resumed = resumed || strings.Contains(ev.Message, "resumed from step 2")
	}
	if !resumed {
		t.Fatal("trainer was not resumed from step 2")
	}
}

// TestRescueOrphans plays a crash: jobs left running with no process. One with attempts left resumes, one
// without fails with a reason, one with a pending cancel is cancelled.
func TestRescueOrphans(t *testing.T) {
	e := newEnv(t, "FAKEWHET_BLOCK_AT=2")
	j := blockedJob(t, e)
	// Simulate the crash: forget the queue without letting it touch the job (the trainer is killed, the job
	// row still says running).
	ctx := context.Background()
	jobs.KillForTest(e.q)
	e.st.Close(ctx)

	st, err := store.Open(ctx, e.dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := st.GetJob(ctx, j.ID); got.Status != sdk.JobRunning {
		t.Fatalf("after crash: status %s, want running", got.Status)
	}
	// A second orphan that used all its attempts, and a third with a pending cancel.
	mk := func(attempts int, cancel bool) string {
		o := &store.Job{Job: sdk.Job{ID: store.NewID("ftjob-"), Status: sdk.JobQueued, Model: e.model, TrainingFile: e.file}}
		o.Hyperparameters, _ = jobs.ResolveHyperparameters(sdk.Hyperparameters{}, 0)
		if err := st.InsertJob(ctx, o); err != nil {
			t.Fatal(err)
		}
		for range attempts {
			st.Transition(ctx, o.ID, sdk.JobQueued, sdk.JobRunning, store.JobChange{Started: true})
			st.Transition(ctx, o.ID, sdk.JobRunning, sdk.JobQueued, store.JobChange{})
		}
		st.Transition(ctx, o.ID, sdk.JobQueued, sdk.JobRunning, store.JobChange{})
		if cancel {
			st.RequestCancel(ctx, o.ID, sdk.JobRunning)
		}
		return o.ID
	}
	spent, cancelled := mk(jobs.DefaultMaxAttempts, false), mk(1, true)
	st.Close(ctx)

	e.open()
	done := e.waitStatus(j.ID, sdk.JobSucceeded)
	if done.Attempts != 2 {
		t.Fatalf("attempts = %d", done.Attempts)
	}
	f := e.waitStatus(spent, sdk.JobFailed)
	if f.Error == nil || f.Error.Code != "interrupted" || !strings.Contains(f.Error.Message, "attempt 3 of 3") {
		t.Fatalf("spent job error = %+v", f.Error)
	}
	e.waitStatus(cancelled, sdk.JobCancelled)
}

func TestCreateErrors(t *testing.T) {
	e := newEnv(t)
	adir := t.TempDir() // a LoRA adapter folder registered as a model
	for name, content := range map[string]string{"adapter_config.json": `{"peft_type":"LORA","task_type":"SEQ_CLS","base_model_name_or_path":"/b"}`,
		"adapter_model.safetensors": "x"} {
		if err := os.WriteFile(filepath.Join(adir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.st.InsertModel(context.Background(), &store.Model{Model: sdk.Model{ID: "adapter", Source: "path", OwnedBy: "user"}, Path: adir}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		req       sdk.CreateJobRequest
		param     string
		notFound  bool
		msgSubstr string
	}{
		{"no model", sdk.CreateJobRequest{TrainingFile: e.file}, "model", false, "required"},
		{"no file", sdk.CreateJobRequest{Model: e.model}, "training_file", false, "required"},
		{"unknown model", sdk.CreateJobRequest{Model: "nope", TrainingFile: e.file}, "model", true, "model[nope] not found"},
		{"unknown file", sdk.CreateJobRequest{Model: e.model, TrainingFile: "file-nope"}, "training_file", true, "file[file-nope]"},
		{"unknown validation file", sdk.CreateJobRequest{Model: e.model, TrainingFile: e.file, ValidationFile: "file-v"}, "validation_file", true, "file[file-v]"},
		{"unknown module", sdk.CreateJobRequest{Model: e.model, TrainingFile: e.file, EvaluateModule: "mod-x"}, "evaluate_module", true, "module[mod-x]"},
		{"bad suffix", sdk.CreateJobRequest{Model: e.model, TrainingFile: e.file, Suffix: "a/b"}, "suffix", false, "letters"},
		{"adapter as base", sdk.CreateJobRequest{Model: "adapter", TrainingFile: e.file}, "model", false, "is a LoRA adapter"},
		{"negative lr", sdk.CreateJobRequest{Model: e.model, TrainingFile: e.file,
			Hyperparameters: sdk.Hyperparameters{LearningRate: -1}}, "hyperparameters.learning_rate", false, "must be > 0"},
		{"seq too long for model", sdk.CreateJobRequest{Model: e.model, TrainingFile: e.file,
			Hyperparameters: sdk.Hyperparameters{MaxSeqLength: 1024}}, "hyperparameters.max_seq_length", false, "max_position_embeddings (512)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.q.Create(context.Background(), tc.req)
			var ve *jobs.ValidationError
			var pe *jobs.ParamError
			switch {
			case errors.As(err, &ve):
				if tc.notFound || ve.Param != tc.param {
					t.Fatalf("err = %#v", err)
				}
			case errors.As(err, &pe):
				if !tc.notFound || pe.Param != tc.param || !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("err = %#v", err)
				}
			default:
				t.Fatalf("err = %v, want a field error", err)
			}
			if !strings.Contains(err.Error(), tc.msgSubstr) {
				t.Fatalf("err = %q, want it to contain %q", err, tc.msgSubstr)
			}
		})
	}
}

func TestResolveHyperparameters(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	cases := []struct {
		name  string
		in    sdk.Hyperparameters
		param string
	}{
		{"defaults", sdk.Hyperparameters{}, ""},
		{"zero warmup allowed", sdk.Hyperparameters{WarmupRatio: f(0)}, ""},
		{"epochs", sdk.Hyperparameters{NEpochs: -1}, "hyperparameters.n_epochs"},
		{"batch", sdk.Hyperparameters{BatchSize: 100000}, "hyperparameters.batch_size"},
		{"lr too big", sdk.Hyperparameters{LearningRate: 2}, "hyperparameters.learning_rate"},
		{"seq", sdk.Hyperparameters{MaxSeqLength: 4}, "hyperparameters.max_seq_length"},
		{"warmup", sdk.Hyperparameters{WarmupRatio: f(1)}, "hyperparameters.warmup_ratio"},
		{"decay", sdk.Hyperparameters{WeightDecay: f(-0.1)}, "hyperparameters.weight_decay"},
		{"class weights", sdk.Hyperparameters{ClassWeights: "balanced"}, "hyperparameters.class_weights"},
		{"max steps", sdk.Hyperparameters{MaxSteps: -3}, "hyperparameters.max_steps"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, err := jobs.ResolveHyperparameters(tc.in, 0)
			if tc.param == "" {
				if err != nil {
					t.Fatal(err)
				}
				if h.NEpochs != 3 || h.BatchSize != 32 || h.LearningRate != 5e-5 || h.MaxSeqLength != 128 || *h.WarmupRatio != 0 ||
					*h.WeightDecay != 0.01 || *h.Seed != 42 {
					t.Fatalf("defaults = %+v", h)
				}
				return
			}
			var ve *jobs.ValidationError
			if !errors.As(err, &ve) || ve.Param != tc.param {
				t.Fatalf("err = %v, want param %s", err, tc.param)
			}
		})
	}
}

// TestAPIAndCLIGiveTheSameSpec: a job request through the API and the same settings as `whet train` flags
// (bound by runspec.Spec.BindFlags, as cmd/whet does) resolve to the same hyperparameters, defaults included, and a
// seed of 0 stays 0 on both routes.
func TestAPIAndCLIGiveTheSameSpec(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	i := func(v int64) *int64 { return &v }
	cases := []struct {
		name  string
		req   sdk.Hyperparameters
		flags []string
	}{
		{"defaults", sdk.Hyperparameters{}, nil},
		{"seed 0", sdk.Hyperparameters{Seed: i(0)}, []string{"--seed", "0"}},
		{"all set", sdk.Hyperparameters{NEpochs: 2, BatchSize: 8, LearningRate: 1e-4, MaxSeqLength: 48, WarmupRatio: f(0.2),
			WeightDecay: f(0), Seed: i(7), MaxSteps: 30, GradAccum: 2, MaxGradNorm: 0.5, EvalEvery: 10, EarlyStoppingPatience: 2,
			MetricForBestModel: "macro_f1", ClassWeights: "auto"},
			[]string{"--epochs", "2", "--batch-size", "8", "--learning-rate", "1e-4", "--max-seq-length", "48", "--warmup-ratio", "0.2",
				"--weight-decay", "0", "--seed", "7", "--max-steps", "30", "--grad-accum", "2", "--max-grad-norm", "0.5", "--eval-every", "10",
				"--early-stopping-patience", "2", "--metric-for-best-model", "macro_f1", "--class-weights", "auto"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api, err := jobs.ResolveHyperparameters(tc.req, 64)
			if err != nil {
				t.Fatal(err)
			}
			fromAPI, err := runspec.FromAPI(api)
			if err != nil {
				t.Fatal(err)
			}
			cli := runspec.Spec{Hyperparameters: runspec.Default()}
			fs := flag.NewFlagSet("train", flag.ContinueOnError)
			cli.BindFlags(fs)
			if err := fs.Parse(tc.flags); err != nil {
				t.Fatal(err)
			}
			if err := cli.Resolve(64); err != nil {
				t.Fatal(err)
			}
			if fromAPI != cli.Hyperparameters {
				t.Fatalf("API spec %+v\nCLI spec %+v", fromAPI, cli.Hyperparameters)
			}
		})
	}
}
