package onnx

import (
	"encoding/binary"
	"io"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// The subset of onnx.proto (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto) the exporter writes, encoded
// by hand with protowire. Field numbers are onnx.proto's.

// TensorProto.DataType values.
const (
	dtFloat = 1
	dtUint8 = 2
	dtInt8  = 3
	dtInt32 = 6
	dtInt64 = 7
)

// AttributeProto.AttributeType values.
const (
	attrFloat = 1
	attrInt   = 2
	attrInts  = 7
)

// irVersion 8 is the IR version of opset 17.
const (
	irVersion = 8
	opset     = 17
)

// tensor is an initializer: a named constant with its raw little-endian bytes.
type tensor struct {
	name  string
	dtype int
	dims  []int64
	raw   []byte
}

// attr is one node attribute (float, int or ints).
type attr struct {
	name string
	kind int
	f    float32
	i    int64
	ints []int64
}

// node is one NodeProto.
type node struct {
	op      string
	name    string
	inputs  []string
	outputs []string
	attrs   []attr
}

// valueInfo is a graph input or output: a tensor type with named dynamic dimensions ("" = unknown) or sizes.
type valueInfo struct {
	name  string
	dtype int
	dims  []any // string (dim_param) or int64 (dim_value)
}

func appendString(b []byte, field protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytes(b []byte, field protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendVarint(b []byte, field protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, field, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// TensorProto: dims=1, data_type=2, name=8, raw_data=9. head is everything before raw_data's payload.
func (t *tensor) head() []byte {
	var b []byte
	for _, d := range t.dims {
		b = appendVarint(b, 1, uint64(d))
	}
	b = appendVarint(b, 2, uint64(t.dtype))
	b = appendString(b, 8, t.name)
	b = protowire.AppendTag(b, 9, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(len(t.raw)))
}

// AttributeProto: name=1, f=2, i=3, ints=8, type=20.
func (a *attr) marshal(b []byte) []byte {
	b = appendString(b, 1, a.name)
	switch a.kind {
	case attrFloat:
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.f))
	case attrInt:
		b = appendVarint(b, 3, uint64(a.i))
	case attrInts:
		var packed []byte
		for _, v := range a.ints {
			packed = protowire.AppendVarint(packed, uint64(v))
		}
		b = appendBytes(b, 8, packed)
	}
	return appendVarint(b, 20, uint64(a.kind))
}

// NodeProto: input=1, output=2, name=3, op_type=4, attribute=5.
func (n *node) marshal(b []byte) []byte {
	for _, in := range n.inputs {
		b = appendString(b, 1, in)
	}
	for _, out := range n.outputs {
		b = appendString(b, 2, out)
	}
	b = appendString(b, 3, n.name)
	b = appendString(b, 4, n.op)
	for i := range n.attrs {
		b = appendBytes(b, 5, n.attrs[i].marshal(nil))
	}
	return b
}

// ValueInfoProto: name=1, type=2. TypeProto: tensor_type=1. TypeProto.Tensor: elem_type=1, shape=2.
// TensorShapeProto: dim=1. Dimension: dim_value=1, dim_param=2.
func (v *valueInfo) marshal(b []byte) []byte {
	var shape []byte
	for _, d := range v.dims {
		var dim []byte
		switch d := d.(type) {
		case string:
			dim = appendString(dim, 2, d)
		case int64:
			dim = appendVarint(dim, 1, uint64(d))
		}
		shape = appendBytes(shape, 1, dim)
	}
	tt := appendVarint(nil, 1, uint64(v.dtype))
	tt = appendBytes(tt, 2, shape)
	typ := appendBytes(nil, 1, tt)
	b = appendString(b, 1, v.name)
	return appendBytes(b, 2, typ)
}

// graph is a GraphProto under construction.
type graph struct {
	name         string
	nodes        []node
	initializers []tensor
	inputs       []valueInfo
	outputs      []valueInfo
}

// GraphProto: node=1, name=2, initializer=5, input=11, output=12. The graph is written as three parts so that the
// initializers' payloads (nearly all of a model's bytes) are copied once, straight to the writer: pre (nodes and
// name), the initializers, post (inputs and outputs).
func (g *graph) parts() (pre, post []byte, heads [][]byte, size int) {
	for i := range g.nodes {
		pre = appendBytes(pre, 1, g.nodes[i].marshal(nil))
	}
	pre = appendString(pre, 2, g.name)
	for i := range g.inputs {
		post = appendBytes(post, 11, g.inputs[i].marshal(nil))
	}
	for i := range g.outputs {
		post = appendBytes(post, 12, g.outputs[i].marshal(nil))
	}
	size = len(pre) + len(post)
	heads = make([][]byte, len(g.initializers))
	for i := range g.initializers {
		t := &g.initializers[i]
		h := t.head()
		n := len(h) + len(t.raw)
		// The initializer field's own tag and length prefix the tensor message.
		heads[i] = protowire.AppendVarint(protowire.AppendTag(nil, 5, protowire.BytesType), uint64(n))
		heads[i] = append(heads[i], h...)
		size += len(heads[i]) + len(t.raw)
	}
	return pre, post, heads, size
}

// writeModel writes a ModelProto: ir_version=1, producer_name=2, producer_version=3, graph=7, opset_import=8
// (OperatorSetIdProto: domain=1, version=2), metadata_props=14 (StringStringEntryProto: key=1, value=2). It returns
// the bytes written.
func writeModel(w io.Writer, g *graph, producerVersion string, meta [][2]string) (int64, error) {
	pre, post, heads, size := g.parts()
	b := appendVarint(nil, 1, irVersion)
	b = appendString(b, 2, "whet")
	b = appendString(b, 3, producerVersion)
	op := appendString(nil, 1, "")
	op = appendVarint(op, 2, opset)
	b = appendBytes(b, 8, op)
	for _, kv := range meta {
		e := appendString(nil, 1, kv[0])
		e = appendString(e, 2, kv[1])
		b = appendBytes(b, 14, e)
	}
	b = protowire.AppendTag(b, 7, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	b = append(b, pre...)
	var n int64
	write := func(p []byte) error {
		k, err := w.Write(p)
		n += int64(k)
		return err
	}
	if err := write(b); err != nil {
		return n, err
	}
	for i := range g.initializers {
		if err := write(heads[i]); err != nil {
			return n, err
		}
		if err := write(g.initializers[i].raw); err != nil {
			return n, err
		}
	}
	return n, write(post)
}

// f32Bytes is values as little-endian float32 bytes.
func f32Bytes(values []float32) []byte {
	b := make([]byte, 4*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// i64Bytes is values as little-endian int64 bytes.
func i64Bytes(values ...int64) []byte {
	b := make([]byte, 8*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	return b
}
