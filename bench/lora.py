#!/usr/bin/python3
"""LoRA benchmarks: training step time and peak RSS, LoRA vs full fine-tuning in whet and in the PyTorch reference
(bench/ref_train.py, with --lora-r: peft's math from native/testdata/ref_lora.py, on the same libtorch); and serving
many adapters from one `whet worker predict`.

    /usr/bin/python3 bench/lora.py [--sizes tiny,mini,small,base] [--threads T] [--parts train,serve,quality] [--out DIR]

One command per part, each sized for about 10 minutes on 2 quiet cores (steps estimated from the quiet fine-tuning
figures in bench/results.md; --steps overrides):

    /usr/bin/python3 bench/lora.py --parts train --sizes tiny --threads 2     # likewise mini, small, base (12x768)
    /usr/bin/python3 bench/lora.py --parts serve --serve-size mini --threads 2
    /usr/bin/python3 bench/lora.py --parts quality --threads 2                # needs ../shared/data

Training: a random-init model per size (`whet model init`, a generated 1000-word vocabulary, 2 labels), fixed-length
rows (128 tokens), the same batch and steps on four runs: whet full, whet --method lora, reference full, reference
LoRA (r=8, alpha=8, query+value; classifier trained in full). Figures: train_samples_per_second from each summary
(time in steps; loading and evaluation excluded), and peak RSS of the process (getrusage ru_maxrss via wait4).

Serving: `whet train --method lora --max-steps 2 --lora-targets T` (--serve-targets, default query,value) makes an
adapter of one base, copied into N folders (each loaded
separately; the values do not change the cost); one worker then answers requests of 8
texts: first without adapter (the base's own head), then cycling through the N adapters (all loaded first). Figures:
VmRSS after the base alone and after N adapters, the adapters' file sizes, texts/s single vs alternating.
Quality: SST-2 dev accuracy of full fine-tuning vs LoRA (r=8) on the same `whet pretrain`ed base: a tiny model
(2x128, an 8000-entry vocabulary from `whet vocab build`) pretrained from scratch by masked-language modelling on
../shared/data/corpus and the SST-2 training sentences (text only, packed into lines of ~45 words; --pretrain-steps,
~50 minutes; --quality-base DIR reuses a base), then fine-tuned on the first --quality-rows SST-2 training rows for one epoch three
ways (full: --full-lr; LoRA r=8, alpha 16, classifier in full, --lora-lr: on query+value, peft's default, and on
query+value+word_embeddings), once per --quality-seeds seed, and scored by `whet eval` on the 872 dev rows; the
methods are compared by their mean accuracy (one run's spread is 2-3 points).
Prints a Markdown report on stdout and writes it to OUT/lora-PARTS[-SIZES].md.
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
# Steps per size: four runs (whet full and LoRA, torch full and LoRA) of about 10 minutes together on 2 quiet cores,
# from the quiet fixed-128 figures of bench/results.md (ms/step whet / torch: tiny 93 / 209, mini 739 / 884, small
# 2167 / 3164; LoRA taken as 2/3 of full) and, for 12x768, ~6.6x small's FLOPs per row.
SIZES = {  # layers, hidden, heads, intermediate, batch, steps
    "tiny": (2, 128, 2, 512, 32, 900),
    "mini": (4, 256, 4, 1024, 32, 180),
    "small": (4, 512, 8, 2048, 32, 56),
    "base": (12, 768, 12, 3072, 8, 30),
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
        steps = a.steps or steps
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
    kind = os.path.join(d, "adapters-" + a.serve_targets.replace(",", "+"))
    first = os.path.join(kind, "adapter-00")
    if not os.path.exists(os.path.join(first, "adapter_config.json")):
        run([whet, "train", "--method", "lora", "--model", model, "--train", data, "--out", first, "--max-steps", "2", "--batch-size", "8",
             "--learning-rate", "1e-2", "--threads", str(a.threads), "--max-seq-length", "64", "--progress", "none",
             "--lora-targets", a.serve_targets])
    adapters = [first]
    for i in range(1, a.adapters):
        ad = os.path.join(kind, "adapter-%02d" % i)
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
    return {"size": a.serve_size, "targets": a.serve_targets, "adapters": len(adapters), "rss_base": rss_base, "rss_all": rss_all, "adapter_mib": adapter_bytes / 2**20,
            "single": best_single, "alternating": best_alt, "requests": k, "rounds": a.rounds}


def shared_data():
    """Returns ../shared/data (beside the checkout, or WHET_SHARED), or exits saying it is missing."""
    for d in (os.environ.get("WHET_SHARED", ""), os.path.join(ROOT, "..", "shared"), "/work/shared"):
        if d and os.path.exists(os.path.join(d, "data", "sst2", "dev.tsv")):
            return os.path.join(d, "data")
    raise SystemExit("quality part: ../shared/data/sst2 not found (set WHET_SHARED to the folder holding data/)")


def bench_quality(a, whet, out):
    data = shared_data()
    d = os.path.join(out, "quality")
    os.makedirs(d, exist_ok=True)
    # Corpus: WikiText-2 and IMDb lines, and the SST-2 training sentences (text only: no labels reach pretraining),
    # shuffled (SST-2's phrases overlap: one line should rarely repeat another's words) and packed into lines of about
    # 45 words, so a 64-token row holds text instead of padding.
    lines = []
    sst2 = []
    with open(os.path.join(data, "sst2", "train.tsv"), encoding="utf-8") as f:
        next(f)
        for line in f:
            sst2.append(line.rstrip("\n").split("\t"))
    for name in ("wikitext-2-v1.valid.tokens.txt", "wikitext-2-v1.test.tokens.txt", "imdb_unsup_sample.txt"):
        with open(os.path.join(data, "corpus", name), encoding="utf-8") as src:
            lines += [l.strip() for l in src if len(l.split()) >= 5 and not l.strip().startswith("=")]
    lines += [text.strip() for text, _ in sst2 if text.strip()]
    text = os.path.join(d, "lines.txt")  # the vocabulary is built from the lines as they come
    with open(text, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    random.Random(2).shuffle(lines)
    corpus = os.path.join(d, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        cur = []
        for line in lines:
            w = line.split()
            if len(w) >= 45:
                f.write(" ".join(w[:90]) + "\n")
                continue
            if len(cur) + len(w) > 45:
                f.write(" ".join(cur) + "\n")
                cur = []
            cur += w
        if cur:
            f.write(" ".join(cur) + "\n")
    train = os.path.join(d, "train.tsv")
    with open(train, "w", encoding="utf-8") as f:
        f.write("sentence\tlabel\n")
        for text, label in sst2[:a.quality_rows]:
            f.write("%s\t%s\n" % (text, label))
    dev = os.path.join(data, "sst2", "dev.tsv")
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    th = ["--threads", str(a.threads)]
    base = a.quality_base or os.path.join(d, "pretrained")
    t0 = time.monotonic()
    if not a.quality_base:
        shutil.rmtree(base, ignore_errors=True)
        vocab = os.path.join(d, "vocab.txt")
        run([whet, "vocab", "build", "--corpus", text, "--out", vocab, "--size", "8000"])
        run([whet, "pretrain", "--vocab", vocab, "--layers", "2", "--hidden", "128", "--heads", "2", "--intermediate", "512",
             "--max-position", "128", "--corpus", corpus, "--out", base, "--max-steps", str(a.pretrain_steps), "--batch-size", "32",
             "--max-seq-length", "64", "--learning-rate", "1e-3", "--warmup-ratio", "0.02", "--seed", "1"] + th, env)
    pretrain_s = time.monotonic() - t0
    res = {"pretrain_steps": a.pretrain_steps, "pretrain_s": pretrain_s, "rows": min(a.quality_rows, len(sst2))}
    lora = ["--method", "lora", "--lora-r", "8", "--lora-alpha", "16", "--learning-rate", str(a.lora_lr), "--lora-targets"]
    seeds = [int(x) for x in a.quality_seeds.split(",")]
    for name, extra in (("full", ["--learning-rate", str(a.full_lr)]), ("lora", lora + ["query,value"]),
                        ("lora_emb", lora + ["query,value,word_embeddings"])):
        r = res[name] = {"accuracy": [], "rss": []}
        for seed in seeds:
            model = os.path.join(d, name)
            shutil.rmtree(model, ignore_errors=True)
            so, rss, wall = run_rss([whet, "train", "--model", base, "--train", train, "--out", model, "--epochs", "1", "--batch-size", "32",
                                     "--max-seq-length", "64", "--seed", str(seed), "--progress", "none"] + extra + th, env)
            s = last_json(so)
            ev = last_json(run([whet, "eval", "--model", model, "--input", dev] + th, env))
            r["accuracy"].append(ev["accuracy"])
            r["rss"].append(rss)
            r["trainable"], r["total"] = s.get("trainable_params"), s.get("total_params")
            print("quality %s seed %d: dev accuracy %.4f, %.0fs" % (name, seed, ev["accuracy"], wall), file=sys.stderr)
        r["mean"] = sum(r["accuracy"]) / len(seeds)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="tiny,mini,small,base")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--parts", default="train,serve")
    ap.add_argument("--serve-size", default="mini")
    ap.add_argument("--adapters", type=int, default=20)
    ap.add_argument("--serve-targets", default="query,value", help="serve: the adapters' --lora-targets")
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=0, help="training steps per run (default: per size, see SIZES)")
    ap.add_argument("--pretrain-steps", type=int, default=10000, help="quality: whet pretrain steps (batch 32, 64 tokens; ~50 minutes on 2 quiet cores)")
    ap.add_argument("--quality-base", default="", help="quality: fine-tune this pretrained folder instead of pretraining one (skips ~50 minutes)")
    ap.add_argument("--quality-rows", type=int, default=20000, help="quality: SST-2 training rows (one epoch)")
    ap.add_argument("--full-lr", type=float, default=7e-4, help="quality: learning rate of full fine-tuning (best of a sweep, bench/results.md)")
    ap.add_argument("--lora-lr", type=float, default=1e-3, help="quality: learning rate of LoRA (best of a sweep, bench/results.md)")
    ap.add_argument("--quality-seeds", default="1,2,3", help="quality: fine-tuning seeds (one run per method and seed; the mean is compared)")
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
        lines += ["Serving: one `whet worker predict` on a %s base, %d adapters (targets %s); requests of 8 texts (8-40 words, max 64 tokens), %d per pass, best of %d:" % (
            s["size"], s["adapters"], s["targets"], s["requests"], s["rounds"]), "",
            "| VmRSS base only | VmRSS with %d adapters | per adapter | adapter files | texts/s base model | texts/s alternating adapters | ratio |" % s["adapters"],
            "|---|---|---|---|---|---|---|",
            "| %.0f MiB | %.0f MiB | %.2f MiB | %.2f MiB | %.1f | %.1f | %.2f |" % (
                s["rss_base"], s["rss_all"], (s["rss_all"] - s["rss_base"]) / s["adapters"], s["adapter_mib"], s["single"], s["alternating"],
                s["alternating"] / s["single"]), ""]
    if "quality" in a.parts:
        q = bench_quality(a, whet, a.out)
        f = q["full"]
        made = ("`whet pretrain`ed for %d steps (%.0f s)" % (q["pretrain_steps"], q["pretrain_s"]) if not a.quality_base
                else "%s (--quality-base)" % a.quality_base)
        lines += ["Quality: SST-2 dev (872 rows) after one epoch on the first %d training rows, on a tiny base (2x128, "
                  "8000-entry vocab) %s; full lr %g, LoRA r=8 alpha=16 lr %g; seeds %s:" % (q["rows"], made, a.full_lr, a.lora_lr, a.quality_seeds), "",
                  "| method | dev accuracy per seed | mean | mean - full's, points | trainable / total params | peak RSS MiB |",
                  "|---|---|---|---|---|---|"]
        for name, label in (("full", "full"), ("lora", "LoRA query,value"), ("lora_emb", "LoRA query,value,word_embeddings")):
            r = q[name]
            lines.append("| %s | %s | %.4f | %+.2f | %s / %s | %.0f |" % (
                label, " / ".join("%.4f" % x for x in r["accuracy"]), r["mean"], 100 * (r["mean"] - f["mean"]),
                r["trainable"], r["total"], max(r["rss"])))
        lines.append("")
    text = "\n".join(lines) + "\n"
    tag = a.parts.replace(",", "+") + ("-" + a.sizes.replace(",", "+") if "train" in a.parts else "")
    with open(os.path.join(a.out, "lora-%s.md" % tag), "w") as f:  # one file per command: they run one at a time
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
