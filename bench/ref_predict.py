#!/usr/bin/python3
"""The PyTorch reference for inference: model.eval() + torch.no_grad() forward, softmax, results as Python lists.

Inputs come pre-tokenized (.npz: input_ids [N, max_len] padded with 0, attention_mask) so tokenization is outside the
timed region (conservative: whet's numbers include its WASM tokenization). For every batch size, requests are sent
one after another (each waits for the previous), cycling through the texts, after one warm-up request, until both
--budget seconds and --min-requests are reached. --padding max_length feeds every row at max_len (what
tokenizer(padding="max_length") gives); longest cuts each batch to its longest row (padding=True).

Prints one JSON object: {"load_s": .., "results": {"max_length": {"1": {"texts_per_s", "p50_ms", "p99_ms",
"requests"}, ...}, "longest": {...}}}.
"""
import argparse
import json
import os
import sys
import time

T_START = time.monotonic()

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "native", "testdata"))
import ref_bert  # noqa: E402


def pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return None
    k = min(len(xs) - 1, max(0, int(round(q * (len(xs) - 1)))))
    return xs[k]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--batch-sizes", default="1,8,64")
    ap.add_argument("--padding", default="max_length,longest")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--budget", type=float, default=3.0, help="seconds per batch size and padding")
    ap.add_argument("--min-requests", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    d = np.load(a.data)
    ids = torch.from_numpy(d["input_ids"].astype(np.int64))
    mask = torch.from_numpy(d["attention_mask"].astype(np.int64))
    types = torch.zeros_like(ids)
    n = ids.shape[0]
    model = ref_bert.load(a.model, ref_bert.Variant({"gelu": "native"}))  # F.gelu, as HF
    model.eval()
    id2label = model_labels(a.model)
    load_s = time.monotonic() - T_START

    def request(k, b, padding):
        rows = [(k * b + i) % n for i in range(b)]
        bi, bt, bm = ids[rows], types[rows], mask[rows]
        if padding == "longest":
            m = int(bm.sum(1).max())
            bi, bt, bm = bi[:, :m], bt[:, :m], bm[:, :m]
        with torch.no_grad():
            logits, _ = model(bi, bt, bm)
            probs = torch.softmax(logits, dim=-1)
        out = []
        for lg, pr in zip(logits.tolist(), probs.tolist()):
            j = max(range(len(pr)), key=pr.__getitem__)
            out.append({"label": id2label[j], "score": pr[j], "logits": lg})
        return out

    results = {}
    for padding in a.padding.split(","):
        results[padding] = {}
        for b in [int(x) for x in a.batch_sizes.split(",")]:
            request(0, b, padding)  # warm-up
            lat, k = [], 1
            t0 = time.perf_counter()
            while True:
                s = time.perf_counter()
                request(k, b, padding)
                lat.append(time.perf_counter() - s)
                k += 1
                if time.perf_counter() - t0 >= a.budget and len(lat) >= a.min_requests:
                    break
            total = time.perf_counter() - t0
            results[padding][str(b)] = {
                "texts_per_s": len(lat) * b / total,
                "p50_ms": pct(lat, 0.5) * 1e3,
                "p99_ms": pct(lat, 0.99) * 1e3,
                "requests": len(lat),
            }
    print(json.dumps({"load_s": load_s, "results": results}))


def model_labels(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        c = json.load(f)
    m = c.get("id2label") or {"0": "LABEL_0", "1": "LABEL_1"}
    return [m[str(i)] for i in range(len(m))]


if __name__ == "__main__":
    main()
