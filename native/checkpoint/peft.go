package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/whetml/whet/native/bert"
)

// File names of a peft LoRA adapter folder, and whet's own addition to it.
const (
	AdapterConfigFile  = "adapter_config.json"
	AdapterWeightsFile = "adapter_model.safetensors"
	AdapterBinFile     = "adapter_model.bin"
	// AdapterLabelsFile is whet's file in an adapter folder: {"labels": [...]}, the classifier's label names in
	// class-index order (peft keeps them in the base model's config.json, which an adapter does not change).
	AdapterLabelsFile = "whet_adapter.json"
	// PeftPrefix starts every tensor name in a peft adapter file (PeftModel.base_model.model).
	PeftPrefix = "base_model.model."
)

// AdapterConfig is adapter_config.json: the keys whet writes (peft's long-standing ones) and the ones it checks
// when reading. Other keys are ignored on read.
type AdapterConfig struct {
	PeftType            string   `json:"peft_type"`
	TaskType            string   `json:"task_type"`
	BaseModelNameOrPath string   `json:"base_model_name_or_path"`
	R                   int      `json:"r"`
	LoraAlpha           float64  `json:"lora_alpha"`
	LoraDropout         float64  `json:"lora_dropout"`
	TargetModules       Targets  `json:"target_modules"`
	ModulesToSave       []string `json:"modules_to_save"`
	Bias                string   `json:"bias"`
	FanInFanOut         bool     `json:"fan_in_fan_out"`
	InferenceMode       bool     `json:"inference_mode"`
	UseRSLoRA           bool     `json:"use_rslora,omitempty"`
}

// Targets is peft's target_modules: a list of names, or one regular expression (a JSON string).
type Targets struct {
	Names []string
	Regex string
}

// MarshalJSON writes a list, or the string when Regex is set.
func (t Targets) MarshalJSON() ([]byte, error) {
	if t.Regex != "" {
		return json.Marshal(t.Regex)
	}
	if t.Names == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(t.Names)
}

// UnmarshalJSON reads a list or a string.
func (t *Targets) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte(`"`)) {
		return json.Unmarshal(b, &t.Regex)
	}
	return json.Unmarshal(b, &t.Names)
}

// NewAdapterConfig returns the adapter_config.json whet writes for l (defaults applied) over the base model base.
func NewAdapterConfig(l bert.LoRA, base string) AdapterConfig {
	l = l.WithDefaults()
	save := []string{"classifier"}
	for _, m := range l.ModulesToSave {
		if m != "classifier" && m != "score" && !slices.Contains(save, m) {
			save = append(save, m)
		}
	}
	return AdapterConfig{PeftType: "LORA", TaskType: "SEQ_CLS", BaseModelNameOrPath: base, R: l.R, LoraAlpha: l.Alpha,
		LoraDropout: l.Dropout, TargetModules: Targets{Names: l.Targets, Regex: l.TargetRegex}, ModulesToSave: save,
		Bias: "none", InferenceMode: true, UseRSLoRA: l.RSLoRA}
}

// LoRA returns the settings the config describes.
func (c AdapterConfig) LoRA() bert.LoRA {
	return bert.LoRA{R: c.R, Alpha: c.LoraAlpha, Dropout: c.LoraDropout, Targets: c.TargetModules.Names,
		TargetRegex: c.TargetModules.Regex, ModulesToSave: c.ModulesToSave, RSLoRA: c.UseRSLoRA}
}

// ParseAdapterConfig parses and checks adapter_config.json: a LoRA adapter for sequence classification with the
// features whet implements. Errors name the key.
func ParseAdapterConfig(b []byte) (AdapterConfig, error) {
	var c AdapterConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("not valid JSON: %w", err)
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(b, &raw)
	set := func(key string) bool {
		v, ok := raw[key]
		if !ok {
			return false
		}
		s := strings.TrimSpace(string(v))
		return s != "null" && s != "false" && s != "{}" && s != "[]" && s != `""`
	}
	switch {
	case c.PeftType != "LORA":
		return c, fmt.Errorf("field[peft_type]: %q (whet reads LORA adapters)", c.PeftType)
	case c.TaskType != "" && c.TaskType != "SEQ_CLS":
		return c, fmt.Errorf("field[task_type]: %q (whet reads SEQ_CLS adapters)", c.TaskType)
	case c.Bias != "" && c.Bias != "none":
		return c, fmt.Errorf("field[bias]: %q (whet reads bias \"none\" adapters)", c.Bias)
	case c.FanInFanOut:
		return c, errors.New("field[fan_in_fan_out]: true is for GPT-2 style Conv1D layers, not BERT")
	case set("use_dora"):
		return c, errors.New("field[use_dora]: DoRA adapters are not supported")
	case set("rank_pattern"), set("alpha_pattern"):
		return c, errors.New("field[rank_pattern/alpha_pattern]: per-layer ranks are not supported")
	case set("layers_to_transform"):
		return c, errors.New("field[layers_to_transform]: not supported (target layers by name instead)")
	case c.R < 1:
		return c, fmt.Errorf("field[r]: must be positive, got %d", c.R)
	}
	if err := c.LoRA().Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// Adapter is a LoRA adapter folder, read.
type Adapter struct {
	// Dir is the folder path.
	Dir string
	// Config is adapter_config.json.
	Config AdapterConfig
	// WeightsFile is the file the tensors came from.
	WeightsFile string
	// Weights maps tensor names, less PeftPrefix, to tensors.
	Weights map[string]*Tensor
	// Labels are whet_adapter.json's labels; nil for an adapter peft wrote.
	Labels []string
}

// ReadAdapter reads an adapter folder: adapter_config.json, adapter_model.safetensors (or adapter_model.bin) and,
// when present, whet_adapter.json. Errors name the file and key or tensor.
func ReadAdapter(dir string) (*Adapter, error) {
	path := filepath.Join(dir, AdapterConfigFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("adapter[%s]: %w", dir, err)
	}
	cfg, err := ParseAdapterConfig(b)
	if err != nil {
		return nil, fmt.Errorf("adapter[%s]: %w", path, err)
	}
	a := &Adapter{Dir: dir, Config: cfg, Weights: map[string]*Tensor{}}
	var raw []Tensor
	a.WeightsFile = filepath.Join(dir, AdapterWeightsFile)
	if _, err := os.Stat(a.WeightsFile); err == nil {
		raw, err = readSafetensorsF32(a.WeightsFile)
		if err != nil {
			return nil, err
		}
	} else if bin := filepath.Join(dir, AdapterBinFile); fileExists(bin) {
		a.WeightsFile = bin
		if raw, err = readPytorch(bin); err != nil {
			return nil, err
		}
	} else {
		return nil, fmt.Errorf("adapter[%s]: neither %s nor %s", dir, AdapterWeightsFile, AdapterBinFile)
	}
	for _, t := range raw {
		name, ok := strings.CutPrefix(t.Name, PeftPrefix)
		if !ok {
			return nil, fmt.Errorf("weights[%s]: tensor[%s]: not a peft name (want the prefix %q)", a.WeightsFile, t.Name, PeftPrefix)
		}
		a.Weights[name] = &Tensor{Name: name, Shape: t.Shape, Values: t.Values}
	}
	if b, err := os.ReadFile(filepath.Join(dir, AdapterLabelsFile)); err == nil {
		var info struct {
			Labels []string `json:"labels"`
		}
		if err := json.Unmarshal(b, &info); err != nil {
			return nil, fmt.Errorf("adapter[%s]: not valid JSON: %w", filepath.Join(dir, AdapterLabelsFile), err)
		}
		a.Labels = info.Labels
	}
	return a, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// NumLabels is the size of the adapter's classifier (0 when it saves none).
func (a *Adapter) NumLabels() int {
	if t := a.Weights["classifier.weight"]; t != nil && len(t.Shape) == 2 {
		return int(t.Shape[0])
	}
	return 0
}

// Match pairs the adapter's tensors with the parameters of its LoRA settings on a base model of shape cfg: the
// values for bert.NewAdapter, keyed by bert.LoRAParams names, and the number of labels (the saved classifier's, else
// the base's fallback). Every LoRA pair must be in the file with its shape; a tensor the settings do not explain
// is an error.
func (a *Adapter) Match(cfg bert.Config, fallbackLabels int) (map[string][]float32, int, error) {
	n := a.NumLabels()
	if n == 0 {
		n = fallbackLabels
	}
	if n < 1 {
		return nil, 0, fmt.Errorf("adapter[%s]: no classifier.weight in %s and the base model has no classifier", a.Dir, a.WeightsFile)
	}
	_, params, err := bert.LoRAParams(cfg, a.Config.LoRA().WithDefaults(), n)
	if err != nil {
		return nil, 0, fmt.Errorf("adapter[%s]: %w", filepath.Join(a.Dir, AdapterConfigFile), err)
	}
	out := make(map[string][]float32, len(params))
	for _, p := range params {
		t := a.Weights[p.Name]
		if t == nil {
			if !strings.Contains(p.Name, ".lora_") {
				continue // a saved module the file lacks: the base's is used
			}
			return nil, 0, fmt.Errorf("weights[%s]: tensor[%s%s]: missing", a.WeightsFile, PeftPrefix, p.Name)
		}
		if !equalShape(t.Shape, p.Shape) {
			return nil, 0, fmt.Errorf("weights[%s]: tensor[%s%s]: shape %v, the base model and adapter_config.json imply %v",
				a.WeightsFile, PeftPrefix, p.Name, t.Shape, p.Shape)
		}
		out[p.Name] = t.Values
	}
	for name := range a.Weights {
		if _, ok := out[name]; !ok {
			return nil, 0, fmt.Errorf("weights[%s]: tensor[%s%s]: not explained by %s (target_modules %v, modules_to_save %v)",
				a.WeightsFile, PeftPrefix, name, AdapterConfigFile, a.Config.TargetModules, a.Config.ModulesToSave)
		}
	}
	return out, n, nil
}

// LabelsFor returns the adapter's label names for n classes: whet_adapter.json's, else the base config's when it has
// n, else LABEL_0..LABEL_{n-1} (HF's defaults).
func (a *Adapter) LabelsFor(base bert.Config, n int) []string {
	if len(a.Labels) == n {
		return a.Labels
	}
	if l := base.Labels(); len(l) == n {
		return l
	}
	out := make([]string, n)
	for i := range out {
		out[i] = "LABEL_" + strconv.Itoa(i)
	}
	return out
}

// AdapterSaveOptions is what WriteAdapter writes.
type AdapterSaveOptions struct {
	// Config is written as adapter_config.json.
	Config AdapterConfig
	// Tensors are the adapter's tensors named as bert.Adapter names them; they are written F32 with PeftPrefix.
	Tensors []Tensor
	// Labels are written to whet_adapter.json.
	Labels []string
	// MaxPositionEmbeddings, Vocab, DoLowerCase and TokenizerConfig make the tokenizer files, as in SaveOptions.
	MaxPositionEmbeddings int
	Vocab                 []byte
	DoLowerCase           bool
	TokenizerConfig       map[string]any
	// Extra are more files to write (name -> content).
	Extra map[string][]byte
}

// WriteAdapter writes a peft adapter folder (with the tokenizer files and whet_adapter.json) atomically, as
// WriteFolder does; the weights go last. Errors name the file.
func WriteAdapter(dir string, opts AdapterSaveOptions) error {
	cfgJSON, err := json.MarshalIndent(opts.Config, "", "  ")
	if err != nil {
		return err
	}
	labels, err := json.MarshalIndent(map[string][]string{"labels": opts.Labels}, "", "  ")
	if err != nil {
		return err
	}
	raws, err := f32Raws(opts.Tensors, PeftPrefix)
	if err != nil {
		return fmt.Errorf("adapter[%s]: %w", dir, err)
	}
	files, err := tokenizerFiles(opts.MaxPositionEmbeddings, opts.Vocab, opts.DoLowerCase, opts.TokenizerConfig, opts.Extra)
	if err != nil {
		return fmt.Errorf("adapter[%s]: %w", dir, err)
	}
	files = append(files,
		namedFile{name: AdapterConfigFile, data: append(cfgJSON, '\n')},
		namedFile{name: AdapterLabelsFile, data: append(labels, '\n')},
		namedFile{name: AdapterWeightsFile, write: func(w io.Writer) error {
			return WriteSafetensors(w, raws, map[string]string{"format": "pt"})
		}})
	return writeFiles(dir, files)
}

// IsAdapter reports whether dir holds an adapter_config.json (an adapter folder rather than a model folder).
func IsAdapter(dir string) bool { return fileExists(filepath.Join(dir, AdapterConfigFile)) }

// Merge folds the adapter into base's weights as peft's merge_and_unload does: every target W becomes
// W + scaling * lora_B @ lora_A (an Embedding table E + scaling * (lora_embedding_B @ lora_embedding_A)^T), the saved
// modules replace the base's, and the result is a sequence classifier with the adapter's labels. The products are summed in float64 and rounded once.
//
// # Errors
//
// An adapter that does not fit base (naming the tensor), or a base lacking an encoder weight.
func Merge(base *Folder, a *Adapter) (SaveOptions, error) {
	nBase := len(base.Config.Labels())
	values, n, err := a.Match(base.Config, nBase)
	if err != nil {
		return SaveOptions{}, err
	}
	cfg := base.Config
	cfg.SetLabels(a.LabelsFor(base.Config, n))
	cfg.Architectures = []string{bert.ArchSequenceClassification}
	l := a.Config.LoRA().WithDefaults()
	targets, _, err := l.Resolve(cfg)
	if err != nil {
		return SaveOptions{}, err
	}
	baseVals, rep, err := base.Match(cfg, bert.HeadClassifier, n)
	if err != nil {
		return SaveOptions{}, err
	}
	if len(rep.Missing) > 0 {
		return SaveOptions{}, fmt.Errorf("merge: weights[%s]: missing %v", base.WeightsFile, rep.Missing)
	}
	scaling := l.Scaling()
	r := l.R
	delta := map[string]func(w []float32) []float32{}
	for _, t := range targets {
		A, B := values[t.NameA()], values[t.NameB()]
		in, out := int(t.In), int(t.Out)
		// A Linear weight is [out, in]; an Embedding table [in, out] (rows, width): peft adds (B @ A)^T.
		at := func(i, j int) int { return i*in + j }
		if t.Embedding {
			at = func(i, j int) int { return j*out + i }
		}
		delta[t.Module+".weight"] = func(w []float32) []float32 {
			merged := make([]float32, len(w))
			for i := range out {
				for j := range in {
					s := 0.0
					for k := range r {
						s += float64(B[i*r+k]) * float64(A[k*in+j])
					}
					merged[at(i, j)] = float32(float64(w[at(i, j)]) + scaling*s)
				}
			}
			return merged
		}
	}
	var tensors []Tensor
	for _, p := range bert.Params(cfg, bert.HeadClassifier, n) {
		v, ok := values[p.Name] // a saved module
		if !ok {
			v, ok = baseVals[p.Name]
		}
		if !ok {
			return SaveOptions{}, fmt.Errorf("merge: tensor[%s]: neither the adapter %s nor the base model %s has it", p.Name, a.WeightsFile, base.WeightsFile)
		}
		if f := delta[p.Name]; f != nil {
			v = f(v)
		}
		tensors = append(tensors, Tensor{Name: p.Name, Shape: p.Shape, Values: v})
	}
	return SaveOptions{Config: cfg, Tensors: tensors, DoLowerCase: base.DoLowerCase, TokenizerConfig: base.TokenizerConfig}, nil
}
