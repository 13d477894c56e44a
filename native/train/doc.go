// Package train fine-tunes BERT sequence classifiers (Run) and continues masked-language-model pretraining
// (Pretrain) on libtorch through native/bert.
//
// It takes rows that are already tokenized (the CLI tokenizes through host/sandbox, so the server and the CLI share
// one path) and writes HuggingFace model folders through native/checkpoint. It may import native/*, dataset and
// wasm/metrics, nothing from host/.
//
// # Fine-tuning
//
// AdamW (libtorch's C++ optimizer, as two optimizers: weight decay on weights, none on biases and LayerNorm
// weights), linear warmup then linear decay, global-norm gradient clipping, gradient accumulation, optional class
// weights ("auto": n/(k*count)), length-bucketed batches padded per batch to their longest row, evaluation after each
// epoch (metrics document of docs/contracts.md), the best checkpoint kept by a chosen metric, early stopping, and
// cancellation through ctx between steps (a checkpoint is written). The same seed, data and thread count give the
// same losses.
//
// # Checkpoints
//
// <out>/checkpoints/checkpoint-<step>/ is a full HF folder plus trainer_state.json. Only the best and the last are
// kept; the best is copied to <out> at the end.
//
//	res, err := train.Run(ctx, train.Config{ModelDir: "base", OutDir: "out", Train: rows, Validation: dev,
//		Epochs: 1, BatchSize: 32, LearningRate: 5e-4, Progress: func(e protocol.Event) { ... }})
package train
