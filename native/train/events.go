package train

import (
	"encoding/json"
	"fmt"
	"math"
)

// Event types (the "type" field of `whet train --progress json` lines, docs/contracts.md).
const (
	EventLog        = "log"
	EventStep       = "step"
	EventEval       = "eval"
	EventCheckpoint = "checkpoint"
	EventDone       = "done"
)

// Event is one progress report. Which fields are set depends on Type; MarshalJSON writes exactly the fields the
// contract lists for that type.
type Event struct {
	// Type is one of the Event* constants.
	Type string
	// Level and Message are set for log events ("info", "warn", "error").
	Level, Message string
	// Step is the optimizer step (1-based) the event is about.
	Step int
	// TotalSteps is the planned number of optimizer steps (step events).
	TotalSteps int
	// Epoch is the fractional epoch.
	Epoch float64
	// Loss is the step's training loss (step events).
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

// MarshalJSON writes the contract's fields for e.Type.
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
		return nil, fmt.Errorf("train: unknown event type %q", e.Type)
	}
	return json.Marshal(m)
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
