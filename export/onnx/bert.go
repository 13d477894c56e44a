package onnx

import (
	"fmt"
	"math"

	"github.com/whetml/whet/native/bert"
)

// Graph input and output names (transformers.js's and HF optimum's names for a sequence classifier).
const (
	InputIDs      = "input_ids"
	AttentionMask = "attention_mask"
	TokenTypeIDs  = "token_type_ids"
	Logits        = "logits"
)

// bertGraph builds BertForSequenceClassification's inference graph (dropout is the identity) from cfg and weights
// (HF names, float32 values, shapes as bert.Params gives them). int8 makes the encoder's and pooler's Linear layers
// dynamically quantized and the word embedding 8-bit per row; LayerNorms, the other embeddings and the classifier
// stay float32.
func bertGraph(cfg bert.Config, w map[string][]float32, int8 bool) (*graph, error) {
	b := &bertBuilder{builder: newBuilder("whet_bert_classifier"), cfg: cfg, w: w, int8: int8,
		h: int64(cfg.HiddenSize), nh: int64(cfg.NumAttentionHeads)}
	dyn := []any{"batch_size", "sequence_length"}
	for _, in := range []string{InputIDs, AttentionMask, TokenTypeIDs} {
		b.g.inputs = append(b.g.inputs, valueInfo{name: in, dtype: dtInt64, dims: dyn})
	}
	x := b.embeddings()
	maskBias := b.maskBias()
	for i := range cfg.NumHiddenLayers {
		x = b.layer(fmt.Sprintf("bert.encoder.layer.%d.", i), x, maskBias)
	}

	// Pooler (first token, dense, tanh) and classifier.
	labels := int64(len(cfg.ID2Label))
	first := b.op("Gather", []string{x, b.init("const_first_token", dtInt64, nil, i64Bytes(0))}, attrI("axis", 1))
	pooled := b.op("Tanh", []string{b.lin(first, "bert.pooler.dense", b.h, b.h, int8)})
	logits := b.lin(pooled, "classifier", labels, b.h, false)
	if b.err != nil {
		return nil, b.err
	}
	b.g.nodes = append(b.g.nodes, node{op: "Identity", name: "logits_out", inputs: []string{logits}, outputs: []string{Logits}})
	b.g.outputs = append(b.g.outputs, valueInfo{name: Logits, dtype: dtFloat, dims: []any{"batch_size", labels}})
	return &b.g, nil
}

// bertBuilder builds one BERT graph: the model's shape and weights, and the first missing weight (err).
type bertBuilder struct {
	*builder
	cfg   bert.Config
	w     map[string][]float32
	int8  bool
	h, nh int64 // hidden size, attention heads
	err   error
}

// must returns the weight called name; a missing one is recorded in b.err (the first) and returned as nil.
func (b *bertBuilder) must(name string) []float32 {
	v, ok := b.w[name]
	if !ok && b.err == nil {
		b.err = fmt.Errorf("weights: tensor[%s] is missing", name)
	}
	return v
}

// embeddings adds word + position (0..T-1) + token type embeddings, then LayerNorm.
func (b *bertBuilder) embeddings() string {
	const word = "bert.embeddings.word_embeddings.weight"
	var x string
	if b.int8 {
		x = b.embeddingInt8(word, b.must(word), int64(b.cfg.VocabSize), b.h, InputIDs)
	} else {
		x = b.op("Gather", []string{b.f32(word, []int64{int64(b.cfg.VocabSize), b.h}, b.must(word)), InputIDs})
	}
	pos := b.f32("bert.embeddings.position_embeddings.weight", []int64{int64(b.cfg.MaxPositionEmbeddings), b.h}, b.must("bert.embeddings.position_embeddings.weight"))
	seqLen := b.op("Shape", []string{InputIDs}, attrI("start", 1), attrI("end", 2))
	posRows := b.op("Slice", []string{pos, b.ints(0), seqLen, b.ints(0)})
	typ := b.f32("bert.embeddings.token_type_embeddings.weight", []int64{int64(b.cfg.TypeVocabSize), b.h}, b.must("bert.embeddings.token_type_embeddings.weight"))
	x = b.op("Add", []string{x, posRows})
	x = b.op("Add", []string{x, b.op("Gather", []string{typ, TokenTypeIDs})})
	return b.layerNorm(x, "bert.embeddings.LayerNorm", b.h, b.cfg.LayerNormEps, b.must)
}

// maskBias adds the additive attention mask as HF builds it: (1 - mask) * finfo(float32).min, shaped [B, 1, 1, T].
func (b *bertBuilder) maskBias() string {
	m := b.op("Cast", []string{AttentionMask}, attrI("to", dtFloat))
	m = b.op("Mul", []string{b.op("Sub", []string{b.scalar(1), m}), b.scalar(-math.MaxFloat32)})
	return b.op("Unsqueeze", []string{m, b.ints(1, 2)})
}

// layer adds one encoder layer (weights under prefix p): self-attention, then the feed-forward block, each with its
// residual and LayerNorm.
func (b *bertBuilder) layer(p, x, maskBias string) string {
	h, nh, q8 := b.h, b.nh, b.int8
	hd := h / nh
	heads := func(t string, perm ...int64) string {
		t = b.op("Reshape", []string{t, b.ints(0, 0, nh, hd)})
		return b.op("Transpose", []string{t}, attrIs("perm", perm...))
	}
	q := heads(b.lin(x, p+"attention.self.query", h, h, q8), 0, 2, 1, 3)
	k := heads(b.lin(x, p+"attention.self.key", h, h, q8), 0, 2, 3, 1)
	v := heads(b.lin(x, p+"attention.self.value", h, h, q8), 0, 2, 1, 3)
	s := b.op("Div", []string{b.op("MatMul", []string{q, k}), b.scalar(float32(math.Sqrt(float64(hd))))})
	s = b.op("Softmax", []string{b.op("Add", []string{s, maskBias})}, attrI("axis", -1))
	c := b.op("Transpose", []string{b.op("MatMul", []string{s, v})}, attrIs("perm", 0, 2, 1, 3))
	c = b.op("Reshape", []string{c, b.ints(0, 0, h)})
	a := b.lin(c, p+"attention.output.dense", h, h, q8)
	x = b.layerNorm(b.op("Add", []string{a, x}), p+"attention.output.LayerNorm", h, b.cfg.LayerNormEps, b.must)
	inter := int64(b.cfg.IntermediateSize)
	f := b.act(b.lin(x, p+"intermediate.dense", inter, h, q8), b.cfg.HiddenAct)
	f = b.lin(f, p+"output.dense", h, inter, q8)
	return b.layerNorm(b.op("Add", []string{f, x}), p+"output.LayerNorm", h, b.cfg.LayerNormEps, b.must)
}

// lin adds the Linear layer under prefix ([out, in] weight), dynamically quantized when quant is set; with a weight
// missing it returns x unchanged (b.err says which).
func (b *bertBuilder) lin(x, prefix string, out, in int64, quant bool) string {
	wt, bias := b.must(prefix+".weight"), b.must(prefix+".bias")
	if wt == nil || bias == nil {
		return x
	}
	if quant {
		return b.linearInt8(x, prefix, wt, bias, out, in)
	}
	return b.linear(x, prefix, wt, bias, out, in)
}

// linear is x @ W^T + bias with W [out, in] as HF stores it (the initializer is W^T, [in, out], for MatMul).
func (b *builder) linear(x, prefix string, w, bias []float32, out, in int64) string {
	wt := b.f32(prefix+".weight", []int64{in, out}, transpose(w, out, in))
	y := b.op("MatMul", []string{x, wt})
	return b.op("Add", []string{y, b.f32(prefix+".bias", []int64{out}, bias)})
}

// layerNorm applies LayerNormalization over the last axis with the prefix's weight and bias.
func (b *builder) layerNorm(x, prefix string, h int64, eps float64, must func(string) []float32) string {
	s := b.f32(prefix+".weight", []int64{h}, must(prefix+".weight"))
	o := b.f32(prefix+".bias", []int64{h}, must(prefix+".bias"))
	return b.op("LayerNormalization", []string{x, s, o}, attrI("axis", -1), attrF("epsilon", float32(eps)))
}

// act applies hidden_act as native/bert does: exact erf GELU, the tanh approximation, or ReLU.
func (b *builder) act(x, kind string) string {
	switch kind {
	case "relu":
		return b.op("Relu", []string{x})
	case "gelu_new", "gelu_pytorch_tanh":
		// 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))
		x3 := b.op("Mul", []string{b.op("Mul", []string{x, x}), x})
		inner := b.op("Add", []string{b.op("Mul", []string{x3, b.scalar(0.044715)}), x})
		inner = b.op("Mul", []string{inner, b.scalar(float32(math.Sqrt(2 / math.Pi)))})
		t := b.op("Add", []string{b.op("Tanh", []string{inner}), b.scalar(1)})
		return b.op("Mul", []string{b.op("Mul", []string{x, b.scalar(0.5)}), t})
	default: // "gelu": 0.5 * x * (1 + erf(x / sqrt(2)))
		e := b.op("Erf", []string{b.op("Div", []string{x, b.scalar(float32(math.Sqrt2))})})
		return b.op("Mul", []string{b.op("Mul", []string{x, b.scalar(0.5)}), b.op("Add", []string{e, b.scalar(1)})})
	}
}

// transpose returns the [cols, rows] transpose of a row-major [rows, cols] matrix.
func transpose(w []float32, rows, cols int64) []float32 {
	out := make([]float32, len(w))
	for r := range rows {
		for c := range cols {
			out[c*rows+r] = w[r*cols+c]
		}
	}
	return out
}
