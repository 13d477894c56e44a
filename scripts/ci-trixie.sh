#!/usr/bin/env bash
# ci-trixie.sh: build whet against Debian 13's libtorch 2.6 and run the native tests there (the PyTorch parity tests
# use trixie's python3-torch 2.6), then build the C++ layer as a shared library (scripts/build-layer.sh) and run
# native/torch's tests through it (-tags whet_layer), in a Debian 13 root kept outside the clone. Run by hand
# (as root) until it is timed on a quiet CI machine; then .ci/run calls it after `make test`.
#
# Needs root. The root (WHET_TRIXIE_ROOT, default /var/cache/whet/trixie-root) is made once by trixie-root.sh and
# reused; the Go build cache for it (WHET_TRIXIE_GOCACHE) too. This checkout, the Go toolchain and the module cache
# are bind-mounted into it inside a private mount namespace, so nothing stays mounted when the script ends.
set -euo pipefail
cd "$(dirname "$0")/.."
root=${WHET_TRIXIE_ROOT:-/var/cache/whet/trixie-root}
gocache=${WHET_TRIXIE_GOCACHE:-/var/cache/whet/trixie-gocache}
goroot=$(go env GOROOT)
modcache=$(go env GOMODCACHE)
scripts/trixie-root.sh "$root"
go mod download # the chroot has the module cache, not necessarily the network
mkdir -p "$gocache"
start=$(date +%s)
unshare --mount --propagation private bash -euo pipefail -c '
  root=$1
  mount -t proc proc "$root/proc"
  mount --rbind /dev "$root/dev"
  for pair in "$2:/usr/local/go" "$3:/root/go/pkg/mod" "$4:/root/.cache/go-build" "$PWD:/work/whet"; do
    mkdir -p "$root${pair#*:}"
    mount --bind "${pair%%:*}" "$root${pair#*:}"
  done
  mount -o remount,bind,ro "$root/usr/local/go"
  chroot "$root" env -i PATH=/usr/local/go/bin:/usr/bin:/bin HOME=/root GOFLAGS=-buildvcs=false GOTOOLCHAIN=local \
    bash -euo pipefail -c "
      cd /work/whet
      eval \"\$(make -s env)\"
      echo \"ci-trixie: \$CGO_CXXFLAGS\"
      python3 -c \"import torch; print(\\\"ci-trixie: python3-torch\\\", torch.__version__)\"
      go build -o /tmp/whet ./cmd/whet
      go test -count=1 -timeout 30m ./native/...
      # The C++ layer as a shared library built by plain g++ and loaded by a whet_layer build, as on a GPU machine.
      scripts/build-layer.sh /tmp/layer/libwhet_torch.so
      CGO_LDFLAGS=\"-L/tmp/layer -Wl,-rpath,/tmp/layer\" go test -count=1 -tags whet_layer ./native/torch/
    "
' ci-trixie "$root" "$goroot" "$modcache" "$gocache"
echo "ci-trixie: libtorch 2.6 build and native tests passed in $(($(date +%s) - start)) s"
