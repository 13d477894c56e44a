package dataset

import (
	"math"
	"math/rand/v2"
	"sort"
)

// HeldOut is how many of a label's n rows a split with fraction holds out: round(fraction*n), never all of them
// (none of a label with a single row).
func HeldOut(n int, fraction float64) int {
	k := int(math.Round(fraction * float64(n)))
	if k >= n {
		k = n - 1
	}
	return max(k, 0)
}

// StratifiedSplit splits rows into train and validation sets, holding out HeldOut(n, fraction) rows of every label
// (n: its rows), chosen by a generator seeded with seed: the same inputs give the same split. Row order within
// each set follows the input.
func StratifiedSplit(rows []Row, fraction float64, seed int64) (train, validation []Row) {
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
		n := HeldOut(len(idx), fraction)
		if n == 0 {
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

// Split returns d's StratifiedSplit as two datasets named like d, with their labels and counts; validation is nil
// when no row is held out.
func (d *Dataset) Split(fraction float64, seed int64) (train, validation *Dataset) {
	tr, va := StratifiedSplit(d.Rows, fraction, seed)
	train = &Dataset{File: d.File, Format: d.Format, Rows: tr, HasPair: d.HasPair}
	train.finish()
	if len(va) == 0 {
		return train, nil
	}
	validation = &Dataset{File: d.File, Format: d.Format, Rows: va, HasPair: d.HasPair}
	validation.finish()
	return train, validation
}
