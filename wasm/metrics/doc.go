// Package metrics computes single-label classification metrics: accuracy, macro, micro and weighted
// precision/recall/F1, a per-class report and the confusion matrix (rows = true label, columns = predicted label).
//
// The Report's JSON form is the metrics document of docs/contracts.md, produced both by the built-in
// classification-metrics WebAssembly module and by native/train. Undefined ratios (0/0, such as the precision of a
// label that is never predicted) are 0, as scikit-learn's zero_division=0. The package is pure Go, depends only on
// the standard library, builds for the host and for wasip1, and may not import anything else.
//
//	rep, err := metrics.Compute([]int{0, 1, 1}, []int{0, 1, 0}, []string{"neg", "pos"})
//	// rep.Accuracy = 0.667, rep.PerClass["pos"].Recall = 0.5, rep.ConfusionMatrix = [[1 0] [1 1]]
package metrics
