// Command cluster measures whet's scale-out on this machine with real processes: fine-tuning throughput of a
// `whet serve --cluster` with 1 and with 2 `whet worker --threads 1`, the time from a worker's SIGKILL to its
// job resuming on the other worker, and predict latency through the local pool vs a remote `--serve-models`
// worker. It prints markdown tables.
//
//	go run ./bench/cluster [-bin bin/whet] [-jobs 4] [-epochs 3] [-worker-timeout 5s] [-requests 200] [-parts throughput,resume,latency]
//
// -epochs takes a list (1,3,10): the throughput runs repeat for each job length, showing where two workers reach
// 1.8x one. Each throughput run also reports where a job's wall time went on the workers (their "job finished"
// log lines: claim, fetch, trainer start to its first step, training, upload, finish, ack) and the CPU seconds per
// job of the server, the worker processes and their trainers (from /proc).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/whetml/whet/sdk"
)

var (
	bin      = flag.String("bin", "bin/whet", "whet binary built with native support")
	nJobs    = flag.Int("jobs", 4, "jobs per throughput run")
	epochs   = flag.String("epochs", "3", "epochs per job; a comma-separated list runs the throughput part once per value")
	timeout  = flag.Duration("worker-timeout", 5*time.Second, "the server's --worker-timeout (AckWait)")
	requests = flag.Int("requests", 200, "sequential predict requests per latency run")
	parts    = flag.String("parts", "throughput,resume,latency", "which measurements to run")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/cluster:", err)
		os.Exit(1)
	}
}

type proc struct {
	cmd *exec.Cmd

	mu       sync.Mutex
	finished []string // the worker's "job finished" log lines
}

func (p *proc) stop() { p.cmd.Process.Signal(syscall.SIGTERM); p.cmd.Wait() }

// cpu returns the CPU time the process used so far and that of its children it has reaped (a worker's trainers).
func (p *proc) cpu() (own, children time.Duration) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	_, after, _ := strings.Cut(string(b), ") ") // the command name may hold spaces
	f := strings.Fields(after)                  // f[0] is field 3 (state)
	tick := func(i int) time.Duration {
		n, _ := strconv.ParseInt(f[i-3], 10, 64)
		return time.Duration(n) * time.Second / 100 // USER_HZ
	}
	return tick(14) + tick(15), tick(16) + tick(17)
}

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
			p := &proc{cmd: cmd}
			go func() {
				for sc.Scan() {
					if strings.Contains(sc.Text(), `msg="job finished"`) {
						p.mu.Lock()
						p.finished = append(p.finished, sc.Text())
						p.mu.Unlock()
					}
				}
			}()
			return p, rest, nil
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

// runStats is one throughput run: jobs per hour, CPU per job and the workers' mean phase durations.
type runStats struct {
	perHour                   float64
	server, workers, trainers time.Duration // CPU per job
	phases                    map[string]time.Duration
	phaseOrder                []string
}

var phaseRE = regexp.MustCompile(`(claim|fetch|start|train|upload|finish|ack)=(\S+)`)

// throughput runs nJobs jobs of epochs epochs at once on a cluster of n workers.
func throughput(ctx context.Context, tmp, model, data string, n, epochs int) (runStats, error) {
	cl, err := newCluster(ctx, tmp, model, data, n)
	if err != nil {
		return runStats{}, err
	}
	defer cl.close()
	cpu := func() (srv, wrk, tr time.Duration) {
		srv, _ = cl.srv.cpu()
		for _, w := range cl.workers {
			own, ch := w.cpu()
			wrk, tr = wrk+own, tr+ch
		}
		return
	}
	srv0, wrk0, tr0 := cpu()
	start := time.Now()
	var ids []string
	for range *nJobs {
		id, err := cl.job(ctx, epochs)
		if err != nil {
			return runStats{}, err
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		if err := cl.await(ctx, id); err != nil {
			return runStats{}, err
		}
	}
	rs := runStats{perHour: float64(*nJobs) / time.Since(start).Hours(), phases: map[string]time.Duration{}}
	time.Sleep(200 * time.Millisecond) // the last "job finished" lines (logged after the ack)
	srv1, wrk1, tr1 := cpu()
	per := time.Duration(*nJobs)
	rs.server, rs.workers, rs.trainers = (srv1-srv0)/per, (wrk1-wrk0)/per, (tr1-tr0)/per
	count := 0
	for _, w := range cl.workers {
		w.mu.Lock()
		for _, l := range w.finished {
			count++
			for _, m := range phaseRE.FindAllStringSubmatch(l, -1) {
				d, _ := time.ParseDuration(m[2])
				if _, ok := rs.phases[m[1]]; !ok {
					rs.phaseOrder = append(rs.phaseOrder, m[1])
				}
				rs.phases[m[1]] += d
			}
		}
		w.mu.Unlock()
	}
	for k := range rs.phases {
		rs.phases[k] /= time.Duration(max(count, 1))
	}
	return rs, nil
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
	want := map[string]bool{}
	for _, p := range strings.Split(*parts, ",") {
		want[strings.TrimSpace(p)] = true
	}
	if want["throughput"] {
		if err := throughputTable(ctx, tmp, model, data); err != nil {
			return err
		}
	}
	if want["resume"] {
		moved, resumed, err := deathToResume(ctx, tmp, model, data)
		if err != nil {
			return err
		}
		fmt.Printf("\n| measure | value |\n|---|---|\n")
		fmt.Printf("| worker SIGKILL -> job moved (--worker-timeout %v) | %v |\n", *timeout, moved.Round(time.Millisecond))
		fmt.Printf("| worker SIGKILL -> first step after resume | %v |\n", resumed.Round(time.Millisecond))
	}
	if want["latency"] {
		l50, l99, err := latency(ctx, tmp, model, data, false)
		if err != nil {
			return err
		}
		r50, r99, err := latency(ctx, tmp, model, data, true)
		if err != nil {
			return err
		}
		fmt.Printf("\n| measure | value |\n|---|---|\n")
		fmt.Printf("| predict p50 / p99, local pool, 1 text, %d requests | %v / %v |\n", *requests, l50.Round(time.Microsecond), l99.Round(time.Microsecond))
		fmt.Printf("| predict p50 / p99, remote --serve-models worker | %v / %v |\n", r50.Round(time.Microsecond), r99.Round(time.Microsecond))
	}
	return nil
}

// throughputTable runs 1 and 2 workers for each job length in -epochs and prints jobs/hour, the ratio, CPU per
// job and the workers' phases.
func throughputTable(ctx context.Context, tmp, model, data string) error {
	fmt.Printf("%d jobs per run, 400 rows, batch 8 (50 steps per epoch); CPU s per job: server / worker processes / trainers; phases: mean per job on the workers\n\n", *nJobs)
	fmt.Printf("| epochs | workers | jobs/hour | ratio | CPU s/job srv / wrk / trainers | phases |\n|---|---|---|---|---|---|\n")
	for _, e := range strings.Split(*epochs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(e))
		if err != nil || n < 1 {
			return fmt.Errorf("-epochs %q: want positive whole numbers separated by commas", *epochs)
		}
		var one float64
		for _, workers := range []int{1, 2} {
			rs, err := throughput(ctx, tmp, model, data, workers, n)
			if err != nil {
				return err
			}
			ratio := "1"
			if workers == 1 {
				one = rs.perHour
			} else {
				ratio = fmt.Sprintf("%.2fx", rs.perHour/one)
			}
			var ph []string
			for _, k := range rs.phaseOrder {
				ph = append(ph, fmt.Sprintf("%s %v", k, rs.phases[k].Round(time.Millisecond)))
			}
			fmt.Printf("| %d | %d | %.0f | %s | %.2f / %.2f / %.2f | %s |\n", n, workers, rs.perHour, ratio,
				rs.server.Seconds(), rs.workers.Seconds(), rs.trainers.Seconds(), strings.Join(ph, ", "))
		}
	}
	return nil
}
