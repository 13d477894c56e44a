package cluster_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/whetml/whet/host/internal/whettest"
	"github.com/whetml/whet/sdk"
)

// proc is a whet process of the end-to-end test, its log kept for failure messages.
type proc struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	log bytes.Buffer
}

func (p *proc) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// start runs bin with args and returns once a stderr line has the prefix want, with the rest of that line.
func start(t *testing.T, bin, want string, args ...string) (*proc, string) {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...)}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		if t.Failed() {
			t.Logf("whet %s log:\n%s", args[0], p.logText())
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if rest, ok := strings.CutPrefix(sc.Text(), want); ok {
				select {
				case found <- rest:
				default:
				}
			}
		}
		close(found)
	}()
	select {
	case rest, ok := <-found:
		if !ok {
			t.Fatalf("whet %s exited before printing %q:\n%s", strings.Join(args, " "), want, p.logText())
		}
		return p, rest
	case <-time.After(2 * time.Minute):
		t.Fatalf("whet %s did not print %q:\n%s", strings.Join(args, " "), want, p.logText())
	}
	return nil, ""
}

// startServer starts `whet serve` and returns it, a client and its URL, and the NATS URL workers use ("" without
// --cluster; it is printed before "serving on").
func startServer(t *testing.T, bin string, args ...string) (*proc, *sdk.Client, string, string) {
	t.Helper()
	args = append([]string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--threads", "1"}, args...)
	p, rest := start(t, bin, "whet: serving on ", args...)
	natsURL := ""
	if _, after, ok := strings.Cut(p.logText(), "whet: workers connect to "); ok {
		natsURL = strings.Fields(after)[0]
	}
	url := strings.Fields(rest)[0]
	return p, sdk.NewClient(url), url, natsURL
}

type e2eJob struct {
	hp sdk.Hyperparameters
	id string
}

// TestClusterEndToEnd runs real binaries on CPU: `whet serve --cluster` with two `whet worker --threads 1`
// processes trains four jobs two at a time, byte-identical to the same jobs run by a plain `whet serve`; a worker
// SIGKILLed mid-job loses it to the other worker after AckWait, which resumes from the last checkpoint; wrong
// credentials are refused. It needs WHET_BIN (a whet built with native support; `make test` sets it).
func TestClusterEndToEnd(t *testing.T) {
	bin := os.Getenv("WHET_BIN")
	if bin == "" {
		t.Skip("WHET_BIN is not set: the end-to-end test needs a whet binary built with native support (make build)")
	}
	tmp := t.TempDir()
	vocab := filepath.Join(tmp, "vocab.txt")
	words := "[PAD] [UNK] [CLS] [SEP] [MASK] a great movie truly wonderful acting i loved every minute brilliant and moving joy to watch terrible dull lifeless hated boring far too long waste of time number 0 1 2 3 4 5 6 7 8 9"
	if err := os.WriteFile(vocab, []byte(strings.ReplaceAll(words, " ", "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(tmp, "tiny-bert")
	if out, err := exec.Command(bin, "model", "init", "--vocab", vocab, "--labels", "neg,pos", "--layers", "2",
		"--hidden", "32", "--heads", "2", "--intermediate", "64", "--max-position", "64", "--seed", "7", "--out", model).CombinedOutput(); err != nil {
		if strings.Contains(string(out), "without cgo") {
			t.Skipf("WHET_BIN has no native support: %s", out)
		}
		t.Fatalf("whet model init: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	data := whettest.SST2(160)
	setup := func(c *sdk.Client) (string, string) {
		m, err := c.CreateModel(ctx, sdk.CreateModelRequest{FromPath: model, ID: "tiny"})
		if err != nil {
			t.Fatal(err)
		}
		f, err := c.UploadFile(ctx, sdk.UploadFileRequest{Filename: "sst2.jsonl", Content: strings.NewReader(data)})
		if err != nil {
			t.Fatal(err)
		}
		return m.ID, f.ID
	}
	seed := func(s int64) *int64 { return &s }
	jobs := []*e2eJob{
		{hp: sdk.Hyperparameters{NEpochs: 2, BatchSize: 8, LearningRate: 5e-3, MaxSeqLength: 16, Seed: seed(1)}},
		{hp: sdk.Hyperparameters{NEpochs: 2, BatchSize: 16, LearningRate: 1e-3, MaxSeqLength: 16, Seed: seed(2)}},
		{hp: sdk.Hyperparameters{NEpochs: 3, BatchSize: 8, LearningRate: 2e-3, MaxSeqLength: 16, Seed: seed(3)}},
		{hp: sdk.Hyperparameters{NEpochs: 2, BatchSize: 4, LearningRate: 5e-3, MaxSeqLength: 16, Seed: seed(4)}},
	}
	run := func(c *sdk.Client, mid, fid string, js []*e2eJob) []*sdk.Job {
		for _, j := range js {
			job, err := c.CreateJob(ctx, sdk.CreateJobRequest{Model: mid, TrainingFile: fid, Hyperparameters: j.hp})
			if err != nil {
				t.Fatal(err)
			}
			j.id = job.ID
		}
		var out []*sdk.Job
		for _, j := range js {
			if err := c.StreamJobEvents(ctx, j.id, 0, func(sdk.JobEvent) error { return nil }); err != nil {
				t.Fatal(err)
			}
			job, err := c.GetJob(ctx, j.id)
			if err != nil {
				t.Fatal(err)
			}
			if job.Status != sdk.JobSucceeded {
				t.Fatalf("job[%s] %s: %+v", j.id, job.Status, job.Error)
			}
			out = append(out, job)
		}
		return out
	}

	// The cluster: an embedded NATS, two workers.
	srv, c, url, natsURL := startServer(t, bin, "--cluster", "--cluster-addr", "127.0.0.1:0", "--worker-timeout", "3s")
	srvData := argAfter(srv.cmd.Args, "--data")
	creds := filepath.Join(tmp, "worker.json")
	if out, err := exec.Command(bin, "workers", "token", "--server", url, "--out", creds).CombinedOutput(); err != nil {
		t.Fatalf("whet workers token: %v\n%s", err, out)
	}
	bad := filepath.Join(tmp, "bad.json")
	os.WriteFile(bad, []byte(`{"user":"wcred-0000","password":"guess"}`), 0o600)
	out, err := exec.Command(bin, "worker", "--nats", natsURL, "--credentials", bad, "--data", t.TempDir()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "refused the credentials "+bad) {
		t.Fatalf("a worker with wrong credentials: %v\n%s\nwant a refusal naming the file", err, out)
	}
	workers := map[string]*proc{}
	for _, id := range []string{"wrk-a", "wrk-b"} {
		workers[id], _ = start(t, bin, "whet: worker ", "worker", "--nats", natsURL, "--credentials", creds,
			"--threads", "1", "--data", t.TempDir(), "--id", id)
	}
	mid, fid := setup(c)
	phase := time.Now()
	remote := run(c, mid, fid, jobs)
	ran := map[string]int{}
	for _, j := range remote {
		if j.Worker == nil {
			t.Fatalf("job[%s] has no worker", j.ID)
		}
		ran[*j.Worker]++
	}
	if len(ran) != 2 {
		t.Errorf("jobs per worker %v: want both workers used", ran)
	}

	// The same jobs on a plain server.
	t.Logf("cluster: 4 jobs on 2 workers in %v", time.Since(phase).Round(time.Millisecond))
	phase = time.Now()
	local, lc, _, _ := startServer(t, bin, "--concurrency", "2")
	lmid, lfid := setup(lc)
	localJobs := make([]*e2eJob, len(jobs))
	for i, j := range jobs {
		localJobs[i] = &e2eJob{hp: j.hp}
	}
	for _, j := range run(lc, lmid, lfid, localJobs) {
		if j.Worker != nil {
			t.Errorf("a plain server's job has worker %q, want null", *j.Worker)
		}
	}
	for i := range jobs {
		for _, name := range []string{"model.safetensors", "config.json"} {
			a, err := os.ReadFile(filepath.Join(srvData, "jobs", jobs[i].id, "out", name))
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(argAfter(local.cmd.Args, "--data"), "jobs", localJobs[i].id, "out", name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Errorf("job %d: %s from the worker differs from the plain server's (%d vs %d bytes)", i, name, len(a), len(b))
			}
		}
	}

	t.Logf("plain server: the same 4 jobs in %v", time.Since(phase).Round(time.Millisecond))

	// SIGKILL the worker running a longer job at its first checkpoint.
	long := &e2eJob{hp: sdk.Hyperparameters{NEpochs: 8, BatchSize: 8, LearningRate: 1e-3, MaxSeqLength: 32, Seed: seed(5)}}
	job, err := c.CreateJob(ctx, sdk.CreateJobRequest{Model: mid, TrainingFile: fid, Hyperparameters: long.hp})
	if err != nil {
		t.Fatal(err)
	}
	var killed string
	var killedAt time.Time
	ckStep, resumedStep, movedAt := 0, 0, time.Time{}
	moved := false
	err = c.StreamJobEvents(ctx, job.ID, 0, func(ev sdk.JobEvent) error {
		switch {
		case ev.Type == sdk.EventCheckpoint && killed == "":
			j, err := c.GetJob(ctx, job.ID)
			if err != nil || j.Worker == nil {
				return fmt.Errorf("job at a checkpoint has no worker: %v", err)
			}
			killed, ckStep, killedAt = *j.Worker, ev.Data.Step, time.Now()
			if err := workers[killed].cmd.Process.Signal(syscall.SIGKILL); err != nil {
				return err
			}
		case strings.Contains(ev.Message, "stopped reporting: training moved to worker"):
			moved, movedAt = true, time.Now()
			if !strings.Contains(ev.Message, fmt.Sprintf("resuming from checkpoint-%d", ckStep)) {
				t.Errorf("moved: %q, want a resume from checkpoint-%d", ev.Message, ckStep)
			}
		case moved && ev.Type == sdk.EventMetrics && resumedStep == 0:
			resumedStep = ev.Data.Step
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	done, err := c.GetJob(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != sdk.JobSucceeded || done.Attempts != 2 || done.Worker == nil || *done.Worker == killed {
		t.Fatalf("after killing %s: job %s, attempts %d, worker %v; want succeeded on the other worker in 2 attempts",
			killed, done.Status, done.Attempts, done.Worker)
	}
	if !moved || resumedStep != ckStep+1 {
		t.Errorf("moved %v; first step after the move %d, want %d (resume right after checkpoint %d)", moved, resumedStep, ckStep+1, ckStep)
	}
	t.Logf("killed %s at checkpoint %d; the job moved after %v (AckWait 3s) and finished %v after the kill",
		killed, ckStep, movedAt.Sub(killedAt).Round(time.Millisecond), time.Since(killedAt).Round(time.Millisecond))
	ws, err := c.ListWorkers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, w := range ws.Data {
		states = append(states, w.ID+"="+w.Status)
	}
	sort.Strings(states)
	if strings.Join(states, " ") != map[string]string{"wrk-a": "wrk-a=gone wrk-b=active", "wrk-b": "wrk-a=active wrk-b=gone"}[killed] {
		t.Errorf("workers %v after killing %s", states, killed)
	}

	// Predictions through two workers serving models equal the plain server's local pool, and 32 concurrent
	// clients see no error while one of the two is SIGKILLed halfway.
	for _, id := range []string{"wrk-p1", "wrk-p2"} {
		workers[id], _ = start(t, bin, "whet: worker ", "worker", "--nats", natsURL, "--credentials", creds,
			"--threads", "1", "--data", t.TempDir(), "--id", id, "--serve-models", "--slots", "0")
	}
	texts := []string{"a great movie number 3", "dull and lifeless number 8", "i loved every minute", "a waste of time"}
	remotePreds, err := c.Predict(ctx, *remote[0].FineTunedModel, sdk.PredictRequest{Inputs: texts})
	if err != nil {
		t.Fatal(err)
	}
	ljob, err := lc.GetJob(ctx, localJobs[0].id)
	if err != nil {
		t.Fatal(err)
	}
	localPreds, err := lc.Predict(ctx, *ljob.FineTunedModel, sdk.PredictRequest{Inputs: texts})
	if err != nil {
		t.Fatal(err)
	}
	for i := range texts {
		if remotePreds[i].Label != localPreds[i].Label || remotePreds[i].Score != localPreds[i].Score {
			t.Errorf("%q: remote %s %v, local %s %v", texts[i], remotePreds[i].Label, remotePreds[i].Score, localPreds[i].Label, localPreds[i].Score)
		}
	}
	phase = time.Now()
	const clients, perClient = 32, 4
	var (
		mu       sync.Mutex
		finished int
		errs     []error
		killOnce sync.Once
		wg       sync.WaitGroup
	)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range perClient {
				in := []string{texts[(i+k)%len(texts)], fmt.Sprintf("a joy to watch number %d", i*perClient+k)}
				preds, err := c.Predict(ctx, *remote[0].FineTunedModel, sdk.PredictRequest{Inputs: in})
				mu.Lock()
				finished++
				if err == nil && len(preds) != len(in) {
					err = fmt.Errorf("%d predictions for %d inputs", len(preds), len(in))
				}
				if err != nil {
					errs = append(errs, err)
				}
				half := finished == clients*perClient/2
				mu.Unlock()
				if half {
					killOnce.Do(func() { workers["wrk-p1"].cmd.Process.Signal(syscall.SIGKILL) })
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("predict: %d requests from %d clients in %v", clients*perClient, clients, time.Since(phase).Round(time.Millisecond))
	if len(errs) > 0 {
		t.Fatalf("%d of %d predict requests failed with a predict worker killed halfway; first: %v", len(errs), clients*perClient, errs[0])
	}
	if !strings.Contains(workers["wrk-p2"].logText(), "serving predictions") {
		t.Errorf("wrk-p2 served no predictions:\n%s", workers["wrk-p2"].logText())
	}
}

func argAfter(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}
