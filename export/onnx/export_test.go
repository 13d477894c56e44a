package onnx

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whetml/whet/native/bert"
	"github.com/whetml/whet/native/checkpoint"
	"github.com/whetml/whet/native/reftest"
	"github.com/whetml/whet/wasm/wordpiece/hfref"
)

// ortScript runs a model in onnxruntime-node (testdata/ort.mjs).
const ortScript = "export/onnx/testdata/ort.mjs"

// skipWithoutORT skips t when node or onnxruntime-node (npm ci at the repository root) is missing, and returns the
// repository root.
func skipWithoutORT(t testing.TB) string {
	t.Helper()
	root, err := hfref.RepoRoot()
	if err != nil {
		t.Skip(err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not on PATH: the onnxruntime tests need Node.js (make deps)")
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", "onnxruntime-node")); err != nil {
		t.Skip("node_modules/onnxruntime-node is missing: run `make deps` (npm ci) at the repository root")
	}
	return root
}

// batch is one onnxruntime request: token ids, or texts (tokenized by the exported tokenizer.json).
type batch struct {
	InputIDs      [][]int32 `json:"input_ids,omitempty"`
	AttentionMask [][]int32 `json:"attention_mask,omitempty"`
	TokenTypeIDs  [][]int32 `json:"token_type_ids,omitempty"`
	Texts         []string  `json:"texts,omitempty"`
	Pairs         []string  `json:"pairs,omitempty"`
}

// runORT runs each batch through model in onnxruntime-node and returns the logits per batch.
func runORT(t testing.TB, root, model, tokenizer string, batches []batch, extra ...string) [][][]float32 {
	t.Helper()
	var in bytes.Buffer
	for _, b := range batches {
		line, _ := json.Marshal(b)
		in.Write(append(line, '\n'))
	}
	args := []string{ortScript, "--model", model}
	if tokenizer != "" {
		args = append(args, "--tokenizer", tokenizer)
	}
	args = append(args, extra...)
	cmd := exec.Command("node", args...)
	cmd.Dir = root
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("onnxruntime-node: %v\n%s", err, stderr.String())
	}
	var res [][][]float32
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var r struct {
			Logits [][]float32 `json:"logits"`
			Error  string      `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("onnxruntime-node: %v: %.300s", err, sc.Text())
		}
		if r.Error != "" {
			t.Fatalf("onnxruntime-node: %s", r.Error)
		}
		res = append(res, r.Logits)
	}
	if len(res) != len(batches) {
		t.Fatalf("onnxruntime-node answered %d batches of %d\n%s", len(res), len(batches), stderr.String())
	}
	return res
}

// testModel describes a random classifier folder for the tests.
type testModel struct {
	vocab               []byte
	layers, hidden, ffn int
	heads, maxPos       int
	act                 string
	labels              []string
	std                 float64
}

// write writes the model as a HF folder with normal(0, std) weights and biases and LayerNorm weights near 1 (larger
// than HF's init, so the logits are far from 0 and the comparisons mean something).
func (m testModel) write(t testing.TB, dir string, seed uint64) bert.Config {
	t.Helper()
	cfg := bert.DefaultConfig()
	cfg.VocabSize = bytes.Count(m.vocab, []byte("\n"))
	cfg.NumHiddenLayers, cfg.HiddenSize, cfg.NumAttentionHeads, cfg.IntermediateSize = m.layers, m.hidden, m.heads, m.ffn
	cfg.MaxPositionEmbeddings = m.maxPos
	cfg.HiddenAct = m.act
	cfg.SetLabels(m.labels)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	var ts []checkpoint.Tensor
	for _, p := range bert.Params(cfg, bert.HeadClassifier, len(m.labels)) {
		n := int64(1)
		for _, d := range p.Shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * m.std)
			if p.Init == bert.InitOnes {
				v[i] += 1
			}
		}
		ts = append(ts, checkpoint.Tensor{Name: p.Name, Shape: p.Shape, Values: v})
	}
	if err := checkpoint.WriteFolder(dir, checkpoint.SaveOptions{Config: cfg, Tensors: ts, Vocab: m.vocab, DoLowerCase: true}); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestExportMatchesPyTorch runs the exported fp32 graph in onnxruntime and compares its logits with the plain
// PyTorch BERT (native/testdata/ref_bert.py) on a padded batch with a sentence pair, for each hidden_act.
func TestExportMatchesPyTorch(t *testing.T) {
	root := skipWithoutORT(t)
	reftest.SkipWithoutTorch(t)
	v := reftest.NewVocab(reftest.Sentences(), 120)
	var ids, types [][]int32
	for i, s := range reftest.Sentences() {
		pair := ""
		if i == 1 {
			pair = reftest.Sentences()[2] // a sentence pair: token_type_ids 1 on the second segment
		}
		a, b := v.Encode(s, pair)
		ids, types = append(ids, a), append(types, b)
	}
	pids, ptypes, mask := reftest.Pad(ids, types, 0)
	for _, act := range []string{"gelu", "gelu_new", "relu"} {
		t.Run(act, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "model")
			m := testModel{vocab: v.Text(), layers: 2, hidden: 32, ffn: 64, heads: 4, maxPos: 64, act: act, labels: []string{"a", "b", "c"}, std: 0.2}
			m.write(t, dir, 7)
			out := filepath.Join(t.TempDir(), "export")
			if _, err := Export(context.Background(), dir, out, Options{}); err != nil {
				t.Fatal(err)
			}
			var want reftest.ForwardResponse
			reftest.Run(t, "forward", reftest.ForwardRequest{Model: dir, InputIDs: pids, TokenTypeIDs: ptypes, AttentionMask: mask, Threads: 1}, &want)
			got := runORT(t, root, filepath.Join(out, ModelFile), "", []batch{
				{InputIDs: pids, AttentionMask: mask, TokenTypeIDs: ptypes},
				{InputIDs: ids[4:5], AttentionMask: [][]int32{{1, 1, 1}}, TokenTypeIDs: types[4:5]}, // one row, unpadded
			})
			spread := 0.0
			for i := range want.Logits {
				if d := reftest.MaxAbsDiff(got[0][i], want.Logits[i]); d > 1e-4 {
					t.Errorf("row %d: logits %v, PyTorch %v (max diff %.2e > 1e-4)", i, got[0][i], want.Logits[i], d)
				}
				for _, x := range want.Logits[i] {
					spread = max(spread, math.Abs(x-want.Logits[0][0]))
				}
			}
			if spread < 0.1 {
				t.Fatalf("reference logits barely differ (spread %.3g): the comparison would not catch a wrong graph", spread)
			}
			if d := reftest.MaxAbsDiff(got[1][0], want.Rows[4].Logits); d > 1e-4 {
				t.Errorf("unpadded row: logits %v, PyTorch %v (max diff %.2e)", got[1][0], want.Rows[4].Logits, d)
			}
		})
	}
}

// TestExportInt8 checks the quantized graph: about 4x smaller than fp32 and close to its logits.
func TestExportInt8(t *testing.T) {
	root := skipWithoutORT(t)
	v := reftest.NewVocab(reftest.Sentences(), 2000)
	dir := filepath.Join(t.TempDir(), "model")
	m := testModel{vocab: v.Text(), layers: 2, hidden: 64, ffn: 256, heads: 4, maxPos: 64, act: "gelu", labels: []string{"neg", "pos"}, std: 0.1}
	m.write(t, dir, 3)
	out := filepath.Join(t.TempDir(), "export")
	res, err := Export(context.Background(), dir, out, Options{Quantize: QuantizeInt8})
	if err != nil {
		t.Fatal(err)
	}
	fp32, q := res.Files[ModelFile], res.Files[QuantizedModelFile]
	// LayerNorms, position and type embeddings and biases stay float32: a third at this size, ~0.26 for bert-base.
	if ratio := float64(q) / float64(fp32); ratio > 1.0/3 {
		t.Errorf("int8 model is %d bytes, %.2f of fp32's %d: want <= 1/3", q, ratio, fp32)
	}
	var ids, types [][]int32
	for _, s := range reftest.Sentences() {
		a, b := v.Encode(s, "")
		ids, types = append(ids, a), append(types, b)
	}
	pids, ptypes, mask := reftest.Pad(ids, types, 0)
	in := []batch{{InputIDs: pids, AttentionMask: mask, TokenTypeIDs: ptypes}}
	a := runORT(t, root, filepath.Join(out, ModelFile), "", in)[0]
	b := runORT(t, root, filepath.Join(out, QuantizedModelFile), "", in)[0]
	for i := range a {
		d, scale := 0.0, 0.0
		for j := range a[i] {
			d = max(d, math.Abs(float64(a[i][j]-b[i][j])))
			scale = max(scale, math.Abs(float64(a[i][j])))
		}
		if d > 0.05*scale+1e-3 {
			t.Errorf("row %d: int8 logits %v, fp32 %v: differ by %.3g (> 5%% of %.3g)", i, b[i], a[i], d, scale)
		}
	}
}

// TestExportFolder checks the files of an export folder and that HF tokenizers, reading the tokenizer.json export
// built from vocab.txt, tokenizes as whet's reference does (hfref), so transformers.js gets whet's token ids.
func TestExportFolder(t *testing.T) {
	root, err := hfref.RepoRoot()
	if err != nil {
		t.Skip(err)
	}
	vocab, err := os.ReadFile(hfref.TinyVocabPath(root))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "model")
	testModel{vocab: vocab, layers: 1, hidden: 16, ffn: 32, heads: 2, maxPos: 32, act: "gelu", labels: []string{"x", "y"}, std: 0.1}.write(t, dir, 1)
	if err := os.WriteFile(filepath.Join(dir, PreprocessFile), []byte("\x00asm-module"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "export")
	res, err := Export(context.Background(), dir, out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{checkpoint.ConfigFile, checkpoint.VocabFile, checkpoint.TokenizerConfigFile, checkpoint.TokenizerJSONFile, PreprocessFile, ModelFile} {
		st, err := os.Stat(filepath.Join(out, f))
		if err != nil || st.Size() != res.Files[f] {
			t.Errorf("%s: %v (size %v, reported %d)", f, err, st, res.Files[f])
		}
	}
	if _, ok := res.Files[QuantizedModelFile]; ok {
		t.Errorf("%s written without Quantize", QuantizedModelFile)
	}
	var tc map[string]any
	b, _ := os.ReadFile(filepath.Join(out, checkpoint.TokenizerConfigFile))
	if err := json.Unmarshal(b, &tc); err != nil || tc["tokenizer_class"] != "BertTokenizer" || tc["do_lower_case"] != true {
		t.Errorf("tokenizer_config.json = %s (%v): want tokenizer_class BertTokenizer, do_lower_case true", b, err)
	}
	if err := hfref.Available(root); err != nil {
		t.Skip(err)
	}
	inputs := hfref.EdgeCases()
	want, err := hfref.Encode(context.Background(), root, hfref.TinyVocabPath(root), hfref.Config{Lowercase: true}, inputs)
	if err != nil {
		t.Fatal(err)
	}
	got := encodeWithTokenizerJSON(t, root, filepath.Join(out, checkpoint.TokenizerJSONFile), inputs)
	for i := range inputs {
		if fmt.Sprint(got[i].IDs, got[i].TypeIDs) != fmt.Sprint(want[i].IDs, want[i].TypeIDs) {
			t.Errorf("input %q/%q: tokenizer.json gives %v %v, reference %v %v", inputs[i].Text, inputs[i].Pair, got[i].IDs, got[i].TypeIDs, want[i].IDs, want[i].TypeIDs)
		}
	}
}

// encodeWithTokenizerJSON tokenizes inputs with HF tokenizers loading path.
func encodeWithTokenizerJSON(t *testing.T, root, path string, inputs []hfref.Input) []hfref.Output {
	t.Helper()
	script := `
const { createRequire } = require('node:module');
const r = createRequire(require('node:path').join(process.cwd(), 'package.json'));
const { Tokenizer } = r('@anush008/tokenizers');
(async () => {
  const tok = Tokenizer.fromFile(process.argv[1]);
  const rows = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
  const out = [];
  for (const row of rows) {
    const e = await tok.encode(row.text, row.has_pair ? row.pair : null);
    out.push({ ids: e.getIds(), type_ids: e.getTypeIds() });
  }
  console.log(JSON.stringify(out));
})();`
	type row struct {
		Text    string `json:"text"`
		Pair    string `json:"pair"`
		HasPair bool   `json:"has_pair"`
	}
	var rows []row
	for _, in := range inputs {
		rows = append(rows, row{in.Text, in.Pair, in.HasPair})
	}
	b, _ := json.Marshal(rows)
	cmd := exec.Command("node", "-e", script, path)
	cmd.Dir = root
	cmd.Stdin = bytes.NewReader(b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tokenizers: %v\n%s", err, stderr.String())
	}
	var res []hfref.Output
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// TestExportErrors checks that what cannot be exported is refused with an error naming the cause.
func TestExportErrors(t *testing.T) {
	v := reftest.NewVocab(nil, 10)
	base := testModel{vocab: v.Text(), layers: 1, hidden: 8, ffn: 16, heads: 2, maxPos: 16, act: "gelu", labels: []string{"a", "b"}, std: 0.1}
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string)
		opts  Options
		want  string
	}{
		{"bad quantize", func(t *testing.T, dir string) { base.write(t, dir, 1) }, Options{Quantize: "int4"}, `quantize "int4"`},
		{"adapter", func(t *testing.T, dir string) {
			base.write(t, dir, 1)
			os.WriteFile(filepath.Join(dir, adapterConfigFile), []byte("{}"), 0o644)
		}, Options{}, "LoRA adapter"},
		{"no classifier", func(t *testing.T, dir string) {
			base.write(t, dir, 1)
			f, err := checkpoint.ReadFolder(dir)
			if err != nil {
				t.Fatal(err)
			}
			var ts []checkpoint.Tensor
			for name, w := range f.Weights {
				if !strings.HasPrefix(name, "classifier.") {
					ts = append(ts, *w)
				}
			}
			os.RemoveAll(dir)
			if err := checkpoint.WriteFolder(dir, checkpoint.SaveOptions{Config: f.Config, Tensors: ts, Vocab: base.vocab}); err != nil {
				t.Fatal(err)
			}
		}, Options{}, "no classifier"},
		{"no vocab", func(t *testing.T, dir string) {
			base.write(t, dir, 1)
			os.Remove(filepath.Join(dir, checkpoint.VocabFile))
		}, Options{}, "vocab.txt is needed"},
		{"no folder", func(t *testing.T, dir string) {}, Options{}, "model["},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "model")
			c.setup(t, dir)
			_, err := Export(context.Background(), dir, filepath.Join(t.TempDir(), "out"), c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
		})
	}
}
