//go:build cgo

package bert

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/sugarme/gotch/ts"

	"github.com/whetml/whet/native/torch"
)

// loraPair is one target's update: lora_A [r, in], lora_B [out, r]; as is scaling * lora_A for inference (nil
// until ForInference).
type loraPair struct {
	a, b, as *ts.Tensor
}

// Adapter is a LoRA adapter of a Model (see LoRA): its lora_A/lora_B pairs and its own copy of the modules it saves
// (classifier, optionally pooler), which replace the base model's when the adapter is applied. Many adapters can be
// applied to one Model in turn; none of them changes the Model's weights. An Adapter owns its tensors: Close drops
// them. It is not safe for concurrent use.
type Adapter struct {
	cfg       LoRA
	numLabels int
	targets   []LoRATarget
	params    []NamedParam
	byName    map[string]*ts.Tensor

	layers       [][numSites]*loraPair // per encoder layer
	emb          [numEmbeddings]*loraPair
	pool         *loraPair
	poolW, poolB *ts.Tensor // saved pooler, nil to use the base's
	clsW, clsB   *ts.Tensor // saved classifier
	scaling      *ts.Scalar
	closed       bool
}

// NewAdapter builds an adapter with l's shape for m (its config and device) with numLabels classes. values maps
// adapter parameter names (LoRAParams) to values; a missing lora_A is drawn kaiming-uniform (a=sqrt(5), i.e. uniform
// in +-1/sqrt(in), from a generator seeded with seed), a missing lora_B is zeros (for an Embedding target,
// lora_embedding_A is zeros and lora_embedding_B standard normal, as peft draws them), and a missing saved module is
// a copy of m's (or, for a classifier m lacks or whose size differs, drawn like a fresh HF classifier).
//
// # Errors
//
// A bad LoRA config or target list, or a value slice whose length does not match its parameter's shape.
func NewAdapter(m *Model, l LoRA, numLabels int, values map[string][]float32, seed uint64) (_ *Adapter, err error) {
	defer torch.Recover(&err, "bert: new adapter")
	if m.closed {
		return nil, ErrClosed
	}
	l = l.WithDefaults()
	if err := l.Validate(); err != nil {
		return nil, err
	}
	if numLabels < 1 {
		return nil, fmt.Errorf("lora: an adapter's classifier needs at least one label, got %d", numLabels)
	}
	targets, params, err := LoRAParams(m.cfg, l, numLabels)
	if err != nil {
		return nil, err
	}
	a := &Adapter{cfg: l, numLabels: numLabels, targets: targets, byName: map[string]*ts.Tensor{},
		layers: make([][numSites]*loraPair, m.cfg.NumHiddenLayers)}
	rng := rand.New(rand.NewPCG(seed, 0x2545f4914f6cdd1d))
	for _, p := range params {
		numel := int64(1)
		for _, d := range p.Shape {
			numel *= d
		}
		vals, ok := values[p.Name]
		if ok && int64(len(vals)) != numel {
			a.Close()
			return nil, fmt.Errorf("lora: tensor[%s]: %d values for shape %v", p.Name, len(vals), p.Shape)
		}
		if !ok {
			if vals, err = a.initial(m, p, numel, rng); err != nil {
				a.Close()
				return nil, err
			}
		}
		t, err := tensorFromValues(vals, p.Shape, m.opts.Device)
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("lora: tensor[%s]: %w", p.Name, err)
		}
		a.params = append(a.params, NamedParam{Param: p, t: t})
		a.byName[p.Name] = t
	}
	for _, t := range targets {
		pair := &loraPair{a: a.byName[t.NameA()], b: a.byName[t.NameB()]}
		if t.Embedding {
			a.emb[t.site] = pair
		} else if t.layer < 0 {
			a.pool = pair
		} else {
			a.layers[t.layer][t.site] = pair
		}
	}
	a.poolW, a.poolB = a.byName["bert.pooler.dense.weight"], a.byName["bert.pooler.dense.bias"]
	a.clsW, a.clsB = a.byName["classifier.weight"], a.byName["classifier.bias"]
	a.scaling = ts.FloatScalar(l.Scaling())
	return a, nil
}

// initial returns the from-scratch values of an adapter parameter (see NewAdapter).
func (a *Adapter) initial(m *Model, p Param, numel int64, rng *rand.Rand) ([]float32, error) {
	switch {
	case strings.HasSuffix(p.Name, ".lora_A.weight"):
		bound := 1 / math.Sqrt(float64(p.Shape[1]))
		vals := make([]float32, numel)
		for i := range vals {
			vals[i] = float32((2*rng.Float64() - 1) * bound)
		}
		return vals, nil
	case strings.HasSuffix(p.Name, ".lora_B.weight"), strings.HasSuffix(p.Name, ".lora_embedding_A"):
		return make([]float32, numel), nil
	case strings.HasSuffix(p.Name, ".lora_embedding_B"):
		vals := make([]float32, numel)
		for i := range vals {
			vals[i] = float32(rng.NormFloat64())
		}
		return vals, nil
	}
	if t := m.byName[p.Name]; t != nil && slices.Equal(t.MustSize(), p.Shape) {
		return torch.Float32s(t)
	}
	return initValues(p, numel, m.cfg, rng), nil
}

// Config returns the adapter's LoRA settings (defaults applied).
func (a *Adapter) Config() LoRA { return a.cfg }

// NumLabels is the size of the adapter's classifier.
func (a *Adapter) NumLabels() int { return a.numLabels }

// Targets lists the Embedding tables and Linear layers the adapter updates.
func (a *Adapter) Targets() []LoRATarget { return a.targets }

// Parameters returns the adapter's trainable parameters in LoRAParams order; the adapter owns the tensors.
func (a *Adapter) Parameters() []NamedParam { return a.params }

// Tensors copies the adapter's parameters to Go memory, in LoRAParams order (for saving).
func (a *Adapter) Tensors() ([]Tensor, error) {
	if a.closed {
		return nil, ErrClosed
	}
	return copyOut(a.params)
}

// ForInference precomputes scaling * lora_A for every target, so that forward passes without training take one
// kernel less per target. Call it only on an adapter that is no longer trained (the copies would go stale).
func (a *Adapter) ForInference() {
	torch.NoGrad(func() {
		for _, pair := range a.pairs() {
			if pair.as == nil {
				pair.as = pair.a.MustMulScalar(a.scaling, false)
			}
		}
	})
}

// pairs returns every LoRA pair of the adapter.
func (a *Adapter) pairs() []*loraPair {
	var out []*loraPair
	for _, p := range a.emb {
		if p != nil {
			out = append(out, p)
		}
	}
	for i := range a.layers {
		for _, p := range a.layers[i] {
			if p != nil {
				out = append(out, p)
			}
		}
	}
	if a.pool != nil {
		out = append(out, a.pool)
	}
	return out
}

// Close drops the adapter's tensors. It is idempotent.
func (a *Adapter) Close() {
	if a.closed {
		return
	}
	a.closed = true
	for _, pair := range a.pairs() {
		if pair.as != nil {
			pair.as.MustDrop()
		}
	}
	for _, p := range a.params {
		p.t.MustDrop()
	}
	a.params, a.byName, a.layers, a.pool, a.emb = nil, nil, nil, nil, [numEmbeddings]*loraPair{}
	if a.scaling != nil {
		a.scaling.MustDrop()
	}
}

// Freeze stops gradients to every parameter of m (requires_grad false), so that training an adapter computes and
// keeps no gradient, and no optimizer state, for the base weights.
func (m *Model) Freeze() {
	for _, p := range m.params {
		p.t.MustRequiresGrad_(false)
	}
}

// CountParams returns the number of elements of ps.
func CountParams(ps []NamedParam) int64 {
	var n int64
	for _, p := range ps {
		k := int64(1)
		for _, d := range p.Shape {
			k *= d
		}
		n += k
	}
	return n
}

// lin is the Linear layer w, bias over x, plus the LoRA update of pair (nil for none):
// y = x w^T + bias + ((dropout(x) A^T) * scaling) B^T. Scaling the rank-r intermediate instead of the output is the
// same product (up to float rounding) at r/out of the cost. Inference on a quantized model (QuantizeInt8) takes
// the int8 form of w. It consumes x when del is set.
func (m *Model) lin(x, w, bias *ts.Tensor, pair *loraPair, ad *Adapter, train, del bool) *ts.Tensor {
	var y *ts.Tensor
	if p := m.packedLinear(x, w, train); p != nil {
		var err error
		if y, err = p.Forward(x); err != nil {
			panic(ts.Fatal{Err: err}) // as a Must* op, recovered at the boundary; shapes were checked with the batch
		}
	} else {
		y = ts.MustLinear(x, w, bias)
	}
	if pair != nil && !train && pair.as != nil {
		// Inference: (x (s A)^T) B^T added in place, three kernels.
		h := ts.MustLinear(x, pair.as, ts.None)
		u := ts.MustLinear(h, pair.b, ts.None)
		h.MustDrop()
		y.MustAdd_(u)
		u.MustDrop()
	} else if pair != nil {
		in := x
		if train && ad.cfg.Dropout > 0 {
			d, err := torch.Dropout(x, ad.cfg.Dropout)
			if err != nil {
				panic(ts.Fatal{Err: err}) // as gotch's Must* ops: recovered at the public boundary
			}
			in = d
		}
		h := ts.MustLinear(in, pair.a, ts.None).MustMulScalar(ad.scaling, true)
		if in != x {
			in.MustDrop()
		}
		u := ts.MustLinear(h, pair.b, ts.None)
		h.MustDrop()
		y = y.MustAdd(u, true)
		u.MustDrop()
	}
	if del {
		x.MustDrop()
	}
	return y
}

// embDelta is adapter a's LoRA update to embedding table site (peft's lora.Embedding) for the rows idx, or the first
// n rows when idx is nil: lookup(lora_embedding_A^T, idx) lora_embedding_B^T * scaling, [..., H]. pad is the
// table's padding_idx (no gradient to that row; -1 for none). It returns nil when a (or nil) has no update there.
func (a *Adapter) embDelta(site int, idx *ts.Tensor, n, pad int64, train bool) *ts.Tensor {
	if a == nil || a.emb[site] == nil {
		return nil
	}
	pair := a.emb[site]
	A, scaled := pair.a, false
	if !train && pair.as != nil {
		A, scaled = pair.as, true
	}
	at := A.MustTranspose(0, 1, false) // [rows, r]
	var h *ts.Tensor
	if idx == nil {
		h = at.MustNarrow(0, 0, n, false)
	} else {
		h = ts.MustEmbedding(at, idx, pad, false, false)
	}
	at.MustDrop()
	if !scaled {
		h = h.MustMulScalar(a.scaling, true)
	}
	u := ts.MustLinear(h, pair.b, ts.None)
	h.MustDrop()
	return u
}

// addTo returns x + delta, consuming x and dropping delta, or x itself when delta is nil.
func addTo(x, delta *ts.Tensor) *ts.Tensor {
	if delta == nil {
		return x
	}
	y := x.MustAdd(delta, true)
	delta.MustDrop()
	return y
}

// sites returns the adapter's pairs for encoder layer i (nil without an adapter).
func (a *Adapter) sites(i int) *[numSites]*loraPair {
	if a == nil {
		return nil
	}
	return &a.layers[i]
}

// check reports whether a fits m: open, and the same encoder shape it was built for.
func (a *Adapter) check(m *Model) error {
	if a.closed {
		return errors.New("bert: use of a closed adapter")
	}
	if len(a.layers) != m.cfg.NumHiddenLayers || (a.clsW != nil && a.clsW.MustSize()[1] != int64(m.cfg.HiddenSize)) {
		return errors.New("bert: adapter built for a different model shape")
	}
	return nil
}
