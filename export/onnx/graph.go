package onnx

import (
	"fmt"
	"math"
)

// builder adds nodes and initializers to a graph, naming each output uniquely.
type builder struct {
	g      graph
	n      int
	consts map[string]string
}

func newBuilder(name string) *builder {
	return &builder{g: graph{name: name}, consts: map[string]string{}}
}

// ops adds a node with nOut outputs and returns their names.
func (b *builder) ops(op string, nOut int, inputs []string, attrs ...attr) []string {
	b.n++
	outs := make([]string, nOut)
	for i := range outs {
		outs[i] = fmt.Sprintf("%s_%d_%d", op, b.n, i)
	}
	b.g.nodes = append(b.g.nodes, node{op: op, name: fmt.Sprintf("%s_%d", op, b.n), inputs: inputs, outputs: outs, attrs: attrs})
	return outs
}

// op adds a node with one output and returns its name.
func (b *builder) op(op string, inputs []string, attrs ...attr) string {
	return b.ops(op, 1, inputs, attrs...)[0]
}

// init adds an initializer and returns its name.
func (b *builder) init(name string, dtype int, dims []int64, raw []byte) string {
	b.g.initializers = append(b.g.initializers, tensor{name: name, dtype: dtype, dims: dims, raw: raw})
	return name
}

// f32 adds a float32 initializer.
func (b *builder) f32(name string, dims []int64, v []float32) string {
	return b.init(name, dtFloat, dims, f32Bytes(v))
}

// scalar returns a shared float32 scalar constant.
func (b *builder) scalar(v float32) string {
	key := fmt.Sprintf("f32:%08x", math.Float32bits(v))
	if n, ok := b.consts[key]; ok {
		return n
	}
	n := b.init(fmt.Sprintf("const_f32_%d", len(b.consts)), dtFloat, nil, f32Bytes([]float32{v}))
	b.consts[key] = n
	return n
}

// ints returns a shared 1-D int64 constant.
func (b *builder) ints(v ...int64) string {
	key := fmt.Sprint("i64:", v)
	if n, ok := b.consts[key]; ok {
		return n
	}
	n := b.init(fmt.Sprintf("const_i64_%d", len(b.consts)), dtInt64, []int64{int64(len(v))}, i64Bytes(v...))
	b.consts[key] = n
	return n
}

func attrI(name string, v int64) attr     { return attr{name: name, kind: attrInt, i: v} }
func attrF(name string, v float32) attr   { return attr{name: name, kind: attrFloat, f: v} }
func attrIs(name string, v ...int64) attr { return attr{name: name, kind: attrInts, ints: v} }
