package dataset

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Rows written by WriteRows read back as the same rows with the lines of the user's file, and errors about them
// name the user's file and line, not the rows file.
func TestRowsRoundTrip(t *testing.T) {
	src := "sentence\tlabel\n\"quoted\" text\tpos\n\nsecond <b>row</b>\tneg\nthird\tpos\n"
	ds, err := Read(strings.NewReader(src), "user.tsv", Options{RequireLabel: true})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteRows(&buf, ds, "file[file-1] user.tsv"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "stored.jsonl") // the name's extension does not decide the format
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := ReadFile(path, Options{RequireLabel: true})
	if err != nil {
		t.Fatal(err)
	}
	if back.File != "file[file-1] user.tsv" || back.Format != FormatRows || back.HasPair != ds.HasPair {
		t.Errorf("read back as file %q format %q pair %v", back.File, back.Format, back.HasPair)
	}
	if !reflect.DeepEqual(back.Rows, ds.Rows) || !reflect.DeepEqual(back.Labels, ds.Labels) || !reflect.DeepEqual(back.Counts, ds.Counts) {
		t.Errorf("rows %+v, want %+v", back.Rows, ds.Rows)
	}
	if back.Rows[1].Line != 4 {
		t.Errorf("second row's line = %d, want 4 (the user's file)", back.Rows[1].Line)
	}
	// A stricter reader (a smaller row limit) blames the user's file and line.
	_, err = ReadFile(path, Options{RequireLabel: true, MaxRowBytes: 10})
	var de *Error
	if !errors.As(err, &de) || de.File != "file[file-1] user.tsv" || de.Line != 2 {
		t.Errorf("err = %v, want the user's file at line 2", err)
	}
	// A damaged rows file names itself and its own line.
	bad := bytes.Replace(buf.Bytes(), []byte(`{"line":4`), []byte(`{"line":"x"`), 1)
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err = ReadFile(path, Options{}); !errors.As(err, &de) || de.File != path || de.Line != 3 {
		t.Errorf("err = %v, want %s:3", err, path)
	}
}

func TestSplitHeldOut(t *testing.T) {
	var rows []Row
	for i := range 50 {
		rows = append(rows, Row{Line: i + 2, Text: "t", Label: []string{"a", "b", "c"}[min(i%5, 2)]})
	}
	ds := &Dataset{File: "f", Rows: rows}
	tr, va := ds.Split(0.1, 3)
	if len(tr.Rows)+len(va.Rows) != 50 || va.Counts["a"] != HeldOut(10, 0.1) || va.Counts["c"] != HeldOut(30, 0.1) {
		t.Errorf("split %d/%d, validation counts %v", len(tr.Rows), len(va.Rows), va.Counts)
	}
	if HeldOut(1, 0.5) != 0 || HeldOut(2, 0.9) != 1 || HeldOut(0, 0.1) != 0 {
		t.Error("HeldOut must never hold out all of a label's rows")
	}
	if _, none := (&Dataset{Rows: rows[:1]}).Split(0.1, 1); none != nil {
		t.Error("a split holding out nothing must return no validation set")
	}
}
