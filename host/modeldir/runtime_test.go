package modeldir_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/whetml/whet/host/modeldir"
)

// writeFiles writes name -> content into dir ("" content: "x").
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if content == "" {
			content = "x"
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReadRuntime: the max length is the trained length recorded in tokenizer_config.json (capped by
// max_position_embeddings), else min(512, max_position_embeddings); do_lower_case and the folder's module are read.
func TestReadRuntime(t *testing.T) {
	tests := []struct {
		name   string
		files  map[string]string
		maxLen int
		lower  bool
		module string
		err    string
	}{
		{"defaults", map[string]string{"config.json": `{"max_position_embeddings":1024}`, "vocab.txt": ""}, 512, true, "", ""},
		{"short model", map[string]string{"config.json": `{"max_position_embeddings":64}`, "vocab.txt": ""}, 64, true, "", ""},
		{"trained length", map[string]string{"config.json": `{"max_position_embeddings":512}`, "vocab.txt": "",
			"tokenizer_config.json": `{"model_max_length":24,"do_lower_case":false}`}, 24, false, "", ""},
		{"HF no limit", map[string]string{"config.json": `{"max_position_embeddings":512}`, "tokenizer.json": "",
			"tokenizer_config.json": `{"model_max_length":1e30}`}, 512, true, "", ""},
		{"own module", map[string]string{"config.json": `{"max_position_embeddings":128}`, "vocab.txt": "", "preprocess.wasm": ""}, 128, true, "preprocess.wasm", ""},
		{"no tokenizer", map[string]string{"config.json": `{"max_position_embeddings":128}`}, 0, false, "", "no vocab.txt or tokenizer.json"},
		{"bad tokenizer config", map[string]string{"config.json": `{"max_position_embeddings":128}`, "vocab.txt": "", "tokenizer_config.json": `{`}, 0, false, "", "tokenizer_config.json"},
		{"HF default positions", map[string]string{"config.json": `{}`, "vocab.txt": ""}, 512, true, "", ""},
		{"negative positions", map[string]string{"config.json": `{"max_position_embeddings":-1}`, "vocab.txt": ""}, 0, false, "", "max_position_embeddings"},
		{"no config", map[string]string{"vocab.txt": ""}, 0, false, "", "config.json missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			rt, err := modeldir.ReadRuntime(dir)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			module := ""
			if rt.PreprocessModule != "" {
				module = filepath.Base(rt.PreprocessModule)
			}
			if rt.MaxLength != tt.maxLen || rt.DoLowerCase != tt.lower || module != tt.module {
				t.Fatalf("runtime = max %d lower %v module %q; want %d %v %q", rt.MaxLength, rt.DoLowerCase, module, tt.maxLen, tt.lower, tt.module)
			}
		})
	}
}

// TestReadAdapterRuntime: an adapter folder (adapter_config.json, no config.json) runs on its base: the base's
// positions and tokenizer unless the adapter brings its own tokenizer files, its own labels when whet wrote them.
func TestReadAdapterRuntime(t *testing.T) {
	base := t.TempDir()
	writeFiles(t, base, map[string]string{"config.json": `{"max_position_embeddings":256,"id2label":{"0":"a","1":"b"}}`,
		"vocab.txt": "base", "tokenizer_config.json": `{"do_lower_case":false}`, "model.safetensors": ""})
	ad := t.TempDir()
	writeFiles(t, ad, map[string]string{"adapter_config.json": `{"peft_type":"LORA","task_type":"SEQ_CLS","base_model_name_or_path":"` + base + `"}`,
		"adapter_model.safetensors": ""})
	rt, err := modeldir.ReadRuntime(ad)
	if err != nil {
		t.Fatal(err)
	}
	if rt.Base != base || rt.TokenizerDir != base || string(rt.Vocab) != "base" || rt.DoLowerCase || rt.MaxLength != 256 ||
		!reflect.DeepEqual(rt.Labels, []string{"a", "b"}) {
		t.Fatalf("peft adapter on its base: %+v", rt)
	}
	writeFiles(t, ad, map[string]string{"vocab.txt": "own", "tokenizer_config.json": `{"model_max_length":32}`,
		"preprocess.wasm": "", "whet_adapter.json": `{"labels":["x","y","z"]}`})
	if rt, err = modeldir.ReadAdapterRuntime(ad, base); err != nil {
		t.Fatal(err)
	}
	if rt.TokenizerDir != ad || string(rt.Vocab) != "own" || !rt.DoLowerCase || rt.MaxLength != 32 || rt.MaxPositionEmbeddings != 256 ||
		rt.PreprocessModule != filepath.Join(ad, "preprocess.wasm") || !reflect.DeepEqual(rt.Labels, []string{"x", "y", "z"}) {
		t.Fatalf("whet adapter with its tokenizer: %+v", rt)
	}
	if files := rt.TokenizerFiles(); !reflect.DeepEqual(files, []string{"vocab.txt", "tokenizer_config.json"}) {
		t.Fatalf("tokenizer files %v", files)
	}
	if _, err := modeldir.ReadAdapterRuntime(ad, ad); err == nil || !strings.Contains(err.Error(), "not a model folder") {
		t.Fatalf("adapter as its own base: err = %v", err)
	}
}
