package reftest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Python is the interpreter with Debian's python3-torch (the pyenv python3 on PATH has no torch).
const Python = "/usr/bin/python3"

var (
	checkOnce sync.Once
	checkErr  error
)

// Script returns the absolute path of native/testdata/ref_bert.py.
func Script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "ref_bert.py")
}

// SkipWithoutTorch skips t when /usr/bin/python3 cannot import torch and numpy.
func SkipWithoutTorch(t testing.TB) {
	t.Helper()
	checkOnce.Do(func() {
		out, err := exec.Command(Python, "-c", "import torch, numpy").CombinedOutput()
		if err != nil {
			checkErr = fmt.Errorf("%s cannot import torch and numpy (apt-get install python3-torch python3-numpy): %v: %s", Python, err, out)
		}
	})
	if checkErr != nil {
		t.Skip(checkErr)
	}
}

// Run runs ref_bert.py cmd with req as JSON on stdin and decodes its JSON answer into resp.
func Run(t testing.TB, cmd string, req, resp any) {
	t.Helper()
	run(t, Script(), cmd, req, resp)
}

// RunLoRA runs native/testdata/ref_lora.py (the peft-math LoRA reference) as Run runs ref_bert.py.
func RunLoRA(t testing.TB, cmd string, req, resp any) {
	t.Helper()
	run(t, filepath.Join(filepath.Dir(Script()), "ref_lora.py"), cmd, req, resp)
}

func run(t testing.TB, script, cmd string, req, resp any) {
	t.Helper()
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(script)
	c := exec.Command(Python, script, cmd)
	c.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	c.Env = append(os.Environ(), "OMP_NUM_THREADS=1")
	if err := c.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, cmd, err, stderr.String())
	}
	if resp != nil {
		if err := json.Unmarshal(stdout.Bytes(), resp); err != nil {
			t.Fatalf("%s %s: bad JSON answer: %v\n%.500s", name, cmd, err, stdout.String())
		}
	}
}

// ForwardRequest is ref_bert.py's forward request.
type ForwardRequest struct {
	Model         string    `json:"model"`
	InputIDs      [][]int32 `json:"input_ids"`
	TokenTypeIDs  [][]int32 `json:"token_type_ids"`
	AttentionMask [][]int32 `json:"attention_mask"`
	Threads       int       `json:"threads"`
	Variant       *Variant  `json:"variant,omitempty"`
}

// Variant deliberately breaks the reference (negative controls): Mask "none"/"keys", GELU "tanh", Eps override.
type Variant struct {
	Mask string   `json:"mask,omitempty"`
	GELU string   `json:"gelu,omitempty"`
	Eps  *float64 `json:"eps,omitempty"`
}

// ForwardResponse is ref_bert.py's forward answer.
type ForwardResponse struct {
	Logits    [][]float64   `json:"logits"`
	MLMLogits [][][]float64 `json:"mlm_logits"`
	Rows      []struct {
		Logits    []float64   `json:"logits"`
		MLMLogits [][]float64 `json:"mlm_logits"`
	} `json:"rows"`
}

// Pad pads rows to the longest with pad and returns the padded ids, zero type ids (or the given ones padded) and the
// attention mask.
func Pad(ids, types [][]int32, pad int32) (pids, ptypes, mask [][]int32) {
	T := 0
	for _, r := range ids {
		T = max(T, len(r))
	}
	for i, r := range ids {
		p := make([]int32, T)
		ty := make([]int32, T)
		m := make([]int32, T)
		for j := range T {
			if j < len(r) {
				p[j] = r[j]
				m[j] = 1
				if types != nil {
					ty[j] = types[i][j]
				}
			} else {
				p[j] = pad
			}
		}
		pids, ptypes, mask = append(pids, p), append(ptypes, ty), append(mask, m)
	}
	return
}

// MaxAbsDiff is the largest |a-b| over two equally long vectors (+Inf when lengths differ).
func MaxAbsDiff(a []float32, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-b[i]))
	}
	return d
}

// Vocab is a word-level test vocabulary: [PAD] [UNK] [CLS] [SEP] [MASK] then the words of the given sentences.
type Vocab struct {
	Words []string
	index map[string]int32
}

// NewVocab builds a Vocab from sentences (lowercased, split on spaces) plus filler tokens up to size.
func NewVocab(sentences []string, size int) *Vocab {
	v := &Vocab{index: map[string]int32{}}
	add := func(w string) {
		if _, ok := v.index[w]; !ok {
			v.index[w] = int32(len(v.Words))
			v.Words = append(v.Words, w)
		}
	}
	for _, w := range []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"} {
		add(w)
	}
	for _, s := range sentences {
		for _, w := range strings.Fields(strings.ToLower(s)) {
			add(w)
		}
	}
	for i := 0; len(v.Words) < size; i++ {
		add(fmt.Sprintf("[unused%d]", i))
	}
	return v
}

// Text is vocab.txt's content.
func (v *Vocab) Text() []byte { return []byte(strings.Join(v.Words, "\n") + "\n") }

// Encode maps a sentence (and an optional pair) to [CLS] a [SEP] (b [SEP]) ids and type ids.
func (v *Vocab) Encode(a, b string) (ids, types []int32) {
	ids = append(ids, v.index["[CLS]"])
	for _, w := range strings.Fields(strings.ToLower(a)) {
		ids = append(ids, v.id(w))
	}
	ids = append(ids, v.index["[SEP]"])
	types = make([]int32, len(ids))
	if b != "" {
		for _, w := range strings.Fields(strings.ToLower(b)) {
			ids = append(ids, v.id(w))
			types = append(types, 1)
		}
		ids = append(ids, v.index["[SEP]"])
		types = append(types, 1)
	}
	return ids, types
}

func (v *Vocab) id(w string) int32 {
	if i, ok := v.index[w]; ok {
		return i
	}
	return v.index["[UNK]"]
}

// Sentences returns real sentences of different lengths for reference tests.
func Sentences() []string { return slices.Clone(sentences) }

var sentences = []string{
	"it 's a charming and often affecting journey .",
	"unflinchingly bleak and desperate",
	"the film is strictly routine .",
	"a gorgeous , witty , seductive movie that never once loses its sense of wonder and keeps the audience guessing until the very last frame .",
	"bad",
	"what county is modesto , california in ?",
}
