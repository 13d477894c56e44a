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

// e2e is the state of TestClusterEndToEnd: the binary, a tiny model, the training data, the cluster (server,
// its client and URLs, worker credentials, workers by id) and the plain server it is compared with.
type e2e struct {
	t       *testing.T
	ctx     context.Context
	bin     string
	tmp     string
	model   string
	data    string
	srv     *proc
	c       *sdk.Client
	url     string
	natsURL string
	creds   string
	workers map[string]*proc
	mid     string // the cluster's model and training file ids
	fid     string
	local   *proc
	lc      *sdk.Client
}

// TestClusterEndToEnd runs real binaries on CPU: `whet serve --cluster` with two `whet worker --threads 1`
// processes trains four jobs two at a time, byte-identical to the same jobs run by a plain `whet serve`; a worker
// SIGKILLed mid-job loses it to the other worker after AckWait, which resumes from the last checkpoint; wrong
// credentials are refused; predictions through remote workers equal the local pool's. It needs WHET_BIN (a whet
// built with native support; `make test` sets it).
func TestClusterEndToEnd(t *testing.T) {
	e := newE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	e.ctx = ctx
	e.startCluster()
	seed := func(s int64) *int64 { return &s }
	jobs := []*e2eJob{
		{hp: sdk.Hyperparameters{NEpochs: 2, BatchSize: 8, LearningRate: 5e-3, MaxSeqLength: 16, Seed: seed(1)}},
		{hp: sdk.Hyperparameters{NEpochs: 2, BatchSize: 16, LearningRate: 1e-3, MaxSeqLength: 16, Seed: seed(2)}},
		{hp: sdk.Hyperparameters{NEpochs: 3, BatchSize: 8, LearningRate: 2e-3, MaxSeqLength: 16, Seed: seed(3)}},
		{hp: sdk.Hyperparameters{NEpochs: 2, BatchSize: 4, LearningRate: 5e-3, MaxSeqLength: 16, Seed: seed(4)}},
	}
	remote, localJobs := e.sameAsPlainServer(jobs)
	e.killWorkerMidJob(&e2eJob{hp: sdk.Hyperparameters{NEpochs: 8, BatchSize: 8, LearningRate: 1e-3, MaxSeqLength: 32, Seed: seed(5)}})
	e.predictThroughWorkers(*remote[0].FineTunedModel, localJobs[0].id)
}

// newE2E makes a tiny model with `whet model init`, or skips without a native WHET_BIN.
func newE2E(t *testing.T) *e2e {
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
	return &e2e{t: t, bin: bin, tmp: tmp, model: model, data: whettest.SST2(160), workers: map[string]*proc{}}
}

// startCluster starts `whet serve --cluster`, issues worker credentials, checks that wrong ones are refused and
// starts the workers wrk-a and wrk-b.
func (e *e2e) startCluster() {
	t := e.t
	e.srv, e.c, e.url, e.natsURL = startServer(t, e.bin, "--cluster", "--cluster-addr", "127.0.0.1:0", "--worker-timeout", "3s")
	e.creds = filepath.Join(e.tmp, "worker.json")
	if out, err := exec.Command(e.bin, "workers", "token", "--server", e.url, "--out", e.creds).CombinedOutput(); err != nil {
		t.Fatalf("whet workers token: %v\n%s", err, out)
	}
	bad := filepath.Join(e.tmp, "bad.json")
	os.WriteFile(bad, []byte(`{"user":"wcred-0000","password":"guess"}`), 0o600)
	out, err := exec.Command(e.bin, "worker", "--nats", e.natsURL, "--credentials", bad, "--data", t.TempDir()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "refused the credentials "+bad) {
		t.Fatalf("a worker with wrong credentials: %v\n%s\nwant a refusal naming the file", err, out)
	}
	for _, id := range []string{"wrk-a", "wrk-b"} {
		e.startWorker(id)
	}
}

func (e *e2e) startWorker(id string, extra ...string) {
	e.workers[id], _ = start(e.t, e.bin, "whet: worker ", append([]string{"worker", "--nats", e.natsURL, "--credentials", e.creds,
		"--threads", "1", "--data", e.t.TempDir(), "--id", id}, extra...)...)
}

// setup registers the model and uploads the training data on the server of c.
func (e *e2e) setup(c *sdk.Client) (model, file string) {
	m, err := c.CreateModel(e.ctx, sdk.CreateModelRequest{FromPath: e.model, ID: "tiny"})
	if err != nil {
		e.t.Fatal(err)
	}
	f, err := c.UploadFile(e.ctx, sdk.UploadFileRequest{Filename: "sst2.jsonl", Content: strings.NewReader(e.data)})
	if err != nil {
		e.t.Fatal(err)
	}
	return m.ID, f.ID
}

// run creates js on the server of c, waits for them and returns them, all succeeded.
func (e *e2e) run(c *sdk.Client, model, file string, js []*e2eJob) []*sdk.Job {
	t := e.t
	for _, j := range js {
		job, err := c.CreateJob(e.ctx, sdk.CreateJobRequest{Model: model, TrainingFile: file, Hyperparameters: j.hp})
		if err != nil {
			t.Fatal(err)
		}
		j.id = job.ID
	}
	var out []*sdk.Job
	for _, j := range js {
		if err := c.StreamJobEvents(e.ctx, j.id, 0, func(sdk.JobEvent) error { return nil }); err != nil {
			t.Fatal(err)
		}
		job, err := c.GetJob(e.ctx, j.id)
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

// sameAsPlainServer runs jobs on the cluster (both workers used), then on a plain server, and compares their
// outputs byte for byte. It returns the cluster's jobs and the plain server's.
func (e *e2e) sameAsPlainServer(jobs []*e2eJob) ([]*sdk.Job, []*e2eJob) {
	t := e.t
	e.mid, e.fid = e.setup(e.c)
	phase := time.Now()
	remote := e.run(e.c, e.mid, e.fid, jobs)
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
	t.Logf("cluster: 4 jobs on 2 workers in %v", time.Since(phase).Round(time.Millisecond))

	phase = time.Now()
	e.local, e.lc, _, _ = startServer(t, e.bin, "--concurrency", "2")
	lmid, lfid := e.setup(e.lc)
	localJobs := make([]*e2eJob, len(jobs))
	for i, j := range jobs {
		localJobs[i] = &e2eJob{hp: j.hp}
	}
	for _, j := range e.run(e.lc, lmid, lfid, localJobs) {
		if j.Worker != nil {
			t.Errorf("a plain server's job has worker %q, want null", *j.Worker)
		}
	}
	for i := range jobs {
		for _, name := range []string{"model.safetensors", "config.json"} {
			a, err := os.ReadFile(filepath.Join(argAfter(e.srv.cmd.Args, "--data"), "jobs", jobs[i].id, "out", name))
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(argAfter(e.local.cmd.Args, "--data"), "jobs", localJobs[i].id, "out", name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Errorf("job %d: %s from the worker differs from the plain server's (%d vs %d bytes)", i, name, len(a), len(b))
			}
		}
	}
	t.Logf("plain server: the same 4 jobs in %v", time.Since(phase).Round(time.Millisecond))
	return remote, localJobs
}

// killWorkerMidJob SIGKILLs the worker running job long at its first checkpoint: the job moves to the other
// worker, resumes right after that checkpoint and succeeds; the killed worker shows as gone.
func (e *e2e) killWorkerMidJob(long *e2eJob) {
	t, c, ctx := e.t, e.c, e.ctx
	job, err := c.CreateJob(ctx, sdk.CreateJobRequest{Model: e.mid, TrainingFile: e.fid, Hyperparameters: long.hp})
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
			if err := e.workers[killed].cmd.Process.Signal(syscall.SIGKILL); err != nil {
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
}

// predictThroughWorkers starts two workers serving models: predictions of the cluster's model equal the plain
// server's local pool for the same job, and 32 concurrent clients see no error while one of the two workers is
// SIGKILLed halfway.
func (e *e2e) predictThroughWorkers(model, localJob string) {
	t, ctx := e.t, e.ctx
	for _, id := range []string{"wrk-p1", "wrk-p2"} {
		e.startWorker(id, "--serve-models", "--slots", "0")
	}
	texts := []string{"a great movie number 3", "dull and lifeless number 8", "i loved every minute", "a waste of time"}
	remotePreds, err := e.c.Predict(ctx, model, sdk.PredictRequest{Inputs: texts})
	if err != nil {
		t.Fatal(err)
	}
	ljob, err := e.lc.GetJob(ctx, localJob)
	if err != nil {
		t.Fatal(err)
	}
	localPreds, err := e.lc.Predict(ctx, *ljob.FineTunedModel, sdk.PredictRequest{Inputs: texts})
	if err != nil {
		t.Fatal(err)
	}
	for i := range texts {
		if remotePreds[i].Label != localPreds[i].Label || remotePreds[i].Score != localPreds[i].Score {
			t.Errorf("%q: remote %s %v, local %s %v", texts[i], remotePreds[i].Label, remotePreds[i].Score, localPreds[i].Label, localPreds[i].Score)
		}
	}
	phase := time.Now()
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
				preds, err := e.c.Predict(ctx, model, sdk.PredictRequest{Inputs: in})
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
					killOnce.Do(func() { e.workers["wrk-p1"].cmd.Process.Signal(syscall.SIGKILL) })
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("predict: %d requests from %d clients in %v", clients*perClient, clients, time.Since(phase).Round(time.Millisecond))
	if len(errs) > 0 {
		t.Fatalf("%d of %d predict requests failed with a predict worker killed halfway; first: %v", len(errs), clients*perClient, errs[0])
	}
	if !strings.Contains(e.workers["wrk-p2"].logText(), "serving predictions") {
		t.Errorf("wrk-p2 served no predictions:\n%s", e.workers["wrk-p2"].logText())
	}
	e.adapterThroughWorkers(texts)
}

// adapterThroughWorkers registers one LoRA adapter of the model "tiny" (`whet train --method lora`) on both servers:
// the cluster's predictions for it come from the remaining --serve-models worker (which fetched the base and the
// adapter) and equal the plain server's local pool.
func (e *e2e) adapterThroughWorkers(texts []string) {
	t, ctx := e.t, e.ctx
	data := filepath.Join(e.tmp, "lora.jsonl")
	if err := os.WriteFile(data, []byte(e.data), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(e.tmp, "lora")
	if out, err := exec.Command(e.bin, "train", "--method", "lora", "--lora-r", "4", "--model", e.model, "--train", data, "--out", dir,
		"--max-steps", "3", "--batch-size", "8", "--learning-rate", "5e-2", "--max-seq-length", "16", "--threads", "1").CombinedOutput(); err != nil {
		t.Fatalf("whet train --method lora: %v\n%s", err, out)
	}
	var got [2][]sdk.Prediction
	for i, c := range []*sdk.Client{e.c, e.lc} {
		if _, err := c.CreateModel(ctx, sdk.CreateModelRequest{FromPath: dir, ID: "tiny-lora", BaseModel: "tiny"}); err != nil {
			t.Fatal(err)
		}
		preds, err := c.Predict(ctx, "tiny-lora", sdk.PredictRequest{Inputs: texts})
		if err != nil {
			t.Fatal(err)
		}
		got[i] = preds
	}
	for i := range texts {
		if got[0][i].Label != got[1][i].Label || got[0][i].Score != got[1][i].Score {
			t.Errorf("adapter, %q: through the cluster %s %v, plain server %s %v", texts[i], got[0][i].Label, got[0][i].Score, got[1][i].Label, got[1][i].Score)
		}
	}
	if log := e.workers["wrk-p2"].logText(); !strings.Contains(log, "model=tiny-lora") {
		t.Errorf("wrk-p2 did not serve the adapter:\n%s", log)
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
