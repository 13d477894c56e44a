#ifndef WHET_THREADS_H
#define WHET_THREADS_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
void whet_set_num_threads(int n);
int whet_get_num_threads(void);
void whet_adopt_num_threads(void);
const char *whet_torch_version(void);
void whet_manual_seed(uint64_t seed);
// Set by malloc.c's load-time constructor when it applied whet's glibc malloc settings.
extern int whet_malloc_tuned;
#ifdef __cplusplus
}
#endif
#endif
