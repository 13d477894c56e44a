package onnx

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/whetml/whet/dataset"
	"github.com/whetml/whet/native/reftest"
	"github.com/whetml/whet/wasm/wordpiece/hfref"
)

// whetBin returns $WHET_BIN (a whet built with native support; make test sets it) or skips t.
func whetBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("WHET_BIN")
	if bin == "" {
		t.Skip("WHET_BIN is not set: comparing with whet's own predictions needs a built whet (make test sets it)")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("WHET_BIN=%s: %v", bin, err)
	}
	return bin
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// predictions runs `whet predict` on a JSONL file and returns each row's label and logits.
func predictions(t *testing.T, bin, model, input string, extra ...string) (labels []string, logits [][]float64) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "pred.jsonl")
	run(t, bin, append([]string{"predict", "--model", model, "--input", input, "--output", out, "--threads", "2"}, extra...)...)
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r struct {
			Label  string    `json:"label"`
			Logits []float64 `json:"logits"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		labels, logits = append(labels, r.Label), append(logits, r.Logits)
	}
	return labels, logits
}

// TestExportMatchesWhetPredict compares onnxruntime on the export folder (tokenized by its tokenizer.json) with
// `whet predict` (whet's WASM tokenizer and libtorch model) on English and Chinese text and a sentence pair.
func TestExportMatchesWhetPredict(t *testing.T) {
	root := skipWithoutORT(t)
	bin := whetBin(t)
	en := []string{"It's a charming and often affecting journey.", "unflinchingly bleak and desperate", "The film is strictly routine!"}
	zh := []string{"这部电影很好看", "服务态度很差，不会再来了。"}
	words := append(append([]string{}, en...), strings.Join(strings.Split(strings.Join(zh, ""), ""), " "), "it ' s !")
	v := reftest.NewVocab(words, 200)
	tmp := t.TempDir()
	vocab := filepath.Join(tmp, "vocab.txt")
	if err := os.WriteFile(vocab, v.Text(), 0o644); err != nil {
		t.Fatal(err)
	}
	model, out := filepath.Join(tmp, "model"), filepath.Join(tmp, "export")
	run(t, bin, "model", "init", "--vocab", vocab, "--labels", "neg,pos,mixed", "--layers", "2", "--hidden", "32", "--heads", "2",
		"--intermediate", "64", "--max-position", "64", "--initializer-range", "0.2", "--seed", "5", "--out", model)
	if _, err := Export(context.Background(), model, out, Options{}); err != nil {
		t.Fatal(err)
	}
	texts := append(append([]string{}, en...), zh...)
	input := writeTexts(t, filepath.Join(tmp, "in.jsonl"), texts)
	pairIn := filepath.Join(tmp, "pairs.jsonl")
	b, _ := json.Marshal(map[string]string{"text": en[0], "text_pair": en[2]})
	if err := os.WriteFile(pairIn, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	_, want := predictions(t, bin, model, input)
	_, wantPair := predictions(t, bin, model, pairIn, "--text-pair-column", "text_pair")
	got := runORT(t, root, filepath.Join(out, ModelFile), filepath.Join(out, "tokenizer.json"), []batch{
		{Texts: texts}, // one padded batch
		{Texts: en[:1], Pairs: en[2:3]},
	})
	for i := range texts {
		if d := reftest.MaxAbsDiff(got[0][i], want[i]); d > 1e-4 {
			t.Errorf("%q: onnxruntime %v, whet %v (max diff %.2e > 1e-4)", texts[i], got[0][i], want[i], d)
		}
	}
	if d := reftest.MaxAbsDiff(got[1][0], wantPair[0]); d > 1e-4 {
		t.Errorf("pair: onnxruntime %v, whet %v (max diff %.2e > 1e-4)", got[1][0], wantPair[0], d)
	}
}

// TestInt8SST2 fine-tunes a tiny model on 8000 SST-2 rows (~1 minute on 2 cores), exports it and checks on SST-2 dev
// that the fp32 ONNX model gives whet's labels, and that the int8 ONNX model and `whet predict --quantize int8` agree
// with fp32 on >= 99% of rows with an accuracy at most 0.5 points lower. Skips without ../shared/data.
func TestInt8SST2(t *testing.T) {
	int8Accuracy(t, int8Case{dir: "sst2", vocab: "bert-base-uncased-vocab.txt", trainRows: 8000, maxLen: 64, threads: 2})
}

// TestInt8ChnSentiCorp is TestInt8SST2 on ChnSentiCorp (Chinese, longer texts: all 9600 training rows at 128 tokens,
// one thread; ~10 minutes on a busy 2-core machine), run only with WHET_INT8_CHNSENTICORP=1 (bench/onnx-results.md).
func TestInt8ChnSentiCorp(t *testing.T) {
	if os.Getenv("WHET_INT8_CHNSENTICORP") == "" {
		t.Skip("a long measurement: set WHET_INT8_CHNSENTICORP=1 to run it")
	}
	int8Accuracy(t, int8Case{dir: "chnsenticorp", vocab: "bert-base-chinese-vocab.txt", trainRows: 9600, maxLen: 128, threads: 1})
}

// int8Case is a data set of ../shared/data for int8Accuracy.
type int8Case struct {
	dir, vocab        string // folder with train.tsv and dev.tsv; vocab file in data/vocab
	trainRows, maxLen int
	threads           int
}

// int8Accuracy fine-tunes a tiny model (2x128) on c's first trainRows rows for one epoch, exports it, and compares on
// dev: fp32 ONNX labels equal whet's; int8 ONNX and whet --quantize int8 agree with fp32 on >= 99% of rows and lose
// at most 0.5 points of accuracy.
func int8Accuracy(t *testing.T, c int8Case) {
	root := skipWithoutORT(t)
	bin := whetBin(t)
	shared, err := hfref.SharedDir(root)
	if err != nil {
		t.Skip(err)
	}
	data := filepath.Join(shared, "data")
	dev := filepath.Join(data, c.dir, "dev.tsv")
	if _, err := os.Stat(dev); err != nil {
		t.Skipf("%s is not there (%v): the int8 accuracy test needs ../shared/data", c.dir, err)
	}
	tmp := t.TempDir()
	train := filepath.Join(tmp, "train.tsv")
	if err := headLines(filepath.Join(data, c.dir, "train.tsv"), train, c.trainRows+1); err != nil {
		t.Fatal(err)
	}
	threads := strconv.Itoa(c.threads)
	base, model, out := filepath.Join(tmp, "base"), filepath.Join(tmp, "model"), filepath.Join(tmp, "export")
	run(t, bin, "model", "init", "--vocab", filepath.Join(data, "vocab", c.vocab), "--labels", "0,1",
		"--layers", "2", "--hidden", "128", "--heads", "2", "--intermediate", "512", "--seed", "42", "--out", base)
	run(t, bin, "train", "--model", base, "--train", train, "--out", model, "--epochs", "1", "--batch-size", "32",
		"--max-seq-length", strconv.Itoa(c.maxLen), "--learning-rate", "5e-4", "--threads", threads, "--progress", "none")
	if _, err := Export(context.Background(), model, out, Options{Quantize: QuantizeInt8}); err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.ReadFile(dev, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var texts, gold []string
	for _, r := range ds.Rows {
		texts, gold = append(texts, r.Text), append(gold, r.Label)
	}
	devJSONL := writeTexts(t, filepath.Join(tmp, "dev.jsonl"), texts)
	whetLabels, whetLogits := predictions(t, bin, model, devJSONL, "--threads", threads)
	whetInt8, whetInt8Logits := predictions(t, bin, model, devJSONL, "--threads", threads, "--quantize", "int8")
	tok := filepath.Join(out, "tokenizer.json")
	ortArgs := []string{"--max-length", strconv.Itoa(c.maxLen), "--threads", threads} // whet truncates to the trained length
	fp32 := runORT(t, root, filepath.Join(out, ModelFile), tok, []batch{{Texts: texts}}, ortArgs...)[0]
	q := runORT(t, root, filepath.Join(out, QuantizedModelFile), tok, []batch{{Texts: texts}}, ortArgs...)[0]
	labels := []string{"0", "1"}
	argmax := func(l []float32) string {
		if l[1] > l[0] {
			return labels[1]
		}
		return labels[0]
	}
	var same, agree, okFP, okQ, agreeW, okW int
	worst := 0.0
	for i := range texts {
		a, b := argmax(fp32[i]), argmax(q[i])
		same += btoi(a == whetLabels[i])
		agree += btoi(a == b)
		okFP += btoi(a == gold[i])
		okQ += btoi(b == gold[i])
		agreeW += btoi(whetInt8[i] == whetLabels[i])
		okW += btoi(whetInt8[i] == gold[i])
		for j := range whetLogits[i] {
			worst = max(worst, math.Abs(whetLogits[i][j]-whetInt8Logits[i][j]))
		}
	}
	n := float64(len(texts))
	t.Logf("%s dev (%d rows): ONNX fp32 accuracy %.4f, int8 %.4f, int8/fp32 agreement %.4f", c.dir, len(texts), float64(okFP)/n, float64(okQ)/n, float64(agree)/n)
	t.Logf("whet predict --quantize int8: accuracy %.4f, agreement with whet fp32 %.4f, max |logit difference| %.4f", float64(okW)/n, float64(agreeW)/n, worst)
	if same != len(texts) {
		t.Errorf("fp32 ONNX labels equal whet's on %d of %d rows", same, len(texts))
	}
	if float64(agree)/n < 0.99 {
		t.Errorf("int8 labels agree with fp32 on %.4f of rows, want >= 0.99", float64(agree)/n)
	}
	if drop := float64(okFP-okQ) / n; drop > 0.005 {
		t.Errorf("int8 accuracy %.4f is %.2f points below fp32 %.4f, want <= 0.5", float64(okQ)/n, 100*drop, float64(okFP)/n)
	}
	// whet's own int8 path (libtorch's dynamic int8 Linear layers) is held to the same bounds.
	if float64(agreeW)/n < 0.99 {
		t.Errorf("whet predict --quantize int8 labels agree with fp32 on %.4f of rows, want >= 0.99", float64(agreeW)/n)
	}
	if drop := float64(okFP-okW) / n; drop > 0.005 {
		t.Errorf("whet int8 accuracy %.4f is %.2f points below fp32 %.4f, want <= 0.5", float64(okW)/n, 100*drop, float64(okFP)/n)
	}
}

// writeTexts writes texts as {"text": ...} JSONL lines to path and returns path.
func writeTexts(t *testing.T, path string, texts []string) string {
	t.Helper()
	var lines []string
	for _, s := range texts {
		b, _ := json.Marshal(map[string]string{"text": s})
		lines = append(lines, string(b))
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// headLines copies the first n lines of src to dst.
func headLines(src, dst string, n int) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	lines := strings.SplitAfter(string(b), "\n")
	return os.WriteFile(dst, []byte(strings.Join(lines[:min(n, len(lines))], "")), 0o644)
}
