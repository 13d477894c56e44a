package bert

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
)

// Architecture names written to config.json "architectures".
const (
	ArchSequenceClassification = "BertForSequenceClassification"
	ArchMaskedLM               = "BertForMaskedLM"
)

// Config is a HuggingFace BertConfig (config.json). Unknown keys are kept and written back unchanged.
type Config struct {
	// Architectures lists the HF model classes the weights are for. Default: [BertForSequenceClassification].
	Architectures []string
	// VocabSize is the number of rows of the word embedding. Default: 30522.
	VocabSize int
	// HiddenSize is the width of every layer. Default: 768.
	HiddenSize int
	// NumHiddenLayers is the number of encoder layers. Default: 12.
	NumHiddenLayers int
	// NumAttentionHeads divides HiddenSize. Default: 12.
	NumAttentionHeads int
	// IntermediateSize is the feed-forward width. Default: 3072.
	IntermediateSize int
	// HiddenAct is the feed-forward activation: "gelu" (exact erf), "relu", "gelu_new" or "gelu_pytorch_tanh"
	// (tanh approximation). Default: "gelu".
	HiddenAct string
	// HiddenDropoutProb is the dropout after embeddings and each sub-layer. Default: 0.1.
	HiddenDropoutProb float64
	// AttentionProbsDropoutProb is the dropout on attention probabilities. Default: 0.1.
	AttentionProbsDropoutProb float64
	// ClassifierDropout is the dropout before the classifier; nil means HiddenDropoutProb. Default: nil.
	ClassifierDropout *float64
	// MaxPositionEmbeddings is the longest sequence the model accepts. Default: 512.
	MaxPositionEmbeddings int
	// TypeVocabSize is the number of token types (segments). Default: 2.
	TypeVocabSize int
	// InitializerRange is the standard deviation of random weight init. Default: 0.02.
	InitializerRange float64
	// LayerNormEps is the epsilon of every LayerNorm. Default: 1e-12.
	LayerNormEps float64
	// PadTokenID is the padding token id (its embedding row gets no gradient). Default: 0.
	PadTokenID int
	// PositionEmbeddingType must be "absolute" (the only kind whet implements). Default: "absolute".
	PositionEmbeddingType string
	// ID2Label maps class index to label name; its size is the number of labels.
	ID2Label map[int]string

	// extra holds keys whet does not interpret, written back as read.
	extra map[string]json.RawMessage
}

// DefaultConfig returns bert-base-uncased's shape with no labels.
func DefaultConfig() Config {
	return Config{
		Architectures:             []string{ArchSequenceClassification},
		VocabSize:                 30522,
		HiddenSize:                768,
		NumHiddenLayers:           12,
		NumAttentionHeads:         12,
		IntermediateSize:          3072,
		HiddenAct:                 "gelu",
		HiddenDropoutProb:         0.1,
		AttentionProbsDropoutProb: 0.1,
		MaxPositionEmbeddings:     512,
		TypeVocabSize:             2,
		InitializerRange:          0.02,
		LayerNormEps:              1e-12,
		PositionEmbeddingType:     "absolute",
	}
}

// Labels returns the label names in class-index order, or nil when the config has none.
func (c *Config) Labels() []string {
	if len(c.ID2Label) == 0 {
		return nil
	}
	out := make([]string, len(c.ID2Label))
	for i := range out {
		out[i] = c.ID2Label[i]
	}
	return out
}

// SetLabels replaces ID2Label with labels in order.
func (c *Config) SetLabels(labels []string) {
	c.ID2Label = make(map[int]string, len(labels))
	for i, l := range labels {
		c.ID2Label[i] = l
	}
}

// HeadDim is HiddenSize / NumAttentionHeads.
func (c *Config) HeadDim() int { return c.HiddenSize / c.NumAttentionHeads }

// ClassifierDropoutProb is ClassifierDropout, or HiddenDropoutProb when unset.
func (c *Config) ClassifierDropoutProb() float64 {
	if c.ClassifierDropout != nil {
		return *c.ClassifierDropout
	}
	return c.HiddenDropoutProb
}

// Validate checks that the config describes a BERT whet can build; errors name the config key.
func (c *Config) Validate() error {
	pos := map[string]int{
		"vocab_size": c.VocabSize, "hidden_size": c.HiddenSize, "num_hidden_layers": c.NumHiddenLayers,
		"num_attention_heads": c.NumAttentionHeads, "intermediate_size": c.IntermediateSize,
		"max_position_embeddings": c.MaxPositionEmbeddings, "type_vocab_size": c.TypeVocabSize,
	}
	keys := make([]string, 0, len(pos))
	for k := range pos {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if pos[k] <= 0 {
			return fmt.Errorf("config key[%s]: must be positive, got %d", k, pos[k])
		}
	}
	if c.HiddenSize%c.NumAttentionHeads != 0 {
		return fmt.Errorf("config key[hidden_size]: %d is not a multiple of num_attention_heads %d", c.HiddenSize, c.NumAttentionHeads)
	}
	switch c.HiddenAct {
	case "gelu", "relu", "gelu_new", "gelu_pytorch_tanh":
	default:
		return fmt.Errorf("config key[hidden_act]: %q is not supported (want gelu, relu, gelu_new or gelu_pytorch_tanh)", c.HiddenAct)
	}
	if c.PositionEmbeddingType != "" && c.PositionEmbeddingType != "absolute" {
		return fmt.Errorf("config key[position_embedding_type]: %q is not supported (want absolute)", c.PositionEmbeddingType)
	}
	if !(c.LayerNormEps > 0) {
		return fmt.Errorf("config key[layer_norm_eps]: must be positive, got %g", c.LayerNormEps)
	}
	for name, p := range map[string]float64{"hidden_dropout_prob": c.HiddenDropoutProb, "attention_probs_dropout_prob": c.AttentionProbsDropoutProb} {
		if p < 0 || p >= 1 {
			return fmt.Errorf("config key[%s]: must be in [0, 1), got %g", name, p)
		}
	}
	if c.PadTokenID < 0 || c.PadTokenID >= c.VocabSize {
		return fmt.Errorf("config key[pad_token_id]: %d is outside the vocabulary (size %d)", c.PadTokenID, c.VocabSize)
	}
	for i := range len(c.ID2Label) {
		if _, ok := c.ID2Label[i]; !ok {
			return fmt.Errorf("config key[id2label]: ids must be 0..%d, %d is missing", len(c.ID2Label)-1, i)
		}
	}
	seen := map[string]int{}
	for i := range len(c.ID2Label) {
		l := c.ID2Label[i]
		if j, dup := seen[l]; dup {
			return fmt.Errorf("config key[id2label]: label %q is used by ids %d and %d", l, j, i)
		}
		seen[l] = i
	}
	return nil
}

// ReadConfig reads and validates config.json at path; errors name the file.
func ReadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config[%s]: %w", path, err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("config[%s]: %w", path, err)
	}
	return c, nil
}

// ParseConfig decodes and validates config.json content. Missing keys take DefaultConfig's values, as in HF.
func ParseConfig(b []byte) (Config, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return Config{}, fmt.Errorf("invalid JSON: %w", err)
	}
	c := DefaultConfig()
	c.Architectures = nil
	c.extra = map[string]json.RawMessage{}
	var firstErr error
	get := func(key string, dst any) {
		v, ok := raw[key]
		if !ok {
			return
		}
		if err := json.Unmarshal(v, dst); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("config key[%s]: %w", key, err)
		}
	}
	known := map[string]any{
		"architectures":                &c.Architectures,
		"vocab_size":                   &c.VocabSize,
		"hidden_size":                  &c.HiddenSize,
		"num_hidden_layers":            &c.NumHiddenLayers,
		"num_attention_heads":          &c.NumAttentionHeads,
		"intermediate_size":            &c.IntermediateSize,
		"hidden_act":                   &c.HiddenAct,
		"hidden_dropout_prob":          &c.HiddenDropoutProb,
		"attention_probs_dropout_prob": &c.AttentionProbsDropoutProb,
		"classifier_dropout":           &c.ClassifierDropout,
		"max_position_embeddings":      &c.MaxPositionEmbeddings,
		"type_vocab_size":              &c.TypeVocabSize,
		"initializer_range":            &c.InitializerRange,
		"layer_norm_eps":               &c.LayerNormEps,
		"pad_token_id":                 &c.PadTokenID,
		"position_embedding_type":      &c.PositionEmbeddingType,
	}
	for k, dst := range known {
		get(k, dst)
	}
	// id2label keys are strings in JSON ("0": "neg"); label2id is derived, so only id2label is read.
	if v, ok := raw["id2label"]; ok && string(v) != "null" {
		var m map[string]string
		if err := json.Unmarshal(v, &m); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("config key[id2label]: %w", err)
		}
		c.ID2Label = make(map[int]string, len(m))
		for k, l := range m {
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 {
				if firstErr == nil {
					firstErr = fmt.Errorf("config key[id2label]: key %q is not a class index", k)
				}
				continue
			}
			c.ID2Label[i] = l
		}
	}
	if firstErr != nil {
		return Config{}, firstErr
	}
	for k, v := range raw {
		if _, ok := known[k]; ok || k == "id2label" || k == "label2id" {
			continue
		}
		c.extra[k] = v
	}
	if c.HiddenAct == "gelu_python" {
		c.HiddenAct = "gelu"
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// MarshalJSON writes the config with HF key names, sorted, keeping unknown keys; it adds model_type "bert" and
// label2id derived from ID2Label.
func (c Config) MarshalJSON() ([]byte, error) {
	out := map[string]any{}
	for k, v := range c.extra {
		out[k] = v
	}
	arch := c.Architectures
	if len(arch) == 0 {
		arch = []string{ArchSequenceClassification}
	}
	out["architectures"] = arch
	out["model_type"] = "bert"
	out["vocab_size"] = c.VocabSize
	out["hidden_size"] = c.HiddenSize
	out["num_hidden_layers"] = c.NumHiddenLayers
	out["num_attention_heads"] = c.NumAttentionHeads
	out["intermediate_size"] = c.IntermediateSize
	out["hidden_act"] = c.HiddenAct
	out["hidden_dropout_prob"] = c.HiddenDropoutProb
	out["attention_probs_dropout_prob"] = c.AttentionProbsDropoutProb
	out["classifier_dropout"] = c.ClassifierDropout
	out["max_position_embeddings"] = c.MaxPositionEmbeddings
	out["type_vocab_size"] = c.TypeVocabSize
	out["initializer_range"] = c.InitializerRange
	out["layer_norm_eps"] = c.LayerNormEps
	out["pad_token_id"] = c.PadTokenID
	pet := c.PositionEmbeddingType
	if pet == "" {
		pet = "absolute"
	}
	out["position_embedding_type"] = pet
	if len(c.ID2Label) > 0 {
		id2 := make(map[string]string, len(c.ID2Label))
		l2i := make(map[string]int, len(c.ID2Label))
		for i, l := range c.ID2Label {
			id2[strconv.Itoa(i)] = l
			l2i[l] = i
		}
		out["id2label"] = id2
		out["label2id"] = l2i
		if _, ok := out["problem_type"]; !ok {
			out["problem_type"] = "single_label_classification"
		}
	}
	return json.Marshal(out)
}

// ErrNoLabels is returned where a classifier needs labels and the config has none.
var ErrNoLabels = errors.New("config has no id2label: the model has no classifier labels")
