// guard.h: the error convention of whet's C functions over libtorch (fused.cpp, rng.cpp, quant.cpp): run the body,
// return 0, or catch its exception, keep its message in the file's thread-local error string and return -1.
#ifndef WHET_GUARD_H
#define WHET_GUARD_H
#ifdef __cplusplus
#include <exception>
#include <string>
#include <utility>

namespace whet {
template <typename F> int guard(std::string &err, F &&f) {
  try {
    std::forward<F>(f)();
    return 0;
  } catch (const std::exception &e) {
    err = e.what();
  } catch (...) {
    err = "unknown C++ exception";
  }
  return -1;
}
} // namespace whet
#endif
#endif
