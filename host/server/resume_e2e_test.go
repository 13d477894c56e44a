package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/sdk"
)

// whetServer is `whet serve` running as a process of the real binary.
type whetServer struct {
	cmd  *exec.Cmd
	url  string
	mu   sync.Mutex
	log  bytes.Buffer
	done chan struct{} // closed when its stderr ends
}

// serveWhet starts `bin serve` on data and waits until it listens.
func serveWhet(t *testing.T, bin, data string) *whetServer {
	t.Helper()
	s := &whetServer{cmd: exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data", data, "--threads", "2"),
		done: make(chan struct{})}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
			s.cmd.Wait()
		}
	})
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		s.log.WriteString(sc.Text() + "\n")
		if rest, ok := strings.CutPrefix(sc.Text(), "whet: serving on "); ok {
			s.url = strings.Fields(rest)[0]
			break
		}
	}
	if s.url == "" {
		t.Fatalf("whet serve did not start:\n%s", s.log.String())
	}
	go func() { // keep draining the server's log, for failure messages
		defer close(s.done)
		for sc.Scan() {
			s.mu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
		}
	}()
	return s
}

// logText returns what the server logged so far.
func (s *whetServer) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// whetBin returns WHET_BIN, a whet built with native support (`make build`; `make test` sets it), or skips.
func whetBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("WHET_BIN")
	if bin == "" {
		t.Skip("WHET_BIN is not set: the test needs a whet binary built with native support (make build)")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("WHET_BIN=%s: %v", bin, err)
	}
	return bin
}

// tinyBERT writes a small BERT folder (dropout on, as a real model has) with `whet model init`, or skips when bin
// has no native support.
func tinyBERT(t *testing.T, bin string) string {
	t.Helper()
	tmp := t.TempDir()
	vocab := filepath.Join(tmp, "vocab.txt")
	if err := os.WriteFile(vocab, []byte(strings.Join(e2eVocab(), "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(tmp, "tiny-bert")
	out, err := exec.Command(bin, "model", "init", "--vocab", vocab, "--labels", "neg,pos", "--layers", "2",
		"--hidden", "32", "--heads", "2", "--intermediate", "64", "--max-position", "64", "--seed", "7", "--out", base).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "without cgo") {
			t.Skipf("WHET_BIN has no native support: %s", out)
		}
		t.Fatalf("whet model init: %v\n%s", err, out)
	}
	return base
}

// TestResumeAfterServerKillIsExact SIGKILLs the server (its trainer dies with it) after a job's first checkpoint,
// restarts it, and compares the resumed job with the same job run without interruption: identical fine-tuned
// weights and metrics, each step reported once, every evaluation equal, and only existing checkpoints listed.
func TestResumeAfterServerKillIsExact(t *testing.T) {
	bin := whetBin(t)
	base := tinyBERT(t, bin)
	data := filepath.Join(t.TempDir(), "data")
	srv := serveWhet(t, bin, data)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := sdk.NewClient(srv.url)
	model, err := c.CreateModel(ctx, sdk.CreateModelRequest{FromPath: base})
	if err != nil {
		t.Fatal(err)
	}
	train, _ := e2eData(240)
	file, err := c.UploadFile(ctx, sdk.UploadFileRequest{Filename: "sst2.jsonl", Content: strings.NewReader(train)})
	if err != nil {
		t.Fatal(err)
	}
	req := sdk.CreateJobRequest{Model: model.ID, TrainingFile: file.ID, Hyperparameters: sdk.Hyperparameters{NEpochs: 3,
		BatchSize: 8, LearningRate: 2e-3, MaxSeqLength: 32, EvalEvery: 12}}
	ref, err := c.CreateJob(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StreamJobEvents(ctx, ref.ID, 0, func(sdk.JobEvent) error { return nil }); err != nil {
		t.Fatal(err)
	}
	job, err := c.CreateJob(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// Kill the server at the job's first checkpoint; its trainer dies with it (PR_SET_PDEATHSIG).
	for {
		cks, err := c.ListJobCheckpoints(ctx, job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(cks.Data) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.cmd.Process.Kill()
	srv.cmd.Wait()
	<-srv.done
	st, err := store.Open(ctx, data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	killed, err := st.GetJob(ctx, job.ID)
	st.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if killed.Status != sdk.JobRunning {
		t.Skipf("the job was %s when the server was killed: the machine is too fast for this test's sizes", killed.Status)
	}

	srv = serveWhet(t, bin, data)
	c = sdk.NewClient(srv.url)
	if err := c.StreamJobEvents(ctx, job.ID, 0, func(sdk.JobEvent) error { return nil }); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetJob(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	want, err := c.GetJob(ctx, ref.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != sdk.JobSucceeded || got.Attempts != 2 {
		t.Fatalf("resumed job: status %s after %d attempts (error %+v), want succeeded after 2\n%s", got.Status, got.Attempts, got.Error, srv.logText())
	}
	if string(got.Metrics) != string(want.Metrics) {
		t.Errorf("metrics differ:\nresumed %s\n   full %s", got.Metrics, want.Metrics)
	}
	weights := func(id string) []byte {
		b, err := os.ReadFile(filepath.Join(data, "jobs", id, "out", "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if !bytes.Equal(weights(job.ID), weights(ref.ID)) {
		t.Error("the resumed job's fine-tuned weights differ from the uninterrupted job's")
	}
	evals := func(id string) map[int]string {
		out := map[int]string{}
		page, err := c.ListJobEvents(ctx, id, sdk.ListEventsRequest{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		steps := map[int]int{}
		for _, ev := range page.Data {
			switch ev.Type {
			case sdk.EventMetrics:
				if steps[ev.Data.Step]++; steps[ev.Data.Step] > 1 {
					t.Errorf("job[%s]: step %d reported %d times", id, ev.Data.Step, steps[ev.Data.Step])
				}
			case sdk.EventEval:
				b, _ := json.Marshal(ev.Data.Metrics)
				if _, dup := out[ev.Data.Step]; dup {
					t.Errorf("job[%s]: evaluation of step %d reported twice", id, ev.Data.Step)
				}
				out[ev.Data.Step] = string(b)
			}
		}
		return out
	}
	gotEvals, wantEvals := evals(job.ID), evals(ref.ID)
	if len(gotEvals) != len(wantEvals) {
		t.Errorf("resumed job has %d evaluations, the uninterrupted one %d", len(gotEvals), len(wantEvals))
	}
	for step, w := range wantEvals {
		if gotEvals[step] != w {
			t.Errorf("evaluation at step %d:\nresumed %s\n   full %s", step, gotEvals[step], w)
		}
	}
	cks, err := c.ListJobCheckpoints(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, ck := range cks.Data {
		if _, err := os.Stat(filepath.Join(data, "jobs", job.ID, "out", "checkpoints", "checkpoint-"+strconv.Itoa(ck.StepNumber))); err != nil {
			t.Errorf("checkpoint %s (step %d) is listed but its folder is gone: %v", ck.ID, ck.StepNumber, err)
		}
	}
}
