//go:build cgo

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIQuantizeInt8: `whet predict --quantize int8` on a trained model gives float32's labels on texts it was not
// trained on, with logits close to float32's; eval and the predict worker take the flag too; a bad value and a
// combination with --precision bf16 are clear errors.
func TestCLIQuantizeInt8(t *testing.T) {
	needWordPiece(t)
	dir := t.TempDir()
	// Wide enough that its Linear calls (rows x 256 x 256 and up) pass bert.Int8MinMACs and run in int8.
	model := initModel(t, dir, "--hidden", "256", "--heads", "4", "--intermediate", "1024")
	data := cliTrainTSV(t, dir)
	out := filepath.Join(dir, "out")
	if _, stderr, code := runWhet(t, nil, "train", "--model", model, "--train", data, "--out", out, "--epochs", "10",
		"--batch-size", "8", "--learning-rate", "3e-3", "--threads", "1", "--progress", "none", "--max-seq-length", "32"); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	// Held-out texts: new word orders and mixes of the training sentences' words.
	var held strings.Builder
	words := strings.Fields(strings.Join(cliSentences, " "))
	for i := range 60 {
		var s []string
		for j := range 3 + i%9 {
			s = append(s, words[(i*7+j*j*3+j)%len(words)])
		}
		fmt.Fprintf(&held, "%s\n", strings.Join(s, " "))
	}
	input := writeFile(t, filepath.Join(dir, "held.txt"), held.String())
	predict := func(extra ...string) []prediction {
		t.Helper()
		p := filepath.Join(dir, "p.jsonl")
		args := append([]string{"predict", "--model", out, "--input", input, "--output", p, "--threads", "1", "--batch-size", "64"}, extra...)
		if _, stderr, code := runWhet(t, nil, args...); code != 0 {
			t.Fatalf("predict %v: exit %d: %s", extra, code, stderr)
		}
		return readPredictions(t, p)
	}
	fp32, int8 := predict(), predict("--quantize", "int8")
	if len(fp32) != 60 || len(int8) != 60 {
		t.Fatalf("%d and %d predictions for 60 texts", len(fp32), len(int8))
	}
	worst, spread := 0.0, 0.0
	for i := range fp32 {
		if fp32[i].Label != int8[i].Label {
			t.Errorf("text %d: int8 label %s, float32 %s (logits %v vs %v)", i, int8[i].Label, fp32[i].Label, int8[i].Logits, fp32[i].Logits)
		}
		for j, v := range fp32[i].Logits {
			worst = max(worst, math.Abs(v-int8[i].Logits[j]))
			spread = max(spread, math.Abs(v))
		}
	}
	t.Logf("max |int8 - fp32| logit %.4f (largest |logit| %.2f)", worst, spread)
	// Measured (oneDNN, libtorch 1.13): 0.0001 with logits up to 0.91. Zero would mean int8 did not run.
	if worst > 0.01 || worst == 0 {
		t.Errorf("int8 logits differ from float32 by up to %g, want (0, 0.01]", worst)
	}

	if stdout, stderr, code := runWhet(t, nil, "eval", "--model", out, "--input", data, "--threads", "1", "--quantize", "int8"); code != 0 || !strings.Contains(stdout, `"accuracy"`) {
		t.Errorf("eval --quantize int8: exit %d: %s %s", code, stdout, stderr)
	}
	in := strings.NewReader(`{"id":1,"inputs":["a gorgeous movie","bleak"]}` + "\n")
	stdout, stderr, code := runWhet(t, in, "worker", "predict", "--model", out, "--threads", "1", "--quantize", "int8")
	if code != 0 || !strings.Contains(stdout, `"id":1`) || !strings.Contains(stdout, `"results"`) {
		t.Errorf("worker predict --quantize int8: exit %d: %s %s", code, stdout, stderr)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"predict", "--model", out, "--input", input, "--output", filepath.Join(dir, "x.jsonl"), "--quantize", "int4"}, `--quantize: quantize "int4": want none or int8`},
		{[]string{"worker", "predict", "--model", out, "--quantize", "fp8"}, `--quantize: quantize "fp8": want none or int8`},
		{[]string{"predict", "--model", out, "--input", input, "--output", filepath.Join(dir, "x.jsonl"), "--quantize", "int8", "--precision", "bf16"}, "--quantize int8 does not combine with --precision bf16"},
	} {
		_, stderr, code := runWhet(t, nil, tc.args...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want an error containing %q", tc.args, code, stderr, tc.want)
		}
	}
}

func readPredictions(t *testing.T, path string) []prediction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []prediction
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var p prediction
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, p)
	}
	return out
}
