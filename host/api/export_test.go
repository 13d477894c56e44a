package api_test

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/whetml/whet/host/api"
	"github.com/whetml/whet/sdk"
)

// TestExportRoutes checks the export routes' mechanics with a stand-in exporter (the real `whet export` is tested in
// export/onnx and, through the server, in web's browser test): the tar with and without int8, one file with its ETag
// and 304, one export per model version, 422 for a model that cannot be exported, 400/404 for bad requests, and the
// cache dropped with the model.
func TestExportRoutes(t *testing.T) {
	var calls atomic.Int32
	ts := start(t, opts{api: func(c *api.Config) {
		c.Export = func(ctx context.Context, modelDir, outDir string) error {
			calls.Add(1)
			// from_path copies the folder: the stand-in recognizes the refused model by its label.
			if cfg, _ := os.ReadFile(filepath.Join(modelDir, "config.json")); strings.Contains(string(cfg), "lora") {
				return &api.ExportModelError{Msg: "model[x]: is a LoRA adapter folder"}
			}
			for name, body := range map[string]string{"config.json": "{}", "tokenizer.json": "{\"model\":1}",
				"onnx/model.onnx": "fp32-bytes", "onnx/model_quantized.onnx": "int8"} {
				p := filepath.Join(outDir, filepath.FromSlash(name))
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
					return err
				}
			}
			return nil
		}
	}})
	ctx := context.Background()
	m := ts.model("tiny", "neg", "pos")
	untar := func(q string) map[string]string {
		t.Helper()
		r, err := ts.c.ExportModel(ctx, m.ID, sdk.ExportModelRequest{Quantize: q})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		out := map[string]string{}
		tr := tar.NewReader(r)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(tr)
			out[h.Name] = string(b)
		}
	}
	names := func(m map[string]string) string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return strings.Join(ks, " ")
	}
	if got := names(untar("")); got != "config.json onnx/model.onnx tokenizer.json" {
		t.Errorf("fp32 tar = %s", got)
	}
	files := untar("int8")
	if got := names(files); got != "config.json onnx/model.onnx onnx/model_quantized.onnx tokenizer.json" || files["onnx/model_quantized.onnx"] != "int8" {
		t.Errorf("int8 tar = %s %q", got, files["onnx/model_quantized.onnx"])
	}
	get := func(path, etag string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, ts.url+path, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get("/v1/models/tiny/export/onnx/model.onnx", "")
	if resp.StatusCode != 200 || body != "fp32-bytes" || resp.Header.Get("ETag") == "" {
		t.Fatalf("file: %d %q etag %q", resp.StatusCode, body, resp.Header.Get("ETag"))
	}
	if r2, _ := get("/v1/models/tiny/export/onnx/model.onnx", resp.Header.Get("ETag")); r2.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", r2.StatusCode)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("exporter ran %d times for one model version, want 1", n)
	}
	for _, c := range []struct {
		path   string
		status int
		want   string
	}{
		{"/v1/models/tiny/export?format=tflite", 400, "format"},
		{"/v1/models/tiny/export?quantize=int4", 400, "quantize"},
		{"/v1/models/tiny/export/../../config.json", 404, ""},
		{"/v1/models/tiny/export/model.safetensors", 404, "not part of an export"},
		{"/v1/models/nope/export", 404, "nope"},
	} {
		if r, b := get(c.path, ""); r.StatusCode != c.status || !strings.Contains(b, c.want) {
			t.Errorf("GET %s: %d %s, want %d containing %q", c.path, r.StatusCode, b, c.status, c.want)
		}
	}
	ad := ts.model("adapter", "lora", "b")
	_, err := ts.c.ExportModel(ctx, ad.ID, sdk.ExportModelRequest{})
	apiErr(t, err, 422, "LoRA adapter")

	exports := filepath.Join(ts.data, "exports")
	if ents, _ := os.ReadDir(exports); len(ents) != 1 {
		t.Fatalf("exports/ has %d entries, want 1 (the exported model)", len(ents))
	}
	if _, err := ts.c.DeleteModel(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(exports); len(ents) != 0 {
		t.Errorf("exports/ has %d entries after the model was deleted, want 0", len(ents))
	}
}
