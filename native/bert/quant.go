//go:build cgo

package bert

import (
	"fmt"

	"github.com/sugarme/gotch/ts"

	"github.com/whetml/whet/native/torch"
)

// Int8MinMACs is the size of a Linear call (rows x in x out multiply-adds) below which a quantized model still runs it
// in float32: the int8 path (quantizing the input, oneDNN's call) has a fixed cost per call that small calls do not
// win back. Chosen from CPU-time runs of `whet predict --threads 1` over 200 SST-2 texts (tiny and mini at batch 1
// cost 1.9x and 1.6x float32's CPU with every call in int8, about float32's with this bound; mini at batch 8 and small
// at batch 1 keep int8's gain); bench/int8_whet.py measures the result on a quiet machine.
const Int8MinMACs = 4_000_000

// QuantizeInt8 packs every encoder Linear layer (query, key, value, attention output, intermediate, output) and the
// pooler as dynamic int8 (torch.PackLinear: per-channel int8 weights, activations quantized per call), which
// inference (train=false) then uses; training still uses the float32 weights, which the model keeps. The
// embeddings, LayerNorms and classifier stay float32. Packing costs about a quarter of the weights' memory more. It
// returns the quantized engine's name. Calls smaller than minMACs multiply-adds (Int8MinMACs for whet's commands, 0
// for none) stay float32. Calling it again is a no-op.
//
// # Errors
//
// A model off the CPU (int8 Linear is a CPU kernel), a libtorch without a quantized x86 engine, or a closed model.
func (m *Model) QuantizeInt8(minMACs int64) (string, error) {
	if m.closed {
		return "", ErrClosed
	}
	if m.opts.Device.IsCuda() {
		return "", fmt.Errorf("bert: int8 runs on the CPU only and this model is on cuda:%d: load it on the CPU (--device cpu or WHET_DEVICE=cpu)", m.opts.Device.Value)
	}
	engine, err := torch.QuantEngine()
	if err != nil || m.packed != nil {
		return engine, err
	}
	m.packed = map[*ts.Tensor]*torch.PackedLinear{}
	m.int8MinMACs = minMACs
	pack := func(w, b *ts.Tensor) error {
		p, err := torch.PackLinear(w, b)
		if err != nil {
			return err
		}
		m.packed[w] = p
		return nil
	}
	for i, l := range m.layers {
		for _, wb := range [][2]*ts.Tensor{{l.q, l.qb}, {l.k, l.kb}, {l.v, l.vb}, {l.ao, l.aob}, {l.inter, l.interb}, {l.out, l.outb}} {
			if err := pack(wb[0], wb[1]); err != nil {
				m.dropPacked()
				return "", fmt.Errorf("bert: int8: layer %d: %w", i, err)
			}
		}
	}
	if err := pack(m.poolW, m.poolB); err != nil {
		m.dropPacked()
		return "", fmt.Errorf("bert: int8: pooler: %w", err)
	}
	return engine, nil
}

// Quantized reports whether QuantizeInt8 packed the model.
func (m *Model) Quantized() bool { return m.packed != nil }

// packedLinear returns the int8 form of the Linear layer with weight w for inference over x, or nil: nil too when
// the call is smaller than int8MinMACs multiply-adds.
func (m *Model) packedLinear(x, w *ts.Tensor, train bool) *torch.PackedLinear {
	if train || m.packed == nil {
		return nil
	}
	p := m.packed[w]
	if p == nil || m.int8MinMACs <= 0 {
		return p
	}
	macs := int64(1)
	for _, d := range x.MustSize() {
		macs *= d // rows x in
	}
	wd := w.MustSize()
	if macs*wd[0] < m.int8MinMACs {
		return nil
	}
	return p
}

func (m *Model) dropPacked() {
	for _, p := range m.packed {
		p.Close()
	}
	m.packed = nil
}
