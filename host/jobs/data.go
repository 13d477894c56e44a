package jobs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/whetml/whet/dataset"
	"github.com/whetml/whet/host/store"
)

// RowsName is what errors about the rows of file f call them: its id and the name it was uploaded under, as in
// "file[file-abc] train.csv:12: tokenize: ...".
func RowsName(f *store.File) string { return fmt.Sprintf("file[%s] %s", f.ID, f.Filename) }

// StoreRows writes ds, the checked content of file f, as the rows its jobs' trainers read (dataset.FormatRows at
// store.RowsPath(f.ID), named RowsName(f)), and returns that path. Uploads call it once; every job on the file
// shares the result. The rows count against the store's Options.MaxBytes: content past it is refused with a
// *store.QuotaError naming the file, and nothing is left behind.
func StoreRows(st *store.Store, f *store.File, ds *dataset.Dataset) (string, error) {
	path := st.RowsPath(f.ID)
	what := fmt.Sprintf("file[%s]", f.Filename)
	if err := st.WriteFile(path, what, 0o644, func(w io.Writer) error { return dataset.WriteRows(w, ds, RowsName(f)) }); err != nil {
		return "", fmt.Errorf("file[%s]: store rows: %w", f.ID, err)
	}
	return path, nil
}

// rows returns file f's stored rows, writing them first for a file uploaded before uploads stored rows.
func (q *Queue) rows(f *store.File) (string, error) {
	path := q.st.RowsPath(f.ID)
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return path, err
	}
	ds, err := dataset.ReadFile(f.Path, dataset.Options{TextColumn: f.TextColumn, LabelColumn: f.LabelColumn, RequireLabel: true})
	if err != nil {
		return "", fmt.Errorf("file[%s] (%s): %w", f.ID, f.Filename, err)
	}
	return StoreRows(q.st, f, ds)
}

// firstLineWithLabel returns the line (in the user's file) of the first row of the rows file path with label, or 0.
func firstLineWithLabel(path, label string) int {
	ds, err := dataset.ReadFile(path, dataset.Options{})
	if err != nil {
		return 0
	}
	for _, r := range ds.Rows {
		if r.Label == label {
			return r.Line
		}
	}
	return 0
}

// copiedData reports whether job j's trainer reads a split copy of its data in the job's folder (jobs prepared
// before uploads stored rows) rather than its files' shared rows.
func (q *Queue) copiedData(j *store.Job) bool {
	return j.TrainPath != "" && filepath.Dir(j.TrainPath) == q.st.Path("jobs", j.ID)
}

// validationSplit is the share of each label's training rows job j's trainer holds out: Config.ValidationFraction
// without a validation file, else 0.
func (q *Queue) validationSplit(j *store.Job) float64 {
	if j.ValidationPath != "" || q.copiedData(j) {
		return 0
	}
	return q.cfg.ValidationFraction
}

// ValidationRows returns the rows job j evaluates on: its validation file's, or the rows its trainer holds out of
// the training file; none when its files were deleted after it finished. maxBytes caps what is read (0:
// dataset.DefaultMaxBytes).
func (q *Queue) ValidationRows(j *store.Job, maxBytes int64) ([]dataset.Row, error) {
	path, split := j.ValidationPath, 0.0
	if path == "" {
		path, split = j.TrainPath, q.validationSplit(j)
		if split == 0 {
			return nil, nil
		}
	}
	if _, err := os.Stat(path); path == "" || errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	ds, err := dataset.ReadFile(path, dataset.Options{RequireLabel: true, MaxBytes: maxBytes})
	if err != nil {
		return nil, err
	}
	if split == 0 {
		return ds.Rows, nil
	}
	_, val := dataset.StratifiedSplit(ds.Rows, split, *j.Hyperparameters.Seed)
	return val, nil
}
