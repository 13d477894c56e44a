package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whetml/whet/host/internal/whettest"
	"github.com/whetml/whet/sdk"
	"github.com/whetml/whet/wasm/modules"
)

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil {
		json.NewDecoder(resp.Body).Decode(v)
	}
	return resp.StatusCode
}

func TestWebRoutes(t *testing.T) {
	wasm, err := modules.BertWordPiece()
	if err != nil {
		t.Skipf("web routes need the built-in modules: %v", err)
	}
	ts := start(t, opts{})
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := whettest.WriteModel(dir, "neg", "pos"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "vocab.txt"), []byte("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\ngreat\nmovie\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{"do_lower_case":true}`), 0o644)
	if _, err := ts.c.CreateModel(ctx, sdk.CreateModelRequest{FromPath: dir}); err != nil {
		t.Fatal(err)
	}
	f := ts.upload("t.jsonl", whettest.SST2(40))
	job, err := ts.c.CreateJob(ctx, sdk.CreateJobRequest{Model: "tiny", TrainingFile: f.ID, Hyperparameters: sdk.Hyperparameters{MaxSeqLength: 64}})
	if err != nil {
		t.Fatal(err)
	}
	ts.follow(job.ID)
	job, _ = ts.c.GetJob(ctx, job.ID)
	ft := *job.FineTunedModel
	base := ts.url + "/v1/models/"

	var info struct {
		Module    string   `json:"module"`
		SHA256    string   `json:"sha256"`
		MaxLength int      `json:"max_length"`
		Files     []string `json:"files"`
	}
	// The worker's length for a folder that records none: min(512, max_position_embeddings), not the training default.
	if code := getJSON(t, base+"tiny/preprocess", &info); code != 200 || info.Module != "bert-wordpiece" || info.MaxLength != 512 {
		t.Fatalf("preprocess of base model: %d %+v", code, info)
	}
	resp, err := http.Get(base + "tiny/preprocess.wasm")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(body, wasm) || resp.Header.Get("Content-Type") != "application/wasm" {
		t.Fatalf("preprocess.wasm: %d, %d bytes", resp.StatusCode, len(body))
	}
	if code := getJSON(t, base+ft+"/preprocess", &info); code != 200 || info.MaxLength != 64 {
		t.Fatalf("preprocess of fine-tuned model: %d %+v", code, info)
	}
	var examples struct {
		Data []struct{ Text, Label string } `json:"data"`
	}
	if code := getJSON(t, base+ft+"/examples", &examples); code != 200 || len(examples.Data) != 4 {
		t.Fatalf("examples: %d %+v", code, examples)
	}
	var er sdk.ErrorResponse
	if code := getJSON(t, base+"tiny/files/model.safetensors", &er); code != 404 || !strings.Contains(er.Error.Message, "is not served") {
		t.Fatalf("weights must not be served: %d %+v", code, er)
	}
	resp, _ = http.Get(base + "tiny/files/vocab.txt")
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "great") {
		t.Fatalf("vocab.txt: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Post(base+"tiny/tokenize", "application/json", strings.NewReader(`{"inputs":["Great movie"]}`))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		Data []struct {
			Tokens []string `json:"tokens"`
		} `json:"data"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(tok.Data) != 1 || strings.Join(tok.Data[0].Tokens, " ") != "[CLS] great movie [SEP]" {
		t.Fatalf("tokenize: %d %+v", resp.StatusCode, tok)
	}
}
