package cluster

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestOpenDataDir: a worker's data folder is its own: a second worker on it is refused naming the lock and the flag
// (its model cache trim and job cleanup would remove the first one's folders), and the job folders a killed worker
// left are removed at start; once released, the folder opens again.
func TestOpenDataDir(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no flock: one worker per folder is the operator's to keep")
	}
	dir := t.TempDir()
	left := filepath.Join(dir, "jobs", "ftjob-1-tok")
	if err := os.MkdirAll(filepath.Join(left, "input"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(left, "input", "train.tsv"), []byte("text\tlabel\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	unlock, err := openDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("a killed run's job folder is still there (stat: %v)", err)
	}
	if _, err := openDataDir(dir); err == nil || !strings.Contains(err.Error(), "held by another whet worker") || !strings.Contains(err.Error(), "--data") {
		t.Errorf("a second worker on the folder: err = %v, want it refused naming the lock and --data", err)
	}
	unlock()
	again, err := openDataDir(dir)
	if err != nil {
		t.Fatalf("after the first worker released the folder: %v", err)
	}
	again()
}
