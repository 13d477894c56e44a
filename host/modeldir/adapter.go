package modeldir

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// Files of a LoRA adapter folder (peft's save_pretrained, and whet train --method lora).
const (
	AdapterConfigFile = "adapter_config.json"
	// AdapterLabelsFile is whet's {"labels": [...]} beside a peft adapter.
	AdapterLabelsFile = "whet_adapter.json"
	// AdapterArchitecture is Info.Architecture of an adapter folder: the peft class that loads it.
	AdapterArchitecture = "PeftModelForSequenceClassification"
)

// AdapterWeightFiles returns the weight file names an adapter folder may carry, in order of preference.
func AdapterWeightFiles() []string { return []string{"adapter_model.safetensors", "adapter_model.bin"} }

// IsAdapter reports whether dir holds an adapter_config.json: a LoRA adapter of another model, which whet serves on
// that base (adapter_config.json base_model_name_or_path).
func IsAdapter(dir string) bool {
	return fileExists(filepath.Join(dir, AdapterConfigFile))
}

// inspectAdapter is Inspect for an adapter folder: a peft LORA SEQ_CLS config, a weight file, and the labels of
// whet_adapter.json when present (an adapter peft wrote has none: its base's config.json holds them).
func inspectAdapter(dir string) (*Info, error) {
	p := filepath.Join(dir, AdapterConfigFile)
	raw, err := os.ReadFile(p)
	if err != nil {
		return nil, &Error{Path: p, Msg: "not readable"}
	}
	var cfg struct {
		PeftType string `json:"peft_type"`
		TaskType string `json:"task_type"`
		Base     string `json:"base_model_name_or_path"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, &Error{Path: p, Msg: "not valid JSON: " + err.Error()}
	}
	if cfg.PeftType != "LORA" || (cfg.TaskType != "" && cfg.TaskType != "SEQ_CLS") {
		return nil, &Error{Path: p, Msg: "whet serves LoRA adapters for sequence classification (peft_type LORA, task_type SEQ_CLS), got " +
			cfg.PeftType + " " + cfg.TaskType}
	}
	info := &Info{Architecture: AdapterArchitecture, BaseModelPath: cfg.Base}
	if b, err := os.ReadFile(filepath.Join(dir, AdapterLabelsFile)); err == nil {
		var l struct {
			Labels []string `json:"labels"`
		}
		if err := json.Unmarshal(b, &l); err != nil {
			return nil, &Error{Path: filepath.Join(dir, AdapterLabelsFile), Msg: "not valid JSON: " + err.Error()}
		}
		info.Labels = l.Labels
	}
	for _, w := range AdapterWeightFiles() {
		if st, err := os.Stat(filepath.Join(dir, w)); err == nil && st.Mode().IsRegular() {
			info.Weights = w
			return info, nil
		}
	}
	return nil, &Error{Path: dir, Msg: "no adapter weights: expected adapter_model.safetensors or adapter_model.bin"}
}
