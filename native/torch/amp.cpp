//go:build !whet_layer

// Mixed precision: libtorch's autocast, switched per thread (whet runs a model on one locked OS thread).
#include <ATen/autocast_mode.h>

#include <dlfcn.h>

#include "amp.h"
#include "guard.h"

extern "C" {

int whet_cuda_bf16(int device) {
  // The CUDA runtime libtorch_cuda loaded (a CPU libtorch has none: then this is never asked). Looked up at run time
  // so the layer builds and links the same against CPU and CUDA libtorch. 75: cudaDevAttrComputeCapabilityMajor.
  using get_attribute = int (*)(int *value, int attr, int device);
  auto get = reinterpret_cast<get_attribute>(dlsym(RTLD_DEFAULT, "cudaDeviceGetAttribute"));
  int major = 0;
  if (get == nullptr || get(&major, 75, device) != 0) {
    return 1; // cannot tell: bf16 runs everywhere CUDA 11+ does, emulated before Ampere
  }
  return major >= 8;
}

int whet_autocast(int cuda, int dtype, char **err) {
  return whet::guard(err, [&] {
    const at::DeviceType device = cuda ? at::kCUDA : at::kCPU;
    if (dtype == 0) {
      whet_compat::set_autocast(device, false, cuda ? at::kHalf : at::kBFloat16);
      at::autocast::clear_cache(); // the lower-precision copies of the weights made while it was on
      return;
    }
    whet_compat::set_autocast(device, true, static_cast<at::ScalarType>(dtype));
  });
}
}
