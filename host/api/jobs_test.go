package api_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/whetml/whet/host/internal/whettest"
	"github.com/whetml/whet/sdk"
)

func TestJobLifecycle(t *testing.T) {
	ts := start(t, opts{})
	ctx := context.Background()
	m := ts.model("tiny", "neg", "pos")
	f := ts.upload("sst2.jsonl", whettest.SST2(40))
	job, err := ts.c.CreateJob(ctx, sdk.CreateJobRequest{Model: m.ID, TrainingFile: f.ID, Suffix: "sst2",
		Hyperparameters: sdk.Hyperparameters{NEpochs: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if job.Status != sdk.JobValidatingFiles || job.Hyperparameters.NEpochs != 2 || job.Hyperparameters.BatchSize != 32 {
		t.Fatalf("created = %+v", job)
	}
	evs := ts.follow(job.ID)
	last := evs[len(evs)-1]
	if last.Type != sdk.EventStatus || last.Data.Status != sdk.JobSucceeded {
		t.Fatalf("last streamed event = %+v", last)
	}
	var statuses []string
	for _, ev := range evs {
		if ev.Type == sdk.EventStatus {
			statuses = append(statuses, ev.Data.Status)
		}
	}
	if strings.Join(statuses, ",") != "validating_files,queued,running,succeeded" {
		t.Fatalf("status events = %v", statuses)
	}
	got, err := ts.c.GetJob(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := "ft:tiny:sst2:" + job.ID
	if got.Status != sdk.JobSucceeded || got.FineTunedModel == nil || *got.FineTunedModel != want || got.FinishedAt == nil {
		t.Fatalf("job = %+v", got)
	}
	// Usable at once.
	preds, err := ts.c.Predict(ctx, want, sdk.PredictRequest{Inputs: []string{"a great movie", "a dull movie"}})
	if err != nil || len(preds) != 2 {
		t.Fatalf("predict with fine-tuned model: %+v, %v", preds, err)
	}
	// Paging the plain list.
	page, err := ts.c.ListJobEvents(ctx, job.ID, sdk.ListEventsRequest{Limit: 3})
	if err != nil || len(page.Data) != 3 || !page.HasMore || page.Object != "list" {
		t.Fatalf("first page = %+v, %v", page, err)
	}
	rest, err := ts.c.ListJobEvents(ctx, job.ID, sdk.ListEventsRequest{After: page.Data[2].ID, Limit: 1000})
	if err != nil || len(rest.Data) != len(evs)-3 || rest.HasMore {
		t.Fatalf("rest = %d events (stream had %d), has_more %v, %v", len(rest.Data), len(evs), rest.HasMore, err)
	}
	cks, err := ts.c.ListJobCheckpoints(ctx, job.ID)
	if err != nil || len(cks.Data) != 1 || cks.Data[0].StepNumber != 4 || cks.Data[0].FineTuningJobID != job.ID {
		t.Fatalf("checkpoints = %+v, %v", cks, err)
	}
	// Resuming a stream after the last event ends at once with nothing new.
	n := 0
	if err := ts.c.StreamJobEvents(ctx, job.ID, last.ID, func(sdk.JobEvent) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("stream after the end: %d events, %v", n, err)
	}
	list, err := ts.c.ListJobs(ctx, sdk.ListJobsRequest{})
	if err != nil || len(list.Data) != 1 || list.Data[0].ID != job.ID {
		t.Fatalf("jobs = %+v, %v", list, err)
	}
	_, err = ts.c.CancelJob(ctx, job.ID)
	apiErr(t, err, 409, "is succeeded")

	resp, err := http.Get(ts.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`whet_jobs{status="succeeded"} 1`, `whet_predict_duration_seconds_count{model="` + want + `"} 1`,
		`whet_predict_inputs_total{model="` + want + `"} 2`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

var errStop = errors.New("stop streaming")

// waitCheckpoint streams job id's events until its first checkpoint.
func waitCheckpoint(t *testing.T, ts *testServer, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := ts.c.StreamJobEvents(ctx, id, 0, func(ev sdk.JobEvent) error {
		if ev.Type == sdk.EventCheckpoint {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("job[%s] reached no checkpoint: %v", id, err)
	}
}

func TestInUseAndCancel(t *testing.T) {
	ts := start(t, opts{env: []string{"FAKEWHET_BLOCK_AT=2"}})
	ctx := context.Background()
	m := ts.model("tiny", "neg", "pos")
	f := ts.upload("sst2.jsonl", whettest.SST2(40))
	job, err := ts.c.CreateJob(ctx, sdk.CreateJobRequest{Model: m.ID, TrainingFile: f.ID})
	if err != nil {
		t.Fatal(err)
	}
	waitCheckpoint(t, ts, job.ID)
	_, err = ts.c.DeleteFile(ctx, f.ID)
	if se := apiErr(t, err, 409, "used by unfinished job["+job.ID+"]"); se.Err.Code == nil || *se.Err.Code != "in_use" {
		t.Fatalf("code = %v", se.Err.Code)
	}
	_, err = ts.c.DeleteModel(ctx, m.ID)
	apiErr(t, err, 409, "used by unfinished job")
	if _, err := ts.c.CancelJob(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	evs := ts.follow(job.ID)
	if last := evs[len(evs)-1]; last.Data == nil || last.Data.Status != sdk.JobCancelled {
		t.Fatalf("last event = %+v", last)
	}
	got, _ := ts.c.GetJob(ctx, job.ID)
	if got.Status != sdk.JobCancelled || got.FineTunedModel != nil {
		t.Fatalf("job = %+v", got)
	}
	if _, err := ts.c.DeleteFile(ctx, f.ID); err != nil {
		t.Fatalf("delete after the job ended: %v", err)
	}
}

func TestPredictErrors(t *testing.T) {
	ts := start(t, opts{api: nil})
	ctx := context.Background()
	m := ts.model("tiny", "neg", "pos")
	cases := []struct {
		name   string
		inputs []string
		status int
		want   string
	}{
		{"no inputs", nil, 400, "at least one text"},
		{"too many", make([]string, 2000), 400, "the limit is 1024"},
		{"worker rejects input", []string{"FAIL please"}, 400, "input contains FAIL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ts.c.Predict(ctx, m.ID, sdk.PredictRequest{Inputs: tc.inputs})
			if se := apiErr(t, err, tc.status, tc.want); param(se) != "inputs" {
				t.Fatalf("param = %q", param(se))
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	ts := start(t, opts{})
	ctx := context.Background()
	m := ts.model("tiny", "neg", "pos")
	f := ts.upload("held-out.jsonl", "{\"text\":\"a\",\"label\":\"neg\"}\n{\"text\":\"b\",\"label\":\"pos\"}\n")
	out, err := ts.c.Evaluate(ctx, m.ID, sdk.EvaluateRequest{File: f.ID})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"support":2`) {
		t.Fatalf("metrics = %s", out)
	}
	bad := ts.upload("bad.jsonl", "{\"text\":\"a\",\"label\":\"neg\"}\n{\"text\":\"b\",\"label\":\"unknown\"}\n")
	_, err = ts.c.Evaluate(ctx, m.ID, sdk.EvaluateRequest{File: bad.ID})
	se := apiErr(t, err, 400, `bad.jsonl:2: field "label": label "unknown" is not one of the model's labels`)
	if strings.Contains(se.Err.Message, ts.data) {
		t.Fatalf("error leaks the server path: %s", se.Err.Message)
	}
	_, err = ts.c.Evaluate(ctx, m.ID, sdk.EvaluateRequest{File: "file-nope"})
	if se := apiErr(t, err, 404, "file[file-nope] not found"); param(se) != "file" {
		t.Fatalf("param = %q", param(se))
	}
	_, err = ts.c.Evaluate(ctx, "nope", sdk.EvaluateRequest{File: f.ID})
	apiErr(t, err, 404, "model[nope] not found")
}
