package modeldir_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/whetml/whet/host/modeldir"
)

func TestInspectAdapter(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("adapter_config.json", `{"peft_type":"LORA","task_type":"SEQ_CLS","base_model_name_or_path":"/models/base","r":8}`)
	if _, err := modeldir.Inspect(dir); err == nil || !strings.Contains(err.Error(), "no adapter weights") {
		t.Fatalf("no weights: err = %v", err)
	}
	write("adapter_model.safetensors", "x")
	info, err := modeldir.Inspect(dir)
	if err != nil {
		t.Fatal(err)
	}
	if info.Labels != nil || info.Architecture != modeldir.AdapterArchitecture || info.BaseModelPath != "/models/base" || info.Weights != "adapter_model.safetensors" {
		t.Errorf("peft-written adapter: %+v", info)
	}
	write("whet_adapter.json", `{"labels":["neg","pos"]}`)
	if info, err = modeldir.Inspect(dir); err != nil || !reflect.DeepEqual(info.Labels, []string{"neg", "pos"}) {
		t.Errorf("whet adapter: %+v, %v", info, err)
	}
	write("adapter_config.json", `{"peft_type":"IA3","task_type":"SEQ_CLS"}`)
	if _, err := modeldir.Inspect(dir); err == nil || !strings.Contains(err.Error(), "adapter_config.json") || !strings.Contains(err.Error(), "IA3") {
		t.Errorf("IA3 adapter: err = %v", err)
	}
}
