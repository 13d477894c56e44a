//go:build cgo && linux

package train_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/whetml/whet/internal/protocol"
	"github.com/whetml/whet/internal/runspec"
	"github.com/whetml/whet/native/bert"
	"github.com/whetml/whet/native/torch"
	"github.com/whetml/whet/native/train"
)

// rssKiB reads VmRSS from /proc/self/status.
func rssKiB(t testing.TB) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("VmRSS not found")
	return 0
}

// TestTrainMemoryFlat: over 1,000 training steps after warm-up, resident memory grows by less than 5%. A forgotten
// Drop of any per-step tensor (a batch, the logits, an activation) would grow it by megabytes per hundred steps.
func TestTrainMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("1,200 training steps; skipped with -short")
	}
	torch.SetThreads(1) // OpenMP barriers crawl on a busy 2-core machine; one thread keeps this test short
	base := tinyModel(t, []string{"neg", "pos"}, func(c *bert.Config) { c.HiddenSize, c.IntermediateSize = 64, 128 })
	const warm, measured = 200, 1000
	var before, after int64
	var samples []int64
	res, err := train.Run(context.Background(), train.Config{
		ModelDir: base, OutDir: filepath.Join(t.TempDir(), "out"), Train: synthetic(2000, 3), Progress: func(e protocol.Event) {
			if e.Type != protocol.EventStep {
				return
			}
			switch {
			case e.Step == warm:
				before = rssKiB(t)
			case e.Step == warm+measured:
				after = rssKiB(t)
			}
			if e.Step%100 == 0 {
				samples = append(samples, rssKiB(t))
			}
		}, Hyperparameters: hp(func(h *runspec.Hyperparameters) {
			h.Epochs = 10
			h.BatchSize = 16
			h.LearningRate = 1e-3
			h.MaxSteps = warm + measured
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	growth := float64(after-before) / float64(before)
	t.Logf("%d steps: RSS %d KiB after warm-up, %d KiB after %d more steps (%+.2f%%, %.1f KB/step); every 100 steps: %v",
		res.GlobalStep, before, after, measured, 100*growth, float64(after-before)*1.024/measured, samples)
	if growth >= 0.05 {
		t.Errorf("RSS grew %.1f%% over %d steps (limit 5%%)", 100*growth, measured)
	}
}

// TestPretrainMemoryFlat: masked-LM pretraining keeps no tensor of a step. C malloc's bytes in use after a step
// (every per-step tensor dropped by then) stay within 256 KiB over 600 steps after warm-up: one forgotten Drop of
// the smallest per-step tensor (the mask positions, a few hundred bytes) would add more than that. The bytes malloc
// holds from the system are logged: they may grow with freed buffers kept for reuse (malloc.c's settings) without any
// leak.
func TestPretrainMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("700 pretraining steps; skipped with -short")
	}
	if u, _ := torch.MallocStats(); u == 0 {
		t.Skip("malloc statistics need glibc")
	}
	torch.SetThreads(1)
	base := tinyModel(t, []string{"neg", "pos"}, func(c *bert.Config) { c.HiddenSize, c.IntermediateSize = 64, 128 })
	const warm, measured = 100, 600
	var inUse, held [2]uint64
	var samples []string
	cfg := train.PretrainDefaults()
	cfg.ModelDir, cfg.OutDir, cfg.Texts, cfg.MaskTokenID, cfg.SpecialIDs = base, filepath.Join(t.TempDir(), "mlm"), corpus(400), 4, []int32{0, 1, 2, 3, 4}
	cfg.MaxSteps, cfg.BatchSize, cfg.LearningRate = warm+measured, 8, 1e-3
	cfg.Progress = func(e protocol.Event) {
		if e.Type != protocol.EventStep {
			return
		}
		u, h := torch.MallocStats()
		switch e.Step {
		case warm:
			inUse[0], held[0] = u, h
		case warm + measured:
			inUse[1], held[1] = u, h
		}
		if e.Step%100 == 0 {
			samples = append(samples, fmt.Sprintf("%d:%d/%d", e.Step, u>>10, h>>10))
		}
	}
	if _, err := train.Pretrain(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	growth := int64(inUse[1]) - int64(inUse[0])
	t.Logf("malloc in use %d -> %d KiB (%+d bytes over %d steps), held %d -> %d KiB; step:in-use/held KiB %v",
		inUse[0]>>10, inUse[1]>>10, growth, measured, held[0]>>10, held[1]>>10, samples)
	if growth > 256<<10 {
		t.Errorf("malloc in use grew %d bytes over %d pretraining steps (%.0f per step): a tensor is not dropped", growth, measured, float64(growth)/measured)
	}
}
