package abi

import (
	"encoding/json"
	"fmt"
)

// EvaluateRequest is the whet_evaluate input, encoded as JSON:
//
//	{"labels":[0,1,...],"predictions":[0,0,...],"probabilities":[[0.9,0.1],...],"label_names":["neg","pos"]}
//
// The response body is a JSON metrics document (see docs/contracts.md for the built-in module's shape).
type EvaluateRequest struct {
	// Labels are the true label indices, one per example.
	Labels []int `json:"labels"`
	// Predictions are the predicted label indices, one per example.
	Predictions []int `json:"predictions"`
	// Probabilities are optional per-class probabilities, one row per example.
	Probabilities [][]float32 `json:"probabilities,omitempty"`
	// LabelNames name the label indices; index i is called LabelNames[i].
	LabelNames []string `json:"label_names,omitempty"`
}

// Append appends the encoded request to dst.
func (r EvaluateRequest) Append(dst []byte) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return dst, fmt.Errorf("abi: evaluate request: %w", err)
	}
	return append(dst, b...), nil
}

// DecodeEvaluateRequest decodes a whet_evaluate input and checks that the lengths agree.
func DecodeEvaluateRequest(b []byte) (EvaluateRequest, error) {
	var r EvaluateRequest
	if err := json.Unmarshal(b, &r); err != nil {
		return EvaluateRequest{}, fmt.Errorf("abi: evaluate request: %w", err)
	}
	if len(r.Labels) != len(r.Predictions) {
		return EvaluateRequest{}, fmt.Errorf("abi: evaluate request: %d labels but %d predictions", len(r.Labels), len(r.Predictions))
	}
	if r.Probabilities != nil && len(r.Probabilities) != len(r.Labels) {
		return EvaluateRequest{}, fmt.Errorf("abi: evaluate request: %d probability rows for %d labels", len(r.Probabilities), len(r.Labels))
	}
	return r, nil
}
