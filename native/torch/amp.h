#ifndef WHET_AMP_H
#define WHET_AMP_H
#ifdef __cplusplus
extern "C" {
#endif
// whet_autocast turns autocast on for the calling thread, for CUDA (cuda != 0) or the CPU, casting to dtype
// (libtorch's ScalarType: 5 float16, 15 bfloat16), or off (dtype 0), which also drops its cache of cast weights.
// Returns 0, or -1 with *err a malloc'd message the caller frees (guard.h).
int whet_autocast(int cuda, int dtype, char **err);
// whet_cuda_bf16 reports whether CUDA device has native bfloat16 (compute capability >= 8.0); 1 when it cannot tell.
int whet_cuda_bf16(int device);
#ifdef __cplusplus
}
#endif
#endif
