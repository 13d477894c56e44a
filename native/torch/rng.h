#ifndef WHET_RNG_H
#define WHET_RNG_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
// Functions with err return 0, or -1 with *err a malloc'd message the caller frees (guard.h). device -1 is the CPU
// generator, i >= 0 CUDA device i's.
// The number of CUDA devices (0 on a CPU-only libtorch, without a GPU, or when libtorch cannot tell).
int whet_rng_cuda_count(void);
// Copies the generator's state into buf when it fits in cap bytes; *len is always set to the state's size.
int whet_rng_get(int device, uint8_t *buf, int64_t cap, int64_t *len, char **err);
int whet_rng_set(int device, const uint8_t *buf, int64_t len, char **err);
#ifdef __cplusplus
}
#endif
#endif
