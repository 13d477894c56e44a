// Package modeldir checks HuggingFace model folders (config.json plus model.safetensors or pytorch_model.bin) and
// LoRA adapter folders, reads the facts every runner of a folder needs (Runtime), and extracts uploaded model archives
// safely: no "..", no absolute paths, no links, no device files, a size cap.
//
// It is pure Go and imports nothing of whet's: the server uses it for POST /v1/models and for the folders its
// training jobs produce, without loading weights (that is the native worker's job).
//
//	info, err := modeldir.Inspect(dir)                      // info.Labels from config.json id2label
//	rt, err := modeldir.ReadRuntime(dir)                    // how to run it: max length, tokenizer, module, labels
//	root, err := modeldir.Extract(r, staging, 4<<30)        // root: the folder holding config.json
package modeldir
