#!/usr/bin/env bash
# ci-trixie.sh: whet on Debian 13's libtorch 2.6, in a Debian 13 root: `make build` and a plain
# `eval "$(make -s env)"; go build ./cmd/whet` (the Makefile finds libtorch 2.6 itself), the native packages' tests
# (the PyTorch parity tests against trixie's python3-torch 2.6; --precision bf16 on the CPU; AdamW's GPU path through
# _fused_adamw_ on the CPU), then the C++ layer as a shared library (scripts/build-layer.sh) with native/torch's
# tests through it (-tags whet_layer). .ci/run calls it after `make test`, whose build/.deps, web assets and wasm
# modules it reuses (so `make build` in the root builds only the Go binary).
#
# Needs root. Kept outside the clone, under WHET_CI_CACHE (default /var/cache/whet), so that a second CI run on the
# same machine reuses them and a fresh machine makes them: the root (trixie-root.sh, ~2 GB), the Go build cache for
# it, and the layer library per hash of its sources. The checkout is mounted in the root as an overlay, so nothing
# the stage builds (bin/whet for libtorch 2.6 included) lands in it; the Go toolchain and module cache are
# bind-mounted; all in a private mount namespace, so nothing stays mounted when the script ends.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${WHET_CI_CACHE:-/var/cache/whet}
root=$cache/trixie-root
[ -f build/.deps ] || { echo "ci-trixie: run make build (or make test) first: the root reuses its web assets" >&2; exit 1; }
start=$(date +%s)
mkdir -p "$cache"
flock "$cache/trixie-root.lock" scripts/trixie-root.sh "$root"
echo "ci-trixie: root ready in $(($(date +%s) - start)) s"
go mod download # the root has the module cache, not necessarily the network
layer_key=$(cat third_party/gotch/libtch/torch_api.* native/torch/*.cpp native/torch/*.h scripts/build-layer.sh \
  "$root/.whet-ready" | sha256sum | cut -c1-16)
mkdir -p "$cache/trixie-gocache" "$cache/trixie-layer"
scratch=$(mktemp -d /tmp/whet-ci-trixie.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
start=$(date +%s)
unshare --mount --propagation private bash -euo pipefail -c '
  root=$1 scratch=$2
  mount -t proc proc "$root/proc"
  mount --rbind /dev "$root/dev"
  mkdir -p "$scratch/upper" "$scratch/work" "$scratch/tmp" "$root/work/whet"
  mount -t overlay overlay -o "lowerdir=$PWD,upperdir=$scratch/upper,workdir=$scratch/work" "$root/work/whet"
  for pair in "$3:/usr/local/go" "$4:/root/go/pkg/mod" "$5:/root/.cache/go-build" "$6:/var/cache/whet-layer" \
    "$scratch/tmp:/tmp"; do
    mkdir -p "$root${pair#*:}"
    mount --bind "${pair%%:*}" "$root${pair#*:}"
  done
  mount -o remount,bind,ro "$root/usr/local/go"
  chroot "$root" env -i PATH=/usr/local/go/bin:/usr/bin:/bin HOME=/root GOFLAGS=-buildvcs=false GOTOOLCHAIN=local \
    LAYER="$7.so" bash -euo pipefail -c "
      cd /work/whet
      python3 -c \"import torch; print(\\\"ci-trixie: python3-torch\\\", torch.__version__)\"
      # -o build/.deps: the root holds what the native build needs; Chromium and Node stay on the host, and make
      # would otherwise install them here whenever the Makefile is newer than the build/.deps of the host build.
      make -o build/.deps build
      eval \"\$(make -s env)\"
      echo \"ci-trixie: make env: \$CGO_CXXFLAGS\"
      go build -o /tmp/whet ./cmd/whet
      go test -count=1 -timeout 30m ./native/...
      # The C++ layer as a shared library built by plain g++ and loaded by a whet_layer build, as on a GPU machine.
      # Built once per version of its sources (the cache keeps the latest only).
      cd /var/cache/whet-layer
      if [ -f \"\$LAYER\" ]; then
        mkdir -p /tmp/layer && cp \"\$LAYER\" /tmp/layer/libwhet_torch.so
      else
        /work/whet/scripts/build-layer.sh /tmp/layer/libwhet_torch.so
        rm -f ./*.so && cp /tmp/layer/libwhet_torch.so \"\$LAYER.tmp\" && mv \"\$LAYER.tmp\" \"\$LAYER\"
      fi
      cd /work/whet
      CGO_LDFLAGS=\"-L/tmp/layer -Wl,-rpath,/tmp/layer\" go test -count=1 -tags whet_layer ./native/torch/
    "
' ci-trixie "$root" "$scratch" "$(go env GOROOT)" "$(go env GOMODCACHE)" "$cache/trixie-gocache" "$cache/trixie-layer" "$layer_key"
echo "ci-trixie: libtorch 2.6 build and native tests passed in $(($(date +%s) - start)) s"
