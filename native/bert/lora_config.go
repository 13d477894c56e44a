package bert

import (
	"fmt"
	"math"
	"regexp"
	"strings"
)

// LoRA defaults, peft's LoraConfig defaults.
const (
	DefaultLoRAR     = 8
	DefaultLoRAAlpha = 8
)

// DefaultLoRATargets returns peft's default target modules for BERT (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING).
func DefaultLoRATargets() []string { return []string{"query", "value"} }

// LoRA configures a LoRA adapter as peft's LoraConfig does: each target Linear layer W gets lora_A [r, in]
// (kaiming-uniform, a=sqrt(5)) and lora_B [out, r] (zeros), and computes y = W x + b + lora_B(lora_A(dropout(x))) *
// scaling with scaling = Alpha / R (Alpha / sqrt(R) with RSLoRA). A target Embedding table E [num, dim] (peft's
// lora.Embedding) gets lora_embedding_A [r, num] (zeros) and lora_embedding_B [dim, r] (standard normal) and looks
// up E[i] + (lora_embedding_B lora_embedding_A[:, i]) * scaling, without dropout. Modules to save (the classifier
// always, the pooler when asked) are trained in full and saved whole with the adapter; every other weight stays
// frozen.
type LoRA struct {
	// R is the rank of the update. Default: DefaultLoRAR.
	R int
	// Alpha is lora_alpha. Default: DefaultLoRAAlpha.
	Alpha float64
	// Dropout is the dropout on the adapter's input while training, in [0, 1). Default: 0.
	Dropout float64
	// Targets are peft target_modules as a list: a module is a target when its name equals an entry or ends with
	// "." + entry ("query" matches bert.encoder.layer.N.attention.self.query; "dense" every dense layer, pooler
	// included; "word_embeddings" the token embedding table, which lets an adapter move each word's vector: on a
	// small or briefly pretrained base it is what brings LoRA level with full fine-tuning, see bench/results.md).
	// Default: DefaultLoRATargets().
	Targets []string
	// TargetRegex, when set, is peft's target_modules as a string: the modules whose full name it matches entirely.
	// It replaces Targets. Default: "".
	TargetRegex string
	// ModulesToSave are more modules trained in full: "pooler" (bert.pooler) is the one whet supports besides the
	// classifier, which is always saved (as peft does for SEQ_CLS); "classifier" and "score" (peft's SEQ_CLS
	// additions) are accepted and change nothing. Default: none.
	ModulesToSave []string
	// RSLoRA scales by Alpha / sqrt(R) (peft use_rslora). Default: false.
	RSLoRA bool
}

// WithDefaults returns a copy of l with zero fields set to their defaults.
func (l LoRA) WithDefaults() LoRA {
	if l.R == 0 {
		l.R = DefaultLoRAR
	}
	if l.Alpha == 0 {
		l.Alpha = DefaultLoRAAlpha
	}
	if len(l.Targets) == 0 && l.TargetRegex == "" {
		l.Targets = DefaultLoRATargets()
	}
	return l
}

// Scaling is the factor applied to lora_B(lora_A(x)).
func (l LoRA) Scaling() float64 {
	if l.RSLoRA {
		return l.Alpha / math.Sqrt(float64(l.R))
	}
	return l.Alpha / float64(l.R)
}

// Validate names the first bad field (after WithDefaults).
func (l LoRA) Validate() error {
	switch {
	case l.R < 1:
		return fmt.Errorf("lora: r must be positive, got %d", l.R)
	case l.R > 4096:
		return fmt.Errorf("lora: r %d is larger than any layer of a BERT (at most 4096)", l.R)
	case l.Alpha <= 0 || math.IsNaN(l.Alpha) || math.IsInf(l.Alpha, 0):
		return fmt.Errorf("lora: lora_alpha must be a positive number, got %g", l.Alpha)
	case l.Dropout < 0 || l.Dropout >= 1 || math.IsNaN(l.Dropout):
		return fmt.Errorf("lora: lora_dropout must be in [0, 1), got %g", l.Dropout)
	}
	if l.TargetRegex != "" {
		if _, err := regexp.Compile(l.TargetRegex); err != nil {
			return fmt.Errorf("lora: target_modules %q is not a valid regular expression: %v", l.TargetRegex, err)
		}
	}
	for _, t := range l.Targets {
		if strings.TrimSpace(t) == "" {
			return fmt.Errorf("lora: target_modules has an empty entry")
		}
	}
	return nil
}

// LoRA sites inside an encoder layer, in module order.
const (
	siteQuery = iota
	siteKey
	siteValue
	siteAttnOut
	siteInter
	siteOut
	numSites
)

var siteNames = [numSites]string{"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
	"intermediate.dense", "output.dense"}

// PoolerModule is the pooler's Linear layer, a possible LoRA target.
const PoolerModule = "bert.pooler.dense"

// Embedding tables of BERT that LoRA can target, in module order.
const (
	embWord = iota
	embPosition
	embTokenType
	numEmbeddings
)

var embeddingNames = [numEmbeddings]string{"bert.embeddings.word_embeddings", "bert.embeddings.position_embeddings",
	"bert.embeddings.token_type_embeddings"}

// LoRATarget is one Linear layer or Embedding table an adapter updates.
type LoRATarget struct {
	// Module is the HF module name, e.g. "bert.encoder.layer.0.attention.self.query".
	Module string
	// In and Out are the layer's input and output sizes (for an Embedding, its rows and its width): lora_A is
	// [R, In], lora_B [Out, R].
	In, Out int64
	// Embedding marks an Embedding table (peft's lora_embedding_A/B, no dropout) rather than a Linear layer.
	Embedding bool
	// layer is the encoder layer (-1 for the pooler and the embeddings) and site its position in the layer, or in
	// the embeddings.
	layer, site int
}

// NameA and NameB are the names of the target's two LoRA tensors, as peft saves them (less the
// "base_model.model." prefix): MODULE.lora_A.weight and MODULE.lora_B.weight, or for an Embedding
// MODULE.lora_embedding_A and MODULE.lora_embedding_B (parameters, not modules: no ".weight").
func (t LoRATarget) NameA() string {
	if t.Embedding {
		return t.Module + ".lora_embedding_A"
	}
	return t.Module + ".lora_A.weight"
}

// NameB: see NameA.
func (t LoRATarget) NameB() string {
	if t.Embedding {
		return t.Module + ".lora_embedding_B"
	}
	return t.Module + ".lora_B.weight"
}

// EmbeddingModules lists cfg's Embedding tables that LoRA can target, in module order.
func EmbeddingModules(cfg Config) []LoRATarget {
	rows := [numEmbeddings]int{cfg.VocabSize, cfg.MaxPositionEmbeddings, cfg.TypeVocabSize}
	out := make([]LoRATarget, numEmbeddings)
	for i, n := range embeddingNames {
		out[i] = LoRATarget{Module: n, In: int64(rows[i]), Out: int64(cfg.HiddenSize), Embedding: true, layer: -1, site: i}
	}
	return out
}

// LinearModules lists the Linear layers of cfg's encoder and pooler that LoRA can target, in module order.
func LinearModules(cfg Config) []LoRATarget {
	h, inter := int64(cfg.HiddenSize), int64(cfg.IntermediateSize)
	var out []LoRATarget
	for i := range cfg.NumHiddenLayers {
		for s, n := range siteNames {
			in, o := h, h
			switch s {
			case siteInter:
				o = inter
			case siteOut:
				in = inter
			}
			out = append(out, LoRATarget{Module: fmt.Sprintf("bert.encoder.layer.%d.%s", i, n), In: in, Out: o, layer: i, site: s})
		}
	}
	return append(out, LoRATarget{Module: PoolerModule, In: h, Out: h, layer: -1})
}

// LoRAParams lists the trainable parameters of an adapter with l's shape on cfg with numLabels classes: lora_A and
// lora_B of every target, then the saved modules (pooler, classifier), named as peft names them in an adapter file
// less its "base_model.model." prefix (LoRATarget.NameA, NameB). Decay follows the trainer's rule (none on biases).
//
// # Errors
//
// Targets that match no Linear layer or Embedding table, or modules to save whet cannot hold per adapter, naming
// the entry.
func LoRAParams(cfg Config, l LoRA, numLabels int) ([]LoRATarget, []Param, error) {
	targets, savePooler, err := l.Resolve(cfg)
	if err != nil {
		return nil, nil, err
	}
	r := int64(l.R)
	var ps []Param
	for _, t := range targets {
		a, b := Param{Name: t.NameA(), Shape: []int64{r, t.In}, Decay: true}, Param{Name: t.NameB(), Shape: []int64{t.Out, r}, Decay: true}
		if t.Embedding {
			a.Init = InitZeros
		} else {
			b.Init = InitZeros
		}
		ps = append(ps, a, b)
	}
	for _, p := range Params(cfg, HeadClassifier, numLabels) {
		if (savePooler && strings.HasPrefix(p.Name, "bert.pooler.")) || p.Head == HeadClassifier {
			ps = append(ps, p)
		}
	}
	return targets, ps, nil
}

// Resolve returns the Embedding tables and Linear layers l targets, in module order, and whether the pooler is saved
// whole.
func (l LoRA) Resolve(cfg Config) ([]LoRATarget, bool, error) {
	var re *regexp.Regexp
	if l.TargetRegex != "" {
		var err error
		if re, err = regexp.Compile(`^(?:` + l.TargetRegex + `)$`); err != nil {
			return nil, false, fmt.Errorf("lora: target_modules %q: %v", l.TargetRegex, err)
		}
	}
	all := append(EmbeddingModules(cfg), LinearModules(cfg)...)
	var targets []LoRATarget
	used := map[string]bool{}
	for _, t := range all {
		hit := false
		if re != nil {
			hit = re.MatchString(t.Module)
		} else {
			for _, name := range l.Targets {
				if t.Module == name || strings.HasSuffix(t.Module, "."+name) {
					hit, used[name] = true, true
				}
			}
		}
		if hit {
			targets = append(targets, t)
		}
	}
	if re == nil {
		for _, name := range l.Targets {
			if !used[name] {
				return nil, false, fmt.Errorf("lora: target module %q matches no Linear layer or Embedding of BERT (use query, key, value, dense, "+
					"attention.output.dense, intermediate.dense, output.dense, word_embeddings, position_embeddings, "+
					"token_type_embeddings or a full name like %s)", name, all[numEmbeddings].Module)
			}
		}
	}
	if len(targets) == 0 {
		return nil, false, fmt.Errorf("lora: target_modules %q matches no Linear layer or Embedding of BERT (names look like %s)", l.TargetRegex, all[numEmbeddings].Module)
	}
	savePooler := false
	for _, m := range l.ModulesToSave {
		switch {
		case m == "classifier" || m == "score":
		case m == "pooler" || m == "bert.pooler" || m == "pooler.dense" || m == PoolerModule:
			savePooler = true
		default:
			return nil, false, fmt.Errorf("lora: modules_to_save %q: whet saves the classifier and, when asked, the pooler (\"pooler\")", m)
		}
	}
	if savePooler && targets[len(targets)-1].Module == PoolerModule {
		return nil, false, fmt.Errorf("lora: the pooler is both a LoRA target and a module to save; choose one")
	}
	return targets, savePooler, nil
}
