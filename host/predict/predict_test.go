package predict_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whetml/whet/host/internal/whettest"
	"github.com/whetml/whet/host/predict"
)

var fakeBin string

func TestMain(m *testing.M) { whettest.RunWithFake(m, &fakeBin) }

func model(t *testing.T, labels ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "m")
	if err := whettest.WriteModel(dir, labels...); err != nil {
		t.Fatal(err)
	}
	return dir
}

func pool(t *testing.T, cfg predict.Config) *predict.Pool {
	t.Helper()
	cfg.Bin = fakeBin
	p, err := predict.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return p
}

func TestPredictShape(t *testing.T) {
	p := pool(t, predict.Config{})
	dir := model(t, "neg", "pos")
	ctx := context.Background()
	preds, err := p.Predict(ctx, "m", dir, []string{"great", "awful", "great"})
	if err != nil {
		t.Fatal(err)
	}
	if len(preds) != 3 {
		t.Fatalf("%d predictions for 3 inputs", len(preds))
	}
	for _, pr := range preds {
		sum := pr.Scores["neg"] + pr.Scores["pos"]
		if math.Abs(sum-1) > 1e-9 || pr.Scores[pr.Label] != pr.Score || (pr.Label != "neg" && pr.Label != "pos") {
			t.Fatalf("prediction = %+v", pr)
		}
	}
	if preds[0].Label != preds[2].Label || preds[0].Score != preds[2].Score {
		t.Fatalf("same input, different predictions: %+v vs %+v", preds[0], preds[2])
	}
}

func TestDynamicBatching(t *testing.T) {
	// Without a wait, requests that queue while the (slow) worker computes still share batches.
	for _, wait := range []time.Duration{0, 5 * time.Millisecond} {
		t.Run(wait.String(), func(t *testing.T) { testDynamicBatching(t, wait) })
	}
}

func testDynamicBatching(t *testing.T, wait time.Duration) {
	p := pool(t, predict.Config{BatchWait: wait, MaxBatch: 64, Env: []string{"FAKEWHET_PREDICT_DELAY_MS=30"}})
	dir := model(t, "neg", "pos")
	ctx := context.Background()
	if _, err := p.Predict(ctx, "m", dir, []string{"warm up"}); err != nil {
		t.Fatal(err)
	}
	const n = 60
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			preds, err := p.Predict(ctx, "m", dir, []string{fmt.Sprintf("text %d", i)})
			if err == nil && len(preds) != 1 {
				err = fmt.Errorf("%d predictions", len(preds))
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st := p.Stats()
	if st.Requests != n+1 || st.Batches > n/3 {
		t.Fatalf("stats = %+v: %d concurrent requests should share a few batches", st, n)
	}
}

func TestBadInputFailsOnlyItsRequest(t *testing.T) {
	p := pool(t, predict.Config{BatchWait: 20 * time.Millisecond})
	dir := model(t, "neg", "pos")
	ctx := context.Background()
	var wg sync.WaitGroup
	var badErr, goodErr error
	wg.Add(2)
	go func() { defer wg.Done(); _, badErr = p.Predict(ctx, "m", dir, []string{"FAIL here"}) }()
	go func() { defer wg.Done(); _, goodErr = p.Predict(ctx, "m", dir, []string{"fine"}) }()
	wg.Wait()
	var we *predict.WorkerError
	if !errors.As(badErr, &we) || !we.Request || !strings.Contains(we.Msg, "input contains FAIL") {
		t.Fatalf("bad request: err = %v", badErr)
	}
	if goodErr != nil {
		t.Fatalf("good request failed with its batch-mate: %v", goodErr)
	}
}

func TestLRU(t *testing.T) {
	p := pool(t, predict.Config{MaxLoaded: 1})
	a, b := model(t, "neg", "pos"), model(t, "x", "y", "z")
	ctx := context.Background()
	for _, step := range []struct{ id, dir, label string }{{"a", a, "neg"}, {"b", b, "x"}, {"a", a, "neg"}} {
		preds, err := p.Predict(ctx, step.id, step.dir, []string{"hello"})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := preds[0].Scores[step.label]; !ok {
			t.Fatalf("model %s answered with labels of another model: %+v", step.id, preds[0])
		}
	}
	if st := p.Stats(); st.Loaded != 1 || st.Starts != 3 {
		t.Fatalf("stats = %+v, want 1 loaded and 3 starts", st)
	}
}

func TestWorkerStartFailure(t *testing.T) {
	p := pool(t, predict.Config{})
	dir := model(t, "only-one")
	_, err := p.Predict(context.Background(), "m", dir, []string{"x"})
	var we *predict.WorkerError
	if !errors.As(err, &we) || we.Request || !strings.Contains(err.Error(), "fewer than 2 labels") {
		t.Fatalf("err = %v", err)
	}
	if st := p.Stats(); st.Loaded != 0 {
		t.Fatalf("failed worker kept in the cache: %+v", st)
	}
}

func TestContextCancel(t *testing.T) {
	p := pool(t, predict.Config{Env: []string{"FAKEWHET_PREDICT_DELAY_MS=2000"}})
	dir := model(t, "neg", "pos")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Predict(ctx, "m", dir, []string{"x"})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
}

// TestQuantizeReachesWorker: Config.Quantize starts the workers with --quantize (the fake refuses to start when it
// does not get what FAKEWHET_WANT_QUANTIZE says), and a value the worker does not know is refused by New.
func TestQuantizeReachesWorker(t *testing.T) {
	dir := model(t, "neg", "pos")
	env := []string{"FAKEWHET_WANT_QUANTIZE=int8"}
	if _, err := pool(t, predict.Config{Quantize: "int8", Env: env}).Predict(context.Background(), "m", dir, []string{"x"}); err != nil {
		t.Fatalf("Quantize int8: %v", err)
	}
	if _, err := pool(t, predict.Config{Env: env}).Predict(context.Background(), "m", dir, []string{"x"}); err == nil || !strings.Contains(err.Error(), "--quantize none, want int8") {
		t.Fatalf("no Quantize, worker wanting int8: %v", err)
	}
	if _, err := predict.New(predict.Config{Bin: fakeBin, Quantize: "int4"}); err == nil || !strings.Contains(err.Error(), `Quantize "int4": want none or int8`) {
		t.Fatalf("Quantize int4: %v", err)
	}
}
