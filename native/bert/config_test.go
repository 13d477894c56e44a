package bert

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	hf := `{"architectures":["BertForSequenceClassification"],"attention_probs_dropout_prob":0.1,"classifier_dropout":null,
"hidden_act":"gelu","hidden_dropout_prob":0.1,"hidden_size":128,"id2label":{"0":"neg","1":"pos"},"initializer_range":0.02,
"intermediate_size":512,"label2id":{"neg":0,"pos":1},"layer_norm_eps":1e-12,"max_position_embeddings":512,"model_type":"bert",
"num_attention_heads":2,"num_hidden_layers":2,"pad_token_id":0,"position_embedding_type":"absolute","torch_dtype":"float32",
"transformers_version":"4.40.0","type_vocab_size":2,"use_cache":true,"vocab_size":30522}`
	c, err := ParseConfig([]byte(hf))
	if err != nil {
		t.Fatal(err)
	}
	if c.HiddenSize != 128 || c.NumHiddenLayers != 2 || c.LayerNormEps != 1e-12 || !reflect.DeepEqual(c.Labels(), []string{"neg", "pos"}) {
		t.Fatalf("config = %+v", c)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	_ = json.Unmarshal(b, &back)
	if back["transformers_version"] != "4.40.0" || back["torch_dtype"] != "float32" {
		t.Errorf("unknown keys not kept: %s", b)
	}
	if !reflect.DeepEqual(back["label2id"], map[string]any{"neg": 0.0, "pos": 1.0}) {
		t.Errorf("label2id = %v", back["label2id"])
	}
	c2, err := ParseConfig(b)
	if err != nil || !reflect.DeepEqual(c2.Labels(), c.Labels()) || c2.IntermediateSize != 512 {
		t.Fatalf("round trip: %v %+v", err, c2)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct{ json, want string }{
		{`{"hidden_size":100,"num_attention_heads":3}`, "config key[hidden_size]: 100 is not a multiple of num_attention_heads 3"},
		{`{"hidden_act":"swish"}`, `config key[hidden_act]: "swish" is not supported`},
		{`{"vocab_size":"big"}`, "config key[vocab_size]"},
		{`{"position_embedding_type":"relative_key"}`, "config key[position_embedding_type]"},
		{`{"id2label":{"0":"a","2":"b"}}`, "config key[id2label]: ids must be 0..1, 1 is missing"},
		{`{"id2label":{"0":"a","1":"a"}}`, `label "a" is used by ids 0 and 1`},
		{`{"num_hidden_layers":0}`, "config key[num_hidden_layers]: must be positive"},
		{`nope`, "invalid JSON"},
	}
	for _, tt := range tests {
		_, err := ParseConfig([]byte(tt.json))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseConfig(%s) err = %v, want %q", tt.json, err, tt.want)
		}
	}
}

func TestParams(t *testing.T) {
	c := DefaultConfig()
	c.NumHiddenLayers = 1
	ps := Params(c, HeadClassifier|HeadMLM, 3)
	byName := map[string]Param{}
	for _, p := range ps {
		byName[p.Name] = p
	}
	tests := []struct {
		name  string
		shape []int64
		decay bool
	}{
		{"bert.embeddings.word_embeddings.weight", []int64{30522, 768}, true},
		{"bert.encoder.layer.0.attention.self.query.weight", []int64{768, 768}, true},
		{"bert.encoder.layer.0.attention.output.LayerNorm.weight", []int64{768}, false},
		{"bert.encoder.layer.0.intermediate.dense.weight", []int64{3072, 768}, true},
		{"bert.encoder.layer.0.output.dense.weight", []int64{768, 3072}, true},
		{"bert.encoder.layer.0.output.dense.bias", []int64{768}, false},
		{"bert.pooler.dense.weight", []int64{768, 768}, true},
		{"classifier.weight", []int64{3, 768}, true},
		{"cls.predictions.bias", []int64{30522}, false},
	}
	for _, tt := range tests {
		p, ok := byName[tt.name]
		if !ok || !reflect.DeepEqual(p.Shape, tt.shape) || p.Decay != tt.decay {
			t.Errorf("%s = %+v (found %v), want shape %v decay %v", tt.name, p, ok, tt.shape, tt.decay)
		}
	}
	if len(ps) != 5+16+2+5+2 {
		t.Errorf("got %d params", len(ps))
	}
}
