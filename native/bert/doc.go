// Package bert is a BERT encoder with its sequence-classification and masked-language-model heads, written directly
// on gotch (libtorch) tensors and configured from a HuggingFace config.json.
//
// The model follows HF BertModel exactly: word + position + token-type embeddings, LayerNorm (eps from the config),
// self-attention with an additive padding mask on the scores ((1-mask)*min_float broadcast over [B,1,1,T]), exact
// erf GELU, feed-forward, a tanh pooler over [CLS], and dropout only in training. Parameters carry their HF names
// (Params lists them), so checkpoints map one to one.
//
// Pure-Go parts (Config, Params, CanonicalName) build without cgo; the Model needs cgo and libtorch.
//
// # Memory
//
// gotch v0.7.0 has no finalizers: every tensor handle must be dropped. The model owns its parameters (Close drops
// them); Forward drops every intermediate as soon as it is used (autograd keeps what backward needs on its own), so
// only the returned tensor is the caller's to drop.
//
// # Threads
//
// libtorch's grad mode (torch.NoGrad) is thread-local and goroutines migrate between OS threads: code that switches
// grad mode must run under runtime.LockOSThread (native/infer and native/train do).
//
//	m, err := bert.New(cfg, bert.Options{Heads: bert.HeadClassifier, NumLabels: 2, Device: gotch.CPU}, weights)
//	if err != nil {
//		return err
//	}
//	defer m.Close()
//	b, err := m.NewBatch(ids, typeIDs)
//	...
//	logits := m.Classify(b, false) // [B, labels]; caller drops
package bert
