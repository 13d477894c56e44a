package predict_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whetml/whet/host/predict"
	"github.com/whetml/whet/host/predict/predicttest"
	"github.com/whetml/whet/internal/protocol"
	"github.com/whetml/whet/internal/protocol/protocoltest"
	"github.com/whetml/whet/sdk"
)

// startInProcess runs m as the pool's worker in this process (predicttest.InProcess).
var startInProcess = predicttest.InProcess

// TestPoolWithRealWorkerLoop: a batch holding a rejected row and a row the module failed on answers every other
// caller from the same single worker request (no re-run per caller); the bad caller's error names its input and is
// a request error, the error of the caller whose input the module failed on is the model's (not a request error).
func TestPoolWithRealWorkerLoop(t *testing.T) {
	m := &protocoltest.HashModel{Names: []string{"neg", "pos"}, MaxLen: 16, Delay: time.Millisecond}
	// The batch closes when it holds all 7 inputs; the long wait only guards against a slow scheduler.
	p, err := predict.New(predict.Config{Start: startInProcess(m), BatchWait: 10 * time.Second, MaxBatch: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	ctx := context.Background()
	inputs := [][]string{{"good one", "good two"}, {"fine", "a FAIL row"}, {"also fine"}, {"ok", "a FAULT row"}}
	want := map[string]protocol.Result{}
	for _, in := range inputs {
		_, logits, _, _ := m.Logits(ctx, "", in)
		for i, text := range in {
			if logits[i] != nil {
				want[text] = protocol.Classify(m.Names, logits[i], false)
			}
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(inputs))
	for i, in := range inputs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			preds, err := p.Predict(ctx, "m", "dir", in)
			errs[i] = err
			for j, pr := range preds {
				if w := want[in[j]]; pr.Label != w.Label || pr.Score != w.Score || pr.Scores[w.Label] != w.Score {
					errs[i] = errors.New("prediction of " + in[j] + " differs from the model's")
				}
			}
		}()
	}
	wg.Wait()
	var we *predict.WorkerError
	if !errors.As(errs[1], &we) || !we.Request || !strings.Contains(we.Msg, "input 1: input contains FAIL") {
		t.Fatalf("bad caller: err = %v", errs[1])
	}
	if !errors.As(errs[3], &we) || we.Request || we.Model != "m" || !strings.Contains(we.Msg, "input 1: module[hash-pre] function[whet_preprocess]: ") {
		t.Fatalf("caller whose input the module failed on: err = %v, want the model's error naming the module", errs[3])
	}
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("good callers: %v, %v", errs[0], errs[2])
	}
	if st := p.Stats(); st.Batches != 1 || st.Requests != 2 {
		t.Fatalf("stats = %+v: want one shared batch and 2 answered calls", st)
	}
}

// TestPoolAdaptersShareBaseWorker: concurrent requests for two adapters of one base and for the base itself are
// answered by one worker, each as that adapter alone answers; an adapter's rejected row names the adapter; Unload
// of an adapter unloads it in the running worker, and a later request loads it again without a restart.
func TestPoolAdaptersShareBaseWorker(t *testing.T) {
	m := &protocoltest.HashModel{Names: []string{"neg", "pos"}, MaxLen: 16, Delay: time.Millisecond, Adapters: true}
	p, err := predict.New(predict.Config{Start: startInProcess(m), MaxLoaded: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	ctx := context.Background()
	sentiment := predict.Adapter{ID: "sentiment", Dir: "/ads/sentiment"}
	spam := predict.Adapter{ID: "spam", Dir: "/ads/spam"}
	texts := []string{"good one", "bad two", "three"}
	calls := []predict.Adapter{sentiment, spam, {}, spam, sentiment, {}, sentiment}
	var wg sync.WaitGroup
	errs := make([]error, len(calls))
	for i, a := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var preds []sdk.Prediction
			var err error
			if a.ID == "" {
				preds, err = p.Predict(ctx, "base", "/base", texts)
			} else {
				preds, err = p.PredictAdapter(ctx, "base", "/base", a, texts)
			}
			if err != nil {
				errs[i] = err
				return
			}
			_, logits, _, _ := m.Logits(ctx, a.Dir, texts) // the adapter alone
			for j, pr := range preds {
				if w := protocol.Classify(m.Names, logits[j], false); pr.Label != w.Label || pr.Score != w.Score {
					errs[i] = fmt.Errorf("adapter %q, %q: got %s %v, alone %s %v", a.ID, texts[j], pr.Label, pr.Score, w.Label, w.Score)
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	// The adapters answer differently from each other (else the test above proves nothing).
	a, _ := p.PredictAdapter(ctx, "base", "/base", sentiment, texts)
	b, _ := p.PredictAdapter(ctx, "base", "/base", spam, texts)
	if fmt.Sprint(a) == fmt.Sprint(b) {
		t.Fatalf("two adapters gave the same predictions %v: the fake model ignores the adapter", a)
	}
	_, err = p.PredictAdapter(ctx, "base", "/base", spam, []string{"ok", "a FAIL row"})
	var we *predict.WorkerError
	if !errors.As(err, &we) || we.Model != "spam" || !we.Request {
		t.Fatalf("rejected row of an adapter: err = %#v, want a request error naming model spam", err)
	}

	p.Unload("sentiment")
	waitLoaded(t, m, "/ads/spam")
	if _, err := p.PredictAdapter(ctx, "base", "/base", sentiment, texts); err != nil {
		t.Fatal(err)
	}
	// The same adapter id registered again with another folder: the worker unloads the old one.
	if _, err := p.PredictAdapter(ctx, "base", "/base", predict.Adapter{ID: "spam", Dir: "/ads/spam-v2"}, texts); err != nil {
		t.Fatal(err)
	}
	waitLoaded(t, m, "/ads/sentiment", "/ads/spam-v2")
	if loads, _ := m.Loads(); loads["/ads/sentiment"] != 2 || loads["/ads/spam"] != 1 {
		t.Errorf("adapter loads = %v: want sentiment loaded twice (unloaded in between), spam once", loads)
	}
	if st := p.Stats(); st.Starts != 1 || st.Loaded != 1 {
		t.Errorf("stats = %+v: want one worker for the base and its adapters", st)
	}
}

// waitLoaded waits until exactly the adapter folders want are loaded in m.
func waitLoaded(t *testing.T, m *protocoltest.HashModel, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, now := m.Loads()
		if slices.Equal(now, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("adapters loaded = %v, want %v", now, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A worker that does not answer a batch within Config.AnswerTimeout (hung in native code) is killed: that batch's
// caller gets an error naming the limit, and the request queued behind it is answered by a fresh worker.
func TestHungWorkerIsReplaced(t *testing.T) {
	m := &protocoltest.HashModel{Names: []string{"neg", "pos"}}
	p, err := predict.New(predict.Config{Start: startInProcess(m), AnswerTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hung := make(chan error, 1)
	go func() {
		_, err := p.Predict(ctx, "m", "dir", []string{"a HANG for the worker"})
		hung <- err
	}()
	for p.Stats().Batches == 0 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	preds, err := p.Predict(ctx, "m", "dir", []string{"fine"})
	if err != nil || len(preds) != 1 {
		t.Fatalf("request queued behind the hung one: %v, %v", preds, err)
	}
	var we *predict.WorkerError
	if err := <-hung; !errors.As(err, &we) || we.Request || !strings.Contains(we.Msg, "Config.AnswerTimeout") {
		t.Fatalf("hung request: err = %v, want a worker error naming Config.AnswerTimeout", err)
	}
	if st := p.Stats(); st.Starts != 2 {
		t.Errorf("stats = %+v: want the hung worker replaced (2 starts)", st)
	}
}
