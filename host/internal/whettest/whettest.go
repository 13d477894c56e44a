// Package whettest holds helpers shared by the host packages' tests: building the fake whet binary
// (host/internal/fakewhet) and writing small model folders and datasets. Test code only.
package whettest

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BuildFake builds host/internal/fakewhet into dir and returns the binary's path. Call it from TestMain.
func BuildFake(dir string) (string, error) {
	bin := filepath.Join(dir, "fakewhet")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/whetml/whet/host/internal/fakewhet")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build fakewhet: %v\n%s", err, out)
	}
	return bin, nil
}

// RunWithFake is a TestMain body: it builds the fake whet into a temp folder, stores its path in *bin, runs the
// tests and exits with their status.
func RunWithFake(m *testing.M, bin *string) {
	dir, err := os.MkdirTemp("", "whet-fake-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *bin, err = BuildFake(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// WriteModel writes a minimal model folder (config.json with labels, a placeholder weights file) into dir.
func WriteModel(dir string, labels ...string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	id2label := map[string]string{}
	for i, l := range labels {
		id2label[fmt.Sprint(i)] = l
	}
	cfg, _ := json.Marshal(map[string]any{"architectures": []string{"BertForSequenceClassification"},
		"id2label": id2label, "max_position_embeddings": 512, "hidden_size": 32})
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "model.safetensors"), []byte("weights"), 0o644)
}

// Safetensors returns a safetensors file of F32 zeros holding tensors of the given shapes (metadata {"format":"pt"}).
func Safetensors(shapes map[string][]int64) []byte {
	header := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var off int64
	for name, shape := range shapes {
		n := int64(4)
		for _, d := range shape {
			n *= d
		}
		header[name] = map[string]any{"dtype": "F32", "shape": shape, "data_offsets": []int64{off, off + n}}
		off += n
	}
	h, _ := json.Marshal(header)
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	return append(append(b, h...), make([]byte, off)...)
}

// SST2 returns n JSONL rows of short positive and negative sentences (labels "neg" and "pos"), alternating.
func SST2(n int) string {
	pos := []string{"a great movie", "truly wonderful acting", "i loved every minute", "brilliant and moving", "a joy to watch"}
	neg := []string{"a terrible movie", "dull and lifeless", "i hated every minute", "boring and far too long", "a waste of time"}
	var b strings.Builder
	for i := range n {
		text, label := pos[(i/2)%len(pos)], "pos"
		if i%2 == 1 {
			text, label = neg[(i/2)%len(neg)], "neg"
		}
		row, _ := json.Marshal(map[string]string{"text": fmt.Sprintf("%s number %d", text, i), "label": label})
		b.Write(row)
		b.WriteByte('\n')
	}
	return b.String()
}
