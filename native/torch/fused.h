#ifndef WHET_FUSED_H
#define WHET_FUSED_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
// Every void* is a torch::Tensor* (gotch's handle). Functions return 0, or -1 with whet_fused_last_error set.
const char *whet_fused_last_error(void);
// Sets the AdamW code path (2 AVX2, 1 SSE, 0 scalar; never above what the CPU has) and returns the previous one.
int whet_adamw_path(int path);
int whet_grad_sum_squares(void **params, int n, double *out);
int whet_adamw_init(void **params, int n, void **m, void **v);
int whet_adamw_step(void **params, void **m, void **v, const double *weight_decay, int n, int64_t step, double lr,
                    double beta1, double beta2, double eps, double grad_scale);
// AdamW with clipping at max_norm (0: off) of gradients scaled by loss_scale, all on the parameters' device; with
// skip_nonfinite an inf/NaN gradient skips the update and sets *skipped. For parameters off the CPU (CUDA).
int whet_adamw_step_device(void **params, void **m, void **v, const double *weight_decay, int n, int64_t step,
                           double lr, double beta1, double beta2, double eps, double max_norm, double loss_scale,
                           int skip_nonfinite, int *skipped);
int whet_grad_reset(void **params, int n);
int whet_dropout(void *x, double p, void **out);
#ifdef __cplusplus
}
#endif
#endif
