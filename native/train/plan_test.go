package train

import (
	"encoding/json"
	"math"
	"reflect"
	"sort"
	"testing"
)

func TestPlanBatches(t *testing.T) {
	lengths := make([]int, 1000)
	for i := range lengths {
		lengths[i] = 3 + (i*7919)%60
	}
	tests := []struct{ batch int }{{1}, {7}, {32}, {1000}, {2000}}
	for _, tt := range tests {
		batches := planBatches(lengths, tt.batch, epochRNG(1, 0))
		seen := make([]int, len(lengths))
		padded, real := 0, 0
		for _, b := range batches {
			if len(b) == 0 || len(b) > tt.batch {
				t.Fatalf("batch %d: size %d", tt.batch, len(b))
			}
			longest := 0
			for _, i := range b {
				seen[i]++
				longest = max(longest, lengths[i])
				real += lengths[i]
			}
			padded += longest * len(b)
			if !sort.SliceIsSorted(b, func(x, y int) bool { return lengths[b[x]] > lengths[b[y]] }) {
				t.Errorf("batch %d: rows not sorted by length within a batch", tt.batch)
			}
		}
		for i, n := range seen {
			if n != 1 {
				t.Fatalf("batch %d: row %d appears %d times", tt.batch, i, n)
			}
		}
		if tt.batch == 32 && float64(padded)/float64(real) > 1.1 {
			t.Errorf("bucketing leaves %.0f%% padding", 100*(float64(padded)/float64(real)-1))
		}
	}
	a := planBatches(lengths, 32, epochRNG(5, 2))
	b := planBatches(lengths, 32, epochRNG(5, 2))
	c := planBatches(lengths, 32, epochRNG(5, 3))
	if !reflect.DeepEqual(a, b) || reflect.DeepEqual(a, c) {
		t.Error("batch plans must depend on seed and epoch only")
	}
}

func TestSchedule(t *testing.T) {
	tests := []struct {
		warmup float64
		total  int
		steps  []int
		want   []float64
	}{
		{0, 10, []int{0, 5, 9, 10}, []float64{1, 0.5, 0.1, 0}},
		{0.2, 10, []int{0, 1, 2, 6, 10}, []float64{0, 0.5, 1, 0.5, 0}},
	}
	for _, tt := range tests {
		s := newSchedule(1, tt.warmup, tt.total)
		for i, step := range tt.steps {
			if got := s.lr(step); math.Abs(got-tt.want[i]) > 1e-12 {
				t.Errorf("warmup %g step %d: lr %g, want %g", tt.warmup, step, got, tt.want[i])
			}
		}
	}
}

func TestClassWeightsAndLabels(t *testing.T) {
	w := classWeights([]int{0, 0, 0, 1}, 3)
	if !reflect.DeepEqual(w, []float32{4.0 / 9, 4.0 / 3, 1}) {
		t.Errorf("weights = %v", w)
	}
	tests := []struct {
		base, data, want []string
		keep             bool
	}{
		{[]string{"neg", "pos"}, []string{"neg", "pos"}, []string{"neg", "pos"}, true},
		{[]string{"pos", "neg"}, []string{"neg", "pos"}, []string{"pos", "neg"}, true},
		{[]string{"a", "b", "c"}, []string{"a", "c"}, []string{"a", "b", "c"}, true},
		{[]string{"a", "b"}, []string{"x", "y"}, []string{"x", "y"}, false},
		{nil, []string{"0", "1"}, []string{"0", "1"}, false},
	}
	for _, tt := range tests {
		got, keep := chooseLabels(tt.base, tt.data)
		if !reflect.DeepEqual(got, tt.want) || keep != tt.keep {
			t.Errorf("chooseLabels(%v, %v) = %v %v, want %v %v", tt.base, tt.data, got, keep, tt.want, tt.keep)
		}
	}
}

func TestMetricHelpers(t *testing.T) {
	doc := json.RawMessage(`{"accuracy":0.5,"labels":["a"]}`)
	if v, err := metricValue(doc, "accuracy"); err != nil || v != 0.5 {
		t.Errorf("accuracy = %v %v", v, err)
	}
	if _, err := metricValue(doc, "f2"); err == nil {
		t.Error("missing metric accepted")
	}
	lo, hi := 0.3, 0.7
	if !better("loss", 0.2, &lo) || better("loss", 0.4, &lo) || !better("accuracy", 0.8, &hi) || better("accuracy", 0.6, &hi) || !better("x", 0, nil) {
		t.Error("better() direction wrong")
	}
	d, err := withLoss(doc, 0.25)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := metricValue(d, "loss"); v != 0.25 {
		t.Errorf("loss = %v", v)
	}
}
