package cluster

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whetml/whet/host/predict"
)

// TestPredictProcessFlags: a worker serving models starts its predict processes with its threads and
// PredictQuantize (`whet worker --predict-quantize`), as `whet serve --predict-quantize` does for the server's own.
// The binary here records its command line and exits, so the prediction fails after the start.
func TestPredictProcessFlags(t *testing.T) {
	dir := t.TempDir()
	argsFile := filepath.Join(dir, "args")
	bin := filepath.Join(dir, "whet")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho \"$@\" > '"+argsFile+"'\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "model")
	for _, tt := range []struct{ quantize, want string }{
		{"int8", "worker predict --model " + model + " --threads 3 --quantize int8"},
		{"", "worker predict --model " + model + " --threads 3"},
	} {
		os.Remove(argsFile)
		w := &worker{cfg: WorkerConfig{Bin: bin, Threads: 3, PredictQuantize: tt.quantize}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		pool, err := predict.New(w.predictConfig())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if _, err := pool.Predict(ctx, "m", model, []string{"a text"}); err == nil {
			t.Errorf("quantize %q: a process that exits at once answered", tt.quantize)
		}
		_ = pool.Close(ctx)
		cancel()
		got, err := os.ReadFile(argsFile)
		if err != nil {
			t.Fatalf("quantize %q: the predict process did not start: %v", tt.quantize, err)
		}
		if strings.TrimSpace(string(got)) != tt.want {
			t.Errorf("quantize %q: predict process ran with %q, want %q", tt.quantize, strings.TrimSpace(string(got)), tt.want)
		}
	}
}
