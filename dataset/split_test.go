package dataset_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/whetml/whet/dataset"
)

func TestStratifiedSplit(t *testing.T) {
	var rows []dataset.Row
	for i := range 100 {
		label := "a"
		if i%4 == 0 {
			label = "b" // 25 b, 75 a
		}
		rows = append(rows, dataset.Row{Line: i + 1, Text: fmt.Sprint(i), Label: label})
	}
	rows = append(rows, dataset.Row{Line: 101, Text: "lonely", Label: "c"})
	train, val := dataset.StratifiedSplit(rows, 0.1, 7)
	count := func(rs []dataset.Row, l string) (n int) {
		for _, r := range rs {
			if r.Label == l {
				n++
			}
		}
		return n
	}
	if count(val, "a") != 8 || count(val, "b") != 3 || count(val, "c") != 0 || len(train)+len(val) != 101 {
		t.Fatalf("split: val a=%d b=%d c=%d, train %d", count(val, "a"), count(val, "b"), count(val, "c"), len(train))
	}
	// The rows held out by the split jobs made before it moved here (host/jobs): seeded runs train on the same rows.
	var lines []int
	for _, r := range val {
		lines = append(lines, r.Line)
	}
	if want := []int{27, 36, 41, 46, 54, 65, 70, 94, 97, 98, 99}; !slices.Equal(lines, want) {
		t.Fatalf("held out lines %v, want %v", lines, want)
	}
	_, again := dataset.StratifiedSplit(rows, 0.1, 7)
	_, other := dataset.StratifiedSplit(rows, 0.1, 8)
	if !slices.Equal(val, again) {
		t.Fatal("same seed gave a different split")
	}
	if slices.Equal(val, other) {
		t.Fatal("different seeds gave the same split")
	}
}
