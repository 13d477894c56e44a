//go:build wasip1

// Command classification-metrics is the built-in evaluate module: accuracy, macro/micro/weighted
// precision/recall/F1, a per-class report and the confusion matrix (wasm/metrics), returned as the metrics document
// of docs/contracts.md. Built for GOOS=wasip1 as a reactor (see wasm/ABI.md).
package main

import (
	"github.com/whetml/whet/wasm/guest"
	"github.com/whetml/whet/wasm/metrics"
)

func init() {
	guest.Evaluate("classification-metrics", func(req guest.EvaluateRequest) (any, error) {
		return metrics.Compute(req.Labels, req.Predictions, req.LabelNames)
	})
	guest.Describe("classification metrics: accuracy, precision/recall/F1, per-class report, confusion matrix")
}

func main() {}
