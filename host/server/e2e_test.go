package server_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/whetml/whet/sdk"
	"github.com/whetml/whet/wasm/modules"
)

// TestEndToEnd runs the real binary: `whet serve` as a process, a tiny BERT made by `whet model init`, SST-2-like
// data uploaded through the SDK with the bert-wordpiece module, a fine-tuning job followed to succeeded, and
// predictions through the API compared with `whet predict` on the fine-tuned folder (and through
// `whet predict --server`). It needs WHET_BIN: a whet built with native support (`make build`; `make test` sets
// it); without it, or with a binary built without libtorch, it skips.
func TestEndToEnd(t *testing.T) {
	bin := whetBin(t)
	tmp := t.TempDir()
	base := tinyBERT(t, bin)
	data := filepath.Join(tmp, "data")
	srv := serveWhet(t, bin, data)
	url := srv.url
	c := sdk.NewClient(url)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	model, err := c.CreateModel(ctx, sdk.CreateModelRequest{FromPath: base})
	if err != nil {
		t.Fatal(err)
	}
	train, test := e2eData(200)
	file, err := c.UploadFile(ctx, sdk.UploadFileRequest{Filename: "sst2.jsonl", Content: strings.NewReader(train)})
	if err != nil {
		t.Fatal(err)
	}
	if file.Rows != 200 || strings.Join(file.Labels, ",") != "neg,pos" {
		t.Fatalf("uploaded file = %+v", file)
	}
	wasm, err := modules.BertWordPiece()
	if err != nil {
		t.Fatalf("built-in module: %v", err)
	}
	mod, err := c.UploadModule(ctx, sdk.UploadModuleRequest{Filename: "bert-wordpiece.wasm", Content: bytes.NewReader(wasm),
		Kind: sdk.ModuleKindPreprocess})
	if err != nil {
		t.Fatal(err)
	}
	warmup := 0.1 // with this high learning rate the tiny model needs a warmup
	job, err := c.CreateJob(ctx, sdk.CreateJobRequest{Model: model.ID, TrainingFile: file.ID, PreprocessModule: mod.ID,
		Suffix: "e2e", Hyperparameters: sdk.Hyperparameters{NEpochs: 4, BatchSize: 8, LearningRate: 5e-3, MaxSeqLength: 32, WarmupRatio: &warmup}})
	if err != nil {
		t.Fatal(err)
	}
	var metricsEvents, evalEvents int
	err = c.StreamJobEvents(ctx, job.ID, 0, func(ev sdk.JobEvent) error {
		switch ev.Type {
		case sdk.EventMetrics:
			metricsEvents++
		case sdk.EventEval:
			evalEvents++
		}
		return nil
	})
	if err != nil {
		t.Fatalf("follow job: %v\n%s", err, srv.logText())
	}
	job, err = c.GetJob(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if job.Status != sdk.JobSucceeded || job.FineTunedModel == nil {
		evs, _ := c.ListJobEvents(ctx, job.ID, sdk.ListEventsRequest{Limit: 1000})
		var lines []string
		for _, ev := range evs.Data {
			lines = append(lines, ev.Level+" "+ev.Message)
		}
		t.Fatalf("job = %s, error %+v\nevents:\n%s", job.Status, job.Error, strings.Join(lines, "\n"))
	}
	if metricsEvents == 0 || evalEvents == 0 {
		t.Errorf("streamed %d metrics and %d eval events; want some of each", metricsEvents, evalEvents)
	}
	ft := *job.FineTunedModel
	if want := "ft:" + model.ID + ":e2e:" + job.ID; ft != want {
		t.Fatalf("fine_tuned_model = %s, want %s", ft, want)
	}

	// Through the API ...
	apiPreds, err := c.Predict(ctx, ft, sdk.PredictRequest{Inputs: test})
	if err != nil {
		t.Fatal(err)
	}
	// ... and locally on the fine-tuned folder.
	input := filepath.Join(tmp, "test.jsonl")
	var b strings.Builder
	for _, s := range test {
		line, _ := json.Marshal(map[string]string{"text": s})
		b.Write(line)
		b.WriteByte('\n')
	}
	os.WriteFile(input, []byte(b.String()), 0o644)
	local := filepath.Join(tmp, "local.jsonl")
	if out, err := exec.Command(bin, "predict", "--model", filepath.Join(data, "jobs", job.ID, "out"), "--input", input,
		"--output", local).CombinedOutput(); err != nil {
		t.Fatalf("whet predict: %v\n%s", err, out)
	}
	viaServer := filepath.Join(tmp, "server.jsonl")
	if out, err := exec.Command(bin, "predict", "--server", url, "--model", ft, "--input", input,
		"--output", viaServer).CombinedOutput(); err != nil {
		t.Fatalf("whet predict --server: %v\n%s", err, out)
	}
	localPreds, serverPreds := readPreds(t, local), readPreds(t, viaServer)
	if len(localPreds) != len(test) || len(serverPreds) != len(test) {
		t.Fatalf("%d local and %d --server predictions for %d inputs", len(localPreds), len(serverPreds), len(test))
	}
	correct := 0
	for i := range test {
		a, l, s := apiPreds[i], localPreds[i], serverPreds[i]
		if a.Label != l.Label || math.Abs(a.Score-l.Score) > 1e-5 || s.Label != a.Label || s.Score != a.Score {
			t.Errorf("input %q: api %s %.6f, local %s %.6f, --server %s %.6f", test[i], a.Label, a.Score, l.Label, l.Score, s.Label, s.Score)
		}
		if want := map[bool]string{true: "pos", false: "neg"}[i%2 == 0]; a.Label == want {
			correct++
		}
	}
	t.Logf("fine-tuned %s: %d/%d held-out sentences right; job metrics %s", ft, correct, len(test), job.Metrics)
	if correct < len(test)*3/4 {
		t.Errorf("the fine-tuned model got only %d of %d held-out sentences right: it did not learn the task", correct, len(test))
	}

	// Evaluation through the API equals `whet eval` on the folder.
	var labeled strings.Builder
	for i, s := range test {
		row, _ := json.Marshal(map[string]string{"text": s, "label": map[bool]string{true: "pos", false: "neg"}[i%2 == 0]})
		labeled.Write(row)
		labeled.WriteByte('\n')
	}
	heldOut, err := c.UploadFile(ctx, sdk.UploadFileRequest{Filename: "held-out.jsonl", Content: strings.NewReader(labeled.String())})
	if err != nil {
		t.Fatal(err)
	}
	apiEval, err := c.Evaluate(ctx, ft, sdk.EvaluateRequest{File: heldOut.ID})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(tmp, "held-out.jsonl"), []byte(labeled.String()), 0o644)
	cliOut, err := exec.Command(bin, "eval", "--model", filepath.Join(data, "jobs", job.ID, "out"), "--input",
		filepath.Join(tmp, "held-out.jsonl")).Output()
	if err != nil {
		t.Fatalf("whet eval: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(cliOut)), "\n")
	var a, cli struct {
		Accuracy *float64 `json:"accuracy"`
		MacroF1  *float64 `json:"macro_f1"`
	}
	if err := json.Unmarshal(apiEval, &a); err != nil || json.Unmarshal([]byte(lines[len(lines)-1]), &cli) != nil ||
		a.Accuracy == nil || cli.Accuracy == nil || *a.Accuracy != *cli.Accuracy || *a.MacroF1 != *cli.MacroF1 {
		t.Fatalf("evaluate through the API %s != whet eval %s", apiEval, lines[len(lines)-1])
	}
	if *a.Accuracy != float64(correct)/float64(len(test)) {
		t.Errorf("evaluate accuracy %v, but %d of %d predictions were right", *a.Accuracy, correct, len(test))
	}

	testAdapters(t, ctx, c, srv, data, bin, base, model.ID, file.ID, train, test, input)

	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-srv.done
	if err := srv.cmd.Wait(); err != nil {
		t.Fatalf("whet serve did not stop cleanly: %v\n%s", err, srv.logText())
	}
}

type localPred struct {
	Label string  `json:"label"`
	Score float64 `json:"score"`
}

func readPreds(t *testing.T, path string) []localPred {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []localPred
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var p localPred
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, p)
	}
	return out
}

var (
	e2ePos   = []string{"great", "wonderful", "brilliant", "moving", "delightful", "superb", "charming", "loved"}
	e2eNeg   = []string{"terrible", "dull", "boring", "awful", "lifeless", "tedious", "clumsy", "hated"}
	e2eNouns = []string{"movie", "film", "story", "acting", "plot", "cast", "script", "ending"}
	e2eForms = []string{"a %s %s", "the %s was %s", "truly %s %s", "what a %s %s", "an utterly %s %s"}
)

// e2eData returns n training rows (JSONL, alternating pos and neg) and 20 held-out texts (even = pos).
func e2eData(n int) (string, []string) {
	sentence := func(adj, noun string, form int) string {
		f := e2eForms[form%len(e2eForms)]
		if strings.Contains(f, "was") {
			return fmt.Sprintf(f, noun, adj)
		}
		return fmt.Sprintf(f, adj, noun)
	}
	var b strings.Builder
	for i := range n {
		adjs, label := e2ePos, "pos"
		if i%2 == 1 {
			adjs, label = e2eNeg, "neg"
		}
		s := sentence(adjs[(i/2)%len(adjs)], e2eNouns[(i/3)%len(e2eNouns)], i/5)
		row, _ := json.Marshal(map[string]string{"text": s, "label": label})
		b.Write(row)
		b.WriteByte('\n')
	}
	var test []string
	for i := range 20 {
		adjs := e2ePos
		if i%2 == 1 {
			adjs = e2eNeg
		}
		test = append(test, fmt.Sprintf("honestly %s", sentence(adjs[(i*3+1)%len(adjs)], e2eNouns[(i*5+2)%len(e2eNouns)], i+1)))
	}
	return b.String(), test
}

// e2eVocab is a WordPiece vocabulary covering the generated sentences.
func e2eVocab() []string {
	words := map[string]bool{"a": true, "the": true, "was": true, "truly": true, "what": true, "an": true,
		"utterly": true, "honestly": true}
	for _, l := range [][]string{e2ePos, e2eNeg, e2eNouns} {
		for _, w := range l {
			words[w] = true
		}
	}
	var ws []string
	for w := range words {
		ws = append(ws, w)
	}
	sort.Strings(ws)
	out := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
	for c := 'a'; c <= 'z'; c++ {
		out = append(out, string(c), "##"+string(c))
	}
	for _, w := range ws {
		if len(w) > 1 {
			out = append(out, w)
		}
	}
	return out
}

// testAdapters: a LoRA adapter trained with the CLI (registered from its folder, and again as an uploaded archive,
// on the registered base) and one trained by a job are served through the API by one worker holding the base,
// requests alternating between them: each predicts as `whet predict` on that adapter alone. A merged adapter (POST
// /v1/models/{id}/merge) predicts as the adapter; deleting an adapter unloads it in the running worker.
func testAdapters(t *testing.T, ctx context.Context, c *sdk.Client, srv *whetServer, data, bin, base, baseID, fileID, train string, test []string, input string) {
	tmp := t.TempDir()
	trainFile := filepath.Join(tmp, "train.jsonl")
	os.WriteFile(trainFile, []byte(train), 0o644)
	adapterDir := filepath.Join(tmp, "lora")
	if out, err := exec.Command(bin, "train", "--method", "lora", "--model", base, "--train", trainFile, "--out", adapterDir,
		"--epochs", "2", "--batch-size", "8", "--learning-rate", "1e-2", "--max-seq-length", "32", "--threads", "2").CombinedOutput(); err != nil {
		t.Fatalf("whet train --method lora: %v\n%s", err, out)
	}
	// Its adapter_config.json names the base's folder outside the server: registering needs base_model.
	_, err := c.CreateModel(ctx, sdk.CreateModelRequest{FromPath: adapterDir, ID: "sst2-lora"})
	if se := (*sdk.StatusError)(nil); !errors.As(err, &se) || se.StatusCode != 400 || !strings.Contains(se.Err.Message, "base_model") {
		t.Fatalf("adapter registered without a known base: err = %v", err)
	}
	adapter, err := c.CreateModel(ctx, sdk.CreateModelRequest{FromPath: adapterDir, ID: "sst2-lora", BaseModel: baseID})
	if err != nil {
		t.Fatal(err)
	}
	if adapter.Architecture != "PeftModelForSequenceClassification" || strings.Join(adapter.Labels, ",") != "neg,pos" || adapter.BaseModel != baseID {
		t.Errorf("registered adapter = %+v", adapter)
	}
	// The same adapter uploaded as an archive with the CLI, its adapter_config.json naming a hub model as peft writes
	// it: the server serves, evaluates and tokenizes it on the registered base.
	archive := filepath.Join(tmp, "lora.tar.gz")
	os.WriteFile(archive, tarGz(t, adapterDir, func(name string, b []byte) []byte {
		if name != "adapter_config.json" {
			return b
		}
		var cfg map[string]any
		if err := json.Unmarshal(b, &cfg); err != nil {
			t.Fatal(err)
		}
		cfg["base_model_name_or_path"] = "bert-base-uncased"
		b, _ = json.Marshal(cfg)
		return b
	}), 0o644)
	out, err := exec.Command(bin, "models", "import", "--archive", archive, "--id", "sst2-lora-upload", "--base-model", baseID,
		"--server", srv.url).Output()
	var uploaded sdk.Model
	if err != nil || json.Unmarshal(out, &uploaded) != nil || uploaded.BaseModel != baseID {
		t.Fatalf("whet models import --archive --base-model: %v, %s", err, out)
	}
	// The same through a job: hyperparameters.method "lora" gives an adapter model of the base.
	loraJob, err := c.CreateJob(ctx, sdk.CreateJobRequest{Model: baseID, TrainingFile: fileID, Suffix: "lora",
		Hyperparameters: sdk.Hyperparameters{NEpochs: 2, BatchSize: 8, LearningRate: 1e-2, MaxSeqLength: 32, Method: "lora", LoraR: 4}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StreamJobEvents(ctx, loraJob.ID, 0, func(sdk.JobEvent) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if loraJob, err = c.GetJob(ctx, loraJob.ID); err != nil || loraJob.Status != sdk.JobSucceeded || loraJob.FineTunedModel == nil {
		t.Fatalf("LoRA job = %+v (%v)", loraJob, err)
	}
	loraModel, err := c.GetModel(ctx, *loraJob.FineTunedModel)
	if err != nil || loraModel.Architecture != "PeftModelForSequenceClassification" || loraModel.BaseModel != baseID {
		t.Errorf("LoRA job's model = %+v (%v)", loraModel, err)
	}

	alone := map[string][]localPred{}
	for id, dir := range map[string]string{adapter.ID: adapterDir, loraModel.ID: filepath.Join(data, "jobs", loraJob.ID, "out")} {
		out := filepath.Join(tmp, "alone.jsonl")
		if b, err := exec.Command(bin, "predict", "--model", dir, "--input", input, "--output", out).CombinedOutput(); err != nil {
			t.Fatalf("whet predict on adapter %s: %v\n%s", id, err, b)
		}
		alone[id] = readPreds(t, out)
	}
	alone[uploaded.ID] = alone[adapter.ID]
	for round := 0; round < 2; round++ {
		for _, id := range []string{adapter.ID, loraModel.ID, uploaded.ID} {
			preds, err := c.Predict(ctx, id, sdk.PredictRequest{Inputs: test})
			if err != nil {
				t.Fatalf("predict with adapter %s: %v", id, err)
			}
			for i, l := range alone[id] {
				if a := preds[i]; a.Label != l.Label || math.Abs(a.Score-l.Score) > 1e-5 {
					t.Errorf("adapter %s, input %q: api %s %.6f, alone %s %.6f", id, test[i], a.Label, a.Score, l.Label, l.Score)
				}
			}
		}
	}
	var labeled strings.Builder
	for i, text := range test {
		row, _ := json.Marshal(map[string]string{"text": text, "label": map[bool]string{true: "pos", false: "neg"}[i%2 == 0]})
		labeled.Write(append(row, '\n'))
	}
	heldOut := filepath.Join(tmp, "held-out.jsonl")
	os.WriteFile(heldOut, []byte(labeled.String()), 0o644)
	f, err := c.UploadFile(ctx, sdk.UploadFileRequest{Filename: "held-out.jsonl", Content: strings.NewReader(labeled.String())})
	if err != nil {
		t.Fatal(err)
	}
	apiEval, err := c.Evaluate(ctx, uploaded.ID, sdk.EvaluateRequest{File: f.ID})
	if err != nil {
		t.Fatalf("evaluate the uploaded adapter: %v", err)
	}
	cliOut, err := exec.Command(bin, "eval", "--model", adapterDir, "--input", heldOut).Output()
	if err != nil {
		t.Fatalf("whet eval on the adapter: %v", err)
	}
	var a, cli struct{ Accuracy *float64 }
	lines := strings.Split(strings.TrimSpace(string(cliOut)), "\n")
	if json.Unmarshal(apiEval, &a) != nil || json.Unmarshal([]byte(lines[len(lines)-1]), &cli) != nil || a.Accuracy == nil ||
		cli.Accuracy == nil || *a.Accuracy != *cli.Accuracy {
		t.Errorf("evaluate of the uploaded adapter %s != whet eval on its folder %s", apiEval, lines[len(lines)-1])
	}
	if resp, err := http.Get(srv.url + "/v1/models/" + uploaded.ID + "/files/vocab.txt"); err != nil || resp.StatusCode != 200 {
		t.Errorf("the uploaded adapter's vocab.txt: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if n := strings.Count(srv.logText(), `msg="worker ready" model=`+baseID+" "); n != 1 {
		t.Errorf("%d workers started for the base and its three adapters, want 1:\n%s", n, srv.logText())
	}

	merged, err := c.MergeModel(ctx, loraModel.ID, sdk.MergeModelRequest{ID: "lora-merged"})
	if err != nil {
		t.Fatal(err)
	}
	if merged.Source != "merge" || merged.BaseModel != baseID || merged.Architecture == "PeftModelForSequenceClassification" {
		t.Errorf("merged model = %+v", merged)
	}
	mergedPreds, err := c.Predict(ctx, merged.ID, sdk.PredictRequest{Inputs: test})
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range alone[loraModel.ID] {
		if a := mergedPreds[i]; a.Label != l.Label || math.Abs(a.Score-l.Score) > 1e-5 {
			t.Errorf("merged, input %q: %s %.6f, adapter %s %.6f", test[i], a.Label, a.Score, l.Label, l.Score)
		}
	}
	if _, err := c.DeleteModel(ctx, uploaded.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Predict(ctx, adapter.ID, sdk.PredictRequest{Inputs: test[:1]}); err != nil {
		t.Fatal(err)
	}
	if log := srv.logText(); !strings.Contains(log, `msg="adapter unloaded" model=`+baseID+" adapter="+uploaded.ID+" was_loaded=true") {
		t.Errorf("deleting an adapter did not unload it from the base's worker:\n%s", log)
	}
}

// tarGz archives the files of folder dir (not its subfolders: an adapter's checkpoints stay out), each as edit
// returns it.
func tarGz(t *testing.T, dir string, edit func(name string, b []byte) []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		b = edit(e.Name(), b)
		tw.WriteHeader(&tar.Header{Name: e.Name(), Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		tw.Write(b)
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}
