#ifndef WHET_COPY_H
#define WHET_COPY_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
// whet_to_device copies nbytes at data into a new tensor (shape, ndim, at::ScalarType dtype) on CUDA device
// device_index, through pinned host memory and a non-blocking copy; *out gets the tensor. Returns 0, or -1 with
// *err a malloc'd message the caller frees (guard.h).
int whet_to_device(const void *data, int64_t nbytes, const int64_t *shape, int ndim, int dtype, int device_index,
                   void **out, char **err);
#ifdef __cplusplus
}
#endif
#endif
