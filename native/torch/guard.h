// guard.h: the error convention of whet's C functions over libtorch (amp.cpp, copy.cpp, fused.cpp, quant.cpp,
// rng.cpp). A function that can fail takes a trailing `char **err` and returns whet::guard(err, body): 0 when the
// body ran, with *err NULL; or -1 when it threw, with *err a malloc'd copy of the exception's message (its what(),
// or "unknown C++ exception"; NULL if even that copy could not be allocated). The message travels with the failing
// call, so it does not matter which OS thread the caller reads it on (a goroutine can move to another thread
// between two cgo calls). The caller frees it with free() (Go: cError in error.go). err may be NULL when the caller
// wants only the status.
#ifndef WHET_GUARD_H
#define WHET_GUARD_H
#ifdef __cplusplus
#include <cstring>
#include <exception>
#include <utility>

namespace whet {
template <typename F> int guard(char **err, F &&f) {
  if (err != nullptr) {
    *err = nullptr;
  }
  try {
    std::forward<F>(f)();
    return 0;
  } catch (const std::exception &e) {
    if (err != nullptr) {
      *err = ::strdup(e.what());
    }
  } catch (...) {
    if (err != nullptr) {
      *err = ::strdup("unknown C++ exception");
    }
  }
  return -1;
}
} // namespace whet
#endif
#endif
