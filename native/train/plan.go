package train

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
)

// bucketBatches is how many batches one length-sorted chunk holds (HF's group_by_length uses 50).
const bucketBatches = 50

// planBatches shuffles row indices, sorts them by length (longest first) within chunks of bucketBatches batches,
// cuts the chunks into batches and shuffles the batch order. Batches are then padded only to their own longest row.
func planBatches(lengths []int, batchSize int, rng *rand.Rand) [][]int {
	perm := rng.Perm(len(lengths))
	chunk := batchSize * bucketBatches
	var batches [][]int
	for s := 0; s < len(perm); s += chunk {
		c := perm[s:min(s+chunk, len(perm))]
		sort.SliceStable(c, func(a, b int) bool { return lengths[c[a]] > lengths[c[b]] })
		for b := 0; b < len(c); b += batchSize {
			batches = append(batches, c[b:min(b+batchSize, len(c)):min(b+batchSize, len(c))])
		}
	}
	rng.Shuffle(len(batches), func(i, j int) { batches[i], batches[j] = batches[j], batches[i] })
	return batches
}

// epochRNG is the shuffling generator of one epoch: a function of seed and epoch only, so a resumed run sees the
// same order.
func epochRNG(seed int64, epoch int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), uint64(epoch)+0x9e3779b97f4a7c15))
}

// schedule is linear warmup then linear decay to 0 (HF get_linear_schedule_with_warmup); s is the 0-based
// optimizer step.
type schedule struct {
	peak          float64
	warmup, total int
}

func newSchedule(peak, warmupRatio float64, total int) schedule {
	return schedule{peak: peak, warmup: int(math.Ceil(warmupRatio * float64(total))), total: total}
}

func (s schedule) lr(step int) float64 {
	if step < s.warmup {
		return s.peak * float64(step) / float64(max(1, s.warmup))
	}
	return s.peak * max(0, float64(s.total-step)/float64(max(1, s.total-s.warmup)))
}

// classWeights returns n/(k*count) per class (scikit-learn's "balanced"); classes without rows get 1.
func classWeights(labels []int, k int) []float32 {
	counts := make([]int, k)
	for _, l := range labels {
		counts[l]++
	}
	w := make([]float32, k)
	for c := range w {
		if counts[c] == 0 {
			w[c] = 1
			continue
		}
		w[c] = float32(float64(len(labels)) / float64(k*counts[c]))
	}
	return w
}

// chooseLabels decides the label order: the base model's labels when they cover every label of the data (its
// classifier is kept), else the data's labels in dataset order (numeric if all integers, else lexical) with a fresh
// classifier.
func chooseLabels(base []string, data []string) (labels []string, keepBase bool) {
	if len(base) > 0 {
		have := map[string]bool{}
		for _, l := range base {
			have[l] = true
		}
		all := true
		for _, l := range data {
			if !have[l] {
				all = false
				break
			}
		}
		if all {
			return base, true
		}
	}
	return data, false
}

// TrainerState is trainer_state.json in a checkpoint folder.
type TrainerState struct {
	// GlobalStep is the number of optimizer steps done.
	GlobalStep int `json:"global_step"`
	// Epoch is the fractional epoch reached.
	Epoch float64 `json:"epoch"`
	// Metrics is this checkpoint's evaluation (null without one).
	Metrics json.RawMessage `json:"metrics"`
	// BestMetric is the best value of MetricForBestModel so far (null without evaluations).
	BestMetric *float64 `json:"best_metric"`
	// BestCheckpoint is the best checkpoint folder so far.
	BestCheckpoint string `json:"best_checkpoint"`
	// MetricForBestModel names the metric BestMetric is about.
	MetricForBestModel string `json:"metric_for_best_model,omitempty"`
	// TotalSteps is the planned number of steps.
	TotalSteps int `json:"total_steps,omitempty"`
	// Seed is the run's seed (a resumed run should use the same).
	Seed int64 `json:"seed,omitempty"`
	// PatienceLeft is how many more evaluations without improvement early stopping allows (absent without early
	// stopping).
	PatienceLeft *int `json:"patience_left,omitempty"`
}

// TrainerStateFile is the name of the state file in a checkpoint folder.
const TrainerStateFile = "trainer_state.json"

// ReadTrainerState reads dir/trainer_state.json.
func ReadTrainerState(dir string) (*TrainerState, error) {
	p := filepath.Join(dir, TrainerStateFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("resume[%s]: %w", dir, err)
	}
	var s TrainerState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("resume[%s]: %s: %w", dir, TrainerStateFile, err)
	}
	return &s, nil
}

// metricValue reads a numeric metric from a metrics document.
func metricValue(doc json.RawMessage, name string) (float64, error) {
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		return 0, fmt.Errorf("metrics document: %w", err)
	}
	v, ok := m[name].(float64)
	if !ok {
		keys := make([]string, 0, len(m))
		for k, v := range m {
			if _, num := v.(float64); num {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		return 0, fmt.Errorf("metric[%s]: not a number in the metrics document (numeric keys: %v)", name, keys)
	}
	return v, nil
}

// better reports whether v improves on best for metric name ("loss" and names ending in "loss" are lower-is-better).
func better(name string, v float64, best *float64) bool {
	if best == nil {
		return true
	}
	if name == "loss" || len(name) > 5 && name[len(name)-5:] == "_loss" {
		return v < *best
	}
	return v > *best
}

// withLoss adds "loss" to a metrics document.
func withLoss(doc json.RawMessage, loss float64) (json.RawMessage, error) {
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, fmt.Errorf("metrics document: %w", err)
	}
	m["loss"] = loss
	return json.Marshal(m)
}

// round rounds v to digits decimals (0 for NaN and Inf, which JSON cannot carry).
func round(v float64, digits int) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
