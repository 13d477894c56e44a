//go:build !whet_layer

// Dynamic int8 Linear layers for CPU inference: the weight quantized per output channel to symmetric qint8 and
// prepacked once by libtorch's quantized engine, the activations quantized per call (what PyTorch's
// quantize_dynamic does for nn.Linear). The ops are reached through the dispatcher, boxed, so this file needs no
// engine-specific header: the packed weight is a TorchScript custom class object held in an IValue.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "guard.h"
#include "quant.h"

namespace {

at::Tensor &T(void *p) { return *static_cast<at::Tensor *>(p); }

c10::OperatorHandle op(const char *name) { return c10::Dispatcher::singleton().findSchemaOrThrow(name, ""); }

} // namespace

extern "C" {

int whet_quant_engine(char *name, int n, char **err) {
  return whet::guard(err, [&] {
    const auto &engines = at::globalContext().supportedQEngines();
    auto has = [&](at::QEngine e) { return std::find(engines.begin(), engines.end(), e) != engines.end(); };
    // oneDNN is what whet measured on Debian's libtorch (no FBGEMM there); FBGEMM is the x86 engine of pip builds.
    at::QEngine e;
    if (has(at::QEngine::ONEDNN)) {
      e = at::QEngine::ONEDNN;
    } else if (has(at::QEngine::FBGEMM)) {
      e = at::QEngine::FBGEMM;
    } else {
      TORCH_CHECK(false, "this libtorch has no oneDNN or FBGEMM quantized engine (int8 Linear on the CPU needs one)");
    }
    at::globalContext().setQEngine(e);
    std::string s = c10::toString(e);
    std::strncpy(name, s.c_str(), n - 1);
    name[n - 1] = 0;
  });
}

int whet_linear_pack(void *weight, void *bias, void **packed, char **err) {
  return whet::guard(err, [&] {
    at::Tensor w = T(weight).detach().contiguous();
    TORCH_CHECK(w.dim() == 2 && w.scalar_type() == at::kFloat && w.device().is_cpu(),
                "int8 pack: the weight must be a 2-D float32 CPU tensor, got ", w.sizes(), " ", w.scalar_type(), " on ",
                w.device());
    // Symmetric per-channel scales: the largest |w| of each output row maps to 127.
    at::Tensor scales = (w.abs().amax({1}).to(at::kDouble) / 127.0).clamp_min(1e-12);
    at::Tensor zeros = at::zeros({w.size(0)}, at::TensorOptions().dtype(at::kLong));
    at::Tensor qw = at::quantize_per_channel(w, scales, zeros, 0, at::kQInt8);
    c10::optional<at::Tensor> b;
    if (bias != nullptr) {
      b = T(bias).detach().contiguous();
    }
    std::vector<c10::IValue> stack{qw, b};
    static const c10::OperatorHandle prepack = op("quantized::linear_prepack");
    prepack.callBoxed(&stack);
    TORCH_CHECK(stack.size() == 1, "int8 pack: quantized::linear_prepack returned ", stack.size(), " values");
    *packed = new c10::IValue(std::move(stack[0]));
  });
}

int whet_linear_dynamic(void *x, void *packed, void **out, char **err) {
  return whet::guard(err, [&] {
    const at::Tensor &in = T(x);
    // reduce_range: 7-bit activations on FBGEMM, whose AVX2 kernels can saturate with 8 (PyTorch does the same);
    // oneDNN takes the full uint8 range.
    const bool reduce = at::globalContext().qEngine() == at::QEngine::FBGEMM;
    std::vector<c10::IValue> stack{in.is_contiguous() ? in : in.contiguous(), *static_cast<c10::IValue *>(packed), reduce};
    static const c10::OperatorHandle dynamic = op("quantized::linear_dynamic");
    dynamic.callBoxed(&stack);
    TORCH_CHECK(stack.size() == 1, "int8 linear: quantized::linear_dynamic returned ", stack.size(), " values");
    *out = new at::Tensor(stack[0].toTensor());
  });
}

void whet_linear_free(void *packed) { delete static_cast<c10::IValue *>(packed); }
}
