// Package onnx exports a whet (HuggingFace BERT) sequence classifier as ONNX, in pure Go: no libtorch, no Python.
//
// The graph is BertForSequenceClassification at inference (inputs input_ids, attention_mask and token_type_ids,
// int64 [batch_size, sequence_length], both axes dynamic; output logits, float32 [batch_size, labels]), opset 17:
// Gather embeddings, LayerNormalization, the attention mask added as HF adds it ((1 - mask) * finfo.min), the
// model's hidden_act (erf GELU, tanh GELU or ReLU), the tanh pooler on the first token and the classifier. It is
// written with hand-encoded protobuf (protowire) against onnx.proto's field numbers.
//
// The int8 variant quantizes dynamically as onnxruntime's quantize_dynamic does, but with uint8 weights per output
// channel: DynamicQuantizeLinear on the activations, MatMulInteger, a float rescale. The word embedding is stored
// 8-bit per row and dequantized after the Gather. LayerNorms, position and type embeddings and the classifier stay
// float32.
//
// Export writes transformers.js's folder layout (config.json, tokenizer files, onnx/model.onnx,
// onnx/model_quantized.onnx) so the folder loads in transformers.js, onnxruntime (node, web, python) or any ONNX
// runtime.
//
//	res, err := onnx.Export(ctx, "models/spam", "export/spam", onnx.Options{Quantize: onnx.QuantizeInt8})
package onnx
