//go:build !whet_layer

// Host-to-GPU batch copies: staged in pinned (page-locked) host memory so that the copy to the device is an
// asynchronous DMA on the current stream, ordered before the kernels that read it, and the host goes on preparing
// the next batch instead of waiting. libtorch's caching host allocator keeps the pinned block until the copy is
// done, so the staging tensor can be dropped at once.
#include <ATen/ATen.h>

#include <cstring>

#include "copy.h"
#include "guard.h"

extern "C" {

int whet_to_device(const void *data, int64_t nbytes, const int64_t *shape, int ndim, int dtype, int device_index,
                   void **out, char **err) {
  return whet::guard(err, [&] {
    const auto type = static_cast<at::ScalarType>(dtype);
    at::Tensor host = at::empty(at::IntArrayRef(shape, ndim), at::TensorOptions().dtype(type).pinned_memory(true));
    TORCH_CHECK(host.nbytes() == (size_t)nbytes, "whet_to_device: ", nbytes, " bytes for a tensor of ", host.nbytes());
    if (nbytes > 0) {
      std::memcpy(host.data_ptr(), data, nbytes);
    }
    *out = new at::Tensor(host.to(at::Device(at::kCUDA, (c10::DeviceIndex)device_index), /*non_blocking=*/true));
  });
}
}
