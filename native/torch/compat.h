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

#endif // __cplusplus
#endif // WHET_COMPAT_H
