//go:build !whet_layer

// Fused CPU kernels for the parts of a training step that libtorch 1.13 runs as many memory-bound passes:
// AdamW with gradient clipping (torch.optim.AdamW takes ~7 passes per parameter plus 2 for clipping and 1 for
// zero_grad) and dropout (bernoulli_ draws one double per element from a serial generator, then div_ and mul).
// Each kernel here is one parallel pass. Tensors that are not contiguous float32 CPU tensors take the plain ATen
// path with the same arithmetic. Parameters on a GPU take whet_adamw_step_device: libtorch's _fused_adamw_ where
// it exists (2.x), clipping and loss scaling on the device, no read back to the host except to skip a float16 step.
// Dropout on a GPU is libtorch's (its CUDA dropout is one fused kernel).

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <mutex>
#include <utility>
#include <vector>

#include "guard.h"
#include "fused.h"

namespace {

at::Tensor &T(void *p) { return *static_cast<at::Tensor *>(p); }

bool fast(const at::Tensor &t) {
  return t.defined() && t.device().is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous();
}

// A chunk of one parameter: the unit of parallel work, so that one parallel region covers every parameter
// (each region costs a wake-up of the OpenMP workers).
struct Chunk {
  int64_t param, begin, end;
};

constexpr int64_t kChunk = 1 << 16;

std::vector<Chunk> chunks(const std::vector<int64_t> &sizes) {
  std::vector<Chunk> out;
  for (int64_t i = 0; i < (int64_t)sizes.size(); i++) {
    for (int64_t b = 0; b < sizes[i]; b += kChunk) {
      out.push_back({i, b, std::min(sizes[i], b + kChunk)});
    }
  }
  return out;
}

__attribute__((target_clones("avx512f", "avx2", "default"))) double sum_squares(const float *g, int64_t n) {
  // Pairwise-enough: float partial sums over 8 lanes, folded into a double per chunk.
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; k++) {
      acc[k] += g[i + k] * g[i + k];
    }
  }
  double s = 0;
  for (int k = 0; k < 8; k++) {
    s += acc[k];
  }
  for (; i < n; i++) {
    s += (double)g[i] * g[i];
  }
  return s;
}

struct AdamWScalars {
  float grad_scale, decay_mul, beta1, one_minus_beta1, beta2, one_minus_beta2, inv_bc2_sqrt, eps, step_size;
};

// One AdamW update of elements [i, n): torch.optim.AdamW's arithmetic, in its order, in float32.
inline void adamw_scalar(float *__restrict p, const float *__restrict g, float *__restrict m, float *__restrict v,
                         int64_t i, int64_t n, const AdamWScalars &s) {
  for (; i < n; i++) {
    float gi = g[i] * s.grad_scale;
    float mi = m[i] * s.beta1 + gi * s.one_minus_beta1;
    float vi = v[i] * s.beta2 + gi * gi * s.one_minus_beta2;
    m[i] = mi;
    v[i] = vi;
    float denom = std::sqrt(vi) * s.inv_bc2_sqrt + s.eps;
    p[i] = p[i] * s.decay_mul - s.step_size * (mi / denom);
  }
}

#if defined(__x86_64__)
// Written with intrinsics because GCC vectorizes sqrt only under -fno-math-errno, which cgo does not accept among
// #cgo flags (and the optimize attribute does not reach it). Same operations and order as adamw_scalar, no FMA, so
// every path gives the same bits.
#define WHET_ADAMW_BODY(V, W, load, store, set1, add, sub, mul, div, sqrt)                                              \
  const V gs = set1(s.grad_scale), dm = set1(s.decay_mul), b1 = set1(s.beta1), c1 = set1(s.one_minus_beta1),         \
          b2 = set1(s.beta2), c2 = set1(s.one_minus_beta2), ib = set1(s.inv_bc2_sqrt), ep = set1(s.eps),             \
          ss = set1(s.step_size);                                                                                    \
  int64_t i = 0;                                                                                                     \
  for (; i + W <= n; i += W) {                                                                                       \
    V gi = mul(load(g + i), gs);                                                                                     \
    V mi = add(mul(load(m + i), b1), mul(gi, c1));                                                                   \
    V vi = add(mul(load(v + i), b2), mul(mul(gi, gi), c2));                                                          \
    store(m + i, mi);                                                                                                \
    store(v + i, vi);                                                                                                \
    V denom = add(mul(sqrt(vi), ib), ep);                                                                            \
    store(p + i, sub(mul(load(p + i), dm), mul(ss, div(mi, denom))));                                                \
  }                                                                                                                  \
  adamw_scalar(p, g, m, v, i, n, s);

__attribute__((target("avx2"))) void adamw_avx2(float *__restrict p, const float *__restrict g, float *__restrict m,
                                                float *__restrict v, int64_t n, const AdamWScalars &s) {
  WHET_ADAMW_BODY(__m256, 8, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps, _mm256_add_ps, _mm256_sub_ps,
                  _mm256_mul_ps, _mm256_div_ps, _mm256_sqrt_ps)
}

void adamw_sse(float *__restrict p, const float *__restrict g, float *__restrict m, float *__restrict v, int64_t n,
               const AdamWScalars &s) {
  WHET_ADAMW_BODY(__m128, 4, _mm_loadu_ps, _mm_storeu_ps, _mm_set1_ps, _mm_add_ps, _mm_sub_ps, _mm_mul_ps,
                  _mm_div_ps, _mm_sqrt_ps)
}
#undef WHET_ADAMW_BODY

#endif

// The AdamW code path: 2 AVX2, 1 SSE, 0 scalar. Chosen once from the CPU; tests switch it (whet_adamw_path) to
// check that every path gives the same bits.
int adamw_path = [] {
#if defined(__x86_64__)
  __builtin_cpu_init(); // this initializer may run before libgcc's own CPU detection
  return __builtin_cpu_supports("avx2") ? 2 : 1;
#else
  return 0;
#endif
}();

void adamw_kernel(float *__restrict p, const float *__restrict g, float *__restrict m, float *__restrict v,
                  int64_t n, const AdamWScalars &s) {
#if defined(__x86_64__)
  if (adamw_path == 2) {
    adamw_avx2(p, g, m, v, n, s);
    return;
  }
  if (adamw_path == 1) {
    adamw_sse(p, g, m, v, n, s);
    return;
  }
#endif
  adamw_scalar(p, g, m, v, 0, n, s);
}

// lowbias32 (Chris Wellons' hash-prospector): a 32-bit integer hash with good avalanche; two rounds keyed by a
// 64-bit seed give each element an independent-looking draw without any generator state, so the mask can be
// produced in parallel, in any chunking, with the same result.
inline uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

// dropout_fwd handles elements [first, first+n) of the tensor; x, y and mask point at element first.
__attribute__((target_clones("avx512f", "avx2", "default"))) void dropout_fwd(const float *__restrict x,
                                                                             float *__restrict y,
                                                                             uint8_t *__restrict mask,
                                                                             uint32_t first, uint32_t n,
                                                                             uint32_t k0, uint32_t k1,
                                                                             uint32_t threshold, float scale) {
  const uint32_t base = first + k0;
  for (uint32_t j = 0; j < n; j++) {
    mask[j] = mix32(mix32(base + j) ^ k1) < threshold;
  }
  // A second loop, over the bytes just written (in cache): GCC vectorizes neither loop when they are one.
  for (uint32_t j = 0; j < n; j++) {
    y[j] = x[j] * ((float)mask[j] * scale);
  }
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void dropout_bwd(const float *__restrict g,
                                                                             const uint8_t *__restrict mask,
                                                                             float *__restrict out, int64_t n,
                                                                             float scale) {
  for (int64_t i = 0; i < n; i++) {
    out[i] = g[i] * ((float)mask[i] * scale);
  }
}

struct Dropout : public torch::autograd::Function<Dropout> {
  static at::Tensor forward(torch::autograd::AutogradContext *ctx, const at::Tensor &input, double p,
                            int64_t seed) {
    at::Tensor x = input.contiguous();
    at::Tensor y = at::empty_like(x);
    at::Tensor mask = at::empty(x.sizes(), x.options().dtype(at::kByte));
    const float scale = (float)(1.0 / (1.0 - p));
    // keep when h < (1-p) * 2^32
    const double t = std::ldexp(1.0 - p, 32);
    const uint32_t threshold = t >= 4294967295.0 ? 0xffffffffU : (uint32_t)t;
    const uint64_t s = (uint64_t)seed;
    const float *xp = x.data_ptr<float>();
    float *yp = y.data_ptr<float>();
    uint8_t *mp = mask.data_ptr<uint8_t>();
    at::parallel_for(0, x.numel(), kChunk, [&](int64_t b, int64_t e) {
      dropout_fwd(xp + b, yp + b, mp + b, (uint32_t)b, (uint32_t)(e - b), (uint32_t)s, (uint32_t)(s >> 32),
                  threshold, scale);
    });
    ctx->save_for_backward({mask});
    ctx->saved_data["scale"] = (double)scale;
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                 torch::autograd::variable_list grads) {
    at::Tensor mask = ctx->get_saved_variables()[0];
    const float scale = (float)ctx->saved_data["scale"].toDouble();
    at::Tensor g = grads[0].contiguous();
    if (!fast(g)) {
      return {g * mask.to(g.scalar_type()) * scale, at::Tensor(), at::Tensor()};
    }
    at::Tensor out = at::empty_like(g);
    const float *gp = g.data_ptr<float>();
    const uint8_t *mp = mask.data_ptr<uint8_t>();
    float *op = out.data_ptr<float>();
    at::parallel_for(0, g.numel(), kChunk,
                     [&](int64_t b, int64_t e) { dropout_bwd(gp + b, mp + b, op + b, e - b, scale); });
    return {out, at::Tensor(), at::Tensor()};
  }
};

// has_fused_adamw reports whether this libtorch has _fused_adamw_ for tensors on device (compat.h).
bool has_fused_adamw(const at::Device &device) {
  return (device.is_cuda() && WHET_FUSED_ADAMW_CUDA) || (device.is_cpu() && WHET_FUSED_ADAMW_CPU);
}

uint64_t next_seed() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return at::check_generator<at::CPUGeneratorImpl>(gen)->random64();
}

} // namespace

extern "C" {

int whet_adamw_path(int path) {
  const int prev = adamw_path;
  if (path >= 0 && path <= prev) {
    adamw_path = path;
  }
  return prev;
}

int whet_grad_sum_squares(void **params, int n, double *out, char **err) {
  return whet::guard(err, [&] {
    std::vector<at::Tensor> grads(n);
    std::vector<int64_t> sizes(n, 0);
    double slow = 0;
    at::Tensor slow_sum;
    for (int i = 0; i < n; i++) {
      const at::Tensor &g = T(params[i]).grad();
      if (!g.defined()) {
        continue;
      }
      if (fast(g)) {
        grads[i] = g;
        sizes[i] = g.numel();
      } else {
        // Summed where the gradient lives and read back once below (one device sync, not one per tensor).
        at::Tensor s = g.detach().to(at::kDouble).pow(2).sum();
        slow_sum = slow_sum.defined() ? slow_sum + s.to(slow_sum.device()) : s;
      }
    }
    if (slow_sum.defined()) {
      slow = slow_sum.item<double>();
    }
    std::vector<Chunk> cs = chunks(sizes);
    std::vector<double> partial(cs.size(), 0.0);
    at::parallel_for(0, (int64_t)cs.size(), 1, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; c++) {
        const float *gp = grads[cs[c].param].data_ptr<float>();
        partial[c] = sum_squares(gp + cs[c].begin, cs[c].end - cs[c].begin);
      }
    });
    // Summed in chunk order, so the result does not depend on the thread count.
    double total = slow;
    for (double x : partial) {
      total += x;
    }
    *out = total;
  });
}

int whet_adamw_init(void **params, int n, void **m, void **v, char **err) {
  return whet::guard(err, [&] {
    for (int i = 0; i < n; i++) {
      const at::Tensor &p = T(params[i]);
      m[i] = new at::Tensor(at::zeros_like(p, at::MemoryFormat::Contiguous));
      v[i] = new at::Tensor(at::zeros_like(p, at::MemoryFormat::Contiguous));
    }
  });
}

int whet_adamw_step(void **params, void **m, void **v, const double *weight_decay, int n, int64_t step, double lr,
                    double beta1, double beta2, double eps, double grad_scale, char **err) {
  return whet::guard(err, [&] {
    at::NoGradGuard no_grad;
    const double bc1 = 1.0 - std::pow(beta1, (double)step);
    const double bc2 = 1.0 - std::pow(beta2, (double)step);
    std::vector<int64_t> sizes(n, 0);
    std::vector<AdamWScalars> sc(n);
    for (int i = 0; i < n; i++) {
      at::Tensor &p = T(params[i]);
      const at::Tensor &g = p.grad();
      if (!g.defined()) {
        continue;
      }
      sc[i] = AdamWScalars{(float)grad_scale,   (float)(1.0 - lr * weight_decay[i]),
                           (float)beta1,        (float)(1.0 - beta1),
                           (float)beta2,        (float)(1.0 - beta2),
                           (float)(1.0 / std::sqrt(bc2)), (float)eps,
                           (float)(lr / bc1)};
      if (fast(p) && fast(g) && fast(T(m[i])) && fast(T(v[i]))) {
        sizes[i] = p.numel();
        continue;
      }
      // torch.optim.AdamW's single-tensor arithmetic, op by op.
      at::Tensor &mi = T(m[i]), &vi = T(v[i]);
      at::Tensor gi = grad_scale == 1.0 ? g : g * grad_scale;
      p.mul_(1.0 - lr * weight_decay[i]);
      mi.mul_(beta1).add_(gi, 1.0 - beta1);
      vi.mul_(beta2).addcmul_(gi, gi, 1.0 - beta2);
      at::Tensor denom = (vi.sqrt() / std::sqrt(bc2)).add_(eps);
      p.addcdiv_(mi, denom, -lr / bc1);
    }
    std::vector<Chunk> cs = chunks(sizes);
    at::parallel_for(0, (int64_t)cs.size(), 1, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; c++) {
        const int64_t i = cs[c].param, o = cs[c].begin;
        adamw_kernel(T(params[i]).data_ptr<float>() + o, T(params[i]).grad().data_ptr<float>() + o,
                     T(m[i]).data_ptr<float>() + o, T(v[i]).data_ptr<float>() + o, cs[c].end - o, sc[i]);
      }
    });
  });
}

int whet_adamw_step_device(void **params, void **m, void **v, const double *weight_decay, int n, int64_t step,
                           double lr, double beta1, double beta2, double eps, double max_norm, double loss_scale,
                           int skip_nonfinite, int *skipped, char **err) {
  return whet::guard(err, [&] {
    at::NoGradGuard no_grad;
    *skipped = 0;
    std::vector<int> live; // the parameters with a gradient
    std::vector<at::Tensor> grads;
    for (int i = 0; i < n; i++) {
      if (T(params[i]).grad().defined()) {
        live.push_back(i);
        grads.push_back(T(params[i]).grad());
      }
    }
    if (live.empty()) {
      return;
    }
    // The global norm of the unscaled gradients, on the device: a norm per gradient, then the norm of those.
    std::vector<at::Tensor> norms = at::_foreach_norm(grads, 2);
    for (at::Tensor &x : norms) {
      x = x.to(at::kFloat);
    }
    const at::Tensor norm = at::linalg_vector_norm(at::stack(norms), 2) / loss_scale;
    // What the gradients are multiplied by: the clipping coefficient (as the CPU path: only above max_norm) over
    // the loss scale. _fused_adamw_ divides by its grad_scale, so it gets the inverse.
    at::Tensor coef = at::ones_like(norm);
    if (max_norm > 0) {
      coef = at::where(norm > max_norm, (norm + 1e-6).reciprocal() * max_norm, coef);
    }
    coef = coef / loss_scale;
    c10::optional<at::Tensor> found_inf;
    if (skip_nonfinite) {
      found_inf = at::logical_not(at::isfinite(norm)).to(at::kFloat);
    }
    // The parameters in groups of one weight decay and dtype, as torch.optim groups them for the fused kernel.
    std::vector<std::pair<std::pair<double, int>, std::vector<int>>> groups;
    for (int i : live) {
      const auto key = std::make_pair(weight_decay[i], (int)T(params[i]).scalar_type());
      auto it = std::find_if(groups.begin(), groups.end(), [&](const auto &g) { return g.first == key; });
      if (it == groups.end()) {
        groups.push_back({key, {}});
        it = groups.end() - 1;
      }
      it->second.push_back(i);
    }
    const bool fused = has_fused_adamw(T(params[live[0]]).device());
    if (!fused && skip_nonfinite && found_inf->item<float>() != 0) {
      *skipped = 1; // op by op cannot skip on the device: one read back, as GradScaler.step makes
      return;
    }
    const double bc1 = 1.0 - std::pow(beta1, (double)step);
    const double bc2 = 1.0 - std::pow(beta2, (double)step);
    for (const auto &[key, idx] : groups) {
      const double wd = key.first;
      std::vector<at::Tensor> ps, gs, ms, vs;
      for (int i : idx) {
        ps.push_back(T(params[i]));
        gs.push_back(T(params[i]).grad());
        ms.push_back(T(m[i]));
        vs.push_back(T(v[i]));
      }
      if (fused) {
#if WHET_FUSED_ADAMW_CUDA
        // One kernel over the group; it reads the step from a device tensor and skips everything when found_inf.
        const at::Tensor steps = at::full({}, (double)step, ps[0].options().dtype(at::kFloat));
        at::_fused_adamw_(ps, gs, ms, vs, {}, std::vector<at::Tensor>(ps.size(), steps), lr, beta1, beta2, wd, eps,
                          false, false, coef.reciprocal(), found_inf);
#endif
        continue;
      }
      // torch.optim.AdamW's single-tensor arithmetic, op by op, with the coefficient kept on the device.
      for (size_t k = 0; k < ps.size(); k++) {
        at::Tensor gi = gs[k] * coef.to(gs[k].scalar_type());
        ps[k].mul_(1.0 - lr * wd);
        ms[k].mul_(beta1).add_(gi, 1.0 - beta1);
        vs[k].mul_(beta2).addcmul_(gi, gi, 1.0 - beta2);
        at::Tensor denom = (vs[k].sqrt() / std::sqrt(bc2)).add_(eps);
        ps[k].addcdiv_(ms[k], denom, -lr / bc1);
      }
    }
    if (fused && skip_nonfinite) {
      *skipped = found_inf->item<float>() != 0; // the one read back of a float16 step, as GradScaler.step
    }
  });
}

int whet_grad_reset(void **params, int n, char **err) {
  return whet::guard(err, [&] {
    for (int i = 0; i < n; i++) {
      T(params[i]).mutable_grad().reset();
    }
  });
}

int whet_dropout(void *x, double p, void **out, char **err) {
  return whet::guard(err, [&] {
    const at::Tensor &t = T(x);
    if (!t.device().is_cpu() || t.scalar_type() != at::kFloat || t.numel() >= (int64_t(1) << 32) || p <= 0.0 || p >= 1.0) {
      *out = new at::Tensor(at::dropout(t, p, true));
      return;
    }
    *out = new at::Tensor(Dropout::apply(t, p, (int64_t)next_seed()));
  });
}

} // extern "C"
