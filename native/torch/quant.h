#ifndef WHET_QUANT_H
#define WHET_QUANT_H
#ifdef __cplusplus
extern "C" {
#endif
// Dynamic int8 Linear layers (quantized::linear_prepack / quantized::linear_dynamic). Tensors are torch::Tensor*
// (gotch's handle); a packed layer is an opaque handle freed by whet_linear_free. Functions with err return 0, or -1
// with *err a malloc'd message the caller frees (guard.h).
// whet_quant_engine selects the quantized engine for packing (oneDNN, else FBGEMM) and writes its name into name
// (at most n bytes). Returns -1 when this libtorch has neither.
int whet_quant_engine(char *name, int n, char **err);
// whet_linear_pack quantizes weight [out, in] (float32, CPU) per output channel to symmetric qint8 and prepacks it
// with bias (may be NULL) for whet_linear_dynamic.
int whet_linear_pack(void *weight, void *bias, void **packed, char **err);
// whet_linear_dynamic computes x @ W^T + b with x quantized per call to uint8 (its own range) and W the packed int8
// weight; x is float32 [..., in] on the CPU, *out a new float32 tensor.
int whet_linear_dynamic(void *x, void *packed, void **out, char **err);
void whet_linear_free(void *packed);
#ifdef __cplusplus
}
#endif
#endif
