// Command cluster measures whet's scale-out on this machine with real processes: fine-tuning throughput of a
// `whet serve --cluster` with 1 and with 2 `whet worker --threads 1`, the time from a worker's SIGKILL to its
// job resuming on the other worker, and predict latency through the local pool vs a remote `--serve-models`
// worker. It prints a markdown table.
//
//	go run ./bench/cluster [-bin bin/whet] [-jobs 4] [-epochs 3] [-worker-timeout 5s] [-requests 200]
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/whetml/whet/sdk"
)

var (
	bin      = flag.String("bin", "bin/whet", "whet binary built with native support")
	nJobs    = flag.Int("jobs", 4, "jobs per throughput run")
	epochs   = flag.Int("epochs", 3, "epochs per job")
	timeout  = flag.Duration("worker-timeout", 5*time.Second, "the server's --worker-timeout (AckWait)")
	requests = flag.Int("requests", 200, "sequential predict requests per latency run")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/cluster:", err)
		os.Exit(1)
	}
}

type proc struct{ cmd *exec.Cmd }

func (p *proc) stop() { p.cmd.Process.Signal(syscall.SIGTERM); p.cmd.Wait() }

// start runs whet with args and returns once stderr shows a line starting with want (and that line's rest).
func start(want string, args ...string) (*proc, string, error) {
	cmd := exec.Command(*bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	sc := bufio.NewScanner(stderr)
	var log []string
	for sc.Scan() {
		log = append(log, sc.Text())
		if rest, ok := strings.CutPrefix(sc.Text(), want); ok {
			go func() {
				for sc.Scan() {
				}
			}()
			return &proc{cmd}, rest, nil
		}
	}
	cmd.Wait()
	return nil, "", fmt.Errorf("whet %s: %s", args[0], strings.Join(log, "\n"))
}

type cluster struct {
	srv     *proc
	c       *sdk.Client
	url     string
	nats    string
	creds   string
	workers []*proc
	model   string
	file    string
}

func newCluster(ctx context.Context, tmp, model, data string, workers int, workerArgs ...string) (*cluster, error) {
	dir, _ := os.MkdirTemp(tmp, "srv")
	srv, rest, err := start("whet: serving on ", "serve", "--addr", "127.0.0.1:0", "--data", dir, "--threads", "1",
		"--cluster", "--cluster-addr", "127.0.0.1:0", "--worker-timeout", timeout.String())
	if err != nil {
		return nil, err
	}
	cl := &cluster{srv: srv, url: strings.Fields(rest)[0]}
	cl.c = sdk.NewClient(cl.url)
	ws, err := cl.c.ListWorkers(ctx)
	if err != nil || ws == nil {
		return nil, fmt.Errorf("list workers: %v", err)
	}
	cl.creds = filepath.Join(dir, "worker.json")
	if out, err := exec.Command(*bin, "workers", "token", "--server", cl.url, "--out", cl.creds).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("workers token: %v %s", err, out)
	}
	_, after, _ := strings.Cut(string(mustRead(cl.creds)), `"nats": [`)
	cl.nats = strings.Trim(strings.Fields(after)[0], `",`)
	for i := range workers {
		if err := cl.addWorker(tmp, fmt.Sprintf("wrk-%d", i+1), workerArgs...); err != nil {
			return nil, err
		}
	}
	m, err := cl.c.CreateModel(ctx, sdk.CreateModelRequest{FromPath: model, ID: "bench"})
	if err != nil {
		return nil, err
	}
	f, err := cl.c.UploadFile(ctx, sdk.UploadFileRequest{Filename: "train.jsonl", Content: strings.NewReader(data)})
	if err != nil {
		return nil, err
	}
	cl.model, cl.file = m.ID, f.ID
	return cl, nil
}

func (cl *cluster) addWorker(tmp, id string, extra ...string) error {
	dir, _ := os.MkdirTemp(tmp, "wrk")
	w, _, err := start("whet: worker ", append([]string{"worker", "--nats", cl.nats, "--credentials", cl.creds,
		"--threads", "1", "--data", dir, "--id", id}, extra...)...)
	if err != nil {
		return err
	}
	cl.workers = append(cl.workers, w)
	return nil
}

func (cl *cluster) close() {
	for _, w := range cl.workers {
		w.cmd.Process.Kill()
		w.cmd.Wait()
	}
	cl.srv.stop()
}

func mustRead(p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		panic(err)
	}
	return b
}

func (cl *cluster) job(ctx context.Context, epochs int) (string, error) {
	j, err := cl.c.CreateJob(ctx, sdk.CreateJobRequest{Model: cl.model, TrainingFile: cl.file,
		Hyperparameters: sdk.Hyperparameters{NEpochs: epochs, BatchSize: 8, LearningRate: 1e-3, MaxSeqLength: 32}})
	if err != nil {
		return "", err
	}
	return j.ID, nil
}

func (cl *cluster) await(ctx context.Context, id string) error {
	if err := cl.c.StreamJobEvents(ctx, id, 0, func(sdk.JobEvent) error { return nil }); err != nil {
		return err
	}
	j, err := cl.c.GetJob(ctx, id)
	if err != nil {
		return err
	}
	if j.Status != sdk.JobSucceeded {
		return fmt.Errorf("job %s %s: %+v", id, j.Status, j.Error)
	}
	return nil
}

// throughput runs nJobs jobs at once on a cluster of n workers and returns jobs per hour.
func throughput(ctx context.Context, tmp, model, data string, n int) (float64, error) {
	cl, err := newCluster(ctx, tmp, model, data, n)
	if err != nil {
		return 0, err
	}
	defer cl.close()
	start := time.Now()
	var ids []string
	for range *nJobs {
		id, err := cl.job(ctx, *epochs)
		if err != nil {
			return 0, err
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		if err := cl.await(ctx, id); err != nil {
			return 0, err
		}
	}
	return float64(*nJobs) / time.Since(start).Hours(), nil
}

// deathToResume kills the worker of a long job at its first checkpoint and returns the time until the job moved
// and until the first step after the move.
func deathToResume(ctx context.Context, tmp, model, data string) (moved, resumed time.Duration, err error) {
	cl, err := newCluster(ctx, tmp, model, data, 2)
	if err != nil {
		return 0, 0, err
	}
	defer cl.close()
	id, err := cl.job(ctx, 10)
	if err != nil {
		return 0, 0, err
	}
	var killed time.Time
	err = cl.c.StreamJobEvents(ctx, id, 0, func(ev sdk.JobEvent) error {
		switch {
		case ev.Type == sdk.EventCheckpoint && killed.IsZero():
			j, err := cl.c.GetJob(ctx, id)
			if err != nil || j.Worker == nil {
				return fmt.Errorf("no worker at checkpoint: %v", err)
			}
			w := cl.workers[0]
			if *j.Worker == "wrk-2" {
				w = cl.workers[1]
			}
			killed = time.Now()
			return w.cmd.Process.Signal(syscall.SIGKILL)
		case strings.Contains(ev.Message, "training moved to worker") && moved == 0:
			moved = time.Since(killed)
		case moved > 0 && resumed == 0 && ev.Type == sdk.EventMetrics:
			resumed = time.Since(killed)
		}
		return nil
	})
	return moved, resumed, err
}

// latency returns p50 and p99 of single-text predict requests on a fine-tuned model, through the server's local
// pool (remote=false) or a --serve-models worker.
func latency(ctx context.Context, tmp, model, data string, remote bool) (p50, p99 time.Duration, err error) {
	cl, err := newCluster(ctx, tmp, model, data, 1)
	if err != nil {
		return 0, 0, err
	}
	defer cl.close()
	id, err := cl.job(ctx, 1)
	if err != nil {
		return 0, 0, err
	}
	if err := cl.await(ctx, id); err != nil {
		return 0, 0, err
	}
	j, _ := cl.c.GetJob(ctx, id)
	if remote {
		if err := cl.addWorker(tmp, "wrk-predict", "--serve-models", "--slots", "0"); err != nil {
			return 0, 0, err
		}
	}
	var ds []time.Duration
	for i := range *requests + 10 {
		t := time.Now()
		if _, err := cl.c.Predict(ctx, *j.FineTunedModel, sdk.PredictRequest{Inputs: []string{fmt.Sprintf("a great movie number %d", i)}}); err != nil {
			return 0, 0, err
		}
		if i >= 10 { // the first requests load the model
			ds = append(ds, time.Since(t))
		}
	}
	sort.Slice(ds, func(a, b int) bool { return ds[a] < ds[b] })
	return ds[len(ds)/2], ds[len(ds)*99/100], nil
}

func run() error {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "whet-bench-cluster-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	words := "[PAD] [UNK] [CLS] [SEP] [MASK] a great movie truly wonderful acting i loved every minute brilliant and moving joy to watch terrible dull lifeless hated boring far too long waste of time number"
	vocab := filepath.Join(tmp, "vocab.txt")
	os.WriteFile(vocab, []byte(strings.ReplaceAll(words, " ", "\n")+"\n"), 0o644)
	model := filepath.Join(tmp, "model")
	if out, err := exec.Command(*bin, "model", "init", "--vocab", vocab, "--labels", "neg,pos", "--layers", "2",
		"--hidden", "64", "--heads", "2", "--intermediate", "128", "--max-position", "64", "--seed", "7", "--out", model).CombinedOutput(); err != nil {
		return fmt.Errorf("model init: %v %s", err, out)
	}
	pos := []string{"a great movie", "truly wonderful acting", "i loved every minute", "brilliant and moving", "a joy to watch"}
	neg := []string{"a terrible movie", "dull and lifeless", "i hated every minute", "boring and far too long", "a waste of time"}
	var b strings.Builder
	for i := range 400 {
		t, l := pos[i/2%5], "pos"
		if i%2 == 1 {
			t, l = neg[i/2%5], "neg"
		}
		fmt.Fprintf(&b, "{\"text\":\"%s number %d\",\"label\":\"%s\"}\n", t, i, l)
	}
	data := b.String()
	one, err := throughput(ctx, tmp, model, data, 1)
	if err != nil {
		return err
	}
	two, err := throughput(ctx, tmp, model, data, 2)
	if err != nil {
		return err
	}
	moved, resumed, err := deathToResume(ctx, tmp, model, data)
	if err != nil {
		return err
	}
	l50, l99, err := latency(ctx, tmp, model, data, false)
	if err != nil {
		return err
	}
	r50, r99, err := latency(ctx, tmp, model, data, true)
	if err != nil {
		return err
	}
	fmt.Printf("| measure | value |\n|---|---|\n")
	fmt.Printf("| jobs/hour, 1 worker (--threads 1), %d jobs of %d epochs | %.0f |\n", *nJobs, *epochs, one)
	fmt.Printf("| jobs/hour, 2 workers (--threads 1 each) | %.0f (%.2fx) |\n", two, two/one)
	fmt.Printf("| worker SIGKILL -> job moved (--worker-timeout %v) | %v |\n", *timeout, moved.Round(time.Millisecond))
	fmt.Printf("| worker SIGKILL -> first step after resume | %v |\n", resumed.Round(time.Millisecond))
	fmt.Printf("| predict p50 / p99, local pool, 1 text, %d requests | %v / %v |\n", *requests, l50.Round(time.Microsecond), l99.Round(time.Microsecond))
	fmt.Printf("| predict p50 / p99, remote --serve-models worker | %v / %v |\n", r50.Round(time.Microsecond), r99.Round(time.Microsecond))
	return nil
}
