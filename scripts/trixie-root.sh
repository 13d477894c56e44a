#!/usr/bin/env bash
# trixie-root.sh DIR: make (once) a Debian 13 (trixie) root at DIR with libtorch 2.6 (libtorch-dev), trixie's
# python3-torch (the PyTorch reference for the parity tests), g++ and the OpenMP OpenBLAS. A root that is already
# complete (DIR/.whet-ready names the same package list) is reused as is: .ci/run keeps it outside the clone.
#
# Needs root and debootstrap (.ci/run installs it). The mirror is the first Debian one the machine's apt sources
# name, so it works where only that registry is reachable. Cold: ~1 min debootstrap + ~2 min apt, 2.1 GB.
set -euo pipefail
dir=${1:?usage: trixie-root.sh DIR}
packages="libtorch-dev python3-torch python3-numpy g++ make libopenblas0-openmp ca-certificates"
if [ -f "$dir/.whet-ready" ] && [ "$(cat "$dir/.whet-ready")" = "$packages" ]; then
  exit 0
fi
mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
  grep -v '^[[:space:]]*#' | grep -oE 'https?://[^ ]*/debian/?( |$)' | head -1 | tr -d ' ' || true)
mirror=${mirror:-http://deb.debian.org/debian}
tmp="$dir.partial"
rm -rf "$tmp"
mkdir -p "$(dirname "$dir")"
echo "trixie-root: debootstrap trixie from $mirror into $tmp"
debootstrap --variant=minbase trixie "$tmp" "$mirror" >"$tmp.log" 2>&1 || { tail -20 "$tmp.log"; exit 1; }
echo "deb $mirror trixie main" >"$tmp/etc/apt/sources.list"
# apt-get inside the chroot needs /proc and /dev; a private mount namespace drops the mounts when it exits.
unshare --mount --propagation private bash -euo pipefail -c '
  mount -t proc proc "$1/proc"
  mount --rbind /dev "$1/dev"
  cp /etc/resolv.conf "$1/etc/resolv.conf" 2>/dev/null || true
  chroot "$1" apt-get update -q
  chroot "$1" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $2
  chroot "$1" apt-get clean
' trixie-root "$tmp" "$packages" >>"$tmp.log" 2>&1 || { tail -20 "$tmp.log"; exit 1; }
echo "$packages" >"$tmp/.whet-ready"
rm -rf "$dir" "$tmp.log"
mv "$tmp" "$dir"
echo "trixie-root: ready at $dir ($(du -sh "$dir" | cut -f1))"
