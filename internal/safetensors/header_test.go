package safetensors

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"
)

// file returns a safetensors prefix: the length of header, then header.
func file(header string) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(b, header...)
}

func TestReadHeader(t *testing.T) {
	h, err := ReadHeader(bytes.NewReader(file(`{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}`)), 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	want := Header{Tensors: map[string]Entry{"w": {DType: "F32", Shape: []int64{2, 3}, DataOffsets: []int64{0, 24}}},
		Metadata: map[string]string{"format": "pt"}}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("got %+v, want %+v", h, want)
	}
}

func TestReadHeaderErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "no header length"},
		{"over the limit", file(strings.Repeat(" ", 65)), "header length 65 is over the limit of 64 bytes"},
		{"cut short", file(`{"w":{}}`)[:12], "header cut short"},
		{"not JSON", file(`{nope`), "header is not JSON"},
		{"not an object", file(`[1]`), "header is not JSON"},
		{"bad metadata", file(`{"__metadata__":{"n":1}}`), "__metadata__:"},
		{"bad entry", file(`{"w":{"shape":"2x3"}}`), "tensor[w]:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadHeader(bytes.NewReader(tc.in), 64)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}
