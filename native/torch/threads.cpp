//go:build !whet_layer

// gotch v0.7.0 wraps neither at::set_num_threads nor torch::manual_seed; these few lines add them.
#include <ATen/Parallel.h>
#include <torch/utils.h>
#include <torch/version.h>

#include "threads.h"

extern "C" {
void whet_set_num_threads(int n) { at::set_num_threads(n); }
int whet_get_num_threads(void) { return at::get_num_threads(); }
// at::init_num_threads gives the calling thread the process-wide count of the last at::set_num_threads.
void whet_adopt_num_threads(void) { at::init_num_threads(); }
const char *whet_torch_version(void) { return TORCH_VERSION; }
// torch::manual_seed seeds the CPU generator and, where present, every CUDA one.
void whet_manual_seed(uint64_t seed) { torch::manual_seed(seed); }
}
