package metrics

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestCompute(t *testing.T) {
	for _, tc := range []struct {
		name          string
		labels, preds []int
		names         []string
		acc           float64
		macro         [3]float64 // precision, recall, f1
		weightedF1    float64
		perClass      map[string]ClassReport
		cm            [][]int
	}{
		{
			// c is never predicted: its precision is 0/0 -> 0.
			name: "unpredicted label", labels: []int{0, 0, 1, 1, 2, 2}, preds: []int{0, 1, 1, 1, 0, 0}, names: []string{"a", "b", "c"},
			acc: 0.5, macro: [3]float64{1.0 / 3, 0.5, 0.4}, weightedF1: 0.4,
			perClass: map[string]ClassReport{
				"a": {Precision: 1.0 / 3, Recall: 0.5, F1: 0.4, Support: 2},
				"b": {Precision: 2.0 / 3, Recall: 1, F1: 0.8, Support: 2},
				"c": {Precision: 0, Recall: 0, F1: 0, Support: 2},
			},
			cm: [][]int{{1, 1, 0}, {0, 2, 0}, {2, 0, 0}},
		},
		{
			name: "unequal support", labels: []int{0, 0, 0, 1}, preds: []int{0, 0, 1, 1}, names: []string{"neg", "pos"},
			acc: 0.75, macro: [3]float64{0.75, 5.0 / 6, (0.8 + 2.0/3) / 2}, weightedF1: (3*0.8 + 2.0/3) / 4,
			perClass: map[string]ClassReport{
				"neg": {Precision: 1, Recall: 2.0 / 3, F1: 0.8, Support: 3},
				"pos": {Precision: 0.5, Recall: 1, F1: 2.0 / 3, Support: 1},
			},
			cm: [][]int{{2, 1}, {0, 1}},
		},
		{
			// "x" never occurs and is never predicted: everything 0, but it still counts in the macro mean.
			name: "absent label", labels: []int{0, 1}, preds: []int{0, 1}, names: []string{"a", "b", "x"},
			acc: 1, macro: [3]float64{2.0 / 3, 2.0 / 3, 2.0 / 3}, weightedF1: 1,
			perClass: map[string]ClassReport{"a": {1, 1, 1, 1}, "b": {1, 1, 1, 1}, "x": {0, 0, 0, 0}},
			cm:       [][]int{{1, 0, 0}, {0, 1, 0}, {0, 0, 0}},
		},
		{
			name: "default names", labels: []int{1, 1}, preds: []int{0, 1},
			acc: 0.5, macro: [3]float64{0.5, 0.25, 1.0 / 3}, weightedF1: 2.0 / 3,
			perClass: map[string]ClassReport{"0": {0, 0, 0, 0}, "1": {1, 0.5, 2.0 / 3, 2}},
			cm:       [][]int{{0, 0}, {1, 1}},
		},
		{name: "empty", names: []string{"a"}, perClass: map[string]ClassReport{"a": {}}, cm: [][]int{{0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Compute(tc.labels, tc.preds, tc.names)
			if err != nil {
				t.Fatal(err)
			}
			if !near(rep.Accuracy, tc.acc) || !near(rep.MicroF1, tc.acc) || !near(rep.MicroPrecision, tc.acc) || !near(rep.MicroRecall, tc.acc) {
				t.Errorf("accuracy/micro = %v/%v/%v/%v, want %v", rep.Accuracy, rep.MicroPrecision, rep.MicroRecall, rep.MicroF1, tc.acc)
			}
			if !near(rep.MacroPrecision, tc.macro[0]) || !near(rep.MacroRecall, tc.macro[1]) || !near(rep.MacroF1, tc.macro[2]) {
				t.Errorf("macro = %v %v %v, want %v", rep.MacroPrecision, rep.MacroRecall, rep.MacroF1, tc.macro)
			}
			if !near(rep.WeightedF1, tc.weightedF1) {
				t.Errorf("weighted_f1 = %v, want %v", rep.WeightedF1, tc.weightedF1)
			}
			if len(rep.PerClass) != len(tc.perClass) {
				t.Errorf("per_class has %d labels, want %d", len(rep.PerClass), len(tc.perClass))
			}
			for name, want := range tc.perClass {
				got := rep.PerClass[name]
				if !near(got.Precision, want.Precision) || !near(got.Recall, want.Recall) || !near(got.F1, want.F1) || got.Support != want.Support {
					t.Errorf("per_class[%s] = %+v, want %+v", name, got, want)
				}
			}
			if !reflect.DeepEqual(rep.ConfusionMatrix, tc.cm) {
				t.Errorf("confusion matrix = %v, want %v", rep.ConfusionMatrix, tc.cm)
			}
			if rep.Support != len(tc.labels) {
				t.Errorf("support = %d, want %d", rep.Support, len(tc.labels))
			}
		})
	}
}

func TestComputeErrors(t *testing.T) {
	for _, tc := range []struct {
		name          string
		labels, preds []int
		names         []string
		want          string
	}{
		{"length mismatch", []int{0}, nil, nil, "1 labels but 0 predictions"},
		{"label out of range", []int{2}, []int{0}, []string{"a", "b"}, "label 2 is outside"},
		{"negative prediction", []int{0}, []int{-1}, []string{"a"}, "prediction -1"},
		{"duplicate names", []int{0}, []int{0}, []string{"a", "a"}, "appears twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compute(tc.labels, tc.preds, tc.names)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestJSONShape pins the document keys of docs/contracts.md.
func TestJSONShape(t *testing.T) {
	rep, err := Compute([]int{0, 1}, []int{0, 0}, []string{"neg", "pos"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"accuracy", "macro_precision", "macro_recall", "macro_f1", "micro_precision", "micro_recall",
		"micro_f1", "weighted_f1", "support", "labels", "per_class", "confusion_matrix"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("document lacks %q: %s", k, b)
		}
	}
	if _, ok := doc["loss"]; ok {
		t.Errorf("loss present without a value: %s", b)
	}
	pc := doc["per_class"].(map[string]any)["neg"].(map[string]any)
	for _, k := range []string{"precision", "recall", "f1", "support"} {
		if _, ok := pc[k]; !ok {
			t.Errorf("per_class entry lacks %q", k)
		}
	}
	if got := doc["confusion_matrix"]; !reflect.DeepEqual(got, []any{[]any{1.0, 0.0}, []any{1.0, 0.0}}) {
		t.Errorf("confusion_matrix = %v", got)
	}
}
