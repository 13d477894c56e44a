package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/whetml/whet/host/api"
	"github.com/whetml/whet/host/internal/whettest"
	"github.com/whetml/whet/host/predict"
	"github.com/whetml/whet/sdk"
)

// adapterArchive is a peft adapter folder (in a top folder) naming base in base_model_name_or_path, for a base of
// hidden size 32 (whettest.WriteModel) unless hidden says otherwise.
func adapterArchive(t *testing.T, base string, hidden int64) []byte {
	cfg, _ := json.Marshal(map[string]any{"peft_type": "LORA", "task_type": "SEQ_CLS", "base_model_name_or_path": base,
		"r": 8, "lora_alpha": 8, "target_modules": []string{"query", "value"}, "modules_to_save": []string{"classifier"}})
	q := "base_model.model.bert.encoder.layer.0.attention.self.query"
	weights := whettest.Safetensors(map[string][]int64{q + ".lora_A.weight": {8, hidden}, q + ".lora_B.weight": {hidden, 8},
		"base_model.model.classifier.weight": {2, hidden}, "base_model.model.classifier.bias": {2}})
	return tgz(t, map[string]string{"a/adapter_config.json": string(cfg), "a/adapter_model.safetensors": string(weights),
		"a/whet_adapter.json": `{"labels":["neg","pos"]}`}, nil)
}

// TestAdapterModels: adapter archives register on a base named by base_model or by base_model_name_or_path (a clear
// 400 otherwise); two adapters and their base are served by one worker, each adapter answering as itself; an
// adapter evaluates on its base; a base with adapters cannot be deleted; only adapters merge.
func TestAdapterModels(t *testing.T) {
	var pool *predict.Pool
	ts := start(t, opts{api: func(c *api.Config) { pool = c.Predictor }})
	ctx := context.Background()
	baseDir := filepath.Join(t.TempDir(), "tiny-bert")
	vocab := "[PAD]\n[UNK]\n[CLS]\n[SEP]\ngood\nbad\n"
	if err := whettest.WriteModel(baseDir, "neg", "pos"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(baseDir, "vocab.txt"), []byte(vocab), 0o644); err != nil {
		t.Fatal(err)
	}
	base, err := ts.c.CreateModel(ctx, sdk.CreateModelRequest{FromPath: baseDir})
	if err != nil {
		t.Fatal(err)
	}
	upload := func(id, cfgBase, named string) (*sdk.Model, error) {
		return ts.c.UploadModel(ctx, sdk.UploadModelRequest{Filename: id + ".tar.gz", ID: id, BaseModel: named,
			Content: bytes.NewReader(adapterArchive(t, cfgBase, 32))})
	}
	refused := []struct {
		name, cfgBase, named, want string
	}{
		{"unknown base_model_name_or_path", "bert-base-uncased", "", `base_model_name_or_path "bert-base-uncased" is not a registered model id`},
		{"unknown base_model", "tiny-bert", "nope", `base_model "nope" is not a registered model`},
		{"no base at all", "", "", "has no base_model_name_or_path"},
	}
	for _, tc := range refused {
		_, err := upload("x", tc.cfgBase, tc.named)
		if se := apiErr(t, err, 400, tc.want); param(se) != "base_model" {
			t.Errorf("%s: param = %q, want base_model", tc.name, param(se))
		}
	}
	sentiment, err := upload("sentiment", "tiny-bert", "")
	if err != nil {
		t.Fatal(err)
	}
	spam, err := upload("spam", "bert-base-uncased", base.ID) // base_model wins over the config's name
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*sdk.Model{sentiment, spam} {
		if m.BaseModel != base.ID || m.Architecture != "PeftModelForSequenceClassification" || !slices.Equal(m.Labels, []string{"neg", "pos"}) {
			t.Errorf("adapter model = %+v", m)
		}
	}
	_, err = ts.c.UploadModel(ctx, sdk.UploadModelRequest{Filename: "wide.tar.gz", ID: "wide", BaseModel: base.ID,
		Content: bytes.NewReader(adapterArchive(t, "bert-base-uncased", 768))})
	apiErr(t, err, 400, `cannot be served on base model "tiny-bert": model[archive wide.tar.gz/adapter_model.safetensors]: tensor base_model.model.classifier.weight [2 768]: takes 768 inputs but the base model's hidden_size is 32`)
	_, err = upload("on-adapter", "tiny-bert", "sentiment")
	apiErr(t, err, 400, "is itself a LoRA adapter")
	dir := t.TempDir()
	_, err = ts.c.CreateModel(ctx, sdk.CreateModelRequest{FromPath: dir, BaseModel: base.ID})
	apiErr(t, err, 400, "is not a model folder")

	texts := []string{"one", "two", "three", "four", "five", "six"}
	answers := map[string]string{}
	for _, id := range []string{sentiment.ID, spam.ID, base.ID, sentiment.ID, spam.ID} {
		preds, err := ts.c.Predict(ctx, id, sdk.PredictRequest{Inputs: texts})
		if err != nil {
			t.Fatalf("predict with %s: %v", id, err)
		}
		got := fmt.Sprint(preds)
		if prev, ok := answers[id]; ok && prev != got {
			t.Errorf("%s answered %s, then %s", id, prev, got)
		}
		answers[id] = got
	}
	if answers[sentiment.ID] == answers[spam.ID] || answers[sentiment.ID] == answers[base.ID] {
		t.Errorf("the adapters answer alike or as their base: %v", answers)
	}
	if st := pool.Stats(); st.Starts != 1 || st.Loaded != 1 {
		t.Errorf("pool = %+v: want one worker for the base and its two adapters", st)
	}

	// The web page's routes read the adapter on its registered base, whatever its config names.
	var info struct {
		Files []string `json:"files"`
	}
	if code := getJSON(t, ts.url+"/v1/models/spam/preprocess", &info); code != 200 || !slices.Contains(info.Files, "vocab.txt") {
		t.Errorf("preprocess of an adapter on its registered base: %d %+v", code, info)
	}
	resp, err := http.Get(ts.url + "/v1/models/spam/files/vocab.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != vocab {
		t.Errorf("an adapter's vocab.txt: %d %q, want its base's", resp.StatusCode, got)
	}

	labeled := ts.upload("eval.jsonl", `{"text":"a","label":"neg"}`+"\n"+`{"text":"b","label":"pos"}`+"\n")
	if _, err := ts.c.Evaluate(ctx, spam.ID, sdk.EvaluateRequest{File: labeled.ID}); err != nil {
		t.Errorf("evaluate an adapter on its base: %v", err)
	}
	_, err = ts.c.DeleteModel(ctx, base.ID)
	apiErr(t, err, 409, "is the base of LoRA adapter models sentiment, spam")
	_, err = ts.c.MergeModel(ctx, base.ID, sdk.MergeModelRequest{})
	apiErr(t, err, 400, "is not a LoRA adapter")
	for _, id := range []string{sentiment.ID, spam.ID, base.ID} {
		if _, err := ts.c.DeleteModel(ctx, id); err != nil {
			t.Fatalf("delete %s: %v", id, err)
		}
	}
	if st := pool.Stats(); st.Loaded != 0 {
		t.Errorf("pool after deleting the base = %+v", st)
	}
}
