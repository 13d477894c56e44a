// Package protocoltest holds a fake protocol.Model for tests: no libtorch, deterministic answers. Test code only
// (used by host/internal/fakewhet and in-process tests of host/predict).
package protocoltest

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"time"
)

// HashModel gives each label a logit from a hash of the label and the text, so answers are deterministic. A text
// containing "FAIL" is rejected as a row error ("input contains FAIL"), as a preprocess module rejects a row.
type HashModel struct {
	// Names are the labels.
	Names []string
	// MaxLen is reported as the max sequence length. Default: 0.
	MaxLen int
	// Delay is slept per request (to let batches form). Default: 0.
	Delay time.Duration
}

// Labels implements protocol.Model.
func (m *HashModel) Labels() []string { return m.Names }

// MaxSeqLength implements protocol.Model.
func (m *HashModel) MaxSeqLength() int { return m.MaxLen }

// Unload implements protocol.Model: HashModel has no adapters.
func (m *HashModel) Unload(context.Context, string) bool { return false }

// Logits implements protocol.Model; it knows no adapters.
func (m *HashModel) Logits(ctx context.Context, adapter string, texts []string) ([]string, [][]float32, []string, error) {
	if adapter != "" {
		return nil, nil, nil, fmt.Errorf("adapter[%s]: not found", adapter)
	}
	if m.Delay > 0 {
		select {
		case <-time.After(m.Delay):
		case <-ctx.Done():
			return nil, nil, nil, ctx.Err()
		}
	}
	logits := make([][]float32, len(texts))
	errs := make([]string, len(texts))
	for i, text := range texts {
		if strings.Contains(text, "TRAP") { // the preprocess module itself fails: the whole request does
			return nil, nil, nil, fmt.Errorf("module[hash-pre] function[whet_preprocess]: wasm trap: unreachable")
		}
		if strings.Contains(text, "FAIL") {
			errs[i] = "input contains FAIL"
			continue
		}
		logits[i] = make([]float32, len(m.Names))
		for j, l := range m.Names {
			h := fnv.New32a()
			h.Write([]byte(l + "\x00" + text))
			logits[i][j] = float32(h.Sum32()%1000) / 250
		}
	}
	return m.Names, logits, errs, nil
}
