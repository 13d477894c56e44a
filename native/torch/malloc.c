// glibc malloc settings for libtorch's allocation pattern, applied when the binary loads, before any thread exists.
//
// A training step allocates and frees the same large activation and gradient buffers every time. whet runs libtorch
// on a locked Go thread, which glibc serves from a thread arena made of 64 MiB heaps that are unmapped as soon as they
// empty, while the main arena trims its top whenever more than the trim threshold is free: each step then faults its
// working set back in page by page. bench/ measured ~12,000 minor faults per tiny-BERT training step (about a third of
// the step's CPU time) against ~1,500 for the same model in Python; with one arena, a 32 MiB mmap threshold and a
// 256 MiB trim threshold it is ~400-900 and the step costs 25-35% less CPU, with the same peak RSS.
// Buffers above the mmap threshold are still mapped afresh on every use: BERT-small's 62 MiB embedding gradient
// made ~96,000 faults per step. With the threshold at 256 MiB (trim at 512 MiB) it is ~1,700 and the step takes
// ~35% less time (bench/, BENCH_SIZES=small), for ~8% more steady RSS.
//
// GLIBC_TUNABLES naming a glibc.malloc setting, or WHET_MALLOC_DEFAULTS=1, leaves glibc's defaults alone.
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

int whet_malloc_tuned = 0;

__attribute__((constructor)) static void whet_malloc_settings(void) {
#if defined(__GLIBC__) && defined(M_ARENA_MAX)
	const char *t = getenv("GLIBC_TUNABLES");
	if ((t != NULL && strstr(t, "glibc.malloc.") != NULL) || getenv("WHET_MALLOC_DEFAULTS") != NULL) {
		return;
	}
	whet_malloc_tuned = mallopt(M_ARENA_MAX, 1) == 1 && mallopt(M_MMAP_THRESHOLD, 256 << 20) == 1 &&
	                    mallopt(M_TRIM_THRESHOLD, 512 << 20) == 1;
#endif
}

// whet_malloc_stats reports the bytes malloc hands out (in use, mmapped chunks included) and the bytes it holds from
// the system (arenas plus mmapped chunks), over all arenas; both 0 without glibc.
void whet_malloc_stats(size_t *in_use, size_t *held) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
	struct mallinfo2 mi = mallinfo2();
	*in_use = mi.uordblks + mi.hblkhd;
	*held = mi.arena + mi.hblkhd;
#else
	*in_use = 0;
	*held = 0;
#endif
}
