package metrics

import (
	"fmt"
	"strconv"
)

// ClassReport holds one label's metrics.
type ClassReport struct {
	// Precision is true positives / predicted positives (0 when the label is never predicted).
	Precision float64 `json:"precision"`
	// Recall is true positives / actual positives (0 when the label never occurs).
	Recall float64 `json:"recall"`
	// F1 is the harmonic mean of Precision and Recall (0 when both are 0).
	F1 float64 `json:"f1"`
	// Support is the number of examples whose true label this is.
	Support int `json:"support"`
}

// Report is the metrics document.
type Report struct {
	// Accuracy is the fraction of examples predicted correctly.
	Accuracy float64 `json:"accuracy"`
	// MacroPrecision is the unweighted mean of the per-class precisions, over every label.
	MacroPrecision float64 `json:"macro_precision"`
	// MacroRecall is the unweighted mean of the per-class recalls.
	MacroRecall float64 `json:"macro_recall"`
	// MacroF1 is the unweighted mean of the per-class F1 scores.
	MacroF1 float64 `json:"macro_f1"`
	// MicroPrecision is total true positives / total predictions.
	MicroPrecision float64 `json:"micro_precision"`
	// MicroRecall is total true positives / total examples.
	MicroRecall float64 `json:"micro_recall"`
	// MicroF1 is the harmonic mean of MicroPrecision and MicroRecall.
	MicroF1 float64 `json:"micro_f1"`
	// WeightedPrecision is the support-weighted mean of the per-class precisions.
	WeightedPrecision float64 `json:"weighted_precision"`
	// WeightedRecall is the support-weighted mean of the per-class recalls.
	WeightedRecall float64 `json:"weighted_recall"`
	// WeightedF1 is the support-weighted mean of the per-class F1 scores.
	WeightedF1 float64 `json:"weighted_f1"`
	// Support is the number of examples.
	Support int `json:"support"`
	// Labels are the label names, in index order.
	Labels []string `json:"labels"`
	// PerClass maps each label name to its metrics.
	PerClass map[string]ClassReport `json:"per_class"`
	// ConfusionMatrix[i][j] counts examples of true label i predicted as label j.
	ConfusionMatrix [][]int `json:"confusion_matrix"`
	// Loss is the mean evaluation loss, when the caller has one (native/train sets it).
	Loss *float64 `json:"loss,omitempty"`
}

// Compute builds the report for true labels and predictions given as label indices. labelNames names the indices;
// when it is empty the labels are named "0", "1", ... up to the largest index seen.
//
// # Errors
//
// Lengths that differ, negative indices, indices without a name, and duplicate names.
func Compute(labels, predictions []int, labelNames []string) (Report, error) {
	if len(labels) != len(predictions) {
		return Report{}, fmt.Errorf("metrics: %d labels but %d predictions", len(labels), len(predictions))
	}
	names := labelNames
	if len(names) == 0 {
		n := 0
		for i := range labels {
			n = max(n, labels[i]+1, predictions[i]+1)
		}
		names = make([]string, n)
		for i := range names {
			names[i] = strconv.Itoa(i)
		}
	}
	k := len(names)
	seen := make(map[string]bool, k)
	for _, n := range names {
		if seen[n] {
			return Report{}, fmt.Errorf("metrics: label name %q appears twice", n)
		}
		seen[n] = true
	}
	cm := make([][]int, k)
	for i := range cm {
		cm[i] = make([]int, k)
	}
	for i := range labels {
		y, p := labels[i], predictions[i]
		if y < 0 || y >= k {
			return Report{}, fmt.Errorf("metrics: example %d: label %d is outside 0..%d", i, y, k-1)
		}
		if p < 0 || p >= k {
			return Report{}, fmt.Errorf("metrics: example %d: prediction %d is outside 0..%d", i, p, k-1)
		}
		cm[y][p]++
	}
	rep := Report{
		Support:         len(labels),
		Labels:          append([]string{}, names...),
		PerClass:        make(map[string]ClassReport, k),
		ConfusionMatrix: cm,
	}
	correct := 0
	for c := 0; c < k; c++ {
		tp := cm[c][c]
		support, predicted := 0, 0
		for j := 0; j < k; j++ {
			support += cm[c][j]
			predicted += cm[j][c]
		}
		correct += tp
		cr := ClassReport{Precision: ratio(tp, predicted), Recall: ratio(tp, support), Support: support}
		cr.F1 = f1(cr.Precision, cr.Recall)
		rep.PerClass[names[c]] = cr
		rep.MacroPrecision += cr.Precision
		rep.MacroRecall += cr.Recall
		rep.MacroF1 += cr.F1
		w := float64(support)
		rep.WeightedPrecision += w * cr.Precision
		rep.WeightedRecall += w * cr.Recall
		rep.WeightedF1 += w * cr.F1
	}
	if k > 0 {
		rep.MacroPrecision /= float64(k)
		rep.MacroRecall /= float64(k)
		rep.MacroF1 /= float64(k)
	}
	if n := len(labels); n > 0 {
		rep.WeightedPrecision /= float64(n)
		rep.WeightedRecall /= float64(n)
		rep.WeightedF1 /= float64(n)
	}
	// Single-label: every example is one prediction, so micro precision and recall are both correct/total.
	rep.Accuracy = ratio(correct, len(labels))
	rep.MicroPrecision = rep.Accuracy
	rep.MicroRecall = rep.Accuracy
	rep.MicroF1 = f1(rep.MicroPrecision, rep.MicroRecall)
	return rep, nil
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func f1(p, r float64) float64 {
	if p+r == 0 {
		return 0
	}
	return 2 * p * r / (p + r)
}
