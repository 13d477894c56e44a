// compat.h adapts gotch v0.7.0's generated C++ (written for libtorch 1.11) to Debian's libtorch 1.13.1.
//
// The Makefile force-includes this header into every cgo C++ compile (-include) and puts its hash into the flags
// (-DCOMPAT_REV=...), because Go's build cache does not hash force-included headers. It acts only on gotch's
// translation unit: only gotch's -I${SRCDIR} makes torch_api_generated.cpp.h reachable.
//
// Three kinds of fix, one per op that no longer compiles:
//   - an op removed in 1.13 gets a torch::X that maps to its modern replacement;
//   - an op whose call no longer matches gets `using at::X;` (a declaration of torch::X alone would hide every
//     at::X overload from qualified lookup) plus one exact overload;
//   - a few removed ops with no modern equivalent, which whet never calls, throw a clear std::runtime_error.
#if defined(__cplusplus) && __has_include("torch_api_generated.cpp.h")
#pragma once

#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <torch/torch.h>
#include <torch/version.h>

#if TORCH_VERSION_MAJOR == 1 && TORCH_VERSION_MINOR == 11
#define WHET_COMPAT_NOT_NEEDED 1 // gotch v0.7.0 was generated for 1.11: nothing to adapt
#elif TORCH_VERSION_MAJOR != 1 || TORCH_VERSION_MINOR != 13
#error "whet builds gotch v0.7.0 against libtorch 1.11 (as is) or 1.13 (with compat.h); this libtorch is neither"
#endif
#ifndef WHET_COMPAT_NOT_NEEDED

namespace whet_compat {

[[noreturn]] inline void removed(const char *op) {
  throw std::runtime_error(std::string(op) +
                           " was removed in libtorch 1.13 and has no equivalent; whet does not support it");
}

// vjp computes the gradient of f at input, contracted with grad_output, through autograd. It replaces the explicit
// *_backward kernels that libtorch 1.13 no longer exports.
template <class F>
at::Tensor vjp(const at::Tensor &grad_output, const at::Tensor &input, F f) {
  at::AutoGradMode enable(true);
  auto x = input.detach().requires_grad_(true);
  auto y = f(x);
  return torch::autograd::grad({y}, {x}, {grad_output})[0];
}

inline at::Tensor &write(at::Tensor &out, const at::Tensor &value) {
  out.resize_(value.sizes());
  out.copy_(value);
  return out;
}

inline c10::optional<at::Tensor> opt(const at::Tensor &t) {
  return t.defined() ? c10::optional<at::Tensor>(t) : c10::nullopt;
}

inline std::tuple<at::Tensor, at::Tensor> solve(const at::Tensor &self, const at::Tensor &A) {
  auto f = at::linalg_lu_factor(A);
  auto solution = at::linalg_lu_solve(std::get<0>(f), std::get<1>(f), self);
  return std::make_tuple(solution, std::get<0>(f));
}

} // namespace whet_compat

namespace torch {

// Removed ops with a modern replacement.
inline at::Tensor _cat(at::TensorList tensors, int64_t dim) { return at::cat(tensors, dim); }
inline at::Tensor &_cat_out(at::Tensor &out, at::TensorList tensors, int64_t dim) {
  return at::cat_out(out, tensors, dim);
}
inline std::tuple<at::Tensor, at::Tensor, at::Tensor> _det_lu_based_helper(const at::Tensor &self) {
  return at::_linalg_det(self);
}
inline std::tuple<at::Tensor, at::Tensor> _linalg_qr_helper(const at::Tensor &self, const std::string &mode) {
  return at::linalg_qr(self, mode);
}
inline at::Tensor _s_where(const at::Tensor &condition, const at::Tensor &self, const at::Tensor &other) {
  return at::where(condition, self, other);
}
inline std::tuple<at::Tensor, at::Tensor> _solve_helper(const at::Tensor &self, const at::Tensor &A) {
  return whet_compat::solve(self, A);
}
inline std::tuple<at::Tensor, at::Tensor> solve(const at::Tensor &self, const at::Tensor &A) {
  return whet_compat::solve(self, A);
}
inline std::tuple<at::Tensor, at::Tensor> solve_out(at::Tensor &solution, at::Tensor &lu, const at::Tensor &self,
                                                    const at::Tensor &A) {
  auto r = whet_compat::solve(self, A);
  whet_compat::write(solution, std::get<0>(r));
  whet_compat::write(lu, std::get<1>(r));
  return std::make_tuple(solution, lu);
}
inline std::tuple<at::Tensor, at::Tensor> _weight_norm_cuda_interface(const at::Tensor &v, const at::Tensor &g,
                                                                      int64_t dim) {
  return at::_weight_norm_interface(v, g, dim);
}
inline std::tuple<at::Tensor, at::Tensor> _weight_norm_cuda_interface_backward(const at::Tensor &grad_w,
                                                                               const at::Tensor &saved_v,
                                                                               const at::Tensor &saved_g,
                                                                               const at::Tensor &saved_norms,
                                                                               int64_t dim) {
  return at::_weight_norm_interface_backward(grad_w, saved_v, saved_g, saved_norms, dim);
}
inline at::Tensor col2im_backward(const at::Tensor &grad_output, at::IntArrayRef kernel_size,
                                  at::IntArrayRef dilation, at::IntArrayRef padding, at::IntArrayRef stride) {
  return at::im2col(grad_output, kernel_size, dilation, padding, stride);
}
inline at::Tensor &col2im_backward_out(at::Tensor &grad_input, const at::Tensor &grad_output,
                                       at::IntArrayRef kernel_size, at::IntArrayRef dilation,
                                       at::IntArrayRef padding, at::IntArrayRef stride) {
  return at::im2col_out(grad_input, grad_output, kernel_size, dilation, padding, stride);
}
inline at::Tensor im2col_backward(const at::Tensor &grad_output, at::IntArrayRef input_size,
                                  at::IntArrayRef kernel_size, at::IntArrayRef dilation, at::IntArrayRef padding,
                                  at::IntArrayRef stride) {
  return at::col2im(grad_output, input_size, kernel_size, dilation, padding, stride);
}
inline at::Tensor &im2col_backward_out(at::Tensor &grad_input, const at::Tensor &grad_output,
                                       at::IntArrayRef input_size, at::IntArrayRef kernel_size,
                                       at::IntArrayRef dilation, at::IntArrayRef padding, at::IntArrayRef stride) {
  return at::col2im_out(grad_input, grad_output, input_size, kernel_size, dilation, padding, stride);
}
inline at::Tensor matrix_rank(const at::Tensor &self, bool symmetric) {
  return at::linalg_matrix_rank(self, c10::optional<double>(), c10::optional<double>(), symmetric);
}
inline at::Tensor matrix_rank(const at::Tensor &self, double tol, bool symmetric) {
  return at::linalg_matrix_rank(self, tol, symmetric);
}

// Removed *_backward kernels, computed through autograd.
inline at::Tensor binary_cross_entropy_with_logits_backward(const at::Tensor &grad_output, const at::Tensor &self,
                                                            const at::Tensor &target, const at::Tensor &weight,
                                                            const at::Tensor &pos_weight, int64_t reduction) {
  return whet_compat::vjp(grad_output, self, [&](const at::Tensor &x) {
    return at::binary_cross_entropy_with_logits(x, target, whet_compat::opt(weight), whet_compat::opt(pos_weight),
                                                reduction);
  });
}
inline at::Tensor kl_div_backward(const at::Tensor &grad_output, const at::Tensor &self, const at::Tensor &target,
                                  int64_t reduction, bool log_target) {
  return whet_compat::vjp(grad_output, self,
                          [&](const at::Tensor &x) { return at::kl_div(x, target, reduction, log_target); });
}
inline at::Tensor l1_loss_backward(const at::Tensor &grad_output, const at::Tensor &self, const at::Tensor &target,
                                   int64_t reduction) {
  return whet_compat::vjp(grad_output, self,
                          [&](const at::Tensor &x) { return at::l1_loss(x, target, reduction); });
}
inline at::Tensor &l1_loss_backward_out(at::Tensor &grad_input, const at::Tensor &grad_output,
                                        const at::Tensor &self, const at::Tensor &target, int64_t reduction) {
  return whet_compat::write(grad_input, l1_loss_backward(grad_output, self, target, reduction));
}
inline at::Tensor &l1_loss_out(at::Tensor &out, const at::Tensor &self, const at::Tensor &target,
                               int64_t reduction) {
  return whet_compat::write(out, at::l1_loss(self, target, reduction));
}
inline at::Tensor max_unpool2d_backward(const at::Tensor &grad_output, const at::Tensor &self,
                                        const at::Tensor &indices, at::IntArrayRef output_size) {
  return whet_compat::vjp(grad_output, self,
                          [&](const at::Tensor &x) { return at::max_unpool2d(x, indices, output_size); });
}
inline at::Tensor &max_unpool2d_backward_out(at::Tensor &grad_input, const at::Tensor &grad_output,
                                             const at::Tensor &self, const at::Tensor &indices,
                                             at::IntArrayRef output_size) {
  return whet_compat::write(grad_input, max_unpool2d_backward(grad_output, self, indices, output_size));
}
inline at::Tensor max_unpool3d_backward(const at::Tensor &grad_output, const at::Tensor &self,
                                        const at::Tensor &indices, at::IntArrayRef output_size,
                                        at::IntArrayRef stride, at::IntArrayRef padding) {
  return whet_compat::vjp(grad_output, self, [&](const at::Tensor &x) {
    return at::max_unpool3d(x, indices, output_size, stride, padding);
  });
}
inline at::Tensor &max_unpool3d_backward_out(at::Tensor &grad_input, const at::Tensor &grad_output,
                                             const at::Tensor &self, const at::Tensor &indices,
                                             at::IntArrayRef output_size, at::IntArrayRef stride,
                                             at::IntArrayRef padding) {
  return whet_compat::write(grad_input,
                            max_unpool3d_backward(grad_output, self, indices, output_size, stride, padding));
}

// Removed ops with no equivalent.
inline at::Tensor _det_lu_based_helper_backward_helper(const at::Tensor &, const at::Tensor &, const at::Tensor &,
                                                       const at::Tensor &, const at::Tensor &) {
  whet_compat::removed("_det_lu_based_helper_backward_helper");
}
inline at::Tensor _linalg_inv_out_helper_(at::Tensor &, at::Tensor &, at::Tensor &) {
  whet_compat::removed("_linalg_inv_out_helper_");
}
inline std::tuple<at::Tensor, at::Tensor> eig(const at::Tensor &, bool) { whet_compat::removed("eig"); }
inline std::tuple<at::Tensor, at::Tensor> eig_out(at::Tensor &, at::Tensor &, const at::Tensor &, bool) {
  whet_compat::removed("eig_out");
}
inline std::tuple<at::Tensor, at::Tensor> lstsq(const at::Tensor &, const at::Tensor &) {
  whet_compat::removed("lstsq");
}
inline std::tuple<at::Tensor, at::Tensor> lstsq_out(at::Tensor &, at::Tensor &, const at::Tensor &,
                                                    const at::Tensor &) {
  whet_compat::removed("lstsq_out");
}

// Ops whose signature changed: keep every at:: overload visible and add the one gotch calls.
using at::arange_out;
inline at::Tensor &arange_out(at::Tensor &out, const at::Scalar &start, const at::Scalar &end) {
  return at::arange_out(out, start, end, 1);
}
using at::bernoulli_out;
inline at::Tensor &bernoulli_out(at::Tensor &out, at::Tensor &self) {
  return at::bernoulli_out(out, self, c10::optional<at::Generator>());
}
using at::normal_out;
inline at::Tensor &normal_out(at::Tensor &out, at::Tensor &mean, double &std) {
  return at::normal_out(out, mean, std, c10::optional<at::Generator>());
}
using at::nansum;
inline at::Tensor nansum(const at::Tensor &self, at::ScalarType dtype) {
  return at::nansum(self, at::OptionalIntArrayRef(), false, dtype);
}
using at::grid_sampler_3d_backward;
inline std::tuple<at::Tensor, at::Tensor> grid_sampler_3d_backward(const at::Tensor &grad_output,
                                                                  const at::Tensor &input, const at::Tensor &grid,
                                                                  int64_t interpolation_mode, int64_t padding_mode,
                                                                  bool align_corners) {
  return at::grid_sampler_3d_backward(grad_output, input, grid, interpolation_mode, padding_mode, align_corners,
                                      {true, true});
}
using at::segment_reduce;
inline at::Tensor segment_reduce(const at::Tensor &data, const std::string &reduce, const at::Tensor &lengths,
                                 const at::Tensor &indices, int64_t axis, bool unsafe, const at::Scalar &initial) {
  return at::segment_reduce(data, reduce, whet_compat::opt(lengths), whet_compat::opt(indices), c10::nullopt, axis,
                            unsafe, initial);
}
using at::_segment_reduce_backward;
inline at::Tensor _segment_reduce_backward(const at::Tensor &grad, const at::Tensor &output, const at::Tensor &data,
                                           const std::string &reduce, const at::Tensor &lengths, int64_t axis) {
  return at::_segment_reduce_backward(grad, output, data, reduce, whet_compat::opt(lengths), c10::nullopt, axis);
}

} // namespace torch
#endif // WHET_COMPAT_NOT_NEEDED
#endif
