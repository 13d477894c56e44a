//go:build cgo

package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/whetml/whet/internal/protocol"
	"github.com/whetml/whet/native/checkpoint"
)

// trainAdapter runs `whet train --method lora` on rows labeled by labelOf and returns the adapter folder and summary.
func trainAdapter(t *testing.T, dir, base, name string, labelOf func(i int) string, extra ...string) (string, protocol.TrainSummary) {
	t.Helper()
	var rows strings.Builder
	rows.WriteString("sentence\tlabel\n")
	for i := range 30 {
		fmt.Fprintf(&rows, "%s\t%s\n", cliSentences[i%len(cliSentences)], labelOf(i%len(cliSentences)))
	}
	data := writeFile(t, filepath.Join(dir, name+".tsv"), rows.String())
	out := filepath.Join(dir, name)
	args := append([]string{"train", "--method", "lora", "--model", base, "--train", data, "--out", out, "--epochs", "6",
		"--batch-size", "8", "--learning-rate", "2e-2", "--threads", "1", "--max-seq-length", "32"}, extra...)
	stdout, stderr, code := runWhet(t, nil, args...)
	if code != 0 {
		t.Fatalf("train --method lora: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var sum protocol.TrainSummary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatalf("summary %q: %v", lines[len(lines)-1], err)
	}
	return out, sum
}

func predictLogits(t *testing.T, model, input string) [][]float64 {
	t.Helper()
	out := filepath.Join(t.TempDir(), "pred.jsonl")
	if _, stderr, code := runWhet(t, nil, "predict", "--model", model, "--input", input, "--output", out, "--threads", "1"); code != 0 {
		t.Fatalf("predict --model %s: exit %d: %s", model, code, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var logits [][]float64
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var p prediction
		if err := json.Unmarshal([]byte(l), &p); err != nil {
			t.Fatal(err)
		}
		logits = append(logits, p.Logits)
	}
	return logits
}

// TestCLILoRA: `whet train --method lora` writes an adapter folder that predict, eval and `whet model merge` take
// (merged logits = unmerged within 1e-5), and one worker on the base serves two adapters with different labels in
// turn, unloading and reloading one without a restart, each answering as `whet predict` on that adapter does.
func TestCLILoRA(t *testing.T) {
	needWordPiece(t)
	dir := t.TempDir()
	base := initModel(t, dir)
	sentiment, sum := trainAdapter(t, dir, base, "sentiment", func(i int) string { return []string{"pos", "neg", "neg", "pos", "neg"}[i] },
		"--lora-r", "4", "--lora-alpha", "8", "--lora-targets", "query,value,output.dense")
	if sum.Method != "lora" || sum.TrainableParams <= 0 || sum.TrainableParams*10 > sum.TotalParams {
		t.Errorf("summary method %q trainable %d of %d", sum.Method, sum.TrainableParams, sum.TotalParams)
	}
	a, err := checkpoint.ReadAdapter(sentiment)
	if err != nil {
		t.Fatal(err)
	}
	if a.Config.R != 4 || a.Config.LoraAlpha != 8 || !reflect.DeepEqual(a.Config.TargetModules.Names, []string{"query", "value", "output.dense"}) {
		t.Errorf("adapter config = %+v", a.Config)
	}
	length, _ := trainAdapter(t, dir, base, "length", func(i int) string { return []string{"long", "short", "short", "long", "tiny"}[i] },
		"--lora-targets", "query,value,word_embeddings") // an Embedding target served beside a Linear-only adapter

	input := writeFile(t, filepath.Join(dir, "in.txt"), strings.Join(cliSentences, "\n")+"\n")
	unmerged := predictLogits(t, sentiment, input)
	merged := filepath.Join(dir, "merged")
	if _, stderr, code := runWhet(t, nil, "model", "merge", "--adapter", sentiment, "--out", merged); code != 0 {
		t.Fatalf("model merge: exit %d: %s", code, stderr)
	}
	worst := 0.0
	for i, row := range predictLogits(t, merged, input) {
		for j := range row {
			worst = math.Max(worst, math.Abs(row[j]-unmerged[i][j]))
		}
	}
	if worst > 1e-5 {
		t.Errorf("merged vs unmerged logits differ by %g", worst)
	}
	f, err := checkpoint.ReadConfigOnly(merged)
	if err != nil || !reflect.DeepEqual(f.Config.Labels(), []string{"neg", "pos", "neutral"}) { // the base's: they cover the data
		t.Errorf("merged labels = %v (%v)", f.Config.Labels(), err)
	}
	stdout, stderr, code := runWhet(t, nil, "eval", "--model", length, "--input", filepath.Join(dir, "length.tsv"), "--threads", "1")
	if code != 0 || !strings.Contains(stdout, `"accuracy"`) {
		t.Errorf("eval of an adapter: exit %d: %s %s", code, stdout, stderr)
	}

	req := func(id int, adapter string) string {
		b, _ := json.Marshal(map[string]any{"id": id, "inputs": cliSentences[:2], "adapter": adapter, "logits": true})
		return string(b) + "\n"
	}
	in := req(1, sentiment) + req(2, length) + req(3, sentiment) + fmt.Sprintf(`{"id":4,"unload":%q}`+"\n", sentiment) +
		req(5, sentiment) + `{"id":6,"inputs":["bad"]}` + "\n" + req(7, filepath.Join(dir, "nope"))
	stdout, stderr, code = runWhet(t, strings.NewReader(in), "worker", "predict", "--model", base, "--threads", "1")
	if code != 0 {
		t.Fatalf("worker: exit %d: %s", code, stderr)
	}
	resp := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(resp) != 8 {
		t.Fatalf("worker wrote %d lines: %s", len(resp), stdout)
	}
	var rs []protocol.Response
	for _, l := range resp[1:] {
		var r protocol.Response
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	labelsOf := func(r protocol.Response) []string {
		var ls []string
		for _, x := range r.Results {
			for k := range x.Scores {
				ls = append(ls, k)
			}
		}
		return ls
	}
	if len(rs[0].Results) != 2 || len(rs[0].Results[0].Scores) != 3 || len(rs[1].Results[0].Scores) != 3 {
		t.Errorf("adapter responses = %s / %s", resp[1], resp[2])
	}
	for _, l := range labelsOf(rs[1]) {
		if l != "long" && l != "short" && l != "tiny" {
			t.Errorf("length adapter answered with label %q", l)
		}
	}
	for i := range 2 {
		for j := range unmerged[i] {
			for _, r := range []protocol.Response{rs[0], rs[2], rs[4]} { // before and after the unload
				if d := math.Abs(r.Results[i].Logits[j] - unmerged[i][j]); d > 1e-5 {
					t.Errorf("worker logits for the sentiment adapter differ from predict's by %g", d)
				}
			}
		}
	}
	if rs[3].Unloaded == nil || !*rs[3].Unloaded {
		t.Errorf("unload response = %s", resp[4])
	}
	if len(rs[5].Results) != 1 || len(rs[5].Results[0].Scores) != 3 { // the base's own neg/pos/neutral head
		t.Errorf("base response = %s", resp[6])
	}
	if !strings.Contains(rs[6].Error, "nope") {
		t.Errorf("missing adapter response = %s", resp[7])
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--lora-r", "4"}, "--lora-r need --method lora"},
		{[]string{"--method", "lora", "--lora-targets", "attn"}, `target module "attn" matches no Linear layer`},
		{[]string{"--method", "qlora"}, `--method: "qlora"`},
	} {
		args := append([]string{"train", "--model", base, "--train", filepath.Join(dir, "length.tsv"), "--out", filepath.Join(dir, "x")}, tt.args...)
		if _, stderr, code := runWhet(t, nil, args...); code == 0 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tt.args, code, stderr, tt.want)
		}
	}
}
