#!/usr/bin/python3
"""LoRA benchmarks: training step time and peak RSS, LoRA vs full fine-tuning in whet and in the PyTorch reference
(bench/ref_train.py, with --lora-r: peft's math from native/testdata/ref_lora.py, on the same libtorch); and serving
many adapters from one `whet worker predict`.

    /usr/bin/python3 bench/lora.py [--sizes tiny,mini,small,base] [--threads T] [--parts train,serve] [--out DIR]

Training: a random-init model per size (`whet model init`, a generated 1000-word vocabulary, 2 labels), fixed-length
rows (128 tokens), the same batch and steps on four runs: whet full, whet --method lora, reference full, reference
LoRA (r=8, alpha=8, query+value; classifier trained in full). Figures: train_samples_per_second from each summary
(time in steps; loading and evaluation excluded), and peak RSS of the process (getrusage ru_maxrss via wait4).

Serving: `whet train --method lora --max-steps 2` makes an adapter of one base, copied into N folders (each loaded
separately; the values do not change the cost); one worker then answers requests of 8
texts: first without adapter (the base's own head), then cycling through the N adapters (all loaded first). Figures:
VmRSS after the base alone and after N adapters, the adapters' file sizes, texts/s single vs alternating.
Prints a Markdown report on stdout and writes it to OUT/lora.md.
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = "/usr/bin/python3"
SIZES = {  # layers, hidden, heads, intermediate, batch, steps
    "tiny": (2, 128, 2, 512, 32, 20),
    "mini": (4, 256, 4, 1024, 32, 12),
    "small": (4, 512, 8, 2048, 32, 8),
    "base": (12, 768, 12, 3072, 8, 3),
}
SEQ = 128


def run(cmd, env=None):
    """Runs cmd, failing with its stderr."""
    p = subprocess.run(cmd, capture_output=True, env=env)
    if p.returncode != 0:
        raise SystemExit("%s: exit %d\n%s" % (" ".join(cmd), p.returncode, p.stderr.decode()[-2000:]))
    return p.stdout.decode()


def run_rss(cmd, env=None):
    """Runs cmd; returns its stdout, peak RSS in MiB (ru_maxrss) and wall seconds."""
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as errf:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errf, env=env)
        out = p.stdout.read()
        _, status, ru = os.wait4(p.pid, 0)
        if status != 0:
            errf.seek(0)
            raise SystemExit("%s: status %d\n%s" % (" ".join(cmd), status, errf.read().decode()[-2000:]))
    return out.decode(), ru.ru_maxrss / 1024.0, time.monotonic() - t0


def last_json(out):
    return json.loads(out.strip().splitlines()[-1])


def make_vocab(d):
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + ["w%d" % i for i in range(995)]
    p = os.path.join(d, "vocab.txt")
    with open(p, "w") as f:
        f.write("\n".join(words) + "\n")
    return p, words[5:]


def make_rows(d, words, n, length, seed):
    rng = random.Random(seed)
    p = os.path.join(d, "train-%d.tsv" % seed)
    with open(p, "w") as f:
        f.write("sentence\tlabel\n")
        for i in range(n):
            f.write(" ".join(rng.choice(words) for _ in range(length)) + "\t" + ("pos" if i % 2 else "neg") + "\n")
    return p


def bench_train(a, whet, out, words, vocab):
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    rows = []
    for size in a.sizes.split(","):
        L, H, nh, inter, batch, steps = SIZES[size]
        d = os.path.join(out, size)
        os.makedirs(d, exist_ok=True)
        model = os.path.join(d, "model")
        if not os.path.exists(model):
            run([whet, "model", "init", "--vocab", vocab, "--labels", "neg,pos", "--layers", str(L), "--hidden", str(H), "--heads", str(nh),
                 "--intermediate", str(inter), "--max-position", "512", "--seed", "1", "--out", model])
        data = make_rows(d, words, batch * steps, SEQ - 2, 1)
        rng = np.random.default_rng(1)
        npz = os.path.join(d, "rows.npz")
        np.savez(npz, input_ids=rng.integers(5, 1000, size=(batch * steps, SEQ)), attention_mask=np.ones((batch * steps, SEQ), dtype=np.int64),
                 labels=np.arange(batch * steps) % 2)
        common = ["--max-steps", str(steps), "--batch-size", str(batch), "--threads", str(a.threads)]
        runs = {
            "whet full": [whet, "train", "--model", model, "--train", data, "--out", os.path.join(d, "full"), "--max-seq-length", str(SEQ), "--progress", "none"] + common,
            "whet lora": [whet, "train", "--method", "lora", "--model", model, "--train", data, "--out", os.path.join(d, "lora"), "--max-seq-length", str(SEQ), "--progress", "none"] + common,
            "torch full": [PY, os.path.join(ROOT, "bench", "ref_train.py"), "--model", model, "--data", npz] + common,
            "torch lora": [PY, os.path.join(ROOT, "bench", "ref_train.py"), "--model", model, "--data", npz, "--lora-r", "8"] + common,
        }
        res = {}
        for name, cmd in runs.items():
            for o in ("full", "lora"):
                subprocess.run(["rm", "-rf", os.path.join(d, o)])
            so, rss, wall = run_rss(cmd, env)
            s = last_json(so)
            res[name] = (s["train_samples_per_second"], rss, s.get("trainable_params"), s.get("total_params"))
            print("%s %s: %.2f samples/s, peak RSS %.0f MiB, %.1fs" % (size, name, res[name][0], rss, wall), file=sys.stderr)
        rows.append((size, L, H, batch, steps, res))
    return rows


def worker_rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def bench_serve(a, whet, out, words, vocab):
    L, H, nh, inter = SIZES[a.serve_size][:4]
    d = os.path.join(out, "serve-" + a.serve_size)
    os.makedirs(d, exist_ok=True)
    model = os.path.join(d, "model")
    if not os.path.exists(model):
        run([whet, "model", "init", "--vocab", vocab, "--labels", "neg,pos", "--layers", str(L), "--hidden", str(H), "--heads", str(nh),
             "--intermediate", str(inter), "--max-position", "512", "--seed", "1", "--out", model])
    data = make_rows(d, words, 16, 30, 2)
    # One trained adapter, copied: each copy is a separate folder the worker loads on its own (the values do not
    # change the cost; training 20 would only make the run longer).
    first = os.path.join(d, "adapter-00")
    if not os.path.exists(os.path.join(first, "adapter_config.json")):
        run([whet, "train", "--method", "lora", "--model", model, "--train", data, "--out", first, "--max-steps", "2", "--batch-size", "8",
             "--learning-rate", "1e-2", "--threads", str(a.threads), "--max-seq-length", "64", "--progress", "none"])
    adapters = [first]
    for i in range(1, a.adapters):
        ad = os.path.join(d, "adapter-%02d" % i)
        if not os.path.exists(ad):
            shutil.copytree(first, ad, ignore=shutil.ignore_patterns("checkpoints"))
        adapters.append(ad)
    adapter_bytes = sum(os.path.getsize(os.path.join(x, "adapter_model.safetensors")) for x in adapters)
    rng = random.Random(3)
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(8, 40))) for _ in range(64)]
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    p = subprocess.Popen([whet, "worker", "predict", "--model", model, "--threads", str(a.threads), "--max-seq-length", "64"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    ready = json.loads(p.stdout.readline())
    assert ready.get("ready"), ready
    seq = [0]

    def ask(inputs, adapter=None):
        seq[0] += 1
        req = {"id": seq[0], "inputs": inputs}
        if adapter:
            req["adapter"] = adapter
        p.stdin.write(json.dumps(req) + "\n")
        p.stdin.flush()
        r = json.loads(p.stdout.readline())
        if "error" in r:
            raise SystemExit("worker: %s" % r["error"])
        return r

    def batches(k):
        return [texts[(i * 8) % 64:(i * 8) % 64 + 8] for i in range(k)]

    for b in batches(4):
        ask(b)
    rss_base = worker_rss(p.pid)
    k = a.requests
    best_single, best_alt = 0.0, 0.0
    for ad in adapters:
        ask(texts[:1], ad)
    rss_all = worker_rss(p.pid)
    for _ in range(a.rounds):  # interleaved rounds, best of each
        t0 = time.monotonic()
        for b in batches(k):
            ask(b)
        best_single = max(best_single, 8 * k / (time.monotonic() - t0))
        t0 = time.monotonic()
        for i, b in enumerate(batches(k)):
            ask(b, adapters[i % len(adapters)])
        best_alt = max(best_alt, 8 * k / (time.monotonic() - t0))
    p.stdin.close()
    p.wait()
    return {"size": a.serve_size, "adapters": len(adapters), "rss_base": rss_base, "rss_all": rss_all, "adapter_mib": adapter_bytes / 2**20,
            "single": best_single, "alternating": best_alt, "requests": k, "rounds": a.rounds}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="tiny,mini,small,base")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--parts", default="train,serve")
    ap.add_argument("--serve-size", default="mini")
    ap.add_argument("--adapters", type=int, default=20)
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "out", "lora"))
    a = ap.parse_args()
    whet = os.environ.get("WHET_BIN", os.path.join(ROOT, "bin", "whet"))
    os.makedirs(a.out, exist_ok=True)
    vocab, words = make_vocab(a.out)
    lines = ["## LoRA (bench/lora.py, %s, %d threads, %s)" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), a.threads, os.uname().machine), ""]
    if "train" in a.parts:
        lines += ["Training, seq %d, random-init models, r=8 alpha=8 on query,value (classifier trained in full); one run each:" % SEQ, "",
                  "| size | batch x steps | whet full samples/s | whet LoRA samples/s | LoRA/full | torch full | torch LoRA | whet LoRA / torch LoRA | peak RSS MiB whet full / LoRA / torch full / LoRA | trainable / total |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for size, L, H, batch, steps, r in bench_train(a, whet, a.out, words, vocab):
            wf, wl, tf, tl = r["whet full"], r["whet lora"], r["torch full"], r["torch lora"]
            lines.append("| %s (%dx%d) | %dx%d | %.1f | %.1f | %.2fx | %.1f | %.1f | %.2fx | %.0f / %.0f / %.0f / %.0f | %s / %s |" % (
                size, L, H, batch, steps, wf[0], wl[0], wl[0] / wf[0], tf[0], tl[0], wl[0] / tl[0], wf[1], wl[1], tf[1], tl[1], wl[2], wl[3]))
        lines.append("")
    if "serve" in a.parts:
        s = bench_serve(a, whet, a.out, words, vocab)
        lines += ["Serving: one `whet worker predict` on a %s base, %d adapters; requests of 8 texts (8-40 words, max 64 tokens), %d per pass, best of %d:" % (
            s["size"], s["adapters"], s["requests"], s["rounds"]), "",
            "| VmRSS base only | VmRSS with %d adapters | per adapter | adapter files | texts/s base model | texts/s alternating adapters | ratio |" % s["adapters"],
            "|---|---|---|---|---|---|---|",
            "| %.0f MiB | %.0f MiB | %.2f MiB | %.2f MiB | %.1f | %.1f | %.2f |" % (
                s["rss_base"], s["rss_all"], (s["rss_all"] - s["rss_base"]) / s["adapters"], s["adapter_mib"], s["single"], s["alternating"],
                s["alternating"] / s["single"]), ""]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(a.out, "lora.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
