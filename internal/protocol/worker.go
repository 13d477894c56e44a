package protocol

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
)

// Ready is the first line a worker prints once its model is loaded.
type Ready struct {
	Ready bool `json:"ready"`
	// Labels are the model's labels in logit order.
	Labels []string `json:"labels"`
	// MaxSeqLength is the number of tokens per row the worker tokenizes to.
	MaxSeqLength int `json:"max_seq_length"`
}

// Request is one line on a worker's stdin.
type Request struct {
	// ID is echoed in the Response (any JSON value; the server sends integers).
	ID json.RawMessage `json:"id"`
	// Inputs are the texts to classify.
	Inputs []string `json:"inputs"`
	// Logits asks for each row's raw logits too. Default: false (the server does not use them).
	Logits bool `json:"logits,omitempty"`
	// Adapter, when set, is a LoRA adapter folder of the worker's base model to classify with (loaded on first use
	// and kept, least recently used unloaded first).
	Adapter string `json:"adapter,omitempty"`
	// Unload, when set (without inputs), unloads that adapter folder; the Response says whether it was loaded.
	Unload string `json:"unload,omitempty"`
}

// Response answers one Request: Results has one entry per input, or Error says why the whole request failed (it
// was not valid JSON, had no inputs, or the model failed).
type Response struct {
	ID      json.RawMessage `json:"id"`
	Results []Result        `json:"results,omitempty"`
	// Unloaded answers an Unload request: whether the adapter was loaded.
	Unloaded *bool  `json:"unloaded,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Result is one input's answer in HF's text-classification shape, or Error (and Code) for an input that has no
// answer (then the other fields are empty).
type Result struct {
	Label string `json:"label,omitempty"`
	// Score is the probability of Label (rounded to 6 digits).
	Score float64 `json:"score,omitempty"`
	// Scores maps every label to its probability (rounded to 6 digits).
	Scores map[string]float64 `json:"scores,omitempty"`
	// Logits are the raw logits, only when the request asked for them.
	Logits []float64 `json:"logits,omitempty"`
	Error  string    `json:"error,omitempty"`
	// Code says whose Error it is: "" for an input the preprocess module rejected (the caller's), CodeModuleFailed
	// for one the module failed on (the model's).
	Code string `json:"code,omitempty"`
}

// CodeModuleFailed is Result.Code (and RowError.Code) for an input the model's preprocess module failed on when run
// alone (it hung past its row time limit, trapped or ran out of memory): the model's fault, not the caller's.
const CodeModuleFailed = "module_failed"

// RowError is why one input has no logits: Msg, and Code as Result.Code. The zero value means none.
type RowError struct {
	Msg  string
	Code string
}

// Model is what a worker serves: a loaded classifier with its tokenizer, and the LoRA adapters of it.
type Model interface {
	// Labels returns the labels in logit order (none for a base encoder that serves only adapters).
	Labels() []string
	// MaxSeqLength returns the tokens per row the model tokenizes to.
	MaxSeqLength() int
	// Logits classifies texts with the model, or with the LoRA adapter folder adapter when not "": one row of
	// logits per text in the order of the returned labels, except where rowErrs[i].Msg is not "" (the preprocess
	// module rejected the text, or failed on it: RowError.Code; its logits are nil). err fails every row.
	Logits(ctx context.Context, adapter string, texts []string) (labels []string, logits [][]float32, rowErrs []RowError, err error)
	// Unload unloads the adapter folder and reports whether it was loaded.
	Unload(ctx context.Context, adapter string) bool
}

// MaxLineBytes bounds one request line a worker reads (256 MiB).
const MaxLineBytes = 256 << 20

// Serve answers the Requests read from in with one Response each on out, in order, after printing Ready. A bad
// request gets a Response with Error and the loop goes on. It returns when in ends (nil), when ctx is done after
// the request in progress (nil), or when out fails.
func Serve(ctx context.Context, m Model, in io.Reader, out io.Writer) error {
	w := bufio.NewWriter(out)
	send := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if _, err := w.Write(append(b, '\n')); err != nil {
			return err
		}
		return w.Flush()
	}
	if err := send(Ready{Ready: true, Labels: m.Labels(), MaxSeqLength: m.MaxSeqLength()}); err != nil {
		return err
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), MaxLineBytes)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var req Request
		if err := json.Unmarshal(line, &req); err != nil {
			if err := send(Response{ID: json.RawMessage("null"), Error: fmt.Sprintf("bad request: %v", err)}); err != nil {
				return err
			}
			continue
		}
		if req.ID == nil {
			req.ID = json.RawMessage("null")
		}
		if err := send(answer(ctx, m, req)); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
	return sc.Err()
}

func answer(ctx context.Context, m Model, req Request) Response {
	if req.Unload != "" {
		ok := m.Unload(ctx, req.Unload)
		return Response{ID: req.ID, Unloaded: &ok}
	}
	if len(req.Inputs) == 0 {
		return Response{ID: req.ID, Error: "no inputs"}
	}
	labels, logits, rowErrs, err := m.Logits(ctx, req.Adapter, req.Inputs)
	if err == nil && (len(logits) != len(req.Inputs) || len(rowErrs) != len(req.Inputs)) {
		err = fmt.Errorf("model returned %d rows and %d row errors for %d inputs", len(logits), len(rowErrs), len(req.Inputs))
	}
	if err != nil {
		return Response{ID: req.ID, Error: err.Error()}
	}
	res := make([]Result, len(logits))
	for i, l := range logits {
		switch {
		case rowErrs[i].Msg != "":
			res[i] = Result{Error: rowErrs[i].Msg, Code: rowErrs[i].Code}
		case len(l) != len(labels):
			res[i] = Result{Error: fmt.Sprintf("model returned %d logits for %d labels", len(l), len(labels))}
		default:
			res[i] = Classify(labels, l, req.Logits)
		}
	}
	return Response{ID: req.ID, Results: res}
}

// Classify turns one row of logits into a Result: the most probable label, its probability and every label's
// (softmax computed once, in float64). withLogits also copies the logits.
func Classify(labels []string, logits []float32, withLogits bool) Result {
	p := Softmax(logits)
	best := Argmax(logits)
	r := Result{Label: labels[best], Score: roundTo(float64(p[best]), 6), Scores: make(map[string]float64, len(labels))}
	for j, v := range p {
		r.Scores[labels[j]] = roundTo(float64(v), 6)
	}
	if withLogits {
		r.Logits = make([]float64, len(logits))
		for i, v := range logits {
			r.Logits[i] = float64(v)
		}
	}
	return r
}

// Softmax returns the probabilities for one row of logits (computed in float64, stable).
func Softmax(logits []float32) []float32 {
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = max(mx, float64(v))
	}
	sum := 0.0
	e := make([]float64, len(logits))
	for i, v := range logits {
		e[i] = math.Exp(float64(v) - mx)
		sum += e[i]
	}
	out := make([]float32, len(logits))
	for i := range e {
		out[i] = float32(e[i] / sum)
	}
	return out
}

// Argmax returns the index of the largest value (the first on ties).
func Argmax(v []float32) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}

func roundTo(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
