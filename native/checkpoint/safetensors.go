package checkpoint

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"unsafe"

	"github.com/whetml/whet/internal/safetensors"
)

// Safetensors dtypes whet reads. Floating types convert to float32 on load.
const (
	DTypeF32  = "F32"
	DTypeF16  = "F16"
	DTypeBF16 = "BF16"
	DTypeF64  = "F64"
	DTypeI64  = "I64"
	DTypeI32  = "I32"
)

// maxHeaderBytes bounds the JSON header (the reference implementation uses 100 MB).
const maxHeaderBytes = 100 << 20

// RawTensor is one tensor of a safetensors file: raw little-endian bytes in its file dtype.
type RawTensor struct {
	// Name is the tensor's key in the header.
	Name string
	// DType is the safetensors dtype ("F32", "F16", "BF16", ...).
	DType string
	// Shape is the tensor shape; empty for a scalar.
	Shape []int64
	// Data is the raw little-endian payload (a view into the file's bytes).
	Data []byte
}

// Numel is the number of elements (1 for a scalar).
func (t *RawTensor) Numel() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Float32 converts the payload to float32 values (F32, F16, BF16, F64, I64, I32).
func (t *RawTensor) Float32() ([]float32, error) {
	n := int(t.Numel())
	out := make([]float32, n)
	d := t.Data
	switch t.DType {
	case DTypeF32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(d[4*i:]))
		}
	case DTypeF16:
		for i := range out {
			out[i] = halfToFloat32(binary.LittleEndian.Uint16(d[2*i:]))
		}
	case DTypeBF16:
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(d[2*i:])) << 16)
		}
	case DTypeF64:
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(d[8*i:])))
		}
	case DTypeI64:
		for i := range out {
			out[i] = float32(int64(binary.LittleEndian.Uint64(d[8*i:])))
		}
	case DTypeI32:
		for i := range out {
			out[i] = float32(int32(binary.LittleEndian.Uint32(d[4*i:])))
		}
	default:
		return nil, fmt.Errorf("tensor[%s]: dtype %s cannot be read as float", t.Name, t.DType)
	}
	return out, nil
}

// halfToFloat32 converts IEEE 754 binary16 bits to float32.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: normalize
		e := int32(0)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | uint32(int32(127-15)+e+1)<<23 | mant<<13)
	case exp == 0x1f: // inf or NaN
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	default:
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	}
}

func dtypeSize(dt string) (int64, bool) {
	switch dt {
	case "F64", "I64", "U64":
		return 8, true
	case "F32", "I32", "U32":
		return 4, true
	case "F16", "BF16", "I16", "U16":
		return 2, true
	case "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2":
		return 1, true
	}
	return 0, false
}

// ReadSafetensors reads a whole safetensors file. Tensors come back sorted by name; the metadata map is the
// optional "__metadata__" entry. Errors name the file and, where it applies, the tensor.
func ReadSafetensors(path string) ([]RawTensor, map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("weights[%s]: %w", path, err)
	}
	ts, meta, err := ParseSafetensors(b)
	if err != nil {
		return nil, nil, fmt.Errorf("weights[%s]: %w", path, err)
	}
	return ts, meta, nil
}

// ParseSafetensors decodes a safetensors buffer: 8-byte little-endian header length, JSON header, raw data. The
// returned tensors' Data are views into b.
func ParseSafetensors(b []byte) ([]RawTensor, map[string]string, error) {
	if len(b) < 8 {
		return nil, nil, fmt.Errorf("corrupt safetensors: %d bytes is too short for the header length", len(b))
	}
	n := binary.LittleEndian.Uint64(b[:8])
	if n > maxHeaderBytes || n > uint64(len(b)-8) {
		return nil, nil, fmt.Errorf("corrupt safetensors: header length %d does not fit the %d-byte file", n, len(b))
	}
	header, err := safetensors.ParseHeader(b[8 : 8+n])
	if err != nil {
		return nil, nil, fmt.Errorf("corrupt safetensors: %w", err)
	}
	data := b[8+n:]
	var out []RawTensor
	for name, e := range header.Tensors {
		size, ok := dtypeSize(e.DType)
		if !ok {
			return nil, nil, fmt.Errorf("corrupt safetensors: tensor[%s]: unknown dtype %q", name, e.DType)
		}
		if len(e.DataOffsets) != 2 {
			return nil, nil, fmt.Errorf("corrupt safetensors: tensor[%s]: data_offsets must have 2 entries", name)
		}
		begin, end := e.DataOffsets[0], e.DataOffsets[1]
		numel := int64(1)
		for _, d := range e.Shape {
			if d < 0 {
				return nil, nil, fmt.Errorf("corrupt safetensors: tensor[%s]: negative dimension in shape %v", name, e.Shape)
			}
			numel *= d
		}
		if begin < 0 || end < begin || end > int64(len(data)) {
			return nil, nil, fmt.Errorf("corrupt safetensors: tensor[%s]: data_offsets [%d, %d] outside the %d data bytes (truncated file?)", name, begin, end, len(data))
		}
		if end-begin != numel*size {
			return nil, nil, fmt.Errorf("corrupt safetensors: tensor[%s]: %d bytes for shape %v of %s (want %d)", name, end-begin, e.Shape, e.DType, numel*size)
		}
		out = append(out, RawTensor{Name: name, DType: e.DType, Shape: e.Shape, Data: data[begin:end:end]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, header.Metadata, nil
}

// WriteSafetensors writes tensors (in the given order) with optional metadata to w. The header is padded with
// spaces to a multiple of 8 bytes, as the reference implementation does.
func WriteSafetensors(w io.Writer, tensors []RawTensor, meta map[string]string) error {
	src := make([]TensorSource, len(tensors))
	for i, t := range tensors {
		src[i] = TensorSource{Name: t.Name, DType: t.DType, Shape: t.Shape, Data: func() ([]byte, error) { return t.Data, nil }}
	}
	return StreamSafetensors(w, src, meta)
}

// TensorSource is a tensor for StreamSafetensors: its bytes are fetched only when it is written.
type TensorSource struct {
	Name, DType string
	Shape       []int64
	// Data returns the tensor's little-endian bytes, Numel*dtype size of them.
	Data func() ([]byte, error)
}

// StreamSafetensors is WriteSafetensors fetching each tensor's bytes just before writing them, so that a file
// larger than memory allows (model weights plus optimizer moments) never has to be assembled.
func StreamSafetensors(w io.Writer, tensors []TensorSource, meta map[string]string) error {
	header := make(map[string]any, len(tensors)+1)
	if len(meta) > 0 {
		header["__metadata__"] = meta
	}
	var off int64
	sizes := make([]int64, len(tensors))
	for i, t := range tensors {
		size, ok := dtypeSize(t.DType)
		if !ok {
			return fmt.Errorf("tensor[%s]: unknown dtype %q", t.Name, t.DType)
		}
		if _, dup := header[t.Name]; dup {
			return fmt.Errorf("tensor[%s]: duplicate name", t.Name)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int64{}
		}
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		sizes[i] = n * size
		header[t.Name] = safetensors.Entry{DType: t.DType, Shape: shape, DataOffsets: []int64{off, off + sizes[i]}}
		off += sizes[i]
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(hb)%8 != 0 {
		hb = append(hb, ' ')
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var lenb [8]byte
	binary.LittleEndian.PutUint64(lenb[:], uint64(len(hb)))
	if _, err := bw.Write(lenb[:]); err != nil {
		return err
	}
	if _, err := bw.Write(hb); err != nil {
		return err
	}
	for i, t := range tensors {
		data, err := t.Data()
		if err != nil {
			return fmt.Errorf("tensor[%s]: %w", t.Name, err)
		}
		if int64(len(data)) != sizes[i] {
			return fmt.Errorf("tensor[%s]: %d bytes for shape %v of %s", t.Name, len(data), t.Shape, t.DType)
		}
		if _, err := bw.Write(data); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// F32Tensor builds an F32 RawTensor from values (little-endian). On little-endian machines Data shares values'
// memory instead of copying it (a checkpoint is written without a second copy of the weights), so values must not
// change while the RawTensor is in use.
func F32Tensor(name string, shape []int64, values []float32) RawTensor {
	return RawTensor{Name: name, DType: DTypeF32, Shape: shape, Data: F32Bytes(values)}
}

// F32Bytes returns values as little-endian bytes, sharing their memory on little-endian machines.
func F32Bytes(values []float32) []byte {
	if littleEndian && len(values) > 0 {
		return unsafe.Slice((*byte)(unsafe.Pointer(&values[0])), 4*len(values))
	}
	data := make([]byte, 4*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(v))
	}
	return data
}

var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1
