// Package checkpoint reads and writes HuggingFace model folders: config.json, vocab.txt, tokenizer_config.json and
// the weights, as model.safetensors (its own reader and writer: 8-byte little-endian header length, JSON header, raw
// little-endian data; F32, F16, BF16 and F64 read, F32 written) or pytorch_model.bin (read through gotch's pickle
// loader, cgo builds only).
//
// Weights live in Go memory as float32 (Tensor); native/bert turns them into libtorch tensors. Only pytorch.go
// touches gotch. The package may import native/bert's pure-Go config and parameter list, nothing above native/.
//
// Names are canonicalized on read: legacy LayerNorm.gamma/beta become weight/bias, and a bare BertModel's names get
// the "bert." prefix. Folder.Match pairs a folder's weights with a model's parameters, reporting missing and
// unexpected weights by name, creating a fresh classifier when the label set changed, and failing with *ShapeError
// when config.json and the weights disagree.
//
// Writes are atomic (WriteFolder, through internal/atomicfile).
//
//	f, err := checkpoint.ReadFolder("models/base")
//	if err != nil {
//		return err // e.g. weights[models/base/model.safetensors]: corrupt safetensors: ...
//	}
//	values, report, err := f.Match(f.Config, bert.HeadClassifier, 2)
package checkpoint
