// Command predict is a load benchmark of whet's predict API on loopback: N concurrent clients send predict
// requests for D seconds, then it prints the latency percentiles and the throughput. Any error fails the run
// (exit status 1).
//
// Against a running server:
//
//	go run ./bench/predict --server http://127.0.0.1:8080 --model ft:tiny:sst2:ftjob-... -c 16 -d 20s
//
// Or self-contained: it starts `whet serve` on a temporary data folder, registers a model folder and benchmarks it:
//
//	go run ./bench/predict --bin bin/whet --model-dir /path/to/model -c 16 -d 20s
//
// Only loopback servers are accepted, and runs are bounded (at most 10 minutes, at most 256 clients).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/whetml/whet/sdk"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/predict:", err)
		os.Exit(1)
	}
}

// options are the command line's.
type options struct {
	server, apiKey, model, bin, modelDir string
	clients, inputs, warmup              int
	duration                             time.Duration
}

func parseFlags() (options, error) {
	var o options
	flag.StringVar(&o.server, "server", "", "whet server URL on loopback (default: start one with --bin)")
	flag.StringVar(&o.apiKey, "api-key", "", "API key for --server")
	flag.StringVar(&o.model, "model", "", "model id on --server")
	flag.StringVar(&o.bin, "bin", "bin/whet", "whet binary to start when --server is not given")
	flag.StringVar(&o.modelDir, "model-dir", "", "model folder to register when starting a server")
	flag.IntVar(&o.clients, "c", 8, "concurrent clients (1-256)")
	flag.DurationVar(&o.duration, "d", 10*time.Second, "how long to send requests (at most 10m)")
	flag.IntVar(&o.inputs, "inputs", 1, "texts per request")
	flag.IntVar(&o.warmup, "warmup", 5, "requests sent before measuring (loads the model)")
	flag.Parse()
	if o.clients < 1 || o.clients > 256 {
		return o, fmt.Errorf("-c must be between 1 and 256, got %d", o.clients)
	}
	if o.duration <= 0 || o.duration > 10*time.Minute {
		return o, fmt.Errorf("-d must be between 0 and 10m, got %v", o.duration)
	}
	if o.inputs < 1 || o.inputs > 1024 {
		return o, fmt.Errorf("-inputs must be between 1 and 1024, got %d", o.inputs)
	}
	return o, nil
}

func run() error {
	o, err := parseFlags()
	if err != nil {
		return err
	}
	ctx := context.Background()
	if o.server == "" {
		stop, err := selfServe(ctx, &o)
		if err != nil {
			return err
		}
		defer stop()
	}
	if err := checkLoopback(o.server); err != nil {
		return err
	}
	if o.model == "" {
		return errors.New("--model is required with --server")
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.clients, MaxConnsPerHost: o.clients}}
	c := sdk.NewClient(o.server, sdk.WithAPIKey(o.apiKey), sdk.WithHTTPClient(hc))
	texts := corpus()
	batch := func(i int) []string {
		out := make([]string, o.inputs)
		for j := range out {
			out[j] = texts[(i+j)%len(texts)]
		}
		return out
	}
	for i := range o.warmup {
		if _, err := c.Predict(ctx, o.model, sdk.PredictRequest{Inputs: batch(i)}); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	start := time.Now()
	latencies, err := load(ctx, c, o, batch)
	if err != nil {
		return err
	}
	report(o, latencies, time.Since(start))
	return nil
}

// selfServe starts `whet serve` (o.bin) and registers o.modelDir on it, setting o.server and o.model; the
// function returned stops the server.
func selfServe(ctx context.Context, o *options) (func(), error) {
	if o.modelDir == "" {
		return nil, errors.New("give --server URL --model ID, or --bin WHET --model-dir DIR")
	}
	url, stop, err := startServer(o.bin)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(o.modelDir)
	if err == nil {
		var m *sdk.Model
		if m, err = sdk.NewClient(url).CreateModel(ctx, sdk.CreateModelRequest{FromPath: abs}); err == nil {
			o.server, o.model = url, m.ID
			return stop, nil
		}
	}
	stop()
	return nil, err
}

// load runs o.clients clients sending batch(i) until o.duration passed; it returns every request's latency, or the
// first failure with their count.
func load(ctx context.Context, c *sdk.Client, o options, batch func(int) []string) ([]time.Duration, error) {
	deadline := time.Now().Add(o.duration)
	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      []error
		wg        sync.WaitGroup
	)
	for w := range o.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			for i := w; time.Now().Before(deadline); i += o.clients {
				t0 := time.Now()
				preds, err := c.Predict(ctx, o.model, sdk.PredictRequest{Inputs: batch(i)})
				if err == nil && len(preds) != o.inputs {
					err = fmt.Errorf("%d predictions for %d inputs", len(preds), o.inputs)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, fmt.Errorf("%d requests failed; first: %w", len(errs), errs[0])
	}
	if len(latencies) == 0 {
		return nil, errors.New("no request completed")
	}
	return latencies, nil
}

// report prints the throughput and latency percentiles of a run.
func report(o options, latencies []time.Duration, elapsed time.Duration) {
	slices.Sort(latencies)
	pct := func(p float64) time.Duration { return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))] }
	fmt.Printf("model %s, %d clients, %d inputs/request, %v\n", o.model, o.clients, o.inputs, elapsed.Round(time.Millisecond))
	fmt.Printf("requests %d, errors 0, throughput %.1f req/s (%.1f inputs/s)\n", len(latencies),
		float64(len(latencies))/elapsed.Seconds(), float64(len(latencies)*o.inputs)/elapsed.Seconds())
	fmt.Printf("latency p50 %v  p90 %v  p99 %v  max %v\n", pct(0.50).Round(10*time.Microsecond),
		pct(0.90).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), latencies[len(latencies)-1].Round(10*time.Microsecond))
}

// checkLoopback refuses servers off this machine: the benchmark only loads loopback addresses.
func checkLoopback(server string) error {
	u, err := url.Parse(server)
	if err != nil {
		return fmt.Errorf("--server %q: %w", server, err)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--server %s is not a loopback address: this benchmark only targets 127.0.0.0/8, ::1 or localhost", server)
}

// startServer runs `bin serve` on a free loopback port and a temporary data folder.
func startServer(bin string) (string, func(), error) {
	data, err := os.MkdirTemp("", "whet-bench-predict-")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data", data)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(data)
		return "", nil, fmt.Errorf("start %s serve: %w", bin, err)
	}
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		os.RemoveAll(data)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "whet: serving on "); ok {
			go func() {
				for sc.Scan() {
				}
			}()
			return strings.Fields(rest)[0], stop, nil
		}
	}
	stop()
	return "", nil, fmt.Errorf("%s serve exited before listening", bin)
}

// corpus returns short review-like sentences of varied length.
func corpus() []string {
	adj := []string{"great", "dull", "wonderful", "tedious", "brilliant", "boring", "moving", "awful"}
	noun := []string{"movie", "film", "story", "plot", "cast", "ending"}
	var out []string
	for i := range 64 {
		s := fmt.Sprintf("a %s %s", adj[i%len(adj)], noun[i%len(noun)])
		for range i % 5 {
			s += fmt.Sprintf(" and a %s %s", adj[(i+3)%len(adj)], noun[(i+1)%len(noun)])
		}
		out = append(out, s)
	}
	return out
}
