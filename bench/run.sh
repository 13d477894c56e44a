#!/usr/bin/env bash
# whet's benchmarks against the references (plain PyTorch on the same libtorch, HuggingFace tokenizers), run side by
# side on this machine, interleaved and repeated; medians and ratios go to bench/results.md.
#
#   make bench                      # builds bin/whet first, then runs this (full: 3 rounds, < 20 minutes on 2 cores)
#   BENCH_QUICK=1 ./bench/run.sh    # smoke test: 1 round, few steps (< 5 minutes)
#
# Knobs (environment): BENCH_ROUNDS, BENCH_THREADS (default: all cores), BENCH_PARTS=train,predict,http,tokenize,
# BENCH_SIZES=tiny,mini,small, WHET_BIN, BENCH_PYTHON (default /usr/bin/python3: Debian's python3-torch imports only
# there), WHET_SHARED_DATA (default ../shared/data; without it the data is generated).
# Parts that cannot run here are skipped with a line saying why, never a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${BENCH_PYTHON:-/usr/bin/python3}"
if ! "$PY" -c 'import numpy' 2>/dev/null; then
	echo "bench: $PY with numpy is needed to drive the benchmarks (apt-get install python3-numpy python3-torch)" >&2
	exit 1
fi
if [ ! -x "${WHET_BIN:-bin/whet}" ]; then
	echo "bench: ${WHET_BIN:-bin/whet} is not built: the whet side will be skipped (run 'make bench' to build it)"
fi
# The same environment for whet and the reference: no inherited thread overrides (threads are set explicitly by
# --threads and torch.set_num_threads).
unset OMP_NUM_THREADS MKL_NUM_THREADS OPENBLAS_NUM_THREADS GOMAXPROCS
# whet runs libtorch with OMP_WAIT_POLICY=PASSIVE unless told otherwise (cmd/whet/main.go: execWithOMPPolicy); give
# the reference the same OpenMP policy so the comparison is of the code, not of the thread-waiting policy.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
exec "$PY" bench/harness.py "$@"
