//go:build !whet_layer

// gotch v0.7.0 wraps neither at::set_num_threads nor torch::manual_seed; these few lines add them.
#include <ATen/Parallel.h>
#include <torch/utils.h>
#include <torch/version.h>

#include "threads.h"

#include <atomic>

namespace {
// The count of the last whet_set_num_threads (0: none yet).
std::atomic<int> whet_threads{0};
} // namespace

extern "C" {
void whet_set_num_threads(int n) {
  whet_threads.store(n);
  at::set_num_threads(n);
}
int whet_get_num_threads(void) { return at::get_num_threads(); }
// at::init_num_threads gives the calling thread the process-wide count of the last at::set_num_threads; it is called
// only when the thread's count differs, because it also rebuilds libtorch's pthreadpool (XNNPACK's), whose fresh
// threads spin for milliseconds: called on every inference request, on a 2-vCPU VM that took one-text requests on a
// tiny model from ~300 texts/s to 61-117 with 2 threads (bench/results.md, "A rerun on another machine").
// at::get_num_threads is the calling thread's count under OpenMP (the process's under libtorch's native pool).
void whet_adopt_num_threads(void) {
  int n = whet_threads.load();
  if (n <= 0 || at::get_num_threads() != n) {
    at::init_num_threads();
  }
}
const char *whet_torch_version(void) { return TORCH_VERSION; }
// torch::manual_seed seeds the CPU generator and, where present, every CUDA one.
void whet_manual_seed(uint64_t seed) { torch::manual_seed(seed); }
}
