package jobs

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sort"

	"github.com/whetml/whet/dataset"
)

// DefaultValidationFraction is the share of each label's rows held out when a job has no validation file.
const DefaultValidationFraction = 0.1

// StratifiedSplit splits rows into train and validation sets, holding out round(fraction*n) rows of every label
// that has at least two rows (never all of them), chosen by a generator seeded with seed: the same inputs give the
// same split. Row order within each set follows the input.
func StratifiedSplit(rows []dataset.Row, fraction float64, seed int64) (train, validation []dataset.Row) {
	byLabel := map[string][]int{}
	var labels []string
	for i, r := range rows {
		if _, ok := byLabel[r.Label]; !ok {
			labels = append(labels, r.Label)
		}
		byLabel[r.Label] = append(byLabel[r.Label], i)
	}
	sort.Strings(labels)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x77686574)) // "whet"
	held := make([]bool, len(rows))
	for _, l := range labels {
		idx := byLabel[l]
		n := int(math.Round(fraction * float64(len(idx))))
		if n >= len(idx) {
			n = len(idx) - 1
		}
		if n <= 0 {
			continue
		}
		perm := rng.Perm(len(idx))
		for _, p := range perm[:n] {
			held[idx[p]] = true
		}
	}
	for i, r := range rows {
		if held[i] {
			validation = append(validation, r)
		} else {
			train = append(train, r)
		}
	}
	return train, validation
}

// writeJSONL writes rows as the normalized JSONL the trainer reads ({"text", "label"[, "text_pair"]}), atomically.
func writeJSONL(path string, rows []dataset.Row, hasPair bool) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write data[%s]: %w", path, err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, r := range rows {
		row := map[string]string{"text": r.Text, "label": r.Label}
		if hasPair {
			row["text_pair"] = r.TextPair
		}
		if err = enc.Encode(row); err != nil {
			break
		}
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write data[%s]: %w", path, err)
	}
	return nil
}
