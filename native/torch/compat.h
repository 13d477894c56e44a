// compat.h: every difference between the libtorch releases whet's C++ layer builds against, one line each, saying
// which releases need it. The layer is gotch's C API trimmed to the ops whet calls (third_party/gotch/libtch) plus
// whet's kernels (native/torch/*.cpp); both include this header first (gotch's through -include in its cgo flags).
//
// Built and tested: Debian 12's libtorch 1.13.1 (CPU), Debian 13's libtorch 2.6.0 (CPU). Written for: pip torch 2.x
// with CUDA (scripts/gpu-check.sh builds the layer there). The Makefile puts this header's hash into the cgo flags
// (-DCOMPAT_REV=...) because Go's build cache does not hash headers outside a package's folder.
#ifndef WHET_COMPAT_H
#define WHET_COMPAT_H
#ifdef __cplusplus

#include <torch/version.h>

#define WHET_TORCH_AT_LEAST(major, minor)                                                                              \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

#if !WHET_TORCH_AT_LEAST(1, 13)
#error "whet's C++ layer builds against libtorch 1.13 or 2.x; this libtorch is older"
#endif

#include <ATen/autocast_mode.h>

// at::_fused_adamw_ (AdamW over a list of tensors in one kernel): CUDA from 2.0, the CPU from 2.4; 1.13 has neither.
#define WHET_FUSED_ADAMW_CUDA WHET_TORCH_AT_LEAST(2, 0)
#define WHET_FUSED_ADAMW_CPU WHET_TORCH_AT_LEAST(2, 4)

namespace whet_compat {

// set_autocast turns autocast on or off for one device type on the calling thread, with the given lower precision.
inline void set_autocast(at::DeviceType device, bool enabled, at::ScalarType dtype) {
#if WHET_TORCH_AT_LEAST(2, 4)
  // 2.4 and later: one setter per concern, taking the device type (the per-device setters are deprecated).
  at::autocast::set_autocast_enabled(device, enabled);
  at::autocast::set_autocast_dtype(device, dtype);
#else
  // 1.13 - 2.3: separate setters for CUDA and the CPU.
  if (device == at::kCUDA) {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
#endif
}

} // namespace whet_compat

#endif // __cplusplus
#endif // WHET_COMPAT_H
