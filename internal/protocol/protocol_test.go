package protocol_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/whetml/whet/internal/protocol"
	"github.com/whetml/whet/internal/protocol/protocoltest"
)

// TestEventJSON: each event type writes exactly its fields and reads back equal.
func TestEventJSON(t *testing.T) {
	tests := []struct {
		e    protocol.Event
		keys []string
	}{
		{protocol.Event{Type: protocol.EventLog, Level: "info", Message: "m"}, []string{"level", "message", "type"}},
		{protocol.Event{Type: protocol.EventError, Code: protocol.CodeInvalidFile, Message: "train.jsonl:3: bad"}, []string{"code", "message", "type"}},
		{protocol.Event{Type: protocol.EventStep, Step: 12, TotalSteps: 2105, Epoch: 0.01, Loss: 0.693, LearningRate: 1.2e-5, SamplesPerSecond: 480.1},
			[]string{"epoch", "learning_rate", "loss", "samples_per_second", "step", "total_steps", "type"}},
		{protocol.Event{Type: protocol.EventEval, Step: 3, Epoch: 1, Metrics: json.RawMessage(`{"accuracy":0.8}`)}, []string{"epoch", "metrics", "step", "type"}},
		{protocol.Event{Type: protocol.EventCheckpoint, Step: 3, Epoch: 1, Path: "p", Best: true}, []string{"best", "epoch", "metrics", "path", "step", "type"}},
		{protocol.Event{Type: protocol.EventDone, Metrics: json.RawMessage(`{}`), TrainSamplesPerSecond: 512.3}, []string{"metrics", "train_samples_per_second", "type"}},
	}
	for _, tt := range tests {
		t.Run(tt.e.Type, func(t *testing.T) {
			b, err := json.Marshal(tt.e)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			var keys []string
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if !reflect.DeepEqual(keys, tt.keys) || m["type"] != tt.e.Type {
				t.Errorf("keys %v, want %v (%s)", keys, tt.keys, b)
			}
			back, ok := protocol.ParseEvent(b)
			if tt.e.Type != protocol.EventStep {
				// Fields a type does not carry read back as NaN (loss, learning rate): compare the rest.
				back.Loss, back.LearningRate = 0, 0
			}
			if !ok || !reflect.DeepEqual(back, tt.e) {
				t.Errorf("read back %+v, want %+v", back, tt.e)
			}
		})
	}
	if _, err := json.Marshal(protocol.Event{Type: "nope"}); err == nil {
		t.Error("unknown event type marshalled")
	}
	b, _ := json.Marshal(protocol.Event{Type: protocol.EventStep, Step: 1, Loss: math.NaN(), LearningRate: math.Inf(1)})
	if e, ok := protocol.ParseEvent(b); !ok || !math.IsNaN(e.Loss) || !math.IsNaN(e.LearningRate) || !strings.Contains(string(b), `"loss":null`) {
		t.Errorf("non-finite loss: %s read back as %+v", b, e)
	}
	for _, plain := range []string{"", "plain log", "panic: boom", `{"no":"type"}`, "{broken"} {
		if _, ok := protocol.ParseEvent([]byte(plain)); ok {
			t.Errorf("ParseEvent(%q) is an event", plain)
		}
	}
}

// TestServe: the worker loop answers in order, with a Response per request, per-row errors, logits only when asked.
func TestServe(t *testing.T) {
	m := &protocoltest.HashModel{Names: []string{"neg", "pos"}, MaxLen: 32}
	in := strings.Join([]string{
		`{"id":1,"inputs":["a","b FAIL","c","d FAULT"]}`,
		`{"id":"x","inputs":[]}`,
		`not json`,
		``,
		`{"id":3,"inputs":["a"],"logits":true}`,
	}, "\n")
	var out bytes.Buffer
	if err := protocol.Serve(context.Background(), m, strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines: %s", len(lines), out.String())
	}
	var ready protocol.Ready
	if err := json.Unmarshal([]byte(lines[0]), &ready); err != nil || !ready.Ready || ready.MaxSeqLength != 32 || len(ready.Labels) != 2 {
		t.Errorf("ready = %s", lines[0])
	}
	var r [4]protocol.Response
	for i := range r {
		if err := json.Unmarshal([]byte(lines[i+1]), &r[i]); err != nil {
			t.Fatal(err)
		}
	}
	_, logits, _, _ := m.Logits(context.Background(), "", []string{"a"})
	want := protocol.Classify(m.Names, logits[0], false)
	if string(r[0].ID) != "1" || len(r[0].Results) != 4 || !reflect.DeepEqual(r[0].Results[0], want) ||
		r[0].Results[1].Error != "input contains FAIL" || r[0].Results[1].Label != "" || r[0].Results[2].Error != "" {
		t.Errorf("response 1 = %s", lines[1])
	}
	// Whose a row error is travels as its code: none for a rejected input, CodeModuleFailed for a module failure.
	if r[0].Results[1].Code != "" || r[0].Results[3].Code != protocol.CodeModuleFailed || r[0].Results[3].Error == "" {
		t.Errorf("row error codes: %s", lines[1])
	}
	if r[0].Results[0].Logits != nil || strings.Contains(lines[1], "logits") {
		t.Errorf("logits sent unasked: %s", lines[1])
	}
	if string(r[1].ID) != `"x"` || r[1].Error != "no inputs" || !strings.HasPrefix(r[2].Error, "bad request") || string(r[2].ID) != "null" {
		t.Errorf("error responses = %s / %s", lines[2], lines[3])
	}
	if len(r[3].Results) != 1 || len(r[3].Results[0].Logits) != 2 || r[3].Results[0].Logits[1] != float64(logits[0][1]) {
		t.Errorf("response 3 = %s", lines[4])
	}
}

func TestClassify(t *testing.T) {
	r := protocol.Classify([]string{"a", "b", "c"}, []float32{1, 3, 2}, true)
	if r.Label != "b" || r.Score != r.Scores["b"] || math.Abs(r.Scores["a"]+r.Scores["b"]+r.Scores["c"]-1) > 1e-5 || len(r.Logits) != 3 {
		t.Errorf("Classify = %+v", r)
	}
	if s := protocol.Softmax([]float32{0, 0}); s[0] != 0.5 || protocol.Argmax([]float32{1, 3, 3}) != 1 {
		t.Errorf("Softmax/Argmax")
	}
}
