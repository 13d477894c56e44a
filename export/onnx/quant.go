package onnx

import "math"

// quantizeColumns quantizes W^T ([in, out], from HF's row-major W [out, in]) to uint8 per output column with an
// asymmetric range that includes 0: q = round(w / scale) + zp, w ≈ (q - zp) * scale. It returns q ([in, out],
// row-major), the scales and zero points (one per column).
func quantizeColumns(w []float32, out, in int64) (q []byte, scale []float32, zp []byte) {
	q = make([]byte, len(w))
	scale = make([]float32, out)
	zp = make([]byte, out)
	for o := range out {
		row := w[o*in : (o+1)*in]
		s, z := rangeParams(row)
		scale[o], zp[o] = s, z
		for i, v := range row {
			q[int64(i)*out+o] = quantize(v, s, z)
		}
	}
	return q, scale, zp
}

// rangeParams returns the uint8 scale and zero point covering [min(v, 0), max(v, 0)] (onnxruntime's asymmetric
// scheme: 0 is exactly representable, so zero padding stays zero).
func rangeParams(v []float32) (float32, byte) {
	lo, hi := float32(0), float32(0)
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	if hi == lo {
		return 1, 0
	}
	s := (hi - lo) / 255
	z := math.Round(float64(-lo / s))
	return s, byte(max(0, min(255, z)))
}

func quantize(v, s float32, z byte) byte {
	q := math.Round(float64(v/s)) + float64(z)
	return byte(max(0, min(255, q)))
}

// linearInt8 is x @ W^T + bias with W quantized per output column: x is quantized per tensor at run time
// (DynamicQuantizeLinear), multiplied in integers (MatMulInteger, uint8 x uint8 -> int32; no int16 saturation), and
// rescaled by x_scale * w_scale. onnxruntime fuses the chain into one DynamicQuantizeMatMul.
func (b *builder) linearInt8(x, prefix string, w, bias []float32, out, in int64) string {
	q, scale, zp := quantizeColumns(w, out, in)
	wq := b.init(prefix+".weight_quantized", dtUint8, []int64{in, out}, q)
	wzp := b.init(prefix+".weight_zero_point", dtUint8, []int64{out}, zp)
	ws := b.f32(prefix+".weight_scale", []int64{out}, scale)
	xq := b.ops("DynamicQuantizeLinear", 3, []string{x})
	y := b.op("MatMulInteger", []string{xq[0], wq, xq[2], wzp})
	y = b.op("Cast", []string{y}, attrI("to", dtFloat))
	y = b.op("Mul", []string{y, b.op("Mul", []string{xq[1], ws})})
	return b.op("Add", []string{y, b.f32(prefix+".bias", []int64{out}, bias)})
}

// embeddingInt8 gathers rows of an 8-bit per-row table and dequantizes them: (q[ids] - zp[ids]) * scale[ids].
func (b *builder) embeddingInt8(name string, table []float32, rows, cols int64, ids string) string {
	q := make([]byte, len(table))
	scale := make([]float32, rows)
	zp := make([]float32, rows)
	for r := range rows {
		row := table[r*cols : (r+1)*cols]
		s, z := rangeParams(row)
		scale[r], zp[r] = s, float32(z)
		for i, v := range row {
			q[r*cols+int64(i)] = quantize(v, s, z)
		}
	}
	tq := b.init(name+"_quantized", dtUint8, []int64{rows, cols}, q)
	ts := b.f32(name+"_scale", []int64{rows, 1}, scale)
	tz := b.f32(name+"_zero_point", []int64{rows, 1}, zp)
	v := b.op("Cast", []string{b.op("Gather", []string{tq, ids})}, attrI("to", dtFloat))
	v = b.op("Sub", []string{v, b.op("Gather", []string{tz, ids})})
	return b.op("Mul", []string{v, b.op("Gather", []string{ts, ids})})
}
