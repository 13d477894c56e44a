package api

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/whetml/whet/dataset"
	"github.com/whetml/whet/host/jobs"
	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/sdk"
)

// UploadFileHandler is POST /v1/files: multipart file (JSONL, CSV or TSV with a header) and purpose=fine-tune,
// optional text_column and label_column. The file is validated before it is stored; a bad row answers 400 with
// its line. Its checked rows are stored too (jobs.StoreRows): every job on the file trains on them.
func (s *Server) UploadFileHandler(c *fiber.Ctx) error {
	fm, err := s.readForm(c, "file", s.cfg.MaxFileBytes)
	if err != nil {
		return err
	}
	keep := false
	defer func() {
		if !keep {
			fm.discard()
		}
	}()
	if p := fm.value("purpose"); p != sdk.PurposeFineTune {
		return badRequest("purpose", "invalid_purpose", "purpose must be %q, got %q", sdk.PurposeFineTune, p)
	}
	name, staged := fm.filename, fm.file
	if staged.Size == 0 {
		return badRequest("file", "empty_file", "file[%s] is empty: expected a header row and labeled rows", name)
	}
	f, err := os.Open(staged.Path)
	if err != nil {
		return err
	}
	textCol, labelCol := fm.value("text_column"), fm.value("label_column")
	ds, err := dataset.Read(f, name, dataset.Options{TextColumn: textCol, LabelColumn: labelCol, RequireLabel: true,
		MaxBytes: s.cfg.MaxFileBytes})
	f.Close()
	if err != nil {
		return err
	}
	rec := &store.File{File: sdk.File{ID: store.NewID("file-"), Object: sdk.ObjectFile, Bytes: staged.Size,
		CreatedAt: time.Now().Unix(), Filename: name, Purpose: sdk.PurposeFineTune, Format: ds.Format,
		SHA256: staged.SHA256, Rows: len(ds.Rows), Labels: ds.Labels, LabelCounts: ds.Counts,
		TextColumn: textCol, LabelColumn: labelCol, Warnings: s.labelWarnings(ds), Status: "processed"}}
	// Parsed once: jobs train on these rows (their errors name this file and its lines). Written while the upload
	// is still staged, so that both count against --max-storage and a refusal leaves neither.
	rows, err := jobs.StoreRows(s.st, rec, ds)
	if err != nil {
		return err
	}
	if rec.Path, err = staged.Commit(s.st, "files", "."+ds.Format); err != nil {
		_ = os.Remove(rows)
		return err
	}
	keep = true
	if err := s.st.InsertFile(c.UserContext(), rec); err != nil {
		_ = os.Remove(rows)
		return err
	}
	s.log.Info("file uploaded", "file_id", rec.ID, "filename", name, "rows", rec.Rows, "labels", len(rec.Labels))
	return c.JSON(rec.File)
}

// labelWarnings flags label distributions that train badly.
func (s *Server) labelWarnings(ds *dataset.Dataset) []string {
	var out []string
	if len(ds.Labels) == 1 {
		out = append(out, fmt.Sprintf("only one label (%q): a classifier needs at least 2 (this file can still serve as a validation file)", ds.Labels[0]))
	}
	type lc struct {
		label string
		n     int
	}
	var counts []lc
	for _, l := range ds.Labels {
		counts = append(counts, lc{l, ds.Counts[l]})
	}
	sort.SliceStable(counts, func(i, j int) bool { return counts[i].n > counts[j].n })
	if len(counts) >= 2 {
		hi, lo := counts[0], counts[len(counts)-1]
		if float64(hi.n) > s.cfg.ImbalanceRatio*float64(lo.n) {
			out = append(out, fmt.Sprintf("labels are badly imbalanced: %q has %d rows but %q only %d (%.0f:1); consider hyperparameters.class_weights=\"auto\" or more data",
				hi.label, hi.n, lo.label, lo.n, float64(hi.n)/float64(lo.n)))
		}
	}
	for _, c := range counts {
		if c.n < s.cfg.MinRowsPerLabel {
			out = append(out, fmt.Sprintf("label %q has only %d rows (fewer than %d): the model may not learn it", c.label, c.n, s.cfg.MinRowsPerLabel))
		}
	}
	return out
}

// ListFilesHandler is GET /v1/files.
func (s *Server) ListFilesHandler(c *fiber.Ctx) error {
	files, err := s.st.ListFiles(c.UserContext())
	if err != nil {
		return err
	}
	out := sdk.FileList{Object: sdk.ObjectList, Data: []sdk.File{}}
	for _, f := range files {
		out.Data = append(out.Data, f.File)
	}
	return c.JSON(out)
}

// GetFileHandler is GET /v1/files/{id}.
func (s *Server) GetFileHandler(c *fiber.Ctx) error {
	f, err := s.st.GetFile(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(f.File)
}

// DeleteFileHandler is DELETE /v1/files/{id}; 409 while an unfinished job uses the file.
func (s *Server) DeleteFileHandler(c *fiber.Ctx) error {
	id := c.Params("id")
	if err := s.st.DeleteFile(c.UserContext(), id); err != nil {
		return err
	}
	return c.JSON(sdk.DeleteResponse{ID: id, Object: sdk.ObjectFile, Deleted: true})
}

// queryInt reads an integer query parameter, defaulting to def and capped at hi; a bad value is a 400.
func queryInt(c *fiber.Ctx, name string, def, lo, hi int64) (int64, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, badRequest(name, "invalid_value", "query parameter %s must be an integer between %d and %d, got %q", name, lo, hi, v)
	}
	return n, nil
}
