#!/usr/bin/env bash
# Convergence check of whet's native fine-tuning (long: ~10 minutes on 2 cores).
#
#   native/testdata/convergence.sh [WHET_BINARY] [WORK_DIR]
#
# 1. SST-2: `whet model init` (2 layers, hidden 128, 2 heads, intermediate 512, bert-base-uncased vocab), then
#    `whet train` on SST-2 train, 1 epoch, batch 32, max length 64, lr 5e-4, evaluated on SST-2 dev.
#    Passes when dev accuracy >= 0.79 and the run takes at most 600 s (a plain PyTorch loop: 0.805, ~525 samples/s).
# 2. TREC (6 classes): the same model shape, 3 epochs; passes when dev accuracy >= 0.5 (multi-class works).
# Needs ../shared/data next to the repository (skips with exit 0 when absent) and a built binary (default bin/whet).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DATA="${WHET_SHARED_DATA:-$ROOT/../shared/data}"
WHET="${1:-$ROOT/bin/whet}"
WORK="${2:-$(mktemp -d)}"
THREADS="${THREADS:-2}"
if [[ ! -f "$DATA/sst2/train.tsv" ]]; then
  echo "convergence: SKIP: $DATA/sst2/train.tsv not found"
  exit 0
fi
if [[ ! -x "$WHET" ]]; then
  echo "convergence: $WHET not built (make build)" >&2
  exit 1
fi
mkdir -p "$WORK"
fail=0
check() { # name value min
  if python3 -c "import sys; sys.exit(0 if float('$2') >= float('$3') else 1)"; then
    echo "convergence: PASS $1 = $2 (>= $3)"
  else
    echo "convergence: FAIL $1 = $2 (want >= $3)"
    fail=1
  fi
}
field() { python3 -c "import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print($1)"; }

echo "convergence: SST-2 ($(nproc) cores, $THREADS threads) in $WORK"
"$WHET" model init --vocab "$DATA/vocab/bert-base-uncased-vocab.txt" --labels 0,1 --layers 2 --hidden 128 --heads 2 \
  --intermediate 512 --seed 42 --out "$WORK/sst2-base"
start=$(date +%s)
"$WHET" train --model "$WORK/sst2-base" --train "$DATA/sst2/train.tsv" --validation "$DATA/sst2/dev.tsv" \
  --out "$WORK/sst2-out" --epochs 1 --batch-size 32 --max-seq-length 64 --learning-rate 5e-4 --seed 42 \
  --threads "$THREADS" --progress json >"$WORK/sst2.json" 2>"$WORK/sst2.log"
secs=$(( $(date +%s) - start ))
acc=$(field 'd["metrics"]["accuracy"]' <"$WORK/sst2.json")
sps=$(field 'd["train_samples_per_second"]' <"$WORK/sst2.json")
echo "convergence: SST-2 dev accuracy $acc, $sps train samples/s, $secs s wall (tokenize + train + eval)"
check "sst2 dev accuracy" "$acc" 0.79
check "sst2 within 600 s (600 - wall)" "$((600 - secs))" 0

echo "convergence: TREC (6 classes)"
"$WHET" model init --vocab "$DATA/vocab/bert-base-uncased-vocab.txt" --labels ABBR,DESC,ENTY,HUM,LOC,NUM --layers 2 \
  --hidden 128 --heads 2 --intermediate 512 --seed 42 --out "$WORK/trec-base"
"$WHET" train --model "$WORK/trec-base" --train "$DATA/trec/train.tsv" --validation "$DATA/trec/test.tsv" \
  --out "$WORK/trec-out" --epochs 3 --batch-size 32 --max-seq-length 64 --learning-rate 5e-4 --seed 42 \
  --threads "$THREADS" --progress json >"$WORK/trec.json" 2>"$WORK/trec.log"
tacc=$(field 'd["metrics"]["accuracy"]' <"$WORK/trec.json")
tf1=$(field 'd["metrics"]["macro_f1"]' <"$WORK/trec.json")
echo "convergence: TREC test accuracy $tacc, macro F1 $tf1"
check "trec accuracy" "$tacc" 0.5
exit $fail
