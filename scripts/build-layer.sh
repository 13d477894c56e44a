#!/usr/bin/env bash
# build-layer.sh [OUT]: build whet's C++ layer (gotch's C API as whet trims it, plus native/torch's kernels) as one
# shared library, OUT (default build/layer/libwhet_torch.so), with nothing but g++ and a libtorch:
#   LIBTORCH=<dir>   a libtorch folder (include/, lib/): a libtorch zip, or pip torch's site-packages/torch
#   (unset)          the torch that python3 imports (pip torch, CUDA builds included), else the system libtorch
# A whet binary built with `make layer` (go build -tags whet_layer) loads it by its C symbols: put it next to the
# binary or on LD_LIBRARY_PATH. This is how whet runs on a machine with its own libtorch 2.x and no Go toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/layer/libwhet_torch.so}
abi=""
if [ -z "${LIBTORCH:-}" ] && command -v "${PYTHON:-python3}" >/dev/null; then
  # pip torch: its folder and the C++ ABI it was built with (pip wheels changed ABI over the 2.x releases).
  if info=$("${PYTHON:-python3}" -c 'import os, torch; print(os.path.dirname(torch.__file__), int(torch._C._GLIBCXX_USE_CXX11_ABI))' 2>/dev/null); then
    LIBTORCH=${info% *}
    abi="-D_GLIBCXX_USE_CXX11_ABI=${info#* }"
    # Debian's python3-torch is the system libtorch: use the system headers (its site-packages has none).
    [ -d "$LIBTORCH/include/torch" ] || LIBTORCH=""
  fi
fi
if [ -n "${LIBTORCH:-}" ]; then
  inc="-I$LIBTORCH/include -I$LIBTORCH/include/torch/csrc/api/include"
  lib="-L$LIBTORCH/lib -Wl,-rpath,$LIBTORCH/lib"
  libdir=$LIBTORCH/lib
else
  inc="-I/usr/include/torch/csrc/api/include"
  lib=""
  libdir=$(dirname "$(g++ -print-file-name=libtorch.so)")
fi
cuda=""
if [ -e "$libdir/libtorch_cuda.so" ]; then
  cuda="-ltorch_cuda -lc10_cuda"
fi
mkdir -p "$(dirname "$out")"
echo "build-layer: ${LIBTORCH:-system libtorch}${cuda:+ (CUDA)} -> $out"
# The sources are the ones cgo compiles in the default build, with the same -include compat.h; compiled in parallel.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pids=()
for src in third_party/gotch/libtch/torch_api.cpp native/torch/*.cpp; do
  # shellcheck disable=SC2086
  g++ -std=c++17 -O2 -fPIC -Wno-deprecated-declarations -Wno-stringop-overflow $abi $inc -Ithird_party/gotch/libtch -Inative/torch \
    -include compat.h -c "$src" -o "$tmp/$(basename "$src").o" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
# shellcheck disable=SC2086
g++ -shared -o "$out" "$tmp"/*.o $lib -Wl,--no-as-needed -ltorch -ltorch_cpu -lc10 $cuda -Wl,--as-needed
