#ifndef __TORCH_API_H__
#define __TORCH_API_H__
#include <stdint.h>

#ifdef __cplusplus
thread_local char *torch_last_err = nullptr;

extern "C" {
typedef torch::Tensor *tensor;
typedef torch::Scalar *scalar;
#define PROTECT(x)                                                             \
  try {                                                                        \
    x                                                                          \
  } catch (const exception &e) {                                               \
    torch_last_err = strdup(e.what());                                         \
  }
#else
typedef void *tensor;
typedef void *optimizer;
typedef void *scalar;
typedef void *module;
typedef void *ivalue;
#endif

char *get_and_reset_last_err(); // thread-local
void at_manual_seed(int64_t);
tensor at_new_tensor();
tensor at_tensor_of_data(void *vs, int64_t *dims, size_t ndims,
                         size_t element_size_in_bytes, int type);
void at_copy_data(tensor tensor, void *vs, size_t numel,
                  size_t element_size_in_bytes);
tensor at_shallow_clone(tensor);

void *at_data_ptr(tensor);
int at_defined(tensor);
int at_device(tensor);
size_t at_dim(tensor);
void at_shape(tensor, int64_t *);
int at_scalar_type(tensor);

void at_backward(tensor, int, int);
int at_requires_grad(tensor);
int at_grad_set_enabled(int);

tensor at_get(tensor, int index);

double at_double_value_at_indexes(tensor, int64_t *indexes, int indexes_len);
int64_t at_int64_value_at_indexes(tensor, int64_t *indexes, int indexes_len);

void at_copy_(tensor dst, tensor src);

tensor at_load(char *filename);

void at_free(tensor);

// NOTE. switch back as param group #261 not updated yet.
// Backward compat

// TT. APIs for learning rate scheduler

// TT. added option pad value. Original generated API `atg_constant_pad_nd` no option of adding pad value.

scalar ats_int(int64_t);
scalar ats_float(double);
int64_t ats_to_int(scalar);
double ats_to_float(scalar);
char *ats_to_string(scalar);
void ats_free(scalar);

int atc_cuda_device_count();
int atc_cuda_is_available();
int atc_cudnn_is_available();
void atc_set_benchmark_cudnn(int b);

#include "torch_api_generated.h"

#ifdef __cplusplus
}; // extern "C"
#endif

#endif
