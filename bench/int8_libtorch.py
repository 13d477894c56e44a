#!/usr/bin/python3
"""Does int8 pay on whet's own CPU predict path? (issue 14, point 4: keep it only if the whole model gains.)

whet links Debian's libtorch; Debian's python3-torch is the same build (no FBGEMM; quantized engines qnnpack and
onednn). This script measures, on that libtorch, a whole BERT classifier forward in fp32 against the same model with
every nn.Linear dynamically quantized to per-channel qint8 (torch.ao.quantization.quantize_dynamic: what
`quantized::linear_dynamic` with prepacked weights does from C++), for each quantized engine, at batch 1/8/64 and
sequence 128, after warm-up, best of --rounds timed passes. It also reports how often the int8 model's label equals
fp32's on the rows it ran.

Usage (a quiet machine; models made by `whet model init`, see bench/harness.py's SIZE_DEFS):
    /usr/bin/python3 bench/int8_libtorch.py --models tiny=DIR,mini=DIR,small=DIR --threads 2
Prints a markdown table: fp32 texts/s, int8 texts/s per engine, and the ratio.
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "native", "testdata"))
import ref_bert  # noqa: E402


def texts_per_s(model, ids, mask, types, batch, rounds, budget):
    n = ids.shape[0]
    best = 0.0
    with torch.no_grad():
        model(ids[:batch], types[:batch], mask[:batch])  # warm-up (prepacking, allocator)
        for _ in range(rounds):
            done, k, t0 = 0, 0, time.perf_counter()
            while True:
                rows = [(k * batch + i) % n for i in range(batch)]
                model(ids[rows], types[rows], mask[rows])
                done += batch
                k += 1
                el = time.perf_counter() - t0
                if el >= budget and k >= 3:
                    break
            best = max(best, done / el)
    return best


def labels(model, ids, mask, types):
    with torch.no_grad():
        return model(ids, types, mask)[0].argmax(-1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", required=True, help="name=DIR,name=DIR")
    ap.add_argument("--batch-sizes", default="1,8,64")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--budget", type=float, default=2.0, help="seconds per timed pass")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    engines = [e for e in ("onednn", "qnnpack") if e in torch.backends.quantized.supported_engines]
    print("torch %s, threads %d, engines %s, seq %d" % (torch.__version__, a.threads, engines, a.seq))
    print()
    print("| model | batch | fp32 texts/s | " + " | ".join("int8 %s texts/s | ratio" % e for e in engines) + " |")
    print("|---|---|---|" + "---|---|" * len(engines))
    agree = {}
    for spec in a.models.split(","):
        name, folder = spec.split("=", 1)
        fp32 = ref_bert.load(folder, ref_bert.Variant({"gelu": "native"}))
        fp32.eval()
        vocab = fp32.bert.embeddings.word_embeddings.weight.shape[0]
        ids = torch.randint(1000, vocab, (256, a.seq))
        ids[:, 0] = 101
        lens = torch.randint(8, a.seq + 1, (256,))
        mask = (torch.arange(a.seq)[None, :] < lens[:, None]).long()
        ids = ids * mask
        types = torch.zeros_like(ids)
        q = {}
        for e in engines:
            torch.backends.quantized.engine = e
            q[e] = torch.ao.quantization.quantize_dynamic(fp32, {torch.nn.Linear}, dtype=torch.qint8)
            base = labels(fp32, ids[:64], mask[:64], types[:64])
            agree[(name, e)] = float((labels(q[e], ids[:64], mask[:64], types[:64]) == base).float().mean())
        for b in [int(x) for x in a.batch_sizes.split(",")]:
            f = texts_per_s(fp32, ids, mask, types, b, a.rounds, a.budget)
            cells = []
            for e in engines:
                torch.backends.quantized.engine = e
                r = texts_per_s(q[e], ids, mask, types, b, a.rounds, a.budget)
                cells.append("%.1f | %.2fx" % (r, r / f))
            print("| %s | %d | %.1f | %s |" % (name, b, f, " | ".join(cells)))
            sys.stdout.flush()
    print()
    for (name, e), v in sorted(agree.items()):
        print("label agreement int8 (%s) vs fp32, %s, 64 random rows: %.3f" % (e, name, v))


if __name__ == "__main__":
    main()
