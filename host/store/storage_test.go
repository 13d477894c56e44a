package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/sdk"
)

// Sweep removes what no record refers to (as a crash leaves it) and keeps everything a record uses.
func TestSweepRemovesLeftovers(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	f := addFile(t, s, `{"text":"x","label":"a"}`)
	j := &store.Job{Job: sdk.Job{ID: store.NewID("ftjob-"), Status: sdk.JobQueued, Model: "m", TrainingFile: f.ID},
		OutDir: s.Path("jobs", "ftjob-live", "out")}
	mdl := &store.Model{Model: sdk.Model{ID: "m", Source: "upload"}, Path: s.Path("models", "m-1234"), OwnsPath: true}
	if err := s.InsertModel(ctx, mdl); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	write := func(rel string) {
		p := s.Path(rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("data"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	keep := []string{"jobs/ftjob-live/out/config.json", "jobs/ftjob-live/train.jsonl", "models/m-1234/config.json"}
	gone := []string{"jobs/ftjob-orphan/train.jsonl", "files/0123abcd.jsonl", "modules/0123abcd.wasm", "models/x-9/config.json"}
	for _, p := range append(keep, gone...) {
		write(p)
	}
	rep, err := s.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"files/0123abcd.jsonl", "jobs/ftjob-orphan", "models/x-9", "modules/0123abcd.wasm"}
	slices.Sort(rep.Removed)
	if !slices.Equal(rep.Removed, want) || rep.Bytes != 16 {
		t.Errorf("removed %v (%d bytes), want %v (16 bytes)", rep.Removed, rep.Bytes, want)
	}
	for _, p := range append(keep, strings.TrimPrefix(f.Path, s.Dir()+"/")) {
		if _, err := os.Stat(s.Path(p)); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
}

// With Options.MaxBytes an upload that would take the data folder past the limit is refused (nothing is left in
// tmp/) and so is anything once the folder is full; the per-upload limit still reports as too large.
func TestStorageQuota(t *testing.T) {
	dir := t.TempDir()
	probe := open(t, dir)
	base := probe.Usage()
	probe.Close(context.Background())
	s, err := store.Open(context.Background(), dir, store.Options{Exclusive: true, MaxBytes: base + 1<<20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	var qe *store.QuotaError
	if _, err := s.Stage(strings.NewReader(strings.Repeat("x", 2<<20)), "file[big.jsonl]", 8<<20); !errors.As(err, &qe) ||
		!strings.Contains(err.Error(), "file[big.jsonl] refused") || !strings.Contains(err.Error(), "--max-storage") {
		t.Fatalf("upload past the quota: err = %v, want a *QuotaError naming the file and --max-storage", err)
	}
	if entries, _ := os.ReadDir(s.Path("tmp")); len(entries) != 0 {
		t.Errorf("a refused upload left %d files in tmp/", len(entries))
	}
	var tl *store.TooLargeError
	if _, err := s.Stage(strings.NewReader(strings.Repeat("x", 200)), "file[a.jsonl]", 100); !errors.As(err, &tl) {
		t.Fatalf("upload past the per-file limit: err = %v, want *TooLargeError", err)
	}
	st, err := s.Stage(strings.NewReader(strings.Repeat("x", 100<<10)), "file[fits.jsonl]", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Commit(s, "files", ".jsonl"); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckQuota("fine-tuning job"); err != nil {
		t.Fatalf("CheckQuota below the limit: %v", err)
	}
	if err := os.WriteFile(s.Path("files", "more"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckQuota("fine-tuning job"); !errors.As(err, &qe) {
		t.Fatalf("CheckQuota past the limit: err = %v, want *QuotaError", err)
	}
	if _, err := s.Stage(strings.NewReader("x"), "file[tiny.jsonl]", 1<<20); !errors.As(err, &qe) {
		t.Fatalf("upload into a full folder: err = %v, want *QuotaError", err)
	}
}
