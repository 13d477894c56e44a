package api_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/whetml/whet/host/api"
	"github.com/whetml/whet/host/internal/whettest"
	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/sdk"
	"github.com/whetml/whet/wasm/modules"
)

func TestUploadFileErrors(t *testing.T) {
	ts := start(t, opts{api: func(c *api.Config) { c.MaxFileBytes = 1024 }})
	ctx := context.Background()
	cases := []struct {
		name, filename, content, purpose string
		fields                           map[string]string
		status                           int
		want, param                      string
	}{
		{name: "malformed jsonl", filename: "train.jsonl",
			content: "{\"text\":\"a\",\"label\":\"x\"}\n{\"text\":\"b\",\"label\":\"y\"}\n{\"text\": oops}\n",
			status:  400, want: "train.jsonl:3", param: "file"},
		{name: "unknown label column", filename: "train.csv", content: "text,sentiment\nhello,pos\n",
			status: 400, want: "no label column", param: "file"},
		{name: "explicit label column missing", filename: "train.csv", content: "text,label\nhello,pos\n",
			fields: map[string]string{"label_column": "stars"}, status: 400, want: "label column not found", param: "file"},
		{name: "empty file", filename: "train.jsonl", content: "", status: 400, want: "is empty", param: "file"},
		{name: "oversized", filename: "big.jsonl", content: strings.Repeat("{\"text\":\"aaaaaaaa\",\"label\":\"x\"}\n", 100),
			status: 413, want: "limit of 1024 bytes", param: "file"},
		{name: "wrong purpose", filename: "t.jsonl", content: "{\"text\":\"a\",\"label\":\"x\"}\n", purpose: "batch",
			status: 400, want: `purpose must be "fine-tune"`, param: "purpose"},
		{name: "missing label in a row", filename: "t.tsv", content: "text\tlabel\nfine\tpos\nbroken\t\n",
			status: 400, want: "t.tsv:3", param: "file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			purpose := tc.purpose
			if purpose == "" {
				purpose = sdk.PurposeFineTune
			}
			var err error
			if tc.fields != nil {
				err = postMultipart(ts, "/v1/files", tc.filename, tc.content, map[string]string{"purpose": purpose, "label_column": tc.fields["label_column"]})
			} else {
				_, err = ts.c.UploadFile(ctx, sdk.UploadFileRequest{Filename: tc.filename, Content: strings.NewReader(tc.content), Purpose: purpose})
			}
			se := apiErr(t, err, tc.status, tc.want)
			if param(se) != tc.param {
				t.Fatalf("param = %q, want %q", param(se), tc.param)
			}
		})
	}
	if list, _ := ts.c.ListFiles(ctx); len(list.Data) != 0 {
		t.Fatalf("rejected uploads were stored: %+v", list.Data)
	}
}

func multipartWriter(buf *bytes.Buffer, filename, content string, fields map[string]string) string {
	mw := multipart.NewWriter(buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", filename)
	fw.Write([]byte(content))
	mw.Close()
	return mw.FormDataContentType()
}

// postMultipart sends a multipart upload with arbitrary fields through the SDK's error decoding.
func postMultipart(ts *testServer, path, filename, content string, fields map[string]string) error {
	var buf bytes.Buffer
	mw := multipartWriter(&buf, filename, content, fields)
	req, _ := http.NewRequest(http.MethodPost, ts.url+path, &buf)
	req.Header.Set("Content-Type", mw)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return nil
	}
	var er sdk.ErrorResponse
	json.NewDecoder(resp.Body).Decode(&er)
	return &sdk.StatusError{StatusCode: resp.StatusCode, Err: er.Error}
}

func TestUploadFileRecordsLabels(t *testing.T) {
	ts := start(t, opts{})
	ctx := context.Background()
	var b strings.Builder
	for i := range 60 {
		label := "ham"
		if i%30 == 0 {
			label = "spam"
		}
		b.WriteString(`{"text":"message ` + string(rune('a'+i%26)) + `","label":"` + label + "\"}\n")
	}
	f := ts.upload("mail.jsonl", b.String())
	if f.Rows != 60 || !slices.Equal(f.Labels, []string{"ham", "spam"}) || f.LabelCounts["spam"] != 2 || f.Format != "jsonl" {
		t.Fatalf("file = %+v", f)
	}
	joined := strings.Join(f.Warnings, "\n")
	if !strings.Contains(joined, "badly imbalanced") || !strings.Contains(joined, `label "spam" has only 2 rows`) {
		t.Fatalf("warnings = %q", f.Warnings)
	}
	got, err := ts.c.GetFile(ctx, f.ID)
	if err != nil || got.SHA256 != f.SHA256 || got.Rows != 60 {
		t.Fatalf("get = %+v, %v", got, err)
	}
	if _, err := ts.c.DeleteFile(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	_, err = ts.c.GetFile(ctx, f.ID)
	apiErr(t, err, 404, "not found")
}

func TestModules(t *testing.T) {
	ts := start(t, opts{})
	ctx := context.Background()
	cases := []struct {
		name, kind, content string
		status              int
		want, param         string
	}{
		{"not wasm", sdk.ModuleKindEvaluate, "#!/bin/sh\necho hi\n", 400, "not a WebAssembly module", "file"},
		{"corrupt wasm", sdk.ModuleKindEvaluate, "\x00asm\x01\x00\x00\x00garbage", 400, "invalid module", "file"},
		{"bad kind", "tokenize", "\x00asm", 400, `kind must be "preprocess" or "evaluate"`, "kind"},
		{"empty", sdk.ModuleKindPreprocess, "", 400, "is empty", "file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ts.c.UploadModule(ctx, sdk.UploadModuleRequest{Filename: "m.wasm", Content: strings.NewReader(tc.content), Kind: tc.kind, Name: ""})
			se := apiErr(t, err, tc.status, tc.want)
			if param(se) != tc.param {
				t.Fatalf("param = %q, want %q", param(se), tc.param)
			}
		})
	}
	wasm, err := modules.ClassificationMetrics()
	if err != nil {
		t.Skipf("valid-module checks need the built-in modules: %v", err)
	}
	_, err = ts.c.UploadModule(ctx, sdk.UploadModuleRequest{Filename: "metrics.wasm", Content: bytes.NewReader(wasm), Kind: sdk.ModuleKindPreprocess, Name: ""})
	if se := apiErr(t, err, 400, `declares kind "evaluate"`); param(se) != "kind" {
		t.Fatalf("param = %q", param(se))
	}
	m, err := ts.c.UploadModule(ctx, sdk.UploadModuleRequest{Filename: "metrics.wasm", Content: bytes.NewReader(wasm), Kind: sdk.ModuleKindEvaluate, Name: "my-metrics"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != sdk.ModuleKindEvaluate || m.Name != "my-metrics" || m.ABIVersion == 0 || len(m.SHA256) != 64 {
		t.Fatalf("module = %+v", m)
	}
	out, err := ts.c.RunModule(ctx, m.ID, sdk.RunModuleRequest{Labels: []int{0, 1, 1, 0}, Predictions: []int{0, 1, 0, 0},
		LabelNames: []string{"neg", "pos"}})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Accuracy float64 `json:"accuracy"`
	}
	if err := json.Unmarshal(out, &doc); err != nil || doc.Accuracy != 0.75 {
		t.Fatalf("dry run = %s (%v)", out, err)
	}
	list, _ := ts.c.ListModules(ctx)
	if len(list.Data) != 1 {
		t.Fatalf("modules = %+v", list.Data)
	}
}

func tgz(t *testing.T, files map[string]string, links map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	for name, target := range links {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target})
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestModels(t *testing.T) {
	ts := start(t, opts{})
	ctx := context.Background()
	m := ts.model("tiny-bert", "neg", "pos")
	if m.ID != "tiny-bert" || !slices.Equal(m.Labels, []string{"neg", "pos"}) || m.Source != "path" {
		t.Fatalf("model = %+v", m)
	}
	cfg := `{"architectures":["BertForSequenceClassification"],"id2label":{"0":"a","1":"b"}}`
	dup := t.TempDir()
	if err := whettest.WriteModel(dup, "a", "b"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		req    *sdk.CreateModelRequest
		files  map[string]string
		links  map[string]string
		status int
		want   string
	}{
		{name: "relative path", req: &sdk.CreateModelRequest{FromPath: "models/x"}, status: 400, want: "must be absolute"},
		{name: "no config", req: &sdk.CreateModelRequest{FromPath: t.TempDir(), ID: "empty"}, status: 400, want: "is not a model folder this server imports"},
		{name: "duplicate id", req: &sdk.CreateModelRequest{FromPath: dup, ID: "tiny-bert"}, status: 409, want: "already exists"},
		{name: "bad id", req: &sdk.CreateModelRequest{FromPath: "/tmp/x", ID: "../evil"}, status: 400, want: "model id must be"},
		{name: "archive traversal", files: map[string]string{"config.json": cfg, "../../escape.txt": "x"}, status: 400, want: `".." is not allowed`},
		{name: "archive absolute", files: map[string]string{"/etc/cron.d/evil": "x"}, status: 400, want: "absolute paths are not allowed"},
		{name: "archive symlink", files: map[string]string{"config.json": cfg}, links: map[string]string{"model.safetensors": "/etc/shadow"}, status: 400, want: "links are not allowed"},
		{name: "archive without weights", files: map[string]string{"config.json": cfg}, status: 400, want: "no weights"},
		{name: "not an archive", files: nil, status: 400, want: "not a valid tar"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.req != nil {
				_, err = ts.c.CreateModel(ctx, *tc.req)
			} else if tc.files == nil {
				_, err = ts.c.UploadModel(ctx, sdk.UploadModelRequest{Filename: "junk.tar.gz", Content: strings.NewReader("definitely not a tarball"), ID: "junk"})
			} else {
				_, err = ts.c.UploadModel(ctx, sdk.UploadModelRequest{Filename: "m.tar.gz", Content: bytes.NewReader(tgz(t, tc.files, tc.links)), ID: ""})
			}
			apiErr(t, err, tc.status, tc.want)
		})
	}
	up, err := ts.c.UploadModel(ctx, sdk.UploadModelRequest{Filename: "uploaded.tar.gz", Content: bytes.NewReader(tgz(t,
		map[string]string{"m/config.json": cfg, "m/model.safetensors": "w", "m/vocab.txt": "[PAD]\n"}, nil)), ID: ""})
	if err != nil {
		t.Fatal(err)
	}
	if up.ID != "uploaded" || up.Source != "upload" || !slices.Equal(up.Labels, []string{"a", "b"}) {
		t.Fatalf("uploaded model = %+v", up)
	}
	_, err = ts.c.UploadModel(ctx, sdk.UploadModelRequest{Filename: "uploaded.tar.gz", Content: bytes.NewReader(tgz(t, map[string]string{"config.json": cfg, "model.safetensors": "w"}, nil)), ID: ""})
	apiErr(t, err, 409, "already exists")
	preds, err := ts.c.Predict(ctx, up.ID, sdk.PredictRequest{Inputs: []string{"x"}})
	if err != nil || len(preds) != 1 || (preds[0].Label != "a" && preds[0].Label != "b") {
		t.Fatalf("predict with uploaded model: %+v, %v", preds, err)
	}
	if _, err := ts.c.DeleteModel(ctx, up.ID); err != nil {
		t.Fatal(err)
	}
	list, _ := ts.c.ListModels(ctx)
	if len(list.Data) != 1 || list.Data[0].ID != "tiny-bert" {
		t.Fatalf("models after delete = %+v", list.Data)
	}
}

func TestUnknownIDs(t *testing.T) {
	ts := start(t, opts{})
	ctx := context.Background()
	calls := map[string]func() error{
		"get file":    func() error { _, err := ts.c.GetFile(ctx, "file-nope"); return err },
		"delete file": func() error { _, err := ts.c.DeleteFile(ctx, "file-nope"); return err },
		"get module":  func() error { _, err := ts.c.GetModule(ctx, "mod-nope"); return err },
		"run module":  func() error { _, err := ts.c.RunModule(ctx, "mod-nope", sdk.RunModuleRequest{}); return err },
		"get model":   func() error { _, err := ts.c.GetModel(ctx, "nope"); return err },
		"predict": func() error {
			_, err := ts.c.Predict(ctx, "nope", sdk.PredictRequest{Inputs: []string{"x"}})
			return err
		},
		"get job":    func() error { _, err := ts.c.GetJob(ctx, "ftjob-nope"); return err },
		"cancel job": func() error { _, err := ts.c.CancelJob(ctx, "ftjob-nope"); return err },
		"events":     func() error { _, err := ts.c.ListJobEvents(ctx, "ftjob-nope", sdk.ListEventsRequest{}); return err },
		"stream": func() error {
			return ts.c.StreamJobEvents(ctx, "ftjob-nope", 0, func(sdk.JobEvent) error { return nil })
		},
		"checkpoints":  func() error { _, err := ts.c.ListJobCheckpoints(ctx, "ftjob-nope"); return err },
		"delete model": func() error { _, err := ts.c.DeleteModel(ctx, "nope"); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			se := apiErr(t, call(), 404, "not found")
			if se.Err.Type != "not_found_error" {
				t.Fatalf("type = %q", se.Err.Type)
			}
		})
	}
	m := ts.model("tiny", "neg", "pos")
	f := ts.upload("t.jsonl", "{\"text\":\"a\",\"label\":\"neg\"}\n{\"text\":\"b\",\"label\":\"pos\"}\n")
	jobCases := []struct {
		name  string
		req   sdk.CreateJobRequest
		code  int
		param string
		want  string
	}{
		{"unknown model", sdk.CreateJobRequest{Model: "nope", TrainingFile: f.ID}, 404, "model", "model[nope] not found"},
		{"unknown file", sdk.CreateJobRequest{Model: m.ID, TrainingFile: "file-x"}, 404, "training_file", "file[file-x] not found"},
		{"missing file", sdk.CreateJobRequest{Model: m.ID}, 400, "training_file", "required"},
		{"bad lr", sdk.CreateJobRequest{Model: m.ID, TrainingFile: f.ID, Hyperparameters: sdk.Hyperparameters{LearningRate: 5}},
			400, "hyperparameters.learning_rate", "must be > 0 and <= 1"},
		{"bad batch", sdk.CreateJobRequest{Model: m.ID, TrainingFile: f.ID, Hyperparameters: sdk.Hyperparameters{BatchSize: -2}},
			400, "hyperparameters.batch_size", "between 1 and 4096"},
	}
	for _, tc := range jobCases {
		t.Run(tc.name, func(t *testing.T) {
			se := apiErr(t, func() error { _, err := ts.c.CreateJob(ctx, tc.req); return err }(), tc.code, tc.want)
			if param(se) != tc.param {
				t.Fatalf("param = %q, want %q", param(se), tc.param)
			}
		})
	}
	// Unknown JSON fields and wrong types name the field.
	resp, err := http.Post(ts.url+"/v1/fine_tuning/jobs", "application/json",
		strings.NewReader(`{"model":"tiny","training_file":"`+f.ID+`","hyperparameters":{"n_epochs":"three"}}`))
	if err != nil {
		t.Fatal(err)
	}
	var er sdk.ErrorResponse
	json.NewDecoder(resp.Body).Decode(&er)
	resp.Body.Close()
	if resp.StatusCode != 400 || er.Error.Param == nil || *er.Error.Param != "hyperparameters.n_epochs" {
		t.Fatalf("type error: %d %+v", resp.StatusCode, er.Error)
	}
	resp, _ = http.Post(ts.url+"/v1/fine_tuning/jobs", "application/json", strings.NewReader(`{"modle":"tiny"}`))
	json.NewDecoder(resp.Body).Decode(&er)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(er.Error.Message, `unknown field "modle"`) {
		t.Fatalf("unknown field: %d %+v", resp.StatusCode, er.Error)
	}
	resp, _ = http.Get(ts.url + "/v1/nothing-here")
	json.NewDecoder(resp.Body).Decode(&er)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(er.Error.Message, "no route GET /v1/nothing-here") {
		t.Fatalf("unknown route: %d %+v", resp.StatusCode, er.Error)
	}
}

func TestAuth(t *testing.T) {
	data := t.TempDir()
	st, err := store.Open(context.Background(), data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stored, _, err := st.CreateKey(context.Background(), "ci", store.ScopeUser)
	if err != nil {
		t.Fatal(err)
	}
	st.Close(context.Background())
	ts := start(t, opts{keys: []string{"flag-key"}, data: data})
	ctx := context.Background()
	cases := []struct {
		name, key string
		status    int
		want      string
	}{
		{"missing", "", 401, "missing API key"},
		{"wrong", "nope", 401, "incorrect API key"},
		{"flag key", "flag-key", 200, ""},
		{"stored key", stored, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sdk.NewClient(ts.url, sdk.WithAPIKey(tc.key)).ListFiles(ctx)
			if tc.status == 200 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			se := apiErr(t, err, tc.status, tc.want)
			if se.Err.Type != "authentication_error" {
				t.Fatalf("type = %q", se.Err.Type)
			}
		})
	}
	req, _ := http.NewRequest(http.MethodGet, ts.url+"/v1/files", nil)
	req.Header.Set("Authorization", "Basic Zm9vOmJhcg==")
	resp, _ := http.DefaultClient.Do(req)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(body), "expected \\\"Bearer \\u003ckey\\u003e\\\"") && !strings.Contains(string(body), "malformed Authorization header") {
		t.Fatalf("basic auth: %d %s", resp.StatusCode, body)
	}
	if _, err := sdk.NewClient(ts.url).Health(ctx); err != nil {
		t.Fatalf("healthz must stay open: %v", err)
	}
}

func TestHealthMetricsStatic(t *testing.T) {
	ts := start(t, opts{})
	h, err := ts.c.Health(context.Background())
	if err != nil || h.Status != "ok" {
		t.Fatalf("health = %+v, %v", h, err)
	}
	resp, err := http.Get(ts.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`whet_jobs{status="queued"} 0`, "go_goroutines", "whet_http_requests_total"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	resp, err = http.Get(ts.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<h1>whet</h1>") {
		t.Fatalf("GET / = %d %s", resp.StatusCode, body)
	}
}
