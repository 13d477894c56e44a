package predict_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whetml/whet/host/predict"
	"github.com/whetml/whet/internal/protocol"
	"github.com/whetml/whet/internal/protocol/protocoltest"
)

// pipeProcess runs the real worker loop (protocol.Serve) in this process over pipes: the pool's side of the
// protocol is tested without cgo, libtorch or a subprocess.
type pipeProcess struct {
	inW   *io.PipeWriter
	outR  *io.PipeReader
	done  chan error
	close func()
}

func startInProcess(m protocol.Model) predict.StartFunc {
	return func(string) (predict.Process, error) {
		inR, inW := io.Pipe()
		outR, outW := io.Pipe()
		ctx, cancel := context.WithCancel(context.Background())
		p := &pipeProcess{inW: inW, outR: outR, done: make(chan error, 1)}
		p.close = func() { cancel(); inR.Close(); outW.Close() }
		go func() {
			err := protocol.Serve(ctx, m, inR, outW)
			outW.Close()
			p.done <- err
		}()
		return p, nil
	}
}

func (p *pipeProcess) Stdin() io.WriteCloser { return p.inW }
func (p *pipeProcess) Stdout() io.Reader     { return p.outR }
func (p *pipeProcess) Wait() error           { return <-p.done }
func (p *pipeProcess) Kill() error           { p.close(); return nil }
func (p *pipeProcess) Diagnostics() string   { return "in-process worker" }

// TestPoolWithRealWorkerLoop: a batch holding a rejected row answers every other caller from the same single
// worker request (no re-run per caller), and the bad caller's error names its input.
func TestPoolWithRealWorkerLoop(t *testing.T) {
	m := &protocoltest.HashModel{Names: []string{"neg", "pos"}, MaxLen: 16, Delay: time.Millisecond}
	// The batch closes when it holds all 5 inputs; the long wait only guards against a slow scheduler.
	p, err := predict.New(predict.Config{Start: startInProcess(m), BatchWait: 10 * time.Second, MaxBatch: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	ctx := context.Background()
	inputs := [][]string{{"good one", "good two"}, {"fine", "a FAIL row"}, {"also fine"}}
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
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("good callers: %v, %v", errs[0], errs[2])
	}
	if st := p.Stats(); st.Batches != 1 || st.Requests != 2 {
		t.Fatalf("stats = %+v: want one shared batch and 2 answered calls", st)
	}
}
