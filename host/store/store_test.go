package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/sdk"
)

func open(t *testing.T, dir string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), dir, store.Options{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func addFile(t *testing.T, s *store.Store, content string) *store.File {
	t.Helper()
	st, err := s.Stage(strings.NewReader(content), "file", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	path, err := st.Commit(s, "files", ".jsonl")
	if err != nil {
		t.Fatal(err)
	}
	f := &store.File{File: sdk.File{ID: store.NewID("file-"), Filename: "t.jsonl", Purpose: sdk.PurposeFineTune,
		Format: "jsonl", Bytes: st.Size, SHA256: st.SHA256, Rows: 1, Labels: []string{"a"},
		LabelCounts: map[string]int{"a": 1}, CreatedAt: 1}, Path: path}
	if err := s.InsertFile(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestReopenKeepsEverything(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	f := addFile(t, s, `{"text":"x","label":"a"}`)
	if _, _, err := s.CreateKey(ctx, "ci", store.ScopeUser); err != nil {
		t.Fatal(err)
	}
	s.Close(ctx)
	s2 := open(t, dir)
	got, err := s2.GetFile(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.SHA256 != f.SHA256 || got.Labels[0] != "a" || got.LabelCounts["a"] != 1 || got.Status != "processed" {
		t.Fatalf("file after reopen = %+v", got)
	}
	if ok, _ := s2.HasKeys(ctx); !ok {
		t.Fatal("key lost after reopen")
	}
}

func TestExclusiveLock(t *testing.T) {
	dir := t.TempDir()
	open(t, dir)
	_, err := store.Open(context.Background(), dir, store.Options{Exclusive: true})
	if err == nil || !strings.Contains(err.Error(), "another whet server") {
		t.Fatalf("second exclusive open: err = %v", err)
	}
	// A non-exclusive open (whet keys create) works beside the server.
	s, err := store.Open(context.Background(), dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close(context.Background())
}

func TestStageLimitAndContentAddressing(t *testing.T) {
	s := open(t, t.TempDir())
	_, err := s.Stage(strings.NewReader(strings.Repeat("x", 11)), "file", 10)
	var tl *store.TooLargeError
	if !errors.As(err, &tl) || tl.Limit != 10 {
		t.Fatalf("Stage over limit: err = %v", err)
	}
	a := addFile(t, s, "same")
	b := addFile(t, s, "same")
	if a.Path != b.Path {
		t.Fatalf("same content stored twice: %s, %s", a.Path, b.Path)
	}
	if err := s.DeleteFile(context.Background(), a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(b.Path); err != nil {
		t.Fatalf("shared content removed with one of its files: %v", err)
	}
	if err := s.DeleteFile(context.Background(), b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(b.Path); !os.IsNotExist(err) {
		t.Fatalf("content kept after its last file was deleted: %v", err)
	}
	if entries, _ := os.ReadDir(s.Path("tmp")); len(entries) != 0 {
		t.Fatalf("staging left behind: %v", entries)
	}
}

func newJob(t *testing.T, s *store.Store, f *store.File) *store.Job {
	t.Helper()
	ctx := context.Background()
	m := &store.Model{Model: sdk.Model{ID: "base-" + store.NewID(""), Source: "path", OwnedBy: "user", CreatedAt: 1},
		Path: t.TempDir()}
	if err := s.InsertModel(ctx, m); err != nil {
		t.Fatal(err)
	}
	j := &store.Job{Job: sdk.Job{ID: store.NewID("ftjob-"), Status: sdk.JobQueued, Model: m.ID,
		TrainingFile: f.ID, CreatedAt: 1}}
	if err := s.InsertJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	return j
}

func TestDeleteInUse(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	f := addFile(t, s, "data")
	j := newJob(t, s, f)
	err := s.DeleteFile(ctx, f.ID)
	var iu *store.InUseError
	if !errors.As(err, &iu) || iu.JobID != j.ID {
		t.Fatalf("delete of a file used by a queued job: err = %v", err)
	}
	if err := s.DeleteModel(ctx, j.Model); !errors.Is(err, store.ErrInUse) {
		t.Fatalf("delete of a model used by a queued job: err = %v", err)
	}
	if _, err := s.Transition(ctx, j.ID, sdk.JobQueued, sdk.JobCancelled, store.JobChange{Finished: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteFile(ctx, f.ID); err != nil {
		t.Fatalf("delete after the job finished: %v", err)
	}
	if err := s.DeleteFile(ctx, f.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: err = %v", err)
	}
}

func TestInsertJobChecksReferences(t *testing.T) {
	s := open(t, t.TempDir())
	f := addFile(t, s, "data")
	j := &store.Job{Job: sdk.Job{ID: "ftjob-x", Status: sdk.JobQueued, Model: "nope", TrainingFile: f.ID}}
	err := s.InsertJob(context.Background(), j)
	var nf *store.NotFoundError
	if !errors.As(err, &nf) || nf.Kind != "model" || nf.ID != "nope" {
		t.Fatalf("InsertJob with unknown model: err = %v", err)
	}
}

// TestTransitionHammer races many goroutines on one transition: exactly one may win.
func TestTransitionHammer(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	j := newJob(t, s, addFile(t, s, "d"))
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Transition(ctx, j.ID, sdk.JobQueued, sdk.JobRunning, store.JobChange{Started: true})
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, store.ErrConflict):
				conflicts.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != 15 {
		t.Fatalf("wins = %d, conflicts = %d; want 1 and 15", wins.Load(), conflicts.Load())
	}
	got, _ := s.GetJob(ctx, j.ID)
	if got.Status != sdk.JobRunning || got.Attempts != 1 || got.StartedAt == nil {
		t.Fatalf("job after race = %+v", got.Job)
	}
}

func TestSucceedRegistersModelAtomically(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	j := newJob(t, s, addFile(t, s, "d"))
	if _, err := s.Transition(ctx, j.ID, sdk.JobQueued, sdk.JobRunning, store.JobChange{Started: true}); err != nil {
		t.Fatal(err)
	}
	ft := "ft:" + j.Model + ":" + j.ID
	// A clashing model id makes the whole transition fail: the job must stay running.
	clash := &store.Model{Model: sdk.Model{ID: ft, Source: "path"}, Path: t.TempDir()}
	if err := s.InsertModel(ctx, clash); err != nil {
		t.Fatal(err)
	}
	_, err := s.Transition(ctx, j.ID, sdk.JobRunning, sdk.JobSucceeded, store.JobChange{Finished: true,
		FineTunedModel: &ft, RegisterModel: &store.Model{Model: sdk.Model{ID: ft}}})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("succeed with clashing model id: err = %v", err)
	}
	if got, _ := s.GetJob(ctx, j.ID); got.Status != sdk.JobRunning {
		t.Fatalf("status after failed transition = %s", got.Status)
	}
	if err := s.DeleteModel(ctx, ft); err != nil {
		t.Fatal(err)
	}
	got, err := s.Transition(ctx, j.ID, sdk.JobRunning, sdk.JobSucceeded, store.JobChange{Finished: true,
		FineTunedModel: &ft, RegisterModel: &store.Model{Model: sdk.Model{ID: ft, JobID: j.ID}, Path: filepath.Join(t.TempDir(), "out")}})
	if err != nil {
		t.Fatal(err)
	}
	if got.FineTunedModel == nil || *got.FineTunedModel != ft || got.FinishedAt == nil {
		t.Fatalf("job = %+v", got.Job)
	}
	if m, err := s.GetModel(ctx, ft); err != nil || m.JobID != j.ID {
		t.Fatalf("fine-tuned model = %+v, %v", m, err)
	}
}

func TestEventsAndCheckpoints(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	j := newJob(t, s, addFile(t, s, "d"))
	loss := 0.5
	for i := range 5 {
		if _, err := s.AddEvent(ctx, j.ID, sdk.JobEvent{Type: sdk.EventMetrics, Message: "step",
			Data: &sdk.EventData{Step: i + 1, Loss: &loss}}); err != nil {
			t.Fatal(err)
		}
	}
	page, more, err := s.ListEvents(ctx, j.ID, 0, 3)
	if err != nil || len(page) != 3 || !more {
		t.Fatalf("first page: %d events, more=%v, err=%v", len(page), more, err)
	}
	rest, more, _ := s.ListEvents(ctx, j.ID, page[2].ID, 3)
	if len(rest) != 2 || more || rest[0].Data.Step != 4 || *rest[0].Data.Loss != 0.5 {
		t.Fatalf("second page = %+v more=%v", rest, more)
	}
	for _, step := range []int{10, 20} {
		c := &store.Checkpoint{Checkpoint: sdk.Checkpoint{ID: store.NewID("ftckpt-"), FineTuningJobID: j.ID,
			StepNumber: step}, Path: filepath.Join("ck", "checkpoint-"+string(rune('0'+step/10)))}
		if err := s.AddCheckpoint(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	cks, err := s.ListCheckpoints(ctx, j.ID)
	if err != nil || len(cks) != 2 || cks[0].StepNumber != 20 {
		t.Fatalf("checkpoints = %+v, %v", cks, err)
	}
}

func TestKeysStoredHashed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	key, _, err := s.CreateKey(ctx, "ci", store.ScopeUser)
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := s.LookupKey(ctx, key); k == nil || k.Scope != store.ScopeUser || k.Name != "ci" {
		t.Fatalf("created key looks up as %+v", k)
	}
	if k, _ := s.LookupKey(ctx, key+"x"); k != nil {
		t.Fatal("wrong key verifies")
	}
	s.Close(ctx)
	raw, err := os.ReadFile(filepath.Join(dir, "whet.db"))
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(filepath.Join(dir, "whet.db-wal"))
	if strings.Contains(string(raw)+string(wal), key) {
		t.Fatal("plaintext key found in the database")
	}
	if !strings.Contains(string(raw)+string(wal), store.HashKey(key)) {
		t.Fatal("key hash not found in the database")
	}
}

func TestKeysScopesAndRevocation(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	if _, _, err := s.CreateKey(ctx, "x", "root"); err == nil || !strings.Contains(err.Error(), "scope must be one of") {
		t.Fatalf("unknown scope: %v", err)
	}
	read, readID, _ := s.CreateKey(ctx, "dashboard", store.ScopeRead)
	admin, _, _ := s.CreateKey(ctx, "ops", store.ScopeAdmin)
	if err := s.RevokeKey(ctx, readID); err != nil {
		t.Fatal(err)
	}
	if k, _ := s.LookupKey(ctx, read); k != nil {
		t.Fatalf("revoked key still verifies: %+v", k)
	}
	if k, _ := s.LookupKey(ctx, admin); k == nil || k.Scope != store.ScopeAdmin {
		t.Fatalf("admin key: %+v", k)
	}
	var nf *store.NotFoundError
	if err := s.RevokeKey(ctx, "key-nope"); !errors.As(err, &nf) {
		t.Fatalf("revoke unknown: %v", err)
	}
	keys, err := s.ListKeys(ctx)
	if err != nil || len(keys) != 2 || keys[0].ID != readID || keys[0].RevokedAt == 0 || keys[1].RevokedAt != 0 {
		t.Fatalf("ListKeys = %+v, %v", keys, err)
	}
	if has, _ := s.HasKeys(ctx); !has {
		t.Fatal("HasKeys false with keys stored")
	}
	for _, tc := range []struct {
		has, need string
		ok        bool
	}{{"admin", "user", true}, {"user", "admin", false}, {"read", "user", false}, {"read", "read", true}, {"", "read", false}} {
		if got := store.ScopeAllows(tc.has, tc.need); got != tc.ok {
			t.Errorf("ScopeAllows(%q, %q) = %v", tc.has, tc.need, got)
		}
	}
}
