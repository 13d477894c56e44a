package protocol

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/whetml/whet/sdk"
)

// Event types: the "type" field of `whet train --progress json` stderr lines.
const (
	EventLog        = "log"
	EventStep       = "step"
	EventEval       = "eval"
	EventCheckpoint = "checkpoint"
	EventDone       = "done"
	// EventError is the trainer's last line when it fails: Code and Message.
	EventError = "error"
)

// Error codes of an EventError: whose fault a failed run is. The server stores the code as the job's error code.
const (
	// CodeInvalidFile: the training or validation data is wrong (a row, a column, a label); the user's to fix.
	CodeInvalidFile = "invalid_file"
	// CodeInvalidHyperparameters: the run specification is invalid; the caller's to fix.
	CodeInvalidHyperparameters = "invalid_hyperparameters"
	// CodeModelInvalid: the base model folder cannot be trained (config, weights, shapes, tokenizer files).
	CodeModelInvalid = "model_invalid"
	// CodeModuleInvalid: a preprocess or evaluate module failed or returned bad output.
	CodeModuleInvalid = "module_invalid"
	// CodeTrainingFailed: anything else (libtorch, disk, a bug): the server's side.
	CodeTrainingFailed = "training_failed"
)

// Event is one progress report. Which fields are set depends on Type; MarshalJSON writes exactly the fields of that
// type, UnmarshalJSON reads them back (a null loss or learning rate reads as NaN).
type Event struct {
	// Type is one of the Event* constants.
	Type string
	// Level is set for log events: "info", "warn" or "error".
	Level string
	// Message is set for log and error events.
	Message string
	// Code is set for error events (one of the Code* constants).
	Code string
	// Step is the optimizer step (1-based) the event is about.
	Step int
	// TotalSteps is the planned number of optimizer steps (step events).
	TotalSteps int
	// Epoch is the fractional epoch.
	Epoch float64
	// Loss is the step's training loss (step events; NaN: not finite).
	Loss float64
	// LearningRate is the step's learning rate (step events).
	LearningRate float64
	// SamplesPerSecond is the training throughput so far (step events).
	SamplesPerSecond float64
	// Metrics is the metrics document (eval, checkpoint and done events).
	Metrics json.RawMessage
	// Path is the checkpoint folder (checkpoint events).
	Path string
	// Best marks the best checkpoint so far (checkpoint events).
	Best bool
	// TrainSamplesPerSecond is the run's throughput (done events).
	TrainSamplesPerSecond float64
}

// wireEvent is the union of all event fields as they appear on the wire. The progress fields are named as in the
// API's job events (sdk.EventData, one definition for both; a trainer never sends its Status or Checkpoint).
type wireEvent struct {
	Type    string `json:"type"`
	Level   string `json:"level,omitempty"`
	Message string `json:"message,omitempty"`
	Code    string `json:"code,omitempty"`
	sdk.EventData
	Path                  string  `json:"path,omitempty"`
	Best                  bool    `json:"best,omitempty"`
	TrainSamplesPerSecond float64 `json:"train_samples_per_second,omitempty"`
}

// MarshalJSON writes the fields of e.Type.
func (e Event) MarshalJSON() ([]byte, error) {
	m := map[string]any{"type": e.Type}
	metrics := func() any {
		if len(e.Metrics) == 0 {
			return nil
		}
		return e.Metrics
	}
	switch e.Type {
	case EventLog:
		m["level"], m["message"] = e.Level, e.Message
	case EventError:
		m["code"], m["message"] = e.Code, e.Message
	case EventStep:
		m["step"], m["total_steps"], m["epoch"] = e.Step, e.TotalSteps, round(e.Epoch, 4)
		m["loss"], m["learning_rate"], m["samples_per_second"] = finite(e.Loss), finite(e.LearningRate), round(e.SamplesPerSecond, 1)
	case EventEval:
		m["step"], m["epoch"], m["metrics"] = e.Step, round(e.Epoch, 4), metrics()
	case EventCheckpoint:
		m["step"], m["epoch"], m["path"], m["metrics"], m["best"] = e.Step, round(e.Epoch, 4), e.Path, metrics(), e.Best
	case EventDone:
		m["metrics"], m["train_samples_per_second"] = metrics(), round(e.TrainSamplesPerSecond, 1)
	default:
		return nil, fmt.Errorf("protocol: unknown event type %q", e.Type)
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads an event of any type; unknown types are kept (Type set) for the caller to log.
func (e *Event) UnmarshalJSON(b []byte) error {
	var w wireEvent
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if w.Type == "" {
		return fmt.Errorf("protocol: event without a type")
	}
	*e = Event{Type: w.Type, Level: w.Level, Message: w.Message, Code: w.Code, Step: w.Step, TotalSteps: w.TotalSteps,
		Epoch: w.Epoch, Loss: orNaN(w.Loss), LearningRate: orNaN(w.LearningRate), SamplesPerSecond: orZero(w.SamplesPerSecond),
		Metrics: w.Metrics, Path: w.Path, Best: w.Best, TrainSamplesPerSecond: w.TrainSamplesPerSecond}
	if string(e.Metrics) == "null" {
		e.Metrics = nil
	}
	return nil
}

// ParseEvent reads one stderr line of a trainer. ok is false for a line that is not an event (a plain log line:
// libtorch warnings, a Go crash).
func ParseEvent(line []byte) (e Event, ok bool) {
	if len(line) == 0 || line[0] != '{' {
		return Event{}, false
	}
	if json.Unmarshal(line, &e) != nil {
		return Event{}, false
	}
	return e, true
}

// TrainSummary is the last stdout line of `whet train`.
type TrainSummary struct {
	Metrics               json.RawMessage `json:"metrics"`
	TrainSamplesPerSecond float64         `json:"train_samples_per_second"`
	GlobalStep            int             `json:"global_step"`
	Epoch                 float64         `json:"epoch"`
	TrainRuntimeSeconds   float64         `json:"train_runtime_seconds"`
	Labels                []string        `json:"labels"`
	OutputDir             string          `json:"output_dir"`
	BestCheckpoint        string          `json:"best_checkpoint,omitempty"`
	StoppedEarly          bool            `json:"stopped_early,omitempty"`
	// Method is "full" or "lora".
	Method string `json:"method"`
	// TrainableParams and TotalParams count the parameters the optimizer updated and the model uses.
	TrainableParams int64 `json:"trainable_params"`
	TotalParams     int64 `json:"total_params"`
}

func round(v float64, digits int) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// finite maps NaN/Inf (which JSON cannot carry) to nil.
func finite(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

func orNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

func orZero(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}
