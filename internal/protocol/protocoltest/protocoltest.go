// Package protocoltest holds a fake protocol.Model for tests: no libtorch, deterministic answers. Test code only
// (used by host/internal/fakewhet and in-process tests of host/predict).
package protocoltest

import (
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/whetml/whet/internal/protocol"
)

// HashModel gives each label a logit from a hash of the label and the text, so answers are deterministic. A text
// containing "FAIL" is rejected as a row error ("input contains FAIL"), as a preprocess module rejects a row; one
// containing "FAULT" gets a row error with protocol.CodeModuleFailed, as an input the module hangs on alone; one
// containing "TRAP" fails the whole request, as a failing module does; one containing "HANG" blocks until ctx ends,
// as a worker hung in native code.
type HashModel struct {
	// Names are the labels.
	Names []string
	// MaxLen is reported as the max sequence length. Default: 0.
	MaxLen int
	// Delay is slept per request (to let batches form). Default: 0.
	Delay time.Duration
	// Adapters, when true, serves any adapter folder named in a request as a model of its own (its logits hash
	// the folder too), loaded on first use. Default: false (a request naming an adapter fails).
	Adapters bool

	mu     sync.Mutex
	loads  map[string]int  // adapter folder -> times loaded
	loaded map[string]bool // adapter folders loaded now
}

// Loads returns how many times each adapter folder was loaded, and which are loaded now (sorted).
func (m *HashModel) Loads() (loads map[string]int, now []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	loads = maps.Clone(m.loads)
	for dir := range m.loaded {
		now = append(now, dir)
	}
	slices.Sort(now)
	return loads, now
}

// Labels implements protocol.Model.
func (m *HashModel) Labels() []string { return m.Names }

// MaxSeqLength implements protocol.Model.
func (m *HashModel) MaxSeqLength() int { return m.MaxLen }

// Unload implements protocol.Model.
func (m *HashModel) Unload(_ context.Context, adapter string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	was := m.loaded[adapter]
	delete(m.loaded, adapter)
	return was
}

// Logits implements protocol.Model.
func (m *HashModel) Logits(ctx context.Context, adapter string, texts []string) ([]string, [][]float32, []protocol.RowError, error) {
	if adapter != "" && !m.Adapters {
		return nil, nil, nil, fmt.Errorf("adapter[%s]: not found", adapter)
	}
	if adapter != "" {
		m.mu.Lock()
		if m.loaded == nil {
			m.loaded, m.loads = map[string]bool{}, map[string]int{}
		}
		if !m.loaded[adapter] {
			m.loaded[adapter] = true
			m.loads[adapter]++
		}
		m.mu.Unlock()
	}
	if m.Delay > 0 {
		select {
		case <-time.After(m.Delay):
		case <-ctx.Done():
			return nil, nil, nil, ctx.Err()
		}
	}
	logits := make([][]float32, len(texts))
	errs := make([]protocol.RowError, len(texts))
	for i, text := range texts {
		if strings.Contains(text, "HANG") {
			<-ctx.Done()
			return nil, nil, nil, ctx.Err()
		}
		if strings.Contains(text, "TRAP") { // the preprocess module itself fails: the whole request does
			return nil, nil, nil, fmt.Errorf("module[hash-pre] function[whet_preprocess]: wasm trap: unreachable")
		}
		if strings.Contains(text, "FAIL") {
			errs[i] = protocol.RowError{Msg: "input contains FAIL"}
			continue
		}
		if strings.Contains(text, "FAULT") {
			errs[i] = protocol.RowError{Code: protocol.CodeModuleFailed, Msg: "module[hash-pre] function[whet_preprocess]: " +
				"time limit exceeded: stopped after the 2s limit (Config.RowTimeout: 2s per row)"}
			continue
		}
		logits[i] = make([]float32, len(m.Names))
		for j, l := range m.Names {
			h := fnv.New32a()
			h.Write([]byte(adapter + l + "\x00" + text))
			logits[i][j] = float32(h.Sum32()%1000) / 250
		}
	}
	return m.Names, logits, errs, nil
}
