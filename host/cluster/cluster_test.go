package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/whetml/whet/dataset"
	"github.com/whetml/whet/host/cluster"
	"github.com/whetml/whet/host/internal/whettest"
	"github.com/whetml/whet/host/jobs"
	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/internal/protocol"
	"github.com/whetml/whet/sdk"
)

var fakeBin string

// TestMain doubles as a worker process: with WHET_TEST_WORKER set, the test binary runs cluster.RunWorker (so
// tests can SIGKILL a worker), otherwise it builds the fake whet and runs the tests.
func TestMain(m *testing.M) {
	if os.Getenv("WHET_TEST_WORKER") != "" {
		os.Exit(workerMain())
	}
	whettest.RunWithFake(m, &fakeBin)
}

func workerMain() int {
	var creds sdk.WorkerCredentials
	if err := json.Unmarshal([]byte(os.Getenv("WHET_TEST_CREDS")), &creds); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var devices []string
	if d := os.Getenv("WHET_TEST_DEVICES"); d != "" {
		devices = strings.Split(d, ",")
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	err := cluster.RunWorker(ctx, cluster.WorkerConfig{URL: os.Getenv("WHET_TEST_NATS"), Credentials: &creds, Devices: devices,
		DataDir: os.Getenv("WHET_TEST_DATA"), Bin: os.Getenv("WHET_TEST_BIN"), ID: os.Getenv("WHET_TEST_WORKER"),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)), Ready: func(string) { fmt.Println("ready") }})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

type env struct {
	t     *testing.T
	st    *store.Store
	q     *jobs.Queue
	e     *cluster.Embedded
	c     *cluster.Coordinator
	model string
	file  string
	creds sdk.WorkerCredentials
	urls  []string // the NATS servers workers connect to
	cfg   cluster.Config
	ec    cluster.EmbeddedConfig // how e was started
	nc    *nats.Conn             // the server's connection
}

const ackWait = 2 * time.Second

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith is newEnv with the embedded NATS server's and the coordinator's configurations changed by set.
func newEnvWith(t *testing.T, set func(*cluster.EmbeddedConfig, *cluster.Config)) *env {
	t.Helper()
	en := newStoreEnv(t)
	ec := cluster.EmbeddedConfig{Addr: "127.0.0.1:0", StoreDir: filepath.Join(t.TempDir(), "nats"), Store: en.st}
	if set != nil {
		set(&ec, &en.cfg)
	}
	en.startServer(ec)
	return en
}

// startServer starts the embedded NATS server ec, a coordinator and a queue: a whet serve --cluster.
func (en *env) startServer(ec cluster.EmbeddedConfig) {
	t := en.t
	t.Helper()
	en.ec = ec
	e, err := cluster.StartEmbedded(context.Background(), ec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	nc, err := e.Connect("test server")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	en.e, en.urls = e, []string{e.URL()}
	en.startQueue(nc, 1)
}

// newStoreEnv opens a store with one model and one training file registered.
func newStoreEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(context.Background()) })
	en := &env{t: t, st: st}
	mdir := filepath.Join(t.TempDir(), "tiny")
	if err := whettest.WriteModel(mdir, "neg", "pos"); err != nil {
		t.Fatal(err)
	}
	en.model = "tiny"
	if err := st.InsertModel(ctx, &store.Model{Model: sdk.Model{ID: "tiny", Source: "path", OwnedBy: "user"}, Path: mdir}); err != nil {
		t.Fatal(err)
	}
	stage, err := st.Stage(strings.NewReader(whettest.SST2(40)), "file", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	path, err := stage.Commit(st, "files", ".jsonl")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.ReadFile(path, dataset.Options{RequireLabel: true})
	if err != nil {
		t.Fatal(err)
	}
	f := &store.File{File: sdk.File{ID: store.NewID("file-"), Filename: "train.jsonl", Purpose: sdk.PurposeFineTune,
		Format: ds.Format, Bytes: stage.Size, SHA256: stage.SHA256, Rows: len(ds.Rows), Labels: ds.Labels,
		LabelCounts: ds.Counts}, Path: path}
	if err := st.InsertFile(ctx, f); err != nil {
		t.Fatal(err)
	}
	en.file = f.ID
	return en
}

// startQueue starts a coordinator on nc (retrying while a NATS cluster elects its JetStream leader) and a queue
// dispatching to it, and issues worker credentials.
func (en *env) startQueue(nc *nats.Conn, replicas int) {
	t := en.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var c *cluster.Coordinator
	var err error
	for c == nil {
		actx, acancel := context.WithTimeout(ctx, 5*time.Second)
		cfg := en.cfg
		cfg.Store, cfg.Conn, cfg.AckWait, cfg.Replicas, cfg.URLs = en.st, nc, ackWait, replicas, en.urls
		c, err = cluster.NewCoordinator(actx, cfg)
		acancel()
		if err != nil {
			select {
			case <-ctx.Done():
				t.Fatalf("JetStream not ready: %v", err)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	q, err := jobs.New(jobs.Config{Store: en.st, Dispatcher: c, StepEventInterval: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(q); err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		q.StopAndCancel(ctx)
		c.Close()
	})
	en.q, en.c, en.nc = q, c, nc
	cred, err := c.WorkerToken(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	en.creds = *cred
}

// worker starts the test binary as worker id (fakewhet as its trainer, with the FAKEWHET_* settings in
// fakeEnv) and returns once it is pulling jobs.
func (e *env) worker(id string, fakeEnv ...string) *exec.Cmd {
	e.t.Helper()
	self, err := os.Executable()
	if err != nil {
		e.t.Fatal(err)
	}
	creds, _ := json.Marshal(e.creds)
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "WHET_TEST_WORKER="+id, "WHET_TEST_CREDS="+string(creds),
		"WHET_TEST_NATS="+strings.Join(e.urls, ","), "WHET_TEST_DATA="+e.t.TempDir(), "WHET_TEST_BIN="+fakeBin), fakeEnv...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if e.t.Failed() {
			e.t.Logf("worker %s log:\n%s", id, stderr.String())
		}
	})
	buf := make([]byte, 6)
	if n, err := out.Read(buf); err != nil || string(buf[:n]) != "ready\n" {
		e.t.Fatalf("worker %s did not start: %v %q", id, err, buf[:n])
	}
	return cmd
}

func (e *env) create(hp sdk.Hyperparameters) *store.Job {
	e.t.Helper()
	j, err := e.q.Create(context.Background(), sdk.CreateJobRequest{Model: e.model, TrainingFile: e.file, Hyperparameters: hp})
	if err != nil {
		e.t.Fatal(err)
	}
	return j
}

// wait blocks until job id satisfies ok, waking on the queue's notifications.
func (e *env) wait(id string, ok func(*store.Job) bool) *store.Job {
	e.t.Helper()
	return whettest.WaitJob(e.t, 60*time.Second, e.q, e.st, id, ok, func(j *store.Job) string {
		return fmt.Sprintf("last status %s, error %+v\n%s", j.Status, j.Error, e.eventText(id))
	})
}

func (e *env) events(id string) []sdk.JobEvent {
	evs, _, err := e.st.ListEvents(context.Background(), id, 0, 10000)
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

func (e *env) eventText(id string) string {
	var b strings.Builder
	for _, ev := range e.events(id) {
		fmt.Fprintf(&b, "%s %s %s\n", ev.Level, ev.Type, ev.Message)
	}
	return b.String()
}

func succeeded(t *testing.T, e *env, id string) *store.Job {
	return e.wait(id, func(j *store.Job) bool {
		if jobs.State(j.Status).Terminal() && j.Status != sdk.JobSucceeded {
			t.Fatalf("job[%s] is %s (error %+v)\n%s", id, j.Status, j.Error, e.eventText(id))
		}
		return j.Status == sdk.JobSucceeded
	})
}

func TestWorkersRunJobs(t *testing.T) {
	e := newEnv(t)
	e.worker("wrk-a", "FAKEWHET_STEPS=6")
	e.worker("wrk-b", "FAKEWHET_STEPS=6")
	var ids []string
	for range 4 {
		ids = append(ids, e.create(sdk.Hyperparameters{}).ID)
	}
	ran := map[string]int{}
	for _, id := range ids {
		j := succeeded(t, e, id)
		if j.Worker == nil || j.Attempts != 1 || j.TrainedSteps != 6 {
			t.Fatalf("job[%s]: worker %v, attempts %d, trained_steps %d; want a worker, 1 attempt, 6 steps", id, j.Worker, j.Attempts, j.TrainedSteps)
		}
		ran[*j.Worker]++
		if _, err := os.Stat(filepath.Join(j.OutDir, "model.safetensors")); err != nil {
			t.Fatalf("job[%s]: the output did not come back to the server: %v", id, err)
		}
		m, err := e.st.GetModel(context.Background(), *j.FineTunedModel)
		if err != nil || m.Path != j.OutDir {
			t.Fatalf("job[%s]: fine-tuned model %v, err %v", id, m, err)
		}
		cks, err := e.st.ListCheckpoints(context.Background(), id)
		if err != nil || len(cks) == 0 {
			t.Fatalf("job[%s]: checkpoints %v, %v", id, cks, err)
		}
		if _, err := os.Stat(filepath.Join(cks[0].Path, "trainer_state.json")); err != nil || !strings.HasPrefix(cks[0].Path, j.OutDir) {
			t.Fatalf("job[%s]: newest checkpoint %s is not a folder of the server's job: %v", id, cks[0].Path, err)
		}
		var steps int
		for _, ev := range e.events(id) {
			if ev.Type == sdk.EventMetrics {
				steps++
			}
		}
		if steps != 6 {
			t.Errorf("job[%s]: %d step events reached the server, want 6 (every progress line, in order)", id, steps)
		}
	}
	if len(ran) != 2 {
		t.Errorf("jobs per worker = %v: both workers should have trained", ran)
	}
	ws, err := e.c.Workers(context.Background())
	if err != nil || len(ws) != 2 {
		t.Fatalf("workers = %+v, %v", ws, err)
	}
	for _, w := range ws {
		if w.Status != sdk.WorkerActive || len(w.Jobs) != 0 {
			t.Errorf("worker %+v: want active and idle", w)
		}
	}
	// The finished jobs' objects (inputs, checkpoints, outputs) leave the bucket; the base model stays for others.
	deadline := time.Now().Add(10 * time.Second)
	for {
		names, err := cluster.Objects(context.Background(), e.c)
		if err != nil {
			t.Fatal(err)
		}
		left := strings.Join(names, " ")
		if !strings.Contains(left, "jobs/") && strings.HasPrefix(left, "models/tiny/") && !strings.Contains(left, " ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bucket holds %q 10 s after the jobs finished; want only the base model's archive", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestModelRegisteredAgain: a base model deleted and registered again under the same id with another folder is
// what the next job trains on, not the archive the bucket and the worker's cache hold for the old folder.
func TestModelRegisteredAgain(t *testing.T) {
	e := newEnv(t)
	e.worker("wrk-a", "FAKEWHET_STEPS=2")
	labels := func(j *store.Job) string {
		b, err := os.ReadFile(filepath.Join(j.OutDir, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			ID2Label map[string]string `json:"id2label"`
		}
		json.Unmarshal(b, &cfg)
		return cfg.ID2Label["0"] + "," + cfg.ID2Label["1"]
	}
	if got := labels(succeeded(t, e, e.create(sdk.Hyperparameters{}).ID)); got != "neg,pos" {
		t.Fatalf("first job's labels %q, want neg,pos", got)
	}
	ctx := context.Background()
	if err := e.st.DeleteModel(ctx, e.model); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "tiny-again")
	if err := whettest.WriteModel(dir, "bad", "good"); err != nil {
		t.Fatal(err)
	}
	if err := e.st.InsertModel(ctx, &store.Model{Model: sdk.Model{ID: e.model, Source: "path", OwnedBy: "user"}, Path: dir}); err != nil {
		t.Fatal(err)
	}
	if got := labels(succeeded(t, e, e.create(sdk.Hyperparameters{}).ID)); got != "bad,good" {
		t.Errorf("job after the model was registered again trained on labels %q, want bad,good (the new folder)", got)
	}
}

// TestSharedInputUploadedOnce: jobs on the same training file share one archive of it in the bucket; it leaves the
// bucket once no queued or running job uses it (checked in TestWorkersRunJobs).
func TestSharedInputUploadedOnce(t *testing.T) {
	e := newEnv(t)
	for range 3 {
		e.create(sdk.Hyperparameters{})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	js, err := jetstream.New(e.nc)
	if err != nil {
		t.Fatal(err)
	}
	for { // no worker yet: the three dispatched jobs wait in the stream
		cons, err := js.Consumer(ctx, cluster.StreamJobs, cluster.ConsumerWorkers)
		if err != nil {
			t.Fatal(err)
		}
		info, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumPending == 3 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d jobs dispatched, want 3", info.NumPending)
		case <-time.After(50 * time.Millisecond):
		}
	}
	names, err := cluster.Objects(ctx, e.c)
	if err != nil {
		t.Fatal(err)
	}
	var inputs []string
	for _, n := range names {
		if !strings.HasPrefix(n, "models/") {
			inputs = append(inputs, n)
		}
	}
	if len(inputs) != 1 || !strings.HasPrefix(inputs[0], "inputs/") {
		t.Errorf("input archives of three jobs on one file: %v; want one, shared", inputs)
	}
}

// TestWorkerDevices: a worker with two devices (whet worker --gpus 0,1) trains two jobs at once, one per device,
// each trainer started with --device and WHET_DEVICE naming its own.
func TestWorkerDevices(t *testing.T) {
	e := newEnv(t)
	e.worker("wrk-gpus", "WHET_TEST_DEVICES=cuda:0,cuda:1", "FAKEWHET_STEPS=10", "FAKEWHET_STEP_DELAY_MS=150")
	j1, j2 := e.create(sdk.Hyperparameters{}), e.create(sdk.Hyperparameters{})
	running := func(j *store.Job) bool { return j.Status == sdk.JobRunning || jobs.State(j.Status).Terminal() }
	e.wait(j1.ID, running)
	e.wait(j2.ID, running)
	if a, b := mustJob(t, e, j1.ID), mustJob(t, e, j2.ID); a.Status != sdk.JobRunning || b.Status != sdk.JobRunning {
		t.Errorf("jobs %s and %s: want both running at once on the worker's two devices", a.Status, b.Status)
	}
	devs := map[string]bool{}
	for _, id := range []string{j1.ID, j2.ID} {
		succeeded(t, e, id)
		for _, ev := range e.events(id) {
			if strings.HasPrefix(ev.Message, "device ") {
				devs[ev.Message] = true
			}
		}
	}
	if !devs["device cuda:0 (WHET_DEVICE=cuda:0)"] || !devs["device cuda:1 (WHET_DEVICE=cuda:1)"] || len(devs) != 2 {
		t.Errorf("trainers' devices %v; want one job on cuda:0 and one on cuda:1", devs)
	}
}

// TestKilledWorkerJobResumesElsewhere SIGKILLs a worker whose trainer sits after checkpoint 3: after AckWait the
// job moves to the other worker, which resumes from checkpoint-3, and succeeds; the dead worker shows gone.
func TestKilledWorkerJobResumesElsewhere(t *testing.T) {
	e := newEnv(t)
	mark := filepath.Join(t.TempDir(), "blocked")
	a := e.worker("wrk-dies", "FAKEWHET_STEPS=8", "FAKEWHET_BLOCK_AT=3", "FAKEWHET_MARK="+mark)
	j := e.create(sdk.Hyperparameters{})
	e.wait(j.ID, func(j *store.Job) bool {
		cks, _ := e.st.ListCheckpoints(context.Background(), j.ID)
		return len(cks) > 0 && cks[0].StepNumber == 3
	})
	if err := a.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.Wait()
	killed := time.Now()
	e.worker("wrk-lives", "FAKEWHET_STEPS=8")
	done := succeeded(t, e, j.ID)
	t.Logf("job moved and finished %v after the kill (AckWait %v)", time.Since(killed).Round(time.Millisecond), ackWait)
	if done.Worker == nil || *done.Worker != "wrk-lives" || done.Attempts != 2 || done.TrainedSteps != 8 {
		t.Fatalf("job: worker %v attempts %d steps %d; want wrk-lives, 2, 8", done.Worker, done.Attempts, done.TrainedSteps)
	}
	var moved, resumed bool
	var steps []int
	for _, ev := range e.events(j.ID) {
		moved = moved || strings.Contains(ev.Message, "worker wrk-dies stopped reporting: training moved to worker wrk-lives, resuming from checkpoint-3")
		resumed = resumed || ev.Message == "resumed from step 3"
		if ev.Type == sdk.EventMetrics {
			steps = append(steps, ev.Data.Step)
		}
	}
	if !moved || !resumed {
		t.Errorf("moved %v, resumed from step 3 %v:\n%s", moved, resumed, e.eventText(j.ID))
	}
	if fmt.Sprint(steps) != "[1 2 3 4 5 6 7 8]" {
		t.Errorf("steps reported = %v, want 1..8 once each (no step trained twice past the checkpoint)", steps)
	}
	deadline := time.Now().Add(3 * ackWait)
	for {
		ws, err := e.c.Workers(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		status := map[string]string{}
		for _, w := range ws {
			status[w.ID] = w.Status
		}
		if status["wrk-dies"] == sdk.WorkerGone && status["wrk-lives"] == sdk.WorkerActive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("workers = %v; want wrk-dies gone, wrk-lives active", status)
		}
		time.Sleep(100 * time.Millisecond) // polls the store's view; last_seen has one-second resolution
	}
}

func TestCancelReachesWorker(t *testing.T) {
	e := newEnv(t)
	e.worker("wrk-a", "FAKEWHET_STEPS=8", "FAKEWHET_BLOCK_AT=2", "FAKEWHET_MARK="+filepath.Join(t.TempDir(), "m"))
	j := e.create(sdk.Hyperparameters{})
	e.wait(j.ID, func(j *store.Job) bool { return j.TrainedSteps >= 2 || j.Status == sdk.JobRunning && j.Worker != nil })
	if _, err := e.q.Cancel(context.Background(), j.ID); err != nil {
		t.Fatal(err)
	}
	e.wait(j.ID, func(j *store.Job) bool { return j.Status == sdk.JobCancelled })
}

func TestWrongCredentialsRefused(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bad := e.creds
	bad.Password = "not-the-password"
	err := cluster.RunWorker(ctx, cluster.WorkerConfig{URL: e.e.URL(), Credentials: &bad, CredentialsFile: "bad.json", DataDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "refused the credentials bad.json") {
		t.Fatalf("RunWorker with a wrong password: %v; want a refusal naming the credentials file", err)
	}

	// Right credentials, scoped to the worker role: a worker may not publish jobs, act as the server (send
	// predict requests to other workers, listen to other workers' reports) nor use the JetStream admin API.
	errs := make(chan error, 16)
	nc, err := nats.Connect(e.e.URL(), nats.UserInfo(e.creds.User, e.creds.Password),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, try := range []struct {
		what string
		do   func() error
	}{
		{"publish a job", func() error { return nc.Publish(cluster.SubjectDispatch, []byte(`{"job":"x"}`)) }},
		{"subscribe to worker reports", func() error { _, err := nc.SubscribeSync("whet.srv.>"); return err }},
		{"send predict requests", func() error { return nc.Publish("whet.predict.0123456789abcdef", []byte(`{}`)) }},
		{"delete the job stream", func() error { return nc.Publish("$JS.API.STREAM.DELETE."+cluster.StreamJobs, nil) }},
		{"purge the job stream", func() error { return nc.Publish("$JS.API.STREAM.PURGE."+cluster.StreamJobs, nil) }},
		{"delete the worker consumer", func() error {
			return nc.Publish("$JS.API.CONSUMER.DELETE."+cluster.StreamJobs+"."+cluster.ConsumerWorkers, nil)
		}},
		{"create a consumer on the job stream", func() error {
			return nc.Publish("$JS.API.CONSUMER.CREATE."+cluster.StreamJobs, []byte(`{}`))
		}},
		{"create a stream", func() error { return nc.Publish("$JS.API.STREAM.CREATE.MINE", []byte(`{}`)) }},
		{"publish on another account's or system subject", func() error { return nc.Publish("$SYS.REQ.SERVER.PING", nil) }},
	} {
		if err := try.do(); err != nil {
			t.Fatal(err)
		}
		nc.Flush()
		select {
		case err := <-errs:
			if !errors.Is(err, nats.ErrPermissionViolation) && !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
				t.Errorf("%s: %v, want a permissions violation", try.what, err)
			}
		case <-ctx.Done():
			t.Fatalf("a worker could %s", try.what)
		}
	}
}

// queuedJob creates a job and waits until it is queued for workers.
func (e *env) queuedJob() *store.Job {
	e.t.Helper()
	j := e.create(sdk.Hyperparameters{})
	return e.wait(j.ID, func(j *store.Job) bool { return j.Status == sdk.JobQueued })
}

// rawWorker plays a worker's side of the protocol by hand, with the worker credentials of an env.
type rawWorker struct {
	t  *testing.T
	nc *nats.Conn
}

func (e *env) rawWorker() *rawWorker {
	e.t.Helper()
	nc, err := nats.Connect(strings.Join(e.urls, ","), nats.UserInfo(e.creds.User, e.creds.Password))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(nc.Close)
	return &rawWorker{t: e.t, nc: nc}
}

// send sends req on subj and returns the server's JSON reply.
func (w *rawWorker) send(subj string, req any) map[string]any {
	w.t.Helper()
	b, _ := json.Marshal(req)
	m, err := w.nc.Request(subj, b, 10*time.Second)
	if err != nil {
		w.t.Fatalf("%s: %v", subj, err)
	}
	var out map[string]any
	if err := json.Unmarshal(m.Data, &out); err != nil {
		w.t.Fatal(err)
	}
	return out
}

// twice sends req twice, as a worker whose first reply was lost.
func (w *rawWorker) twice(subj string, req any) [2]map[string]any {
	w.t.Helper()
	return [2]map[string]any{w.send(subj, req), w.send(subj, req)}
}

// ok fails the test unless reply r reports success.
func (w *rawWorker) ok(what string, r map[string]any) {
	w.t.Helper()
	if r["error"] != nil || r["drop"] != nil {
		w.t.Fatalf("%s: %v", what, r)
	}
}

// claim starts an attempt of job id as worker wrk-x and returns its token.
func (w *rawWorker) claim(id, claim string) string {
	w.t.Helper()
	r := w.send("whet.srv.claim", map[string]string{"worker": "wrk-x", "job": id, "claim": claim})
	tok, _ := r["token"].(string)
	if tok == "" {
		w.t.Fatalf("claim: %v", r)
	}
	return tok
}

// linesReq is a batch of progress lines of attempt tok of job id, the first being the attempt's line seq.
func linesReq(id, tok string, seq int, lines []string) map[string]any {
	return map[string]any{"job": id, "token": tok, "seq": seq, "lines": lines}
}

// stepLines returns a trainer's step lines 1..n.
func stepLines(n int) []string {
	var lines []string
	for step := 1; step <= n; step++ {
		b, _ := json.Marshal(protocol.Event{Type: protocol.EventStep, Step: step, TotalSteps: n, Loss: 0.5, LearningRate: 1e-5})
		lines = append(lines, string(b))
	}
	return lines
}

// steps returns the steps of job id's metrics events, in order.
func (e *env) steps(id string) []int {
	var steps []int
	for _, ev := range e.events(id) {
		if ev.Type == sdk.EventMetrics {
			steps = append(steps, ev.Data.Step)
		}
	}
	return steps
}

// TestRequestsSentAgainAreIdempotent plays a worker whose replies were lost (a NATS node failing over drops
// messages in flight): it sends its claim, a batch of progress lines and its finish twice each. The server starts
// one attempt, records each line once and finishes the job once.
func TestRequestsSentAgainAreIdempotent(t *testing.T) {
	e := newEnv(t)
	w := e.rawWorker()
	j := e.queuedJob()
	claims := w.twice("whet.srv.claim", map[string]string{"worker": "wrk-x", "job": j.ID, "claim": "c1"})
	tok, _ := claims[0]["token"].(string)
	if tok == "" || claims[1]["token"] != tok {
		t.Fatalf("claims sent twice: %v; want the same attempt twice", claims)
	}
	lines := stepLines(3)
	for _, r := range w.twice("whet.srv.lines", linesReq(j.ID, tok, 0, lines[:2])) {
		w.ok("lines", r)
	}
	w.twice("whet.srv.lines", linesReq(j.ID, tok, 1, lines[1:])) // overlaps the first batch by one line
	finish := map[string]any{"job": j.ID, "token": tok, "worker": "wrk-x", "exit_error": "trainer crashed"}
	for _, r := range w.twice("whet.srv.finish", finish) {
		w.ok("finish sent again (want it answered as done)", r)
	}
	if steps := e.steps(j.ID); fmt.Sprint(steps) != "[1 2 3]" || strings.Count(e.eventText(j.ID), "trainer crashed") != 1 {
		t.Errorf("step events %v; want [1 2 3] and one failure event\n%s", steps, e.eventText(j.ID))
	}
	if got := mustJob(t, e, j.ID); got.Attempts != 1 {
		t.Errorf("attempts %d, want 1", got.Attempts)
	}
	if n := cluster.Attempts(e.c); n != 0 {
		t.Errorf("the coordinator keeps %d attempts after the job finished, want 0", n)
	}
}

// TestLinesSentAgainAfterRestart: a batch of progress lines reached the server, whose reply was lost as the server
// restarted; the worker sends the batch again to the new server, which records its lines once.
func TestLinesSentAgainAfterRestart(t *testing.T) {
	e := newEnv(t)
	w := e.rawWorker()
	j := e.queuedJob()
	tok := w.claim(j.ID, "c1")
	lines := stepLines(3)
	w.ok("lines", w.send("whet.srv.lines", linesReq(j.ID, tok, 0, lines[:2])))
	e.restart()
	w = e.rawWorker()
	w.ok("lines sent again", w.send("whet.srv.lines", linesReq(j.ID, tok, 0, lines[:2])))
	w.ok("lines", w.send("whet.srv.lines", linesReq(j.ID, tok, 2, lines[2:])))
	if steps := e.steps(j.ID); fmt.Sprint(steps) != "[1 2 3]" {
		t.Errorf("step events %v; want [1 2 3], each once\n%s", steps, e.eventText(j.ID))
	}
}

// TestClaimSentAgainAfterRestart: a claim whose reply was lost as the server restarted, sent again to the new
// server, gets the attempt it started; the job finishes in that one attempt.
func TestClaimSentAgainAfterRestart(t *testing.T) {
	e := newEnv(t)
	w := e.rawWorker()
	j := e.queuedJob()
	tok := w.claim(j.ID, "c1")
	e.restart()
	w = e.rawWorker()
	r := w.send("whet.srv.claim", map[string]string{"worker": "wrk-x", "job": j.ID, "claim": "c1"})
	if r["token"] != tok {
		t.Fatalf("claim sent again after a restart: %v; want the attempt %s it started", r, tok)
	}
	w.ok("lines", w.send("whet.srv.lines", linesReq(j.ID, tok, 0, stepLines(2))))
	w.ok("finish", w.send("whet.srv.finish", map[string]any{"job": j.ID, "token": tok, "worker": "wrk-x", "exit_error": "trainer crashed"}))
	if got := mustJob(t, e, j.ID); got.Attempts != 1 || got.Status != sdk.JobFailed {
		t.Errorf("job %s after %d attempts; want failed (the trainer crashed) in 1", got.Status, got.Attempts)
	}
}

// TestCancelledWhileWorkerDead: a job cancelled while its worker is dead is cancelled when its message, delivered
// again after AckWait, is claimed; the coordinator forgets the dead worker's attempt.
func TestCancelledWhileWorkerDead(t *testing.T) {
	e := newEnv(t)
	w := e.rawWorker()
	j := e.queuedJob()
	w.claim(j.ID, "c1")
	if n := cluster.Attempts(e.c); n != 1 {
		t.Fatalf("the coordinator keeps %d attempts, want 1", n)
	}
	if _, err := e.q.Cancel(context.Background(), j.ID); err != nil {
		t.Fatal(err)
	}
	// The worker is dead: no heartbeat, no finish. Another worker claims the message JetStream delivers again.
	deadline := time.Now().Add(10 * ackWait)
	for i := 0; ; i++ {
		r := w.send("whet.srv.claim", map[string]string{"worker": "wrk-y", "job": j.ID, "claim": fmt.Sprint("c2-", i)})
		if r["drop"] == true {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("claim of the cancelled job: %v; want it dropped within %v", r, 10*ackWait)
		}
		time.Sleep(200 * time.Millisecond) // until the dead attempt's heartbeat is older than AckWait
	}
	if got := mustJob(t, e, j.ID); got.Status != sdk.JobCancelled {
		t.Fatalf("job is %s, want cancelled", got.Status)
	}
	if n := cluster.Attempts(e.c); n != 0 {
		t.Errorf("the coordinator keeps %d attempts of the cancelled job, want 0", n)
	}
}
