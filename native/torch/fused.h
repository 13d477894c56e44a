#ifndef WHET_FUSED_H
#define WHET_FUSED_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
// Every void* is a torch::Tensor* (gotch's handle). Functions with err return 0, or -1 with *err a malloc'd message
// the caller frees (guard.h).
// Sets the AdamW code path (2 AVX2, 1 SSE, 0 scalar; never above what the CPU has) and returns the previous one.
int whet_adamw_path(int path);
int whet_grad_sum_squares(void **params, int n, double *out, char **err);
int whet_adamw_init(void **params, int n, void **m, void **v, char **err);
int whet_adamw_step(void **params, void **m, void **v, const double *weight_decay, int n, int64_t step, double lr,
                    double beta1, double beta2, double eps, double grad_scale, char **err);
// AdamW with clipping at max_norm (0: off) of gradients scaled by loss_scale, all on the parameters' device; with
// skip_nonfinite an inf/NaN gradient skips the update and sets *skipped. For parameters off the CPU (CUDA).
int whet_adamw_step_device(void **params, void **m, void **v, const double *weight_decay, int n, int64_t step,
                           double lr, double beta1, double beta2, double eps, double max_norm, double loss_scale,
                           int skip_nonfinite, int *skipped, char **err);
int whet_grad_reset(void **params, int n, char **err);
int whet_dropout(void *x, double p, void **out, char **err);
#ifdef __cplusplus
}
#endif
#endif
