//go:build !whet_layer

// Get and set libtorch's default generators' states (torch.get_rng_state / torch.cuda.get_rng_state), so that a
// resumed training run draws the same dropout masks as the run that was not stopped.

#include <ATen/ATen.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include <cstring>
#include <mutex>

#include "guard.h"
#include "rng.h"

namespace {

at::Generator generator(int device) {
  if (device < 0) {
    return at::detail::getDefaultCPUGenerator();
  }
  // Context::defaultGenerator is the same call in libtorch 1.13 and 2.x (the CUDA hooks' own name changed).
  return at::globalContext().defaultGenerator(at::Device(at::kCUDA, (c10::DeviceIndex)device));
}

} // namespace

extern "C" {

int whet_rng_cuda_count(void) {
  int n = 0;
  // A libtorch that cannot count its GPUs has none whet can use: 0, and no message (err NULL).
  if (whet::guard(nullptr, [&] { n = at::detail::getCUDAHooks().getNumGPUs(); }) != 0) {
    return 0;
  }
  return n;
}

int whet_rng_get(int device, uint8_t *buf, int64_t cap, int64_t *len, char **err) {
  return whet::guard(err, [&] {
    at::Generator gen = generator(device);
    at::Tensor state;
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      state = gen.get_state();
    }
    *len = state.numel();
    if (buf != nullptr && *len <= cap) {
      std::memcpy(buf, state.data_ptr<uint8_t>(), (size_t)*len);
    }
  });
}

int whet_rng_set(int device, const uint8_t *buf, int64_t len, char **err) {
  return whet::guard(err, [&] {
    at::Tensor state = at::empty({len}, at::TensorOptions().dtype(at::kByte));
    if (len > 0) {
      std::memcpy(state.data_ptr<uint8_t>(), buf, (size_t)len);
    }
    at::Generator gen = generator(device);
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state);
  });
}
}
