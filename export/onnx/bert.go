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
	b := newBuilder("whet_bert_classifier")
	h := int64(cfg.HiddenSize)
	nh := int64(cfg.NumAttentionHeads)
	hd := h / nh
	labels := int64(len(cfg.ID2Label))
	get := func(name string) ([]float32, error) {
		v, ok := w[name]
		if !ok {
			return nil, fmt.Errorf("weights: tensor[%s] is missing", name)
		}
		return v, nil
	}
	var firstErr error
	must := func(name string) []float32 {
		v, err := get(name)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return v
	}
	dyn := []any{"batch_size", "sequence_length"}
	for _, in := range []string{InputIDs, AttentionMask, TokenTypeIDs} {
		b.g.inputs = append(b.g.inputs, valueInfo{name: in, dtype: dtInt64, dims: dyn})
	}

	// Embeddings: word + position (0..T-1) + token type, then LayerNorm.
	var x string
	if int8 {
		x = b.embeddingInt8("bert.embeddings.word_embeddings.weight", must("bert.embeddings.word_embeddings.weight"), int64(cfg.VocabSize), h, InputIDs)
	} else {
		x = b.op("Gather", []string{b.f32("bert.embeddings.word_embeddings.weight", []int64{int64(cfg.VocabSize), h}, must("bert.embeddings.word_embeddings.weight")), InputIDs})
	}
	pos := b.f32("bert.embeddings.position_embeddings.weight", []int64{int64(cfg.MaxPositionEmbeddings), h}, must("bert.embeddings.position_embeddings.weight"))
	seqLen := b.op("Shape", []string{InputIDs}, attrI("start", 1), attrI("end", 2))
	posRows := b.op("Slice", []string{pos, b.ints(0), seqLen, b.ints(0)})
	typ := b.f32("bert.embeddings.token_type_embeddings.weight", []int64{int64(cfg.TypeVocabSize), h}, must("bert.embeddings.token_type_embeddings.weight"))
	x = b.op("Add", []string{x, posRows})
	x = b.op("Add", []string{x, b.op("Gather", []string{typ, TokenTypeIDs})})
	x = b.layerNorm(x, "bert.embeddings.LayerNorm", h, cfg.LayerNormEps, must)

	// The additive attention mask as HF builds it: (1 - mask) * finfo(float32).min, shaped [B, 1, 1, T].
	m := b.op("Cast", []string{AttentionMask}, attrI("to", dtFloat))
	m = b.op("Mul", []string{b.op("Sub", []string{b.scalar(1), m}), b.scalar(-math.MaxFloat32)})
	maskBias := b.op("Unsqueeze", []string{m, b.ints(1, 2)})

	lin := func(x, prefix string, out, in int64, quant bool) string {
		wt, bias := must(prefix+".weight"), must(prefix+".bias")
		if wt == nil || bias == nil {
			return x
		}
		if quant {
			return b.linearInt8(x, prefix, wt, bias, out, in)
		}
		return b.linear(x, prefix, wt, bias, out, in)
	}
	inter := int64(cfg.IntermediateSize)
	for i := range cfg.NumHiddenLayers {
		p := fmt.Sprintf("bert.encoder.layer.%d.", i)
		heads := func(t string, perm ...int64) string {
			t = b.op("Reshape", []string{t, b.ints(0, 0, nh, hd)})
			return b.op("Transpose", []string{t}, attrIs("perm", perm...))
		}
		q := heads(lin(x, p+"attention.self.query", h, h, int8), 0, 2, 1, 3)
		k := heads(lin(x, p+"attention.self.key", h, h, int8), 0, 2, 3, 1)
		v := heads(lin(x, p+"attention.self.value", h, h, int8), 0, 2, 1, 3)
		s := b.op("Div", []string{b.op("MatMul", []string{q, k}), b.scalar(float32(math.Sqrt(float64(hd))))})
		s = b.op("Softmax", []string{b.op("Add", []string{s, maskBias})}, attrI("axis", -1))
		c := b.op("Transpose", []string{b.op("MatMul", []string{s, v})}, attrIs("perm", 0, 2, 1, 3))
		c = b.op("Reshape", []string{c, b.ints(0, 0, h)})
		a := lin(c, p+"attention.output.dense", h, h, int8)
		x = b.layerNorm(b.op("Add", []string{a, x}), p+"attention.output.LayerNorm", h, cfg.LayerNormEps, must)
		f := b.act(lin(x, p+"intermediate.dense", inter, h, int8), cfg.HiddenAct)
		f = lin(f, p+"output.dense", h, inter, int8)
		x = b.layerNorm(b.op("Add", []string{f, x}), p+"output.LayerNorm", h, cfg.LayerNormEps, must)
	}

	// Pooler (first token, dense, tanh) and classifier.
	first := b.op("Gather", []string{x, b.init("const_first_token", dtInt64, nil, i64Bytes(0))}, attrI("axis", 1))
	pooled := b.op("Tanh", []string{lin(first, "bert.pooler.dense", h, h, int8)})
	logits := lin(pooled, "classifier", labels, h, false)
	if firstErr != nil {
		return nil, firstErr
	}
	b.g.nodes = append(b.g.nodes, node{op: "Identity", name: "logits_out", inputs: []string{logits}, outputs: []string{Logits}})
	b.g.outputs = append(b.g.outputs, valueInfo{name: Logits, dtype: dtFloat, dims: []any{"batch_size", labels}})
	return &b.g, nil
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
