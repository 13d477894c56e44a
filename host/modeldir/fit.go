package modeldir

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/whetml/whet/internal/safetensors"
)

// maxHeaderBytes bounds the safetensors header CheckAdapterFits reads (the JSON before the tensor data).
const maxHeaderBytes = 64 << 20

// CheckAdapterFits checks, from the safetensors headers alone, that the LoRA adapter folder dir fits the model folder
// base: each lora_A [r, in] and lora_B [out, r] against the base's weight [out, in] of the same module (peft's names,
// base_model.model.<module>.lora_A.weight; for an Embedding table [rows, width], lora_embedding_A [r, rows] and
// lora_embedding_B [width, r]), and each saved module's weight matrix (the classifier) against the base's
// hidden_size. An adapter_model.bin, and LoRA targets on a base whose weights are not one model.safetensors, are not
// checked here (the worker checks them when it loads the adapter). Its errors are *Error naming the file and tensor.
func CheckAdapterFits(dir, base string) error {
	adapterFile := filepath.Join(dir, AdapterWeightFiles()[0])
	if _, err := os.Stat(adapterFile); err != nil {
		return nil // adapter_model.bin: not read here
	}
	adapter, err := tensorShapes(adapterFile)
	if err != nil {
		return err
	}
	var cfg struct {
		Hidden int `json:"hidden_size"`
	}
	raw, err := os.ReadFile(filepath.Join(base, "config.json"))
	if err != nil {
		return &Error{Path: base, Msg: "config.json missing"}
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return &Error{Path: filepath.Join(base, "config.json"), Msg: "not valid JSON: " + err.Error()}
	}
	baseShapes, err := tensorShapes(filepath.Join(base, WeightFiles()[0]))
	if err != nil {
		baseShapes = nil // pytorch_model.bin or sharded: LoRA targets are checked when the worker loads them
	}
	for _, name := range slices.Sorted(maps.Keys(adapter)) {
		shape := adapter[name]
		module := strings.TrimPrefix(name, "base_model.model.")
		fail := func(msg string, args ...any) error {
			return &Error{Path: adapterFile, Msg: fmt.Sprintf("tensor %s %v: ", name, shape) + fmt.Sprintf(msg, args...)}
		}
		var side string
		for _, s := range []string{".lora_A.weight", ".lora_B.weight", ".lora_embedding_A", ".lora_embedding_B"} {
			if m, ok := strings.CutSuffix(module, s); ok {
				module, side = m, s
			}
		}
		if side == "" {
			// A saved module's matrix (classifier, score, pooler) reads hidden states; other LoRA kinds (DoRA
			// magnitudes) are left to the worker.
			saved := strings.HasSuffix(module, ".weight") && !strings.Contains(module, "lora_")
			if saved && len(shape) == 2 && cfg.Hidden > 0 && shape[1] != int64(cfg.Hidden) {
				return fail("takes %d inputs but the base model's hidden_size is %d", shape[1], cfg.Hidden)
			}
			continue
		}
		if len(shape) != 2 {
			return fail("a LoRA matrix must have 2 dimensions")
		}
		if baseShapes == nil {
			continue
		}
		w, ok := baseWeight(baseShapes, module)
		if !ok {
			return fail("the base model has no %s.weight to adapt", module)
		}
		// A Linear weight is [out, in]: lora_A [r, in], lora_B [out, r]. An Embedding table is [rows, width]:
		// lora_embedding_A [r, rows], lora_embedding_B [width, r].
		if len(w) != 2 || (side == ".lora_A.weight" && shape[1] != w[1]) || (side == ".lora_B.weight" && shape[0] != w[0]) ||
			(side == ".lora_embedding_A" && shape[1] != w[0]) || (side == ".lora_embedding_B" && shape[0] != w[1]) {
			return fail("does not fit the base model's %s.weight %v", module, w)
		}
	}
	return nil
}

// baseWeight finds module's weight shape in a base's tensors, with or without the "bert." prefix (a BertModel folder
// names its tensors without it).
func baseWeight(shapes map[string][]int64, module string) ([]int64, bool) {
	for _, name := range []string{module, strings.TrimPrefix(module, "bert."), "bert." + module} {
		if w, ok := shapes[name+".weight"]; ok {
			return w, true
		}
	}
	return nil, false
}

// tensorShapes reads the tensor shapes of a safetensors file's header.
func tensorShapes(path string) (map[string][]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Path: path, Msg: "not readable"}
	}
	defer f.Close()
	h, err := safetensors.ReadHeader(f, maxHeaderBytes)
	if err != nil {
		return nil, &Error{Path: path, Msg: "not a safetensors file: " + err.Error()}
	}
	out := make(map[string][]int64, len(h.Tensors))
	for name, e := range h.Tensors {
		out[name] = e.Shape
	}
	return out, nil
}
