package bert

import (
	"fmt"
	"strings"
)

// Heads says which task heads a model carries on top of the encoder and pooler.
type Heads uint

const (
	// HeadClassifier is the sequence-classification head: classifier.weight [labels, hidden], classifier.bias.
	HeadClassifier Heads = 1 << iota
	// HeadMLM is the masked-language-model head: cls.predictions.transform.{dense,LayerNorm}.* and
	// cls.predictions.bias; the decoder is tied to the word embeddings.
	HeadMLM
)

// Init says how a parameter is initialized from scratch (HF BertPreTrainedModel._init_weights).
type Init int

const (
	// InitNormal draws from normal(0, initializer_range) (Linear and Embedding weights).
	InitNormal Init = iota
	// InitZeros fills with 0 (biases, LayerNorm bias).
	InitZeros
	// InitOnes fills with 1 (LayerNorm weight).
	InitOnes
)

// Param describes one named parameter of a model: its HF name, shape, initialization and whether AdamW decays it.
type Param struct {
	// Name is the HF state_dict name, e.g. "bert.encoder.layer.0.attention.self.query.weight".
	Name string
	// Shape is the tensor shape.
	Shape []int64
	// Init is how it is initialized from scratch.
	Init Init
	// Decay is false for biases and LayerNorm weights (no weight decay).
	Decay bool
	// Head is the head the parameter belongs to, or 0 for the encoder and pooler.
	Head Heads
}

// Params lists every parameter of a model with cfg's shape and the given heads, in HF state_dict order. numLabels is
// the classifier's output size (ignored without HeadClassifier).
func Params(cfg Config, heads Heads, numLabels int) []Param {
	h := int64(cfg.HiddenSize)
	var ps []Param
	lin := func(prefix string, out, in int64, head Heads) {
		ps = append(ps,
			Param{Name: prefix + ".weight", Shape: []int64{out, in}, Init: InitNormal, Decay: true, Head: head},
			Param{Name: prefix + ".bias", Shape: []int64{out}, Init: InitZeros, Head: head})
	}
	ln := func(prefix string, head Heads) {
		ps = append(ps,
			Param{Name: prefix + ".weight", Shape: []int64{h}, Init: InitOnes, Head: head},
			Param{Name: prefix + ".bias", Shape: []int64{h}, Init: InitZeros, Head: head})
	}
	emb := func(name string, n int64) {
		ps = append(ps, Param{Name: name, Shape: []int64{n, h}, Init: InitNormal, Decay: true})
	}
	emb("bert.embeddings.word_embeddings.weight", int64(cfg.VocabSize))
	emb("bert.embeddings.position_embeddings.weight", int64(cfg.MaxPositionEmbeddings))
	emb("bert.embeddings.token_type_embeddings.weight", int64(cfg.TypeVocabSize))
	ln("bert.embeddings.LayerNorm", 0)
	inter := int64(cfg.IntermediateSize)
	for i := range cfg.NumHiddenLayers {
		p := fmt.Sprintf("bert.encoder.layer.%d.", i)
		lin(p+"attention.self.query", h, h, 0)
		lin(p+"attention.self.key", h, h, 0)
		lin(p+"attention.self.value", h, h, 0)
		lin(p+"attention.output.dense", h, h, 0)
		ln(p+"attention.output.LayerNorm", 0)
		lin(p+"intermediate.dense", inter, h, 0)
		lin(p+"output.dense", h, inter, 0)
		ln(p+"output.LayerNorm", 0)
	}
	lin("bert.pooler.dense", h, h, 0)
	if heads&HeadMLM != 0 {
		lin("cls.predictions.transform.dense", h, h, HeadMLM)
		ln("cls.predictions.transform.LayerNorm", HeadMLM)
		ps = append(ps, Param{Name: NameMLMBias, Shape: []int64{int64(cfg.VocabSize)}, Init: InitZeros, Head: HeadMLM})
	}
	if heads&HeadClassifier != 0 {
		lin("classifier", int64(numLabels), h, HeadClassifier)
	}
	return ps
}

// Tied and ignored names in HF checkpoints.
const (
	// NameMLMBias is the masked-LM head's output bias, one value per vocabulary entry.
	NameMLMBias = "cls.predictions.bias"
	// NameMLMDecoderWeight is tied to the word embeddings; when present in a file it is ignored.
	NameMLMDecoderWeight = "cls.predictions.decoder.weight"
	// NameMLMDecoderBias is tied to cls.predictions.bias; it is read as that name when the latter is absent.
	NameMLMDecoderBias = "cls.predictions.decoder.bias"
	// NamePositionIDs is a buffer some HF versions save; it is ignored.
	NamePositionIDs = "bert.embeddings.position_ids"
)

// CanonicalName maps a checkpoint name to whet's HF name: legacy LayerNorm.gamma/beta become weight/bias, and
// names of a bare BertModel (no "bert." prefix) get the prefix when bare is true.
func CanonicalName(name string, bare bool) string {
	if strings.HasSuffix(name, ".gamma") && strings.Contains(name, "LayerNorm") {
		name = strings.TrimSuffix(name, ".gamma") + ".weight"
	} else if strings.HasSuffix(name, ".beta") && strings.Contains(name, "LayerNorm") {
		name = strings.TrimSuffix(name, ".beta") + ".bias"
	}
	if bare && (strings.HasPrefix(name, "embeddings.") || strings.HasPrefix(name, "encoder.") || strings.HasPrefix(name, "pooler.")) {
		name = "bert." + name
	}
	return name
}

// IsBare reports whether names look like a bare BertModel state_dict (no "bert." prefix on encoder weights).
func IsBare(names []string) bool {
	prefixed, bare := false, false
	for _, n := range names {
		switch {
		case strings.HasPrefix(n, "bert."):
			prefixed = true
		case strings.HasPrefix(n, "embeddings.") || strings.HasPrefix(n, "encoder."):
			bare = true
		}
	}
	return bare && !prefixed
}

// Tensor is one named float32 tensor in Go memory: what checkpoint files hold, what New takes and Model.Tensors
// returns.
type Tensor struct {
	// Name is the HF state_dict name.
	Name string
	// Shape is the tensor shape.
	Shape []int64
	// Values holds the elements in row-major order.
	Values []float32
}
