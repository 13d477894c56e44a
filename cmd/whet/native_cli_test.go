//go:build cgo

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whetml/whet/host/modeldir"
	"github.com/whetml/whet/internal/protocol"
	"github.com/whetml/whet/native/checkpoint"
	"github.com/whetml/whet/native/reftest"
	"github.com/whetml/whet/wasm/modules"
)

// TestNativeHelperProcess is not a test: it runs main() with the arguments after "--" when re-executed by
// runWhet, so tests see real exit codes and output streams.
func TestNativeHelperProcess(t *testing.T) {
	if os.Getenv("WHET_NATIVE_HELPER") != "1" {
		return
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Args = append([]string{"whet"}, args...)
	main()
	os.Exit(0)
}

// runWhet runs `whet args...` in a child process and returns stdout, stderr and the exit code.
func runWhet(t *testing.T, stdin io.Reader, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestNativeHelperProcess$", "--"}, args...)...)
	// OMP_WAIT_POLICY set: main must not re-execute itself (it would exec the test binary without -test.run).
	cmd.Env = append(os.Environ(), "WHET_NATIVE_HELPER=1", "OMP_WAIT_POLICY=PASSIVE")
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func needWordPiece(t *testing.T) {
	t.Helper()
	if _, err := modules.BertWordPiece(); err != nil {
		t.Skipf("built-in bert-wordpiece not built (make wasm): %v", err)
	}
}

var cliSentences = []string{
	"it 's a charming and often affecting journey .",
	"unflinchingly bleak and desperate",
	"the film is strictly routine .",
	"a gorgeous , witty , seductive movie that never once loses its sense of wonder",
	"bad",
}

// cliVocab writes a small WordPiece vocab covering cliSentences (whole words plus a few ## pieces).
func cliVocab(t *testing.T, dir string) string {
	t.Helper()
	v := reftest.NewVocab(cliSentences, 0)
	words := append(v.Words, "##s", "##ing", "##ly", "un", "[unused_x]")
	p := filepath.Join(dir, "vocab.txt")
	if err := os.WriteFile(p, []byte(strings.Join(words, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func initModel(t *testing.T, dir string, extra ...string) string {
	t.Helper()
	out := filepath.Join(dir, "model")
	args := append([]string{"model", "init", "--vocab", cliVocab(t, dir), "--labels", "neg,pos,neutral", "--layers", "2", "--hidden", "32",
		"--heads", "4", "--intermediate", "64", "--max-position", "64", "--seed", "7", "--out", out}, extra...)
	if _, stderr, code := runWhet(t, nil, args...); code != 0 {
		t.Fatalf("model init: exit %d: %s", code, stderr)
	}
	return out
}

// TestCLIPredictMatchesPyTorch: `whet model init` then `whet predict` (tokenizing through the sandboxed
// bert-wordpiece module) gives the logits of the plain PyTorch reference on the same model.safetensors and ids.
func TestCLIPredictMatchesPyTorch(t *testing.T) {
	needWordPiece(t)
	reftest.SkipWithoutTorch(t)
	dir := t.TempDir()
	model := initModel(t, dir, "--initializer-range", "0.3")
	input := writeFile(t, filepath.Join(dir, "in.txt"), strings.Join(cliSentences, "\n")+"\n")
	outPath := filepath.Join(dir, "pred.jsonl")
	if _, stderr, code := runWhet(t, nil, "predict", "--model", model, "--input", input, "--output", outPath, "--threads", "1"); code != 0 {
		t.Fatalf("predict: exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	var preds []prediction
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var p prediction
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("bad line %q: %v", sc.Text(), err)
		}
		preds = append(preds, p)
	}
	if len(preds) != len(cliSentences) {
		t.Fatalf("%d predictions for %d inputs", len(preds), len(cliSentences))
	}
	// The same ids for the reference, from the same tokenizer.
	rt, err := modeldir.ReadRuntime(model)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := newTokenizer(context.Background(), rt, "", 64)
	if err != nil {
		t.Fatal(err)
	}
	ids, types, errs, err := tok.Encode(context.Background(), cliSentences, nil, 64)
	tok.Close(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if e.Msg != "" {
			t.Fatalf("row %d: %s", i, e.Msg)
		}
	}
	pids, ptypes, mask := reftest.Pad(ids, types, 0)
	var ref reftest.ForwardResponse
	reftest.Run(t, "forward", reftest.ForwardRequest{Model: model, InputIDs: pids, TokenTypeIDs: ptypes, AttentionMask: mask, Threads: 1}, &ref)
	worst := 0.0
	for i, p := range preds {
		l := make([]float32, len(p.Logits))
		for j, v := range p.Logits {
			l[j] = float32(v)
		}
		worst = max(worst, reftest.MaxAbsDiff(l, ref.Logits[i]), reftest.MaxAbsDiff(l, ref.Rows[i].Logits))
		if !contains([]string{"neg", "pos", "neutral"}, p.Label) || p.Score <= 0 || p.Score > 1 {
			t.Errorf("prediction %d = %+v", i, p)
		}
	}
	t.Logf("max abs logit diff vs PyTorch: %.3g (ids of row 0: %v)", worst, ids[0])
	if worst > 1e-4 {
		t.Fatalf("logits differ from the PyTorch reference by %g", worst)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// cliTrainTSV writes dir/train.tsv: 40 rows of cliSentences labelled pos, neg or neutral.
func cliTrainTSV(t *testing.T, dir string) string {
	t.Helper()
	var rows strings.Builder
	rows.WriteString("sentence\tlabel\n")
	for i := range 40 {
		fmt.Fprintf(&rows, "%s\t%s\n", cliSentences[i%len(cliSentences)], []string{"pos", "neg", "neutral", "pos", "neg"}[i%len(cliSentences)])
	}
	return writeFile(t, filepath.Join(dir, "train.tsv"), rows.String())
}

// TestCLITrainEvalWorker: a small `whet train --progress json` run, then eval, predict and the worker protocol.
func TestCLITrainEvalWorker(t *testing.T) {
	needWordPiece(t)
	dir := t.TempDir()
	model := initModel(t, dir)
	data := cliTrainTSV(t, dir)
	out := filepath.Join(dir, "out")
	stdout, stderr, code := runWhet(t, nil, "train", "--model", model, "--train", data, "--validation", data, "--out", out,
		"--epochs", "10", "--batch-size", "8", "--learning-rate", "3e-3", "--threads", "2", "--progress", "json", "--max-seq-length", "32")
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var sum protocol.TrainSummary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatalf("last stdout line is not the JSON summary: %q", lines[len(lines)-1])
	}
	var m map[string]any
	_ = json.Unmarshal(sum.Metrics, &m)
	if sum.TrainSamplesPerSecond <= 0 || m["accuracy"] == nil || sum.GlobalStep != 50 {
		t.Errorf("summary = %s", lines[len(lines)-1])
	}
	types := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Errorf("stderr line is not JSON: %q", l)
			continue
		}
		types[e["type"].(string)]++
	}
	if types["step"] == 0 || types["eval"] != 10 || types["checkpoint"] != 10 || types["done"] != 1 || types["log"] == 0 {
		t.Errorf("event types = %v", types)
	}

	stdout, stderr, code = runWhet(t, nil, "eval", "--model", out, "--input", data, "--threads", "1")
	if code != 0 {
		t.Fatalf("eval: exit %d: %s", code, stderr)
	}
	lines = strings.Split(strings.TrimSpace(stdout), "\n")
	var ev map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &ev); err != nil || ev["accuracy"] == nil || ev["loss"] == nil || ev["confusion_matrix"] == nil {
		t.Errorf("eval output = %q (%v)", stdout, err)
	}
	if acc := ev["accuracy"].(float64); acc < 0.6 { // majority class: 0.4
		t.Errorf("eval accuracy on the training rows %.2f < 0.6", acc)
	}

	// The worker answers in order, one failing request does not stop it.
	in := strings.NewReader(`{"id":1,"inputs":["bad","a gorgeous movie"]}` + "\n" + `{"id":"x","inputs":[]}` + "\nnot json\n" + `{"id":3,"inputs":["the film"]}` + "\n")
	stdout, stderr, code = runWhet(t, in, "worker", "predict", "--model", out, "--threads", "1")
	if code != 0 {
		t.Fatalf("worker: exit %d: %s", code, stderr)
	}
	resp := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(resp) != 5 {
		t.Fatalf("worker wrote %d lines: %s", len(resp), stdout)
	}
	var ready struct {
		Ready        bool     `json:"ready"`
		Labels       []string `json:"labels"`
		MaxSeqLength int      `json:"max_seq_length"`
	}
	if err := json.Unmarshal([]byte(resp[0]), &ready); err != nil || !ready.Ready || len(ready.Labels) != 3 || ready.MaxSeqLength != 32 { // the length trained with
		t.Errorf("ready line = %s", resp[0])
	}
	var r1 protocol.Response
	if err := json.Unmarshal([]byte(resp[1]), &r1); err != nil || string(r1.ID) != "1" || len(r1.Results) != 2 || len(r1.Results[0].Scores) != 3 {
		t.Errorf("response 1 = %s", resp[1])
	}
	if !strings.Contains(resp[2], `"error":"no inputs"`) || !strings.Contains(resp[2], `"id":"x"`) || !strings.Contains(resp[3], "bad request") {
		t.Errorf("error responses = %s / %s", resp[2], resp[3])
	}
	if !strings.Contains(resp[4], `"id":3`) || !strings.Contains(resp[4], `"results"`) {
		t.Errorf("response 3 = %s", resp[4])
	}
}

// TestCLIBadInput: every bad input is a clear error (naming the file, tensor, line or label) and a non-zero exit.
// TestCLIFolderRemembersPreprocessing: a model trained with an uploaded preprocess module and a sequence length
// carries both (preprocess.wasm, tokenizer_config.json model_max_length), and predict/worker use them unasked.
func TestCLIFolderRemembersPreprocessing(t *testing.T) {
	needWordPiece(t)
	dir := t.TempDir()
	model := initModel(t, dir)
	wasm, _ := modules.BertWordPiece()
	custom := filepath.Join(dir, "custom.wasm")
	if err := os.WriteFile(custom, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	var rows strings.Builder
	rows.WriteString("sentence\tlabel\n")
	for i := range 16 {
		fmt.Fprintf(&rows, "%s\t%s\n", cliSentences[i%len(cliSentences)], []string{"pos", "neg"}[i%2])
	}
	data := writeFile(t, filepath.Join(dir, "train.tsv"), rows.String())
	out := filepath.Join(dir, "out")
	if _, stderr, code := runWhet(t, nil, "train", "--model", model, "--train", data, "--out", out, "--epochs", "1",
		"--batch-size", "8", "--threads", "1", "--progress", "none", "--max-seq-length", "24", "--preprocess-module", custom); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	if got := mustRead(t, filepath.Join(out, "preprocess.wasm")); !bytes.Equal(got, wasm) {
		t.Fatalf("out/preprocess.wasm: %d bytes, want the %d-byte module trained with", len(got), len(wasm))
	}
	var tok map[string]any
	if err := json.Unmarshal(mustRead(t, filepath.Join(out, "tokenizer_config.json")), &tok); err != nil || tok["model_max_length"] != 24.0 {
		t.Fatalf("tokenizer_config.json = %v (%v), want model_max_length 24", tok, err)
	}
	stdout, stderr, code := runWhet(t, strings.NewReader(""), "worker", "predict", "--model", out, "--threads", "1")
	if code != 0 || !strings.Contains(stdout, `"max_seq_length":24`) {
		t.Fatalf("worker ready line = %q, exit %d: %s", stdout, code, stderr)
	}
}

func TestCLIBadInput(t *testing.T) {
	needWordPiece(t)
	dir := t.TempDir()
	model := initModel(t, dir)
	good := writeFile(t, filepath.Join(dir, "good.tsv"), "sentence\tlabel\nbad\tneg\nthe film\tpos\n")
	copyModel := func(name string) string {
		dst := filepath.Join(dir, name)
		if err := checkpoint.CopyFolder(model, dst); err != nil {
			t.Fatal(err)
		}
		return dst
	}
	noWeights := copyModel("no-weights")
	os.Remove(filepath.Join(noWeights, "model.safetensors"))
	corrupt := copyModel("corrupt")
	st := filepath.Join(corrupt, "model.safetensors")
	b, _ := os.ReadFile(st)
	os.WriteFile(st, b[:len(b)/3], 0o644)
	mismatch := copyModel("mismatch")
	cfgPath := filepath.Join(mismatch, "config.json")
	cb, _ := os.ReadFile(cfgPath)
	os.WriteFile(cfgPath, bytes.Replace(cb, []byte(`"intermediate_size": 64`), []byte(`"intermediate_size": 96`), 1), 0o644)
	if bytes.Equal(cb, mustRead(t, cfgPath)) {
		t.Fatalf("config edit failed: %s", cb)
	}
	pred := filepath.Join(dir, "p.jsonl")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"missing weight file", []string{"predict", "--model", noWeights, "--input", good, "--output", pred}, []string{noWeights, "no weight file", "model.safetensors"}},
		{"corrupt weight file", []string{"eval", "--model", corrupt, "--input", good}, []string{st, "corrupt safetensors"}},
		{"config/weight shape mismatch", []string{"train", "--model", mismatch, "--train", good, "--out", filepath.Join(dir, "o1")},
			[]string{"tensor[bert.encoder.layer.0.intermediate.dense.weight]", "shape [64 32] in the file does not match [96 32] from config.json"}},
		{"unknown label (eval)", []string{"eval", "--model", model, "--input", writeFile(t, filepath.Join(dir, "unk.tsv"), "sentence\tlabel\nbad\tneg\ngood\tmeh\n")},
			[]string{"unk.tsv:3", `label "meh" is not one of the model's labels [neg pos neutral]`}},
		{"unknown label column (predict ignores labels, text required)", []string{"predict", "--model", model, "--input", writeFile(t, filepath.Join(dir, "nt.tsv"), "label\nneg\n"), "--output", pred},
			[]string{"nt.tsv:1", "no text column"}},
		{"empty dataset", []string{"train", "--model", model, "--train", writeFile(t, filepath.Join(dir, "empty.tsv"), "sentence\tlabel\n"), "--out", filepath.Join(dir, "o2")},
			[]string{"empty.tsv", "empty dataset"}},
		{"row without text", []string{"train", "--model", model, "--train", writeFile(t, filepath.Join(dir, "notext.jsonl"), "{\"text\":\"ok\",\"label\":\"neg\"}\n{\"label\":\"pos\"}\n"), "--out", filepath.Join(dir, "o3")},
			[]string{"notext.jsonl:2", `field "text": missing text`}},
		{"missing model folder", []string{"eval", "--model", filepath.Join(dir, "nope"), "--input", good}, []string{"nope", "no such file"}},
		{"missing flag", []string{"train", "--model", model}, []string{"--train is required"}},
		{"fp16 on the CPU", []string{"train", "--model", model, "--train", good, "--out", filepath.Join(dir, "o4"), "--device", "cpu", "--precision", "fp16", "--progress", "json"},
			[]string{`"code":"invalid_hyperparameters"`, "precision", "float16 autocast needs a CUDA device; use bf16 or fp32 on the CPU"}},
		{"fp16 predict on the CPU", []string{"predict", "--model", model, "--input", good, "--output", pred, "--precision", "fp16"},
			[]string{"--precision", "float16 autocast needs a CUDA device"}},
		{"unknown precision", []string{"train", "--model", model, "--train", good, "--out", filepath.Join(dir, "o5"), "--precision", "int8"},
			[]string{"--precision: must be one of auto, fp32, bf16, fp16"}},
		{"model init bad heads", []string{"model", "init", "--vocab", cliVocab(t, dir), "--labels", "a,b", "--hidden", "30", "--heads", "4", "--out", filepath.Join(dir, "x")},
			[]string{"hidden_size", "not a multiple of num_attention_heads"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runWhet(t, nil, tt.args...)
			if code == 0 {
				t.Fatalf("exit 0, want an error; stderr: %s", stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q lacks %q", strings.TrimSpace(stderr), w)
				}
			}
		})
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCLIPretrain: `whet pretrain` writes a BertForMaskedLM folder that `whet train` starts from.
func TestCLIPretrain(t *testing.T) {
	needWordPiece(t)
	dir := t.TempDir()
	model := initModel(t, dir)
	var c strings.Builder
	for i := range 60 {
		c.WriteString(cliSentences[i%len(cliSentences)] + "\n")
	}
	corpusPath := writeFile(t, filepath.Join(dir, "corpus.txt"), c.String())
	mlm := filepath.Join(dir, "mlm")
	stdout, stderr, code := runWhet(t, nil, "pretrain", "--model", model, "--corpus", corpusPath, "--out", mlm, "--max-steps", "30",
		"--batch-size", "8", "--learning-rate", "3e-3", "--threads", "2")
	if code != 0 {
		t.Fatalf("pretrain: exit %d: %s", code, stderr)
	}
	var sum pretrainSummary
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.GlobalStep != 30 || !(sum.Loss < sum.FirstLoss) {
		t.Errorf("pretrain summary = %q", stdout)
	}
	data := writeFile(t, filepath.Join(dir, "t.tsv"), "sentence\tlabel\nbad\tneg\nthe film\tpos\n")
	if _, stderr, code := runWhet(t, nil, "train", "--model", mlm, "--train", data, "--out", filepath.Join(dir, "ft"), "--epochs", "1"); code != 0 {
		t.Fatalf("train from the pretrained folder: exit %d: %s", code, stderr)
	}
	// From scratch with a vocab.
	if _, stderr, code := runWhet(t, nil, "pretrain", "--vocab", cliVocab(t, dir), "--hidden", "32", "--heads", "2", "--intermediate", "64",
		"--corpus", corpusPath, "--out", filepath.Join(dir, "scratch"), "--max-steps", "3", "--batch-size", "8"); code != 0 {
		t.Fatalf("pretrain from scratch: exit %d: %s", code, stderr)
	}
	// A folder's config and vocabulary with fresh weights.
	if _, stderr, code := runWhet(t, nil, "pretrain", "--config-from", model, "--corpus", corpusPath, "--out", filepath.Join(dir, "fresh"),
		"--max-steps", "2", "--batch-size", "8"); code != 0 {
		t.Fatalf("pretrain --config-from: exit %d: %s", code, stderr)
	}
}
