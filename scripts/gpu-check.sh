#!/usr/bin/env bash
# gpu-check.sh [WHET]: whet on a CUDA GPU, against PyTorch on the same GPU, in one short run (a few minutes).
#
# For a GPU machine with python3 + torch (CUDA) + transformers + g++, and no Go: build the binary elsewhere with
# `make layer` and carry the repository with build/layer/whet (WHET, default build/layer/whet) and
# build/layer/torch.test. The script
#   1. builds whet's C++ layer against python3's torch (scripts/build-layer.sh) next to copies of the binary and the
#      test binary, and runs native/torch's CUDA tests with it: AdamW's device path (_fused_adamw_, clipping and
#      float16 loss scaling on the device) against the CPU kernel, pinned-memory batch copies, CUDA dropout;
#   2. makes a bert-base-shaped classifier (12 layers x 768, vocabulary 30522) and a synthetic data set of
#      128-token rows (whitespace words that are whole vocabulary entries, so both sides see the same ids);
#   3. fine-tunes it STEPS steps (default 150, batch 32) with whet (--precision fp32, then bf16) and with
#      bench/ref_train.py (the PyTorch loop, torch.autocast for bf16) and prints samples/s and the peak GPU memory
#      of each run (nvidia-smi's memory.used, sampled every 100 ms, minus what was in use before: the same
#      measure for both, CUDA context included); then 30 steps of fp16 (dynamic loss scaling) to show that path runs;
#   4. loads whet's fine-tuned folders with transformers, and checks that its logits match whet's predictions on
#      the GPU (float32: max |difference| <= 1e-4) and that the predicted labels are the same; then whet's bf16
#      inference (--precision bf16) against transformers under torch.autocast(bfloat16): bf16 keeps 8 significant
#      bits (relative rounding 2^-9), so two correct bf16 forward passes differ from fp32 by about as much as each
#      other; the check is that whet's bf16 error against fp32 is at most 2x PyTorch's own plus 1e-2, and that the
#      labels agree where PyTorch's bf16 and fp32 labels agree.
set -euo pipefail
cd "$(dirname "$0")/.."
whet_src=${1:-build/layer/whet}
py=${PYTHON:-python3}
steps=${STEPS:-150}
work=${WORK:-$(mktemp -d /tmp/whet-gpu.XXXXXX)}
mkdir -p "$work"
[ -x "$whet_src" ] || { echo "gpu-check: no whet binary at $whet_src (make layer, on a machine with Go)" >&2; exit 1; }
command -v nvidia-smi >/dev/null || { echo "gpu-check: no nvidia-smi: not a CUDA machine" >&2; exit 1; }

echo "== 1. C++ layer against python3's torch"
start=$(date +%s)
scripts/build-layer.sh "$work/libwhet_torch.so"
cp "$whet_src" "$work/whet" # the binary finds the layer next to itself ($ORIGIN)
whet="$work/whet"
echo "layer built in $(($(date +%s) - start)) s; $("$py" -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name(0))')"
tests="$(dirname "$whet_src")/torch.test"
if [ -x "$tests" ]; then
  cp "$tests" "$work/torch.test"
  "$work/torch.test" -test.run 'CUDA|AdamW|Dropout|Autocast' -test.v 2>&1 | grep -E '^(=== RUN|--- |PASS|FAIL|ok|\s+cuda_test)' || true
  "$work/torch.test" -test.run 'CUDA' >/dev/null 2>&1 || { echo "gpu-check: native/torch CUDA tests FAILED" >&2; exit 1; }
else
  echo "gpu-check: no $tests (make layer builds it): CUDA unit tests not run" >&2
fi

echo "== 2. model and data"
"$py" - "$work" <<'PY'
import json, os, random, sys
import numpy as np
work = sys.argv[1]
special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
words = ["w%05d" % i for i in range(30522 - len(special))]
vocab = special + words
with open(os.path.join(work, "vocab.txt"), "w") as f:
    f.write("\n".join(vocab) + "\n")
index = {w: i for i, w in enumerate(vocab)}
rng = random.Random(1)
def rows(n):
    out = []
    for _ in range(n):
        ws = [rng.choice(words) for _ in range(140)]
        label = "pos" if sum(int(w[1:]) % 2 for w in ws[:126]) > 63 else "neg"
        out.append({"text": " ".join(ws), "label": label})
    return out
def ids(row, max_len=128):
    x = [2] + [index[w] for w in row["text"].split()][: max_len - 2] + [3]
    return x + [0] * (max_len - len(x))
for name, n in (("train", 4096), ("test", 256)):
    rs = rows(n)
    with open(os.path.join(work, name + ".jsonl"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rs)
    x = np.array([ids(r) for r in rs], dtype=np.int64)
    np.savez(os.path.join(work, name + ".npz"), input_ids=x, attention_mask=(x != 0).astype(np.int64),
             labels=np.array([r["label"] == "pos" for r in rs], dtype=np.int64))
PY
"$whet" model init --vocab "$work/vocab.txt" --labels neg,pos --layers 12 --hidden 768 --heads 12 \
  --intermediate 3072 --seed 1 --out "$work/base"

# peak_mib CMD...: runs CMD, prints the peak GPU memory it added (MiB) on fd 3.
peak_mib() {
  local before log pid
  before=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0)
  log=$(mktemp)
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 -lms 100 >"$log" &
  pid=$!
  "$@"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  echo $(($(sort -n "$log" | tail -1) - before)) >&3
  rm -f "$log"
}

echo "== 3. fine-tuning speed and memory: $steps steps, batch 32 x 128 tokens"
printf '%-8s %-6s %12s %16s\n' impl prec samples/s peak_GPU_MiB
for prec in fp32 bf16; do
  mem=$( { peak_mib "$whet" train --model "$work/base" --train "$work/train.jsonl" --out "$work/out-$prec" \
    --batch-size 32 --max-seq-length 128 --epochs 1 --max-steps "$steps" --device cuda:0 --precision "$prec" \
    --progress json 2>"$work/whet-$prec.jsonl" >/dev/null; } 3>&1)
  sps=$("$py" -c 'import json,sys; print([e for e in map(json.loads, open(sys.argv[1])) if e.get("type") == "done"][-1]["train_samples_per_second"])' "$work/whet-$prec.jsonl")
  printf '%-8s %-6s %12.1f %16s\n' whet "$prec" "$sps" "$mem"
  mem=$( { peak_mib "$py" bench/ref_train.py --model "$work/base" --data "$work/train.npz" --batch-size 32 \
    --max-steps "$steps" --device cuda:0 --precision "$prec" >"$work/ref-$prec.json" 2>/dev/null; } 3>&1)
  sps=$("$py" -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["train_samples_per_second"])' "$work/ref-$prec.json")
  printf '%-8s %-6s %12.1f %16s\n' pytorch "$prec" "$sps" "$mem"
done

# float16 with dynamic loss scaling: a short run, to show the path runs (AdamW's found-inf skip on the device).
"$whet" train --model "$work/base" --train "$work/train.jsonl" --out "$work/out-fp16" --batch-size 32 \
  --max-seq-length 128 --epochs 1 --max-steps 30 --device cuda:0 --precision fp16 --progress json 2>"$work/whet-fp16.jsonl" >/dev/null
"$py" -c 'import json,sys; d=[e for e in map(json.loads, open(sys.argv[1])) if e.get("type") == "done"][-1]; print("whet fp16 (30 steps): %.1f samples/s" % d["train_samples_per_second"])' "$work/whet-fp16.jsonl"

echo "== 4. whet's folders in transformers, against whet's predictions on the GPU (float32)"
for prec in fp32 bf16; do
  WHET_DEVICE=cuda:0 "$whet" predict --model "$work/out-$prec" --input "$work/test.jsonl" \
    --output "$work/pred-$prec.jsonl" --max-seq-length 128
  "$py" - "$work" "$prec" <<'PY'
import json, os, sys
import numpy as np, torch
from transformers import AutoModelForSequenceClassification
work, prec = sys.argv[1], sys.argv[2]
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
model = AutoModelForSequenceClassification.from_pretrained(os.path.join(work, "out-" + prec)).cuda().eval()
d = np.load(os.path.join(work, "test.npz"))
with torch.no_grad():
    logits = model(input_ids=torch.from_numpy(d["input_ids"]).cuda(),
                   attention_mask=torch.from_numpy(d["attention_mask"]).cuda()).logits.float().cpu().numpy()
preds = [json.loads(l) for l in open(os.path.join(work, "pred-" + prec + ".jsonl"))]
whet = np.array([p["logits"] for p in preds], dtype=np.float32)
diff = float(np.abs(whet - logits).max())
labels = [model.config.id2label[int(i)] for i in logits.argmax(1)]
same = sum(a == p["label"] for a, p in zip(labels, preds))
print("trained in %s: transformers loads it; logits max |whet - transformers| = %.2e (%s); labels agree on %d/%d"
      % (prec, diff, "ok" if diff <= 1e-4 else "FAIL > 1e-4", same, len(preds)))
sys.exit(0 if diff <= 1e-4 and same == len(preds) else 1)
PY
done
WHET_DEVICE=cuda:0 "$whet" predict --model "$work/out-fp32" --input "$work/test.jsonl" --output "$work/pred-bf16-inference.jsonl" \
  --max-seq-length 128 --precision bf16
"$py" - "$work" <<'PY'
import json, os, sys
import numpy as np, torch
from transformers import AutoModelForSequenceClassification
work = sys.argv[1]
torch.backends.cuda.matmul.allow_tf32 = False
model = AutoModelForSequenceClassification.from_pretrained(os.path.join(work, "out-fp32")).cuda().eval()
d = np.load(os.path.join(work, "test.npz"))
ids, mask = torch.from_numpy(d["input_ids"]).cuda(), torch.from_numpy(d["attention_mask"]).cuda()
with torch.no_grad():
    fp32 = model(input_ids=ids, attention_mask=mask).logits.float().cpu().numpy()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        ref = model(input_ids=ids, attention_mask=mask).logits.float().cpu().numpy()
whet = np.array([json.loads(l)["logits"] for l in open(os.path.join(work, "pred-bf16-inference.jsonl"))], dtype=np.float32)
e_whet, e_ref = float(np.abs(whet - fp32).max()), float(np.abs(ref - fp32).max())
agree = (ref.argmax(1) == fp32.argmax(1))
same = int(((whet.argmax(1) == fp32.argmax(1)) | ~agree).sum())
ok = e_whet <= 2 * e_ref + 1e-2 and same == len(fp32)
print("bf16 inference: max |whet bf16 - fp32| = %.2e, max |PyTorch bf16 - fp32| = %.2e; labels agree on %d/%d (%s)"
      % (e_whet, e_ref, same, len(fp32), "ok" if ok else "FAIL"))
sys.exit(0 if ok else 1)
PY
echo "gpu-check: done in $(($(date +%s) - start)) s (work folder $work)"
