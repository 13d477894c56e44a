package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/whetml/whet/native/bert"
)

func TestSafetensorsRoundTrip(t *testing.T) {
	in := []RawTensor{
		F32Tensor("b", []int64{2, 3}, []float32{1, 2, 3, 4, 5, -6}),
		F32Tensor("a", []int64{1}, []float32{math.Pi}),
		F32Tensor("s", []int64{}, []float32{7}),
	}
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, in, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if n := binary.LittleEndian.Uint64(buf.Bytes()[:8]); (n+8)%8 != 0 {
		t.Errorf("header length %d not padded to 8", n)
	}
	out, meta, err := ParseSafetensors(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if meta["format"] != "pt" {
		t.Errorf("metadata = %v", meta)
	}
	want := map[string][]float32{"a": {math.Pi}, "b": {1, 2, 3, 4, 5, -6}, "s": {7}}
	if len(out) != 3 || out[0].Name != "a" || out[1].Name != "b" {
		t.Fatalf("tensors = %+v", out)
	}
	for _, o := range out {
		v, err := o.Float32()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(v, want[o.Name]) {
			t.Errorf("%s = %v, want %v", o.Name, v, want[o.Name])
		}
	}
}

func TestHalfConversions(t *testing.T) {
	tests := []struct {
		dtype string
		bits  uint16
		want  float32
	}{
		{DTypeF16, 0x3c00, 1},
		{DTypeF16, 0xc000, -2},
		{DTypeF16, 0x3555, 0.333251953125},
		{DTypeF16, 0x0001, 5.960464477539063e-08}, // smallest subnormal
		{DTypeF16, 0x7bff, 65504},
		{DTypeF16, 0x0000, 0},
		{DTypeBF16, 0x3f80, 1},
		{DTypeBF16, 0xc040, -3},
	}
	for _, tt := range tests {
		d := make([]byte, 2)
		binary.LittleEndian.PutUint16(d, tt.bits)
		r := RawTensor{Name: "x", DType: tt.dtype, Shape: []int64{1}, Data: d}
		v, err := r.Float32()
		if err != nil {
			t.Fatal(err)
		}
		if v[0] != tt.want {
			t.Errorf("%s %#04x = %g, want %g", tt.dtype, tt.bits, v[0], tt.want)
		}
	}
	d := make([]byte, 2)
	binary.LittleEndian.PutUint16(d, 0x7c00)
	v, _ := (&RawTensor{DType: DTypeF16, Shape: []int64{1}, Data: d}).Float32()
	if !math.IsInf(float64(v[0]), 1) {
		t.Errorf("f16 inf = %g", v[0])
	}
}

func TestParseSafetensorsCorrupt(t *testing.T) {
	var good bytes.Buffer
	_ = WriteSafetensors(&good, []RawTensor{F32Tensor("w", []int64{4}, []float32{1, 2, 3, 4})}, nil)
	g := good.Bytes()
	hdr := func(h string) []byte {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint64(b, uint64(len(h)))
		return append(b, h...)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"too short", []byte{1, 2}, "too short"},
		{"header length too big", append([]byte{0xff, 0xff, 0, 0, 0, 0, 0, 0}, g[8:]...), "does not fit"},
		{"header not json", hdr("{nope"), "header is not JSON"},
		{"truncated data", g[:len(g)-3], "outside the"},
		{"size mismatch", append(hdr(`{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}`), make([]byte, 16)...), "16 bytes for shape [3]"},
		{"unknown dtype", append(hdr(`{"w":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}}`), make([]byte, 4)...), `unknown dtype "Q9"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ParseSafetensors(tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want containing %q", err, tt.want)
			}
		})
	}
}

func tinyConfig() bert.Config {
	c := bert.DefaultConfig()
	c.VocabSize, c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 10, 4, 1, 2, 8
	c.MaxPositionEmbeddings = 8
	c.SetLabels([]string{"a", "b"})
	return c
}

func tensorsFor(cfg bert.Config, heads bert.Heads, n int) []Tensor {
	var out []Tensor
	for _, p := range bert.Params(cfg, heads, n) {
		numel := int64(1)
		for _, d := range p.Shape {
			numel *= d
		}
		out = append(out, Tensor{Name: p.Name, Shape: p.Shape, Values: make([]float32, numel)})
	}
	return out
}

func TestWriteReadFolderAndMatch(t *testing.T) {
	cfg := tinyConfig()
	dir := filepath.Join(t.TempDir(), "m")
	tensors := tensorsFor(cfg, bert.HeadClassifier, 2)
	tensors[0].Values[3] = 1.5
	if err := WriteFolder(dir, SaveOptions{Config: cfg, Tensors: tensors, Vocab: []byte("[PAD]\n"), DoLowerCase: false}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ConfigFile, SafetensorsFile, VocabFile, TokenizerConfigFile, SpecialTokensFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	// Rewriting an existing folder replaces files in place and keeps other content.
	if err := os.MkdirAll(filepath.Join(dir, "checkpoints"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFolder(dir, SaveOptions{Config: cfg, Tensors: tensors, DoLowerCase: false}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "checkpoints")); err != nil {
		t.Errorf("rewrite removed checkpoints/: %v", err)
	}
	f, err := ReadFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	if f.DoLowerCase || !f.HasVocab() || !reflect.DeepEqual(f.Config.Labels(), []string{"a", "b"}) {
		t.Fatalf("folder = %+v", f)
	}
	if f.Weights["bert.embeddings.word_embeddings.weight"].Values[3] != 1.5 {
		t.Error("weight value lost")
	}

	tests := []struct {
		name       string
		heads      bert.Heads
		labels     int
		fresh      bool
		missing    []string
		unexpected []string
	}{
		{name: "same labels", heads: bert.HeadClassifier, labels: 2},
		{name: "new label set", heads: bert.HeadClassifier, labels: 3, fresh: true},
		{name: "mlm wanted", heads: bert.HeadMLM, labels: 0,
			missing:    []string{"cls.predictions.bias", "cls.predictions.transform.LayerNorm.bias", "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.dense.bias", "cls.predictions.transform.dense.weight"},
			unexpected: []string{"classifier.bias", "classifier.weight"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals, rep, err := f.Match(f.Config, tt.heads, tt.labels)
			if err != nil {
				t.Fatal(err)
			}
			if rep.FreshClassifier != tt.fresh {
				t.Errorf("fresh = %v (%s), want %v", rep.FreshClassifier, rep.FreshReason, tt.fresh)
			}
			if tt.fresh {
				if _, ok := vals["classifier.weight"]; ok {
					t.Error("stale classifier kept")
				}
				if !strings.Contains(rep.FreshReason, "does not match 3 labels") {
					t.Errorf("reason = %q", rep.FreshReason)
				}
			}
			if !reflect.DeepEqual(rep.Missing, tt.missing) || !reflect.DeepEqual(rep.Unexpected, tt.unexpected) {
				t.Errorf("missing %v unexpected %v, want %v %v", rep.Missing, rep.Unexpected, tt.missing, tt.unexpected)
			}
		})
	}
}

func TestReadFolderErrors(t *testing.T) {
	cfg := tinyConfig()
	write := func(t *testing.T, tensors []Tensor) string {
		dir := filepath.Join(t.TempDir(), "m")
		if err := WriteFolder(dir, SaveOptions{Config: cfg, Tensors: tensors}); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	t.Run("missing weights", func(t *testing.T) {
		dir := write(t, tensorsFor(cfg, bert.HeadClassifier, 2))
		os.Remove(filepath.Join(dir, SafetensorsFile))
		_, err := ReadFolder(dir)
		if !errors.Is(err, ErrNoWeights) || !strings.Contains(err.Error(), dir) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("corrupt weights", func(t *testing.T) {
		dir := write(t, tensorsFor(cfg, bert.HeadClassifier, 2))
		p := filepath.Join(dir, SafetensorsFile)
		b, _ := os.ReadFile(p)
		os.WriteFile(p, b[:len(b)/2], 0o644)
		_, err := ReadFolder(dir)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "corrupt safetensors") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("corrupt pytorch bin", func(t *testing.T) {
		dir := write(t, tensorsFor(cfg, bert.HeadClassifier, 2))
		os.Remove(filepath.Join(dir, SafetensorsFile))
		p := filepath.Join(dir, PytorchFile)
		os.WriteFile(p, []byte("not a pickle"), 0o644)
		_, err := ReadFolder(dir)
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("missing config", func(t *testing.T) {
		_, err := ReadFolder(t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "config.json") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("shape mismatch", func(t *testing.T) {
		ts := tensorsFor(cfg, bert.HeadClassifier, 2)
		for i := range ts {
			if ts[i].Name == "bert.encoder.layer.0.intermediate.dense.weight" {
				ts[i].Shape = []int64{7, 4}
				ts[i].Values = make([]float32, 28)
			}
		}
		dir := write(t, ts)
		f, err := ReadFolder(dir)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = f.Match(f.Config, bert.HeadClassifier, 2)
		var se *ShapeError
		if !errors.As(err, &se) || se.Tensor != "bert.encoder.layer.0.intermediate.dense.weight" ||
			!strings.Contains(err.Error(), "shape [7 4] in the file does not match [8 4] from config.json") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestCanonicalNames(t *testing.T) {
	tests := []struct {
		in   string
		bare bool
		want string
	}{
		{"bert.embeddings.LayerNorm.gamma", false, "bert.embeddings.LayerNorm.weight"},
		{"bert.encoder.layer.3.output.LayerNorm.beta", false, "bert.encoder.layer.3.output.LayerNorm.bias"},
		{"embeddings.word_embeddings.weight", true, "bert.embeddings.word_embeddings.weight"},
		{"pooler.dense.bias", true, "bert.pooler.dense.bias"},
		{"classifier.weight", true, "classifier.weight"},
		{"something.gamma", false, "something.gamma"},
	}
	for _, tt := range tests {
		if got := bert.CanonicalName(tt.in, tt.bare); got != tt.want {
			t.Errorf("CanonicalName(%q, %v) = %q, want %q", tt.in, tt.bare, got, tt.want)
		}
	}
}
