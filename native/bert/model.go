//go:build cgo

package bert

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"unsafe"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/whetml/whet/native/torch"
)

// Options says which model to build around a Config.
type Options struct {
	// Heads are the task heads to build (HeadClassifier, HeadMLM or both).
	Heads Heads
	// NumLabels is the classifier's output size; required with HeadClassifier.
	NumLabels int
	// Device is where parameters live. Default: the zero Device is not valid; pass gotch.CPU or torch.Device().
	Device gotch.Device
	// Seed drives the from-scratch initialization of parameters New is not given values for. The same seed gives
	// the same weights on every machine (the draws are made in Go, not by libtorch).
	Seed uint64
}

// NamedParam is one trainable parameter.
type NamedParam struct {
	// Param is the parameter's description (name, shape, whether it is decayed).
	Param
	t *ts.Tensor // owned by the model or adapter
}

// Tensor returns the parameter's tensor; the model (or adapter) owns it: do not drop it.
func (p NamedParam) Tensor() *ts.Tensor { return p.t }

type layer struct {
	q, qb, k, kb, v, vb      *ts.Tensor
	ao, aob, aln, alnb       *ts.Tensor
	inter, interb, out, outb *ts.Tensor
	oln, olnb                *ts.Tensor
}

// Model is a BERT encoder with a pooler and the heads of Options. It owns its parameters: Close drops them.
// A Model is not safe for concurrent use.
type Model struct {
	cfg    Config
	opts   Options
	params []NamedParam
	byName map[string]*ts.Tensor

	word, pos, typ, embLN, embLNb *ts.Tensor
	layers                        []layer
	poolW, poolB                  *ts.Tensor
	clsW, clsB                    *ts.Tensor
	mlmW, mlmB, mlmLN, mlmLNb     *ts.Tensor
	mlmBias                       *ts.Tensor
	// packed are the int8 forms of Linear layers by weight (QuantizeInt8), used for inference; nil for none.
	packed map[*ts.Tensor]*torch.PackedLinear
	// int8MinMACs: Linear calls with fewer multiply-adds take float32 even when packed (QuantizeInt8).
	int8MinMACs int64

	// Scalars reused by every forward pass (gotch scalars are C memory too).
	one, maskMin, sqrtD *ts.Scalar
	half, geluC, geluK  *ts.Scalar

	closed bool
}

// ErrClosed is returned by methods of a closed Model.
var ErrClosed = errors.New("bert: model is closed")

// New builds a model. values maps HF parameter names to their values (from a checkpoint); every parameter not in
// values is initialized from scratch like HF's _init_weights: normal(0, initializer_range) for Linear and Embedding
// weights (with the padding row of the word embedding zeroed), zeros for biases, LayerNorm weight 1 and bias 0.
//
// # Errors
//
// An invalid config, a missing NumLabels for a classifier, or a value slice whose length does not match the
// parameter's shape (naming the tensor).
func New(cfg Config, opts Options, values map[string][]float32) (_ *Model, err error) {
	defer torch.Recover(&err, "bert: new model")
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Heads&HeadClassifier != 0 && opts.NumLabels < 1 {
		return nil, fmt.Errorf("bert: a classifier needs at least one label, got %d", opts.NumLabels)
	}
	if opts.Device.Name == "" {
		opts.Device = gotch.CPU
	}
	m := &Model{cfg: cfg, opts: opts, byName: map[string]*ts.Tensor{}}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x5851f42d4c957f2d))
	for _, p := range Params(cfg, opts.Heads, opts.NumLabels) {
		numel := int64(1)
		for _, d := range p.Shape {
			numel *= d
		}
		vals, ok := values[p.Name]
		if ok && int64(len(vals)) != numel {
			m.Close()
			return nil, fmt.Errorf("bert: tensor[%s]: %d values for shape %v", p.Name, len(vals), p.Shape)
		}
		if !ok {
			vals = initValues(p, numel, cfg, rng)
		}
		t, err := tensorFromValues(vals, p.Shape, opts.Device)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("bert: tensor[%s]: %w", p.Name, err)
		}
		m.params = append(m.params, NamedParam{Param: p, t: t})
		m.byName[p.Name] = t
	}
	m.wire()
	m.one = ts.FloatScalar(1)
	m.maskMin = ts.FloatScalar(-math.MaxFloat32)
	m.sqrtD = ts.FloatScalar(math.Sqrt(float64(cfg.HeadDim())))
	m.half = ts.FloatScalar(0.5)
	m.geluC = ts.FloatScalar(math.Sqrt(2 / math.Pi))
	m.geluK = ts.FloatScalar(0.044715)
	return m, nil
}

// initValues draws a parameter's from-scratch values.
func initValues(p Param, numel int64, cfg Config, rng *rand.Rand) []float32 {
	vals := make([]float32, numel)
	switch p.Init {
	case InitNormal:
		std := cfg.InitializerRange
		if std <= 0 {
			std = 0.02
		}
		for i := range vals {
			vals[i] = float32(rng.NormFloat64() * std)
		}
		if p.Name == "bert.embeddings.word_embeddings.weight" {
			h := int64(cfg.HiddenSize)
			row := vals[int64(cfg.PadTokenID)*h : int64(cfg.PadTokenID+1)*h]
			clear(row)
		}
	case InitOnes:
		for i := range vals {
			vals[i] = 1
		}
	case InitZeros:
	}
	return vals
}

// tensorFromValues copies vals into a new float32 leaf tensor on dev that requires grad.
func tensorFromValues(vals []float32, shape []int64, dev gotch.Device) (*ts.Tensor, error) {
	t, err := Float32Tensor(vals, shape, dev)
	if err != nil {
		return nil, err
	}
	if err := t.RequiresGrad_(true); err != nil {
		t.MustDrop()
		return nil, err
	}
	return t, nil
}

func (m *Model) wire() {
	g := func(name string) *ts.Tensor { return m.byName[name] }
	m.word = g("bert.embeddings.word_embeddings.weight")
	m.pos = g("bert.embeddings.position_embeddings.weight")
	m.typ = g("bert.embeddings.token_type_embeddings.weight")
	m.embLN = g("bert.embeddings.LayerNorm.weight")
	m.embLNb = g("bert.embeddings.LayerNorm.bias")
	m.layers = make([]layer, m.cfg.NumHiddenLayers)
	for i := range m.layers {
		p := fmt.Sprintf("bert.encoder.layer.%d.", i)
		m.layers[i] = layer{
			q: g(p + "attention.self.query.weight"), qb: g(p + "attention.self.query.bias"),
			k: g(p + "attention.self.key.weight"), kb: g(p + "attention.self.key.bias"),
			v: g(p + "attention.self.value.weight"), vb: g(p + "attention.self.value.bias"),
			ao: g(p + "attention.output.dense.weight"), aob: g(p + "attention.output.dense.bias"),
			aln: g(p + "attention.output.LayerNorm.weight"), alnb: g(p + "attention.output.LayerNorm.bias"),
			inter: g(p + "intermediate.dense.weight"), interb: g(p + "intermediate.dense.bias"),
			out: g(p + "output.dense.weight"), outb: g(p + "output.dense.bias"),
			oln: g(p + "output.LayerNorm.weight"), olnb: g(p + "output.LayerNorm.bias"),
		}
	}
	m.poolW, m.poolB = g("bert.pooler.dense.weight"), g("bert.pooler.dense.bias")
	m.clsW, m.clsB = g("classifier.weight"), g("classifier.bias")
	m.mlmW, m.mlmB = g("cls.predictions.transform.dense.weight"), g("cls.predictions.transform.dense.bias")
	m.mlmLN, m.mlmLNb = g("cls.predictions.transform.LayerNorm.weight"), g("cls.predictions.transform.LayerNorm.bias")
	m.mlmBias = g("cls.predictions.bias")
}

// Config returns the model's configuration.
func (m *Model) Config() Config { return m.cfg }

// Heads returns the heads the model was built with.
func (m *Model) Heads() Heads { return m.opts.Heads }

// NumLabels returns the classifier's output size (0 without a classifier).
func (m *Model) NumLabels() int {
	if m.opts.Heads&HeadClassifier == 0 {
		return 0
	}
	return m.opts.NumLabels
}

// Device returns where the parameters live.
func (m *Model) Device() gotch.Device { return m.opts.Device }

// Parameters returns every parameter in HF state_dict order. The model owns the tensors.
func (m *Model) Parameters() []NamedParam { return m.params }

// Parameter returns the named parameter's tensor (owned by the model), or nil.
func (m *Model) Parameter(name string) *ts.Tensor { return m.byName[name] }

// Tensors copies every parameter to Go memory, in HF state_dict order (for saving).
func (m *Model) Tensors() ([]Tensor, error) {
	if m.closed {
		return nil, ErrClosed
	}
	return copyOut(m.params)
}

// copyOut copies params to Go memory, in order.
func copyOut(params []NamedParam) ([]Tensor, error) {
	out := make([]Tensor, 0, len(params))
	for _, p := range params {
		vals, err := torch.Float32s(p.t)
		if err != nil {
			return nil, fmt.Errorf("bert: tensor[%s]: %w", p.Name, err)
		}
		out = append(out, Tensor{Name: p.Name, Shape: append([]int64(nil), p.Shape...), Values: vals})
	}
	return out, nil
}

// Close drops every parameter. It is idempotent.
func (m *Model) Close() {
	if m.closed {
		return
	}
	m.closed = true
	m.dropPacked()
	for _, p := range m.params {
		p.t.MustDrop()
	}
	m.params = nil
	m.byName = nil
	for _, s := range []*ts.Scalar{m.one, m.maskMin, m.sqrtD, m.half, m.geluC, m.geluK} {
		if s != nil {
			s.MustDrop()
		}
	}
}

// Batch is a padded batch of token ids on the model's device (int64 [B, T] tensors of ids, type ids and mask, with T
// the longest row, owned by the batch). Close drops them.
type Batch struct {
	// inputIDs are the token ids, padded with the config's pad_token_id.
	inputIDs *ts.Tensor
	// typeIDs are the token type (segment) ids, padded with 0.
	typeIDs *ts.Tensor
	// mask is 1 for real tokens and 0 for padding.
	mask *ts.Tensor
	// Size is B, the number of rows.
	Size int
	// Len is T, the padded length (the longest row).
	Len int
	// Unpadded reports that every row is Len long, so Encode needs no attention mask (length-bucketed training
	// batches and fixed-length rows often are).
	Unpadded bool
}

// Close drops the batch's tensors.
func (b *Batch) Close() {
	for _, t := range []*ts.Tensor{b.inputIDs, b.typeIDs, b.mask} {
		if t != nil {
			t.MustDrop()
		}
	}
	b.inputIDs, b.typeIDs, b.mask = nil, nil, nil
}

// NewBatch pads rows to the longest one and moves them to the model's device. typeIDs may be nil (all 0).
//
// # Errors
//
// An empty batch or row, a row longer than max_position_embeddings, or an id outside the vocabulary or type
// vocabulary, naming the row and position.
func (m *Model) NewBatch(ids, typeIDs [][]int32) (*Batch, error) {
	if len(ids) == 0 {
		return nil, errors.New("bert: empty batch")
	}
	if typeIDs != nil && len(typeIDs) != len(ids) {
		return nil, fmt.Errorf("bert: %d rows of type ids for %d rows of input ids", len(typeIDs), len(ids))
	}
	T := 0
	for i, r := range ids {
		var ty []int32
		if typeIDs != nil {
			ty = typeIDs[i]
		}
		if err := m.CheckRow(r, ty); err != nil {
			return nil, fmt.Errorf("bert: row %d: %w", i, err)
		}
		T = max(T, len(r))
	}
	B := len(ids)
	unpadded := true
	for _, r := range ids {
		unpadded = unpadded && len(r) == T
	}
	idv := make([]int64, B*T)
	tyv := make([]int64, B*T)
	mkv := make([]int64, B*T)
	for i, r := range ids {
		for j := range T {
			k := i*T + j
			if j >= len(r) {
				idv[k] = int64(m.cfg.PadTokenID)
				continue
			}
			idv[k] = int64(r[j])
			mkv[k] = 1
			if typeIDs != nil {
				tyv[k] = int64(typeIDs[i][j])
			}
		}
	}
	shape := []int64{int64(B), int64(T)}
	b := &Batch{Size: B, Len: T, Unpadded: unpadded}
	var err error
	if b.inputIDs, err = Int64Tensor(idv, shape, m.opts.Device); err != nil {
		return nil, err
	}
	if b.typeIDs, err = Int64Tensor(tyv, shape, m.opts.Device); err != nil {
		b.Close()
		return nil, err
	}
	if b.mask, err = Int64Tensor(mkv, shape, m.opts.Device); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// CheckRow reports whether one row of token ids (and type ids, which may be nil) fits the model: not empty, at most
// max_position_embeddings long, ids inside the vocabulary and type vocabulary.
func (m *Model) CheckRow(ids, typeIDs []int32) error {
	if len(ids) == 0 {
		return errors.New("no tokens")
	}
	if len(ids) > m.cfg.MaxPositionEmbeddings {
		return fmt.Errorf("%d tokens, more than max_position_embeddings %d", len(ids), m.cfg.MaxPositionEmbeddings)
	}
	if typeIDs != nil && len(typeIDs) != len(ids) {
		return fmt.Errorf("%d type ids for %d tokens", len(typeIDs), len(ids))
	}
	for j, id := range ids {
		if id < 0 || int(id) >= m.cfg.VocabSize {
			return fmt.Errorf("position %d: token id %d outside the vocabulary (size %d)", j, id, m.cfg.VocabSize)
		}
		if typeIDs != nil && (typeIDs[j] < 0 || int(typeIDs[j]) >= m.cfg.TypeVocabSize) {
			return fmt.Errorf("position %d: type id %d outside type_vocab_size %d", j, typeIDs[j], m.cfg.TypeVocabSize)
		}
	}
	return nil
}

// Int64Tensor copies vals into a new int64 tensor of the given shape on dev.
func Int64Tensor(vals []int64, shape []int64, dev gotch.Device) (*ts.Tensor, error) {
	return hostTensor(vals, shape, gotch.Int64, dev)
}

// Float32Tensor copies vals into a new float32 tensor of the given shape on dev.
func Float32Tensor(vals []float32, shape []int64, dev gotch.Device) (*ts.Tensor, error) {
	return hostTensor(vals, shape, gotch.Float, dev)
}

// hostTensor copies vals (whose Go type matches kind) into a new tensor on dev (on a GPU through pinned memory,
// without waiting for the transfer: torch.HostTensor).
func hostTensor[T float32 | int64](vals []T, shape []int64, kind gotch.DType, dev gotch.Device) (*ts.Tensor, error) {
	var b []byte
	if len(vals) > 0 {
		b = unsafe.Slice((*byte)(unsafe.Pointer(&vals[0])), int(unsafe.Sizeof(vals[0]))*len(vals))
	}
	return torch.HostTensor(b, shape, kind, dev)
}

// dropout applies dropout with probability p when training; it consumes x.
func dropout(x *ts.Tensor, p float64, train bool) *ts.Tensor {
	if !train || p == 0 {
		return x
	}
	y, err := torch.Dropout(x, p)
	if err != nil {
		panic(ts.Fatal{Err: err}) // allocation failure only; as a Must* op, recovered at the boundary
	}
	x.MustDrop()
	return y
}

// linear is x @ w^T + b; it consumes x when del is set.
func linear(x, w, b *ts.Tensor, del bool) *ts.Tensor {
	y := ts.MustLinear(x, w, b)
	if del {
		x.MustDrop()
	}
	return y
}

// layerNorm normalizes the last dimension; it consumes x.
func (m *Model) layerNorm(x, w, b *ts.Tensor) *ts.Tensor {
	y := ts.MustLayerNorm(x, []int64{int64(m.cfg.HiddenSize)}, w, b, m.cfg.LayerNormEps, false)
	x.MustDrop()
	return y
}

// act applies hidden_act; it consumes x.
func (m *Model) act(x *ts.Tensor) *ts.Tensor {
	switch m.cfg.HiddenAct {
	case "relu":
		return x.MustRelu(true)
	case "gelu_new", "gelu_pytorch_tanh":
		// 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))
		x3 := x.MustMul(x, false).MustMul(x, true)
		inner := x3.MustMulScalar(m.geluK, true).MustAdd(x, true).MustMulScalar(m.geluC, true)
		t := inner.MustTanh(true).MustAddScalar(m.one, true)
		y := x.MustMul(t, false).MustMulScalar(m.half, true)
		t.MustDrop()
		x.MustDrop()
		return y
	default: // "gelu": exact erf form (libtorch's default approximate="none")
		return x.MustGelu(true)
	}
}

// Encode runs the embeddings and the encoder: the returned [B, T, H] sequence output is the caller's to drop.
// Dropout is applied only when train is set. Its only error is ErrClosed.
func (m *Model) Encode(b *Batch, train bool) (_ *ts.Tensor, err error) {
	if m.closed {
		return nil, ErrClosed
	}
	defer torch.Recover(&err, "bert: encode")
	return m.encode(b, nil, train, false), nil
}

// encode is Encode; with firstOnly, the last layer computes only position 0 (the [CLS] row, [B, 1, H]): its keys
// and values still come from every position, but its queries, attention output and feed-forward block run for one
// row instead of T, which is all the pooler reads. The result equals Encode's row 0 up to float rounding.
//
// ad, when not nil, applies a LoRA adapter's updates to its target layers.
func (m *Model) encode(b *Batch, ad *Adapter, train, firstOnly bool) *ts.Tensor {
	T := int64(b.Len)
	pad := int64(m.cfg.PadTokenID)
	we := ts.MustEmbedding(m.word, b.inputIDs, pad, false, false)
	we = addTo(we, ad.embDelta(embWord, b.inputIDs, 0, pad, train))
	pe := m.pos.MustNarrow(0, 0, T, false)
	pe = addTo(pe, ad.embDelta(embPosition, nil, T, -1, train))
	x := we.MustAdd(pe, true)
	pe.MustDrop()
	te := ts.MustEmbedding(m.typ, b.typeIDs, -1, false, false)
	te = addTo(te, ad.embDelta(embTokenType, b.typeIDs, 0, -1, train))
	x = x.MustAdd(te, true)
	te.MustDrop()
	x = m.layerNorm(x, m.embLN, m.embLNb)
	x = dropout(x, m.cfg.HiddenDropoutProb, train)

	// Additive mask on the scores: (1 - mask) * min_float, broadcast over [B, 1, 1, T]; adding zeros is skipped.
	var ext *ts.Tensor
	if !b.Unpadded {
		ext = b.mask.MustTotype(gotch.Float, false).MustRsubScalar(m.one, true).MustMulScalar(m.maskMin, true).
			MustView([]int64{int64(b.Size), 1, 1, T}, true)
		defer ext.MustDrop()
	}
	for i := range m.layers {
		queries := T
		if firstOnly && i == len(m.layers)-1 {
			queries = 1
		}
		y := m.layerForward(&m.layers[i], ad, ad.sites(i), x, ext, int64(b.Size), T, queries, train)
		x.MustDrop()
		x = y
	}
	return x
}

// layerForward is one encoder layer over x [B, T, H] (not consumed), for the first `queries` positions: all T, or
// fewer when only those rows of the output are needed (keys and values still cover all T). ext is the additive
// attention mask, nil for none. It returns [B, queries, H]. lp are the LoRA updates of adapter ad for this layer (nil
// for none).
func (m *Model) layerForward(l *layer, ad *Adapter, lp *[numSites]*loraPair, x, ext *ts.Tensor, B, T, queries int64, train bool) *ts.Tensor {
	nh := int64(m.cfg.NumAttentionHeads)
	d := int64(m.cfg.HeadDim())
	H := int64(m.cfg.HiddenSize)
	var sites [numSites]*loraPair
	if lp != nil {
		sites = *lp
	}
	heads := func(x, w, bias *ts.Tensor, site int, n int64) *ts.Tensor {
		return m.lin(x, w, bias, sites[site], ad, train, false).MustView([]int64{B, n, nh, d}, true).MustPermute([]int64{0, 2, 1, 3}, true)
	}
	xq := x
	if queries < T {
		xq = x.MustNarrow(1, 0, queries, false)
		defer xq.MustDrop()
	}
	q := heads(xq, l.q, l.qb, siteQuery, queries)
	k := heads(x, l.k, l.kb, siteKey, T)
	kt := k.MustTranspose(-1, -2, true)
	scores := q.MustMatmul(kt, true)
	kt.MustDrop()
	scores = scores.MustDivScalar(m.sqrtD, true)
	if ext != nil {
		scores = scores.MustAdd(ext, true)
	}
	probs := scores.MustSoftmax(-1, gotch.Float, true)
	probs = dropout(probs, m.cfg.AttentionProbsDropoutProb, train)
	v := heads(x, l.v, l.vb, siteValue, T)
	ctx := probs.MustMatmul(v, true)
	v.MustDrop()
	ctx = ctx.MustPermute([]int64{0, 2, 1, 3}, true).MustContiguous(true).MustView([]int64{B, queries, H}, true)
	a := m.lin(ctx, l.ao, l.aob, sites[siteAttnOut], ad, train, true)
	a = dropout(a, m.cfg.HiddenDropoutProb, train)
	a = a.MustAdd(xq, true)
	a = m.layerNorm(a, l.aln, l.alnb)
	h := m.act(m.lin(a, l.inter, l.interb, sites[siteInter], ad, train, false))
	o := m.lin(h, l.out, l.outb, sites[siteOut], ad, train, true)
	o = dropout(o, m.cfg.HiddenDropoutProb, train)
	o = o.MustAdd(a, true)
	a.MustDrop()
	return m.layerNorm(o, l.oln, l.olnb)
}

// Pool is the pooler: tanh(dense(seq[:, 0])). It returns [B, H]; seq is not consumed.
func (m *Model) Pool(seq *ts.Tensor) *ts.Tensor { return m.pool(seq, nil, false) }

// pool is Pool with adapter ad's pooler (its saved copy, or the base's with its LoRA update) when ad is not nil.
func (m *Model) pool(seq *ts.Tensor, ad *Adapter, train bool) *ts.Tensor {
	first := seq.MustSelect(1, 0, false)
	w, b := m.poolW, m.poolB
	var pair *loraPair
	if ad != nil {
		pair = ad.pool
		if ad.poolW != nil {
			w, b = ad.poolW, ad.poolB
		}
	}
	return m.lin(first, w, b, pair, ad, train, true).MustTanh(true)
}

// Classify returns the classifier logits [B, NumLabels] for b (the caller drops them).
//
// # Errors
//
// A model without HeadClassifier, or a closed model.
func (m *Model) Classify(b *Batch, train bool) (*ts.Tensor, error) {
	return m.ClassifyWith(b, nil, train)
}

// ClassifyWith is Classify through adapter ad (nil: the model alone): ad's LoRA updates on its targets, its pooler
// when it saves one, and its classifier, so the logits are [B, ad.NumLabels()]. The model's weights are shared, not
// changed.
//
// # Errors
//
// Neither ad nor the model has a classifier, ad is closed or was built for another shape, or the model is closed.
func (m *Model) ClassifyWith(b *Batch, ad *Adapter, train bool) (_ *ts.Tensor, err error) {
	if m.closed {
		return nil, ErrClosed
	}
	defer torch.Recover(&err, "bert: classify")
	w, bias := m.clsW, m.clsB
	if ad != nil {
		if err := ad.check(m); err != nil {
			return nil, err
		}
		if ad.clsW != nil {
			w, bias = ad.clsW, ad.clsB
		}
	}
	if w == nil {
		return nil, errors.New("bert: Classify on a model without a classifier head")
	}
	seq := m.encode(b, ad, train, true) // the pooler reads only [CLS]
	pooled := m.pool(seq, ad, train)
	seq.MustDrop()
	pooled = dropout(pooled, m.cfg.ClassifierDropoutProb(), train)
	return linear(pooled, w, bias, true), nil
}

// MLMLogits applies the masked-LM head to hidden states [..., H], returning [..., vocab] (the caller drops it; hidden
// is not consumed): gelu(dense) -> LayerNorm -> hidden @ word_embeddings^T + cls.predictions.bias.
//
// # Errors
//
// A model without HeadMLM, or a closed model.
func (m *Model) MLMLogits(hidden *ts.Tensor) (_ *ts.Tensor, err error) {
	if m.closed {
		return nil, ErrClosed
	}
	defer torch.Recover(&err, "bert: MLM head")
	if m.mlmW == nil {
		return nil, errors.New("bert: MLMLogits on a model without an MLM head")
	}
	h := m.act(linear(hidden, m.mlmW, m.mlmB, false))
	h = m.layerNorm(h, m.mlmLN, m.mlmLNb)
	return linear(h, m.word, m.mlmBias, true), nil
}
