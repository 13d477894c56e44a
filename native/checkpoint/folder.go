package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/whetml/whet/native/bert"
)

// File names of a HuggingFace model folder.
const (
	ConfigFile          = "config.json"
	SafetensorsFile     = "model.safetensors"
	SafetensorsIndex    = "model.safetensors.index.json"
	PytorchFile         = "pytorch_model.bin"
	VocabFile           = "vocab.txt"
	TokenizerConfigFile = "tokenizer_config.json"
	TokenizerJSONFile   = "tokenizer.json"
	SpecialTokensFile   = "special_tokens_map.json"
)

// Tensor is one named float32 tensor held in Go memory (an alias of bert.Tensor, so models and files share it).
type Tensor = bert.Tensor

// Folder is a HuggingFace model folder, read.
type Folder struct {
	// Dir is the folder path.
	Dir string
	// Config is config.json, validated.
	Config bert.Config
	// WeightsFile is the file the weights came from (model.safetensors, the index, or pytorch_model.bin).
	WeightsFile string
	// Weights maps canonical HF names (legacy gamma/beta and bare BertModel names mapped) to tensors.
	Weights map[string]*Tensor
	// DoLowerCase is tokenizer_config.json's do_lower_case (true when absent, as for BertTokenizer).
	DoLowerCase bool
	// TokenizerConfig is tokenizer_config.json as read (nil when absent), kept to write it back.
	TokenizerConfig map[string]any
}

// VocabPath is the folder's vocab.txt path (it may not exist; see HasVocab).
func (f *Folder) VocabPath() string { return filepath.Join(f.Dir, VocabFile) }

// HasVocab reports whether the folder has a vocab.txt.
func (f *Folder) HasVocab() bool {
	_, err := os.Stat(f.VocabPath())
	return err == nil
}

// ErrNoWeights is wrapped by ReadFolder's error when a folder has no weight file.
var ErrNoWeights = errors.New("no weight file")

// ReadConfigOnly reads a folder's config.json and tokenizer_config.json without touching the weights.
func ReadConfigOnly(dir string) (*Folder, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("model[%s]: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("model[%s]: not a folder", dir)
	}
	cfg, err := bert.ReadConfig(filepath.Join(dir, ConfigFile))
	if err != nil {
		return nil, fmt.Errorf("model[%s]: %w", dir, err)
	}
	f := &Folder{Dir: dir, Config: cfg, DoLowerCase: true}
	if err := f.readTokenizerConfig(dir); err != nil {
		return nil, err
	}
	return f, nil
}

// readTokenizerConfig sets TokenizerConfig and DoLowerCase from dir's tokenizer_config.json, when there is one.
func (f *Folder) readTokenizerConfig(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, TokenizerConfigFile))
	if err != nil {
		return nil
	}
	var tc map[string]any
	if err := json.Unmarshal(b, &tc); err != nil {
		return fmt.Errorf("model[%s]: %s: %w", dir, TokenizerConfigFile, err)
	}
	f.TokenizerConfig = tc
	if v, ok := tc["do_lower_case"].(bool); ok {
		f.DoLowerCase = v
	}
	return nil
}

// AdapterView returns base seen through the adapter folder dir for tokenizing: when dir has its own vocab.txt or
// tokenizer.json (whet writes them; peft users often save the tokenizer there), Dir is dir and the tokenizer settings
// are dir's, so the vocabulary, tokenizer_config.json (model_max_length trained with) and preprocess module are the
// adapter's; otherwise base itself. Config and Weights stay base's.
func AdapterView(base *Folder, dir string) (*Folder, error) {
	if !fileExists(filepath.Join(dir, VocabFile)) && !fileExists(filepath.Join(dir, TokenizerJSONFile)) {
		return base, nil
	}
	v := *base
	v.Dir, v.DoLowerCase, v.TokenizerConfig = dir, true, nil
	if err := v.readTokenizerConfig(dir); err != nil {
		return nil, err
	}
	return &v, nil
}

// ReadFolder reads config.json, tokenizer_config.json and the weights (model.safetensors, a sharded
// model.safetensors.index.json, or pytorch_model.bin) of a HF model folder. Weight names are canonicalized
// (LayerNorm.gamma/beta -> weight/bias; a bare BertModel's names get the "bert." prefix).
//
// # Errors
//
// A missing folder or config, an invalid config, no weight file (wrapping ErrNoWeights), or a corrupt weight file;
// each names the file.
func ReadFolder(dir string) (*Folder, error) {
	f, err := ReadConfigOnly(dir)
	if err != nil {
		return nil, err
	}
	raw, file, err := readWeights(dir)
	if err != nil {
		return nil, err
	}
	f.WeightsFile = file
	names := make([]string, len(raw))
	for i, t := range raw {
		names[i] = t.Name
	}
	bare := bert.IsBare(names)
	f.Weights = make(map[string]*Tensor, len(raw))
	for _, t := range raw {
		name := bert.CanonicalName(t.Name, bare)
		if _, dup := f.Weights[name]; dup {
			return nil, fmt.Errorf("weights[%s]: tensor[%s] appears twice (also as %s)", file, name, t.Name)
		}
		f.Weights[name] = &Tensor{Name: name, Shape: t.Shape, Values: t.Values}
	}
	return f, nil
}

func readWeights(dir string) ([]Tensor, string, error) {
	st := filepath.Join(dir, SafetensorsFile)
	if _, err := os.Stat(st); err == nil {
		ts, err := readSafetensorsF32(st)
		return ts, st, err
	}
	idx := filepath.Join(dir, SafetensorsIndex)
	if _, err := os.Stat(idx); err == nil {
		ts, err := readShardedSafetensors(dir, idx)
		return ts, idx, err
	}
	pt := filepath.Join(dir, PytorchFile)
	if _, err := os.Stat(pt); err == nil {
		ts, err := readPytorch(pt)
		return ts, pt, err
	}
	return nil, "", fmt.Errorf("model[%s]: %w: neither %s nor %s", dir, ErrNoWeights, SafetensorsFile, PytorchFile)
}

func readSafetensorsF32(path string) ([]Tensor, error) {
	raws, _, err := ReadSafetensors(path)
	if err != nil {
		return nil, err
	}
	out := make([]Tensor, 0, len(raws))
	for i := range raws {
		r := &raws[i]
		if r.Name == bert.NamePositionIDs || r.DType == "BOOL" {
			continue
		}
		v, err := r.Float32()
		if err != nil {
			return nil, fmt.Errorf("weights[%s]: %w", path, err)
		}
		out = append(out, Tensor{Name: r.Name, Shape: r.Shape, Values: v})
	}
	return out, nil
}

func readShardedSafetensors(dir, index string) ([]Tensor, error) {
	b, err := os.ReadFile(index)
	if err != nil {
		return nil, fmt.Errorf("weights[%s]: %w", index, err)
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("weights[%s]: corrupt index: %w", index, err)
	}
	shards := map[string]bool{}
	for _, s := range idx.WeightMap {
		shards[s] = true
	}
	names := make([]string, 0, len(shards))
	for s := range shards {
		if filepath.Base(s) != s {
			return nil, fmt.Errorf("weights[%s]: shard %q is not a plain file name", index, s)
		}
		names = append(names, s)
	}
	sort.Strings(names)
	var out []Tensor
	for _, s := range names {
		ts, err := readSafetensorsF32(filepath.Join(dir, s))
		if err != nil {
			return nil, err
		}
		out = append(out, ts...)
	}
	return out, nil
}

// Report says how a folder's weights matched the model being built.
type Report struct {
	// Missing are parameters the model needs that the file lacks (initialized from scratch).
	Missing []string
	// Unexpected are tensors in the file the model does not use.
	Unexpected []string
	// FreshClassifier is set when the classifier head was created fresh: the file had none, or its shape did not
	// match the label set. FreshReason says which.
	FreshClassifier bool
	// FreshReason explains FreshClassifier.
	FreshReason string
	// Ignored are tensors of an MLM or next-sentence head in a file loaded for classification only (expected when
	// fine-tuning a pretrained model, so not Unexpected).
	Ignored []string
}

// ShapeError is a config/weight shape mismatch: the file's tensor does not have the shape config.json implies.
type ShapeError struct {
	// File is the weight file.
	File string
	// Tensor is the parameter name.
	Tensor string
	// Want is the shape from config.json; Got the shape in the file.
	Want, Got []int64
}

func (e *ShapeError) Error() string {
	return fmt.Sprintf("weights[%s]: tensor[%s]: shape %v in the file does not match %v from config.json", e.File, e.Tensor, e.Got, e.Want)
}

// Match pairs the folder's weights with the parameters of a model with the given heads and numLabels. The result
// maps each found parameter name to its values, ready for bert.New; parameters absent from it are initialized from
// scratch.
//
// A classifier whose shape does not match numLabels is dropped (FreshClassifier) instead of failing; any other shape
// mismatch is a *ShapeError. The tied MLM decoder weight is ignored and cls.predictions.decoder.bias stands in for a
// missing cls.predictions.bias.
func (f *Folder) Match(cfg bert.Config, heads bert.Heads, numLabels int) (map[string][]float32, *Report, error) {
	params := bert.Params(cfg, heads, numLabels)
	want := make(map[string]bert.Param, len(params))
	for _, p := range params {
		want[p.Name] = p
	}
	weights := f.Weights
	if _, ok := weights["cls.predictions.bias"]; !ok {
		if t, ok := weights[bert.NameMLMDecoderBias]; ok {
			weights = cloneMap(weights)
			weights["cls.predictions.bias"] = &Tensor{Name: "cls.predictions.bias", Shape: t.Shape, Values: t.Values}
		}
	}
	rep := &Report{}
	out := make(map[string][]float32, len(params))
	for _, p := range params {
		t, ok := weights[p.Name]
		if !ok {
			if p.Head == bert.HeadClassifier {
				rep.FreshClassifier = true
				rep.FreshReason = "the weights have no classifier"
				continue
			}
			rep.Missing = append(rep.Missing, p.Name)
			continue
		}
		if !equalShape(t.Shape, p.Shape) {
			if p.Head == bert.HeadClassifier {
				rep.FreshClassifier = true
				rep.FreshReason = fmt.Sprintf("classifier shape %v does not match %d labels", t.Shape, numLabels)
				continue
			}
			return nil, nil, &ShapeError{File: f.WeightsFile, Tensor: p.Name, Want: p.Shape, Got: t.Shape}
		}
		out[p.Name] = t.Values
	}
	if rep.FreshClassifier {
		// Never mix a fresh weight with a stale bias.
		delete(out, "classifier.weight")
		delete(out, "classifier.bias")
	}
	for name := range weights {
		if _, ok := want[name]; ok {
			continue
		}
		switch name {
		case bert.NameMLMDecoderWeight, bert.NameMLMDecoderBias, bert.NamePositionIDs:
			continue
		}
		if heads&bert.HeadMLM == 0 && isMLMName(name) {
			rep.Ignored = append(rep.Ignored, name)
			continue
		}
		rep.Unexpected = append(rep.Unexpected, name)
	}
	sort.Strings(rep.Missing)
	sort.Strings(rep.Unexpected)
	sort.Strings(rep.Ignored)
	return out, rep, nil
}

func isMLMName(name string) bool {
	return len(name) > 4 && name[:4] == "cls."
}

func cloneMap(m map[string]*Tensor) map[string]*Tensor {
	out := make(map[string]*Tensor, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

func equalShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
