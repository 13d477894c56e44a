//go:build cgo

package infer

import (
	"context"
	"fmt"
	"runtime"
	"sort"

	"github.com/sugarme/gotch"

	"github.com/whetml/whet/native/bert"
	"github.com/whetml/whet/native/checkpoint"
	"github.com/whetml/whet/native/torch"
)

// DefaultBatchSize is Options.BatchSize's default.
const DefaultBatchSize = 64

// Options tunes a Predictor.
type Options struct {
	// BatchSize is the number of rows run together. Default: DefaultBatchSize.
	BatchSize int
	// Adapter, when set, is a LoRA adapter of the model applied to every row (its classifier gives the logits); the
	// Predictor does not own it. Default: nil (the model alone).
	Adapter *bert.Adapter
	// Precision is the forward pass's arithmetic: torch.FP32 or "" (the logits the parity tests check), or
	// torch.BF16/torch.FP16 under autocast (faster on a GPU, logits within ~1e-2; fp16 on a GPU only: resolve it
	// with torch.PrecisionFor). Default: "" (fp32).
	Precision torch.Precision
}

// Predictor runs a classifier model; it does not own the model.
type Predictor struct {
	m    *bert.Model
	opts Options
}

// New returns a Predictor for m (which must have a classifier head).
func New(m *bert.Model, opts Options) *Predictor {
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	return &Predictor{m: m, opts: opts}
}

// Logits returns one row of classifier logits per input row, in input order. typeIDs may be nil. ctx is checked
// between batches.
//
// # Errors
//
// ctx's error, or a bad row (empty, too long, id outside the vocabulary) naming its index.
func (p *Predictor) Logits(ctx context.Context, ids, typeIDs [][]int32) (_ [][]float32, err error) {
	defer torch.Recover(&err, "infer")
	L := p.m.NumLabels()
	if p.opts.Adapter != nil {
		L = p.opts.Adapter.NumLabels()
	}
	if L == 0 {
		return nil, fmt.Errorf("infer: the model has no classifier head")
	}
	// libtorch's grad mode is thread-local and goroutines move between threads: stay on one thread so NoGrad's
	// restore lands on the thread it disabled.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	torch.AdoptThreads()
	if typeIDs != nil && len(typeIDs) != len(ids) {
		return nil, fmt.Errorf("infer: %d rows of type ids for %d rows", len(typeIDs), len(ids))
	}
	for i := range ids {
		var ty []int32
		if typeIDs != nil {
			ty = typeIDs[i]
		}
		if err := p.m.CheckRow(ids[i], ty); err != nil {
			return nil, fmt.Errorf("infer: row %d: %w", i, err)
		}
	}
	order := make([]int, len(ids))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return len(ids[order[a]]) > len(ids[order[b]]) })
	out := make([][]float32, len(ids))
	for start := 0; start < len(order); start += p.opts.BatchSize {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		idx := order[start:min(start+p.opts.BatchSize, len(order))]
		bids := make([][]int32, len(idx))
		var btypes [][]int32
		if typeIDs != nil {
			btypes = make([][]int32, len(idx))
		}
		for j, i := range idx {
			bids[j] = ids[i]
			if typeIDs != nil {
				btypes[j] = typeIDs[i]
			}
		}
		b, err := p.m.NewBatch(bids, btypes)
		if err != nil {
			return nil, fmt.Errorf("infer: %w", err)
		}
		vals := make([]float32, len(idx)*L)
		torch.NoGrad(func() { err = p.classify(b, vals) })
		b.Close()
		if err != nil {
			return nil, fmt.Errorf("infer: %w", err)
		}
		for j, i := range idx {
			out[i] = vals[j*L : (j+1)*L : (j+1)*L]
		}
	}
	return out, nil
}

// classify runs one batch in the Predictor's precision and copies its float32 logits into vals.
func (p *Predictor) classify(b *bert.Batch, vals []float32) error {
	lowp := p.opts.Precision != "" && p.opts.Precision != torch.FP32
	if lowp {
		if err := torch.Autocast(p.m.Device(), p.opts.Precision); err != nil {
			return err
		}
	}
	logits, err := p.m.ClassifyWith(b, p.opts.Adapter, false)
	if lowp {
		if err == nil {
			logits = logits.MustTotype(gotch.Float, true)
		}
		if offErr := torch.AutocastOff(p.m.Device()); err == nil && offErr != nil {
			logits.MustDrop()
			return offErr
		}
	}
	if err != nil {
		return err
	}
	err = logits.CopyData(vals, uint(len(vals)))
	logits.MustDrop()
	return err
}

// LoadAdapter reads the LoRA adapter folder dir (written by whet or by peft) and builds it for m, which must be the
// adapter's base model (the same shape), ready for inference (bert.Adapter.ForInference). It returns the adapter,
// which the caller closes, and its label names.
//
// # Errors
//
// An unreadable or unsupported adapter folder, or one that does not fit m, naming the file and tensor.
func LoadAdapter(m *bert.Model, dir string) (*bert.Adapter, []string, error) {
	f, err := checkpoint.ReadAdapter(dir)
	if err != nil {
		return nil, nil, err
	}
	cfg := m.Config()
	values, n, err := f.Match(cfg, m.NumLabels())
	if err != nil {
		return nil, nil, err
	}
	a, err := bert.NewAdapter(m, f.Config.LoRA(), n, values, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("adapter[%s]: %w", dir, err)
	}
	a.ForInference()
	return a, f.LabelsFor(cfg, n), nil
}
