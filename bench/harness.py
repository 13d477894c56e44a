#!/usr/bin/python3
"""whet vs. the references, side by side on this machine, interleaved and repeated (run through bench/run.sh).

Parts (each skips with a clear line when something it needs is missing):
  train     fine-tuning samples/s, tiny/mini/small BERT, seq 128, batch 32: fixed-length rows and real SST-2 lengths;
            the reference is bench/ref_train.py (PyTorch loop, max_length padding; plus per-batch padding on SST-2)
  ttfs      time to first step (process start -> first optimizer step done, incl. model load), from the train runs
  memory    peak (getrusage ru_maxrss) and steady (median VmRSS while training) RSS, from the train runs
  predict   texts/s at batch 1, 8, 64: `whet worker predict` vs bench/ref_predict.py (torch.no_grad forward)
  http      single-request latency through `whet serve` (bench/predict/, owned by the service engineer)
  tokenize  sandboxed WASM vs HF tokenizers (bench/tokenize/, owned by the WASM engineer)

Environment: BENCH_QUICK=1 (1 round, fewer steps), BENCH_ROUNDS, BENCH_THREADS (default: all cores), BENCH_PARTS
(comma list of the parts above), BENCH_SIZES (comma list of tiny,mini,small), BENCH_ROWS (fixed,sst2),
BENCH_ABLATION=1 (adds whet with glibc malloc defaults on fixed rows), BENCH_RESULTS (report path), WHET_BIN, BENCH_PYTHON (the Python with
torch; default /usr/bin/python3), WHET_SHARED_DATA (default ../shared/data).
Writes bench/results.md (tables + machine) and bench/out/ (raw.json, per-run logs, generated data; git-ignored).
"""
import json
import math
import os
import platform
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from wordpiece import WordPiece  # noqa: E402

OUT = os.path.join(HERE, "out")
WORK = os.path.join(OUT, "work")
LOGS = os.path.join(OUT, "logs")
RESULTS = os.environ.get("BENCH_RESULTS", os.path.join(HERE, "results.md"))
ANALYSIS = os.path.join(HERE, "analysis.md")
# results.md's hand-curated sections (ONNX, int8, LoRA: measured by their own scripts, commands given there) sit below
# this line; make bench regenerates what is above it and keeps what is below it.
KEEP_MARKER = "<!-- make bench regenerates everything above this line and keeps everything below it -->"

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
ROUNDS = int(os.environ.get("BENCH_ROUNDS") or (1 if QUICK else 3))
THREADS = int(os.environ.get("BENCH_THREADS") or os.cpu_count() or 1)
PARTS = [p for p in (os.environ.get("BENCH_PARTS") or "train,predict,http,tokenize").split(",") if p]
SIZES = [s for s in (os.environ.get("BENCH_SIZES") or "tiny,mini,small").split(",") if s]
ROWS = [s for s in (os.environ.get("BENCH_ROWS") or "fixed,sst2").split(",") if s]  # training rows to run
WHET = os.environ.get("WHET_BIN") or os.path.join(ROOT, "bin", "whet")
PY = os.environ.get("BENCH_PYTHON") or "/usr/bin/python3"
SHARED = os.environ.get("WHET_SHARED_DATA") or os.path.join(os.path.dirname(ROOT), "shared", "data")

SEQ = 128
BATCH = 32
LR = 5e-5
WARM_STEPS = 2  # steps left out of the harness-side steady-state rate
# Optimizer steps per training run (one epoch over steps*32 rows). Sized so the full run stays under ~20 minutes on
# 2 quiet cores with 3 rounds (16.6 min measured with sst2 steps 24/16/8 and a 1.5 s predict budget; ~22 min with one
# core taken by other work); per-step rates settle after 2 steps.
STEPS = {
    "fixed": {"tiny": 16, "mini": 8, "small": 5},
    "sst2": {"tiny": 20, "mini": 12, "small": 6},
}
STEPS_QUICK = {
    "fixed": {"tiny": 5, "mini": 3, "small": 3},
    "sst2": {"tiny": 8, "mini": 5, "small": 4},
}
# BENCH_ABLATION=1 adds "whet-mdef": whet with glibc's malloc defaults (WHET_MALLOC_DEFAULTS=1), fixed-length rows,
# to show what native/torch/malloc.c's settings are worth.
ABLATION = os.environ.get("BENCH_ABLATION", "") not in ("", "0")
PREDICT_BATCHES = [1, 8, 64]
PREDICT_BUDGET = 0.6 if QUICK else 1.2  # seconds per (batch size, padding)
PREDICT_SIZES = ["tiny", "mini"] if QUICK else ["tiny", "mini", "small"]
RUN_TIMEOUT = 600

SIZE_DEFS = {
    "tiny": dict(layers=2, hidden=128, heads=2, intermediate=512),
    "mini": dict(layers=4, hidden=256, heads=4, intermediate=1024),
    "small": dict(layers=4, hidden=512, heads=8, intermediate=2048),
}

T_BEGIN = time.time()


def say(msg):
    print("[bench %5.0fs] %s" % (time.time() - T_BEGIN, msg), flush=True)


def skip(part, why):
    line = "SKIP %s: %s" % (part, why)
    say(line)
    SKIPS.append(line)


SKIPS = []


def sh(cmd, **kw):
    try:
        return subprocess.run(cmd, shell=isinstance(cmd, str), capture_output=True, text=True, timeout=120, **kw)
    except Exception as e:  # noqa: BLE001
        return subprocess.CompletedProcess(cmd, 1, "", str(e))


# ---------------------------------------------------------------- machine


def machine():
    m = {}
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    m["cpu"] = cpu or platform.processor()
    m["cores"] = os.cpu_count()
    lscpu = sh("lscpu").stdout
    for key in ("Thread(s) per core", "Core(s) per socket", "Socket(s)", "Hypervisor vendor", "Flags"):
        mm = re.search(r"^%s:\s*(.*)$" % re.escape(key), lscpu, re.M)
        if mm:
            v = mm.group(1).strip()
            if key == "Flags":
                v = " ".join(f for f in v.split() if f in ("avx2", "avx512f", "fma", "avx512_bf16", "amx_tile"))
            m[key] = v
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                m["ram_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    m["kernel"] = platform.release()
    m["os"] = sh(". /etc/os-release && echo $PRETTY_NAME").stdout.strip()
    m["libtorch"] = sh("dpkg-query -W -f '${Version}' 'libtorch1.*' 2>/dev/null || true").stdout.strip() or "?"
    r = sh([PY, "-c", "import torch;print(torch.__version__);print(torch.backends.mkldnn.is_available())"])
    m["python_torch"] = r.stdout.split()[0] if r.returncode == 0 and r.stdout else "not importable from %s" % PY
    m["blas"] = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
    m["threads"] = THREADS
    m["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY") or "unset (libgomp default: spin, then sleep)"
    m["go"] = sh("go version").stdout.strip()
    rev = sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).stdout.strip()
    dirty = sh(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"]).stdout.strip()
    m["whet_commit"] = rev + (" (+ uncommitted changes)" if dirty else "")
    m["loadavg_start"] = open("/proc/loadavg").read().split()[:3]
    return m


# ---------------------------------------------------------------- data


def gen_vocab(path):
    """A bert-base-uncased-shaped vocab of 30,522 tokens (specials, characters, ## pieces, pseudo-words)."""
    rnd = random.Random(7)
    toks = ["[PAD]"] + ["[unused%d]" % i for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = [chr(c) for c in range(33, 127) if not chr(c).isupper()]
    toks += chars + ["##" + c for c in chars if c.isalnum()]
    seen = set(toks)
    letters = "etaoinshrdlucmfwypvbgkqjxz"
    while len(toks) < 30522:
        n = rnd.choice([2, 3, 3, 4, 4, 5, 5, 6, 7, 8, 9])
        w = "".join(rnd.choice(letters[: rnd.choice([8, 14, 26])]) for _ in range(n))
        if rnd.random() < 0.3:
            w = "##" + w
        if w not in seen:
            seen.add(w)
            toks.append(w)
    with open(path, "w") as f:
        f.write("\n".join(toks) + "\n")


def read_tsv(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        ti, li = header.index("sentence"), header.index("label")
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) > max(ti, li):
                rows.append((p[ti], p[li]))
    return rows


def write_tsv(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.write("sentence\tlabel\n")
        for t, l in rows:
            f.write("%s\t%s\n" % (t.replace("\t", " ").replace("\n", " "), l))


def tokenize_npz(wp, rows, path, label_ids):
    n = len(rows)
    ids = np.zeros((n, SEQ), dtype=np.int32)
    mask = np.zeros((n, SEQ), dtype=np.int8)
    labels = np.zeros((n,), dtype=np.int32)
    lens = []
    for i, (t, l) in enumerate(rows):
        e = wp.encode(t, SEQ)
        ids[i, : len(e)] = e
        mask[i, : len(e)] = 1
        labels[i] = label_ids.get(l, 0)
        lens.append(len(e))
    np.savez(path, input_ids=ids, attention_mask=mask, labels=labels)
    return lens


def prepare_data():
    os.makedirs(WORK, exist_ok=True)
    d = {}
    vocab = os.path.join(SHARED, "vocab", "bert-base-uncased-vocab.txt")
    if os.path.exists(vocab):
        d["vocab"], d["vocab_src"] = vocab, "bert-base-uncased (../shared/data/vocab)"
    else:
        skip("real vocab", "%s missing: using a generated 30,522-token vocab" % vocab)
        d["vocab"] = os.path.join(WORK, "vocab.txt")
        gen_vocab(d["vocab"])
        d["vocab_src"] = "generated (30,522 tokens)"
    wp = WordPiece(d["vocab"])
    words = []
    with open(d["vocab"], encoding="utf-8") as f:
        for line in f:
            w = line.rstrip("\n")
            if len(w) >= 3 and w.isalpha() and w.islower() and w.isascii():
                words.append(w)
    rnd = random.Random(1)
    steps = STEPS_QUICK if QUICK else STEPS

    # Fixed-length rows: 160 whole words from the vocab, so every row fills all 128 positions.
    n_fixed = BATCH * max(steps["fixed"].values())
    fixed = [(" ".join(rnd.choice(words) for _ in range(160)), str(i % 2)) for i in range(n_fixed)]
    # Real SST-2 sentence lengths (a seeded sample of train.tsv), or generated variable-length rows.
    n_sst = BATCH * max(steps["sst2"].values())
    sst_train = os.path.join(SHARED, "sst2", "train.tsv")
    if os.path.exists(sst_train):
        allrows = read_tsv(sst_train)
        sst = random.Random(2).sample(allrows, n_sst)
        d["sst2_src"] = "SST-2 train.tsv (seeded sample)"
    else:
        skip("real SST-2 lengths", "%s missing: using generated variable-length rows (1-60 words)" % sst_train)
        sst = []
        for i in range(n_sst):
            k = max(1, min(60, int(rnd.lognormvariate(2.0, 0.7))))
            sst.append((" ".join(rnd.choice(words) for _ in range(k)), str(i % 2)))
        d["sst2_src"] = "generated variable-length rows"
    sst_dev = os.path.join(SHARED, "sst2", "dev.tsv")
    if os.path.exists(sst_dev):
        pred = read_tsv(sst_dev)
        d["predict_src"] = "SST-2 dev.tsv (872 sentences)"
    else:
        pred = []
        for i in range(872):
            k = max(1, min(60, int(rnd.lognormvariate(2.8, 0.5))))
            pred.append((" ".join(rnd.choice(words) for _ in range(k)), str(i % 2)))
        d["predict_src"] = "generated sentences (no SST-2 dev)"
    if not os.path.exists(sst_train):
        tok = []
        for i in range(20000):
            k = max(1, min(60, int(rnd.lognormvariate(2.0, 0.7))))
            tok.append((" ".join(rnd.choice(words) for _ in range(k)), "0"))
        d["tokenize_tsv"] = os.path.join(WORK, "tokenize.tsv")
        write_tsv(d["tokenize_tsv"], tok)
    else:
        d["tokenize_tsv"] = sst_train
    labels = {"0": 0, "1": 1}
    for name, rows in (("fixed", fixed), ("sst2", sst), ("predict", pred)):
        tsv = os.path.join(WORK, name + ".tsv")
        write_tsv(tsv, rows)
        lens = tokenize_npz(wp, rows, os.path.join(WORK, name + ".npz"), labels)
        d[name] = {"tsv": tsv, "npz": os.path.join(WORK, name + ".npz"), "rows": len(rows),
                   "mean_tokens": statistics.mean(lens), "texts": [t for t, _ in rows]}
        say("data %s: %d rows, mean %.1f tokens (max %d) -> %s" % (name, len(rows), statistics.mean(lens), SEQ, tsv))
    # The mean padded length of 32-row batches (what per-batch padding costs), from a random batching.
    lens = [int(x) for x in np.load(d["sst2"]["npz"])["attention_mask"].sum(1)]
    rnd2 = random.Random(3)
    order = list(range(len(lens)))
    rnd2.shuffle(order)
    batches = [order[i : i + BATCH] for i in range(0, len(order), BATCH)]
    d["sst2"]["mean_batch_max_random"] = statistics.mean(max(lens[j] for j in b) for b in batches)
    return d


# ---------------------------------------------------------------- processes


def whet_state():
    """'ok', or why whet's native commands cannot run."""
    if not os.path.exists(WHET):
        return "%s not built (make build)" % WHET
    r = sh([WHET, "train", "--help"])
    text = (r.stdout + r.stderr).lower()
    if "not implemented" in text:
        return "bin/whet train is a placeholder (native/train not built in yet)"
    return "ok"


def cpu_busy():
    """Busy CPU seconds of the whole machine so far (/proc/stat), for measuring other load during a run."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return (sum(v[:8]) - idle) / os.sysconf("SC_CLK_TCK")


LIVE = set()  # process groups of running children, killed if the harness is interrupted


def on_signal(signum, frame):
    for pid in list(LIVE):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    say("interrupted (signal %d): children stopped" % signum)
    sys.exit(128 + signum)


class Proc:
    """A child process with timestamped stdout/stderr lines, VmRSS/VmHWM sampling and its rusage."""

    def __init__(self, cmd, log, stdin=False, env=None, cwd=None):
        self.cmd, self.log = cmd, log
        self.lines = {"stdout": [], "stderr": []}
        self.mem = []
        self.busy0 = cpu_busy()
        self.self0 = resource.getrusage(resource.RUSAGE_SELF)
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            text=True, bufsize=1, env=env, cwd=cwd, start_new_session=True,
        )
        LIVE.add(self.p.pid)
        self.done = threading.Event()
        self.threads = []
        if not stdin:
            self.threads.append(threading.Thread(target=self._read, args=("stdout",), daemon=True))
        self.threads.append(threading.Thread(target=self._read, args=("stderr",), daemon=True))
        self.threads.append(threading.Thread(target=self._sample, daemon=True))
        for t in self.threads:
            t.start()

    def _read(self, name):
        f = getattr(self.p, name)
        for line in f:
            self.lines[name].append((time.monotonic() - self.t0, line.rstrip("\n")))

    def _sample(self):
        path = "/proc/%d/status" % self.p.pid
        stat = "/proc/%d/stat" % self.p.pid
        hz = os.sysconf("SC_CLK_TCK")
        while not self.done.is_set():
            try:
                with open(path) as f:
                    s = f.read()
                with open(stat) as f:
                    st = f.read().rsplit(")", 1)[1].split()
                rss = int(re.search(r"VmRSS:\s+(\d+)", s).group(1))
                hwm = int(re.search(r"VmHWM:\s+(\d+)", s).group(1))
                cpu = (int(st[11]) + int(st[12])) / hz  # utime + stime of the process (all threads)
                self.mem.append((time.monotonic() - self.t0, rss, hwm, cpu, int(st[7])))  # st[7]: minor faults
            except (OSError, AttributeError, IndexError, ValueError):
                pass
            self.done.wait(0.05)

    def wait(self, timeout=RUN_TIMEOUT):
        deadline = time.monotonic() + timeout
        status = ru = None
        while True:
            pid, status, ru = os.wait4(self.p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.killpg(self.p.pid, signal.SIGKILL)
                pid, status, ru = os.wait4(self.p.pid, 0)
                self.timed_out = True
                break
            time.sleep(0.02)
        self.wall = time.monotonic() - self.t0
        LIVE.discard(self.p.pid)
        self.done.set()
        self.p.returncode = os.waitstatus_to_exitcode(status)
        for t in self.threads:
            t.join(timeout=5)
        self.rc = self.p.returncode
        self.cpu = ru.ru_utime + ru.ru_stime
        self.maxrss_mib = ru.ru_maxrss / 1024.0
        s1 = resource.getrusage(resource.RUSAGE_SELF)
        harness = (s1.ru_utime + s1.ru_stime) - (self.self0.ru_utime + self.self0.ru_stime)
        self.other_cores = max(0.0, (cpu_busy() - self.busy0 - self.cpu - harness) / max(self.wall, 1e-9))
        with open(self.log, "w") as f:
            f.write("$ %s\nrc=%s wall=%.3f cpu=%.3f maxrss=%.1fMiB other_cores=%.2f\n" % (
                " ".join(self.cmd), self.rc, self.wall, self.cpu, self.maxrss_mib, self.other_cores))
            for name in ("stdout", "stderr"):
                f.write("--- %s\n" % name)
                for t, l in self.lines[name]:
                    f.write("%8.3f %s\n" % (t, l))
        return self.rc

    def tail(self, n=8):
        ls = [l for _, l in self.lines["stderr"]][-n:]
        return "\n    ".join(ls)


def json_lines(lines):
    for t, l in lines:
        if l.startswith("{"):
            try:
                yield t, json.loads(l)
            except ValueError:
                pass


# ---------------------------------------------------------------- training


def train_metrics(p, batch):
    """Everything one training run tells: summary rate, steady rate, time to first step, memory, CPU use."""
    m = {"rc": p.rc, "wall_s": p.wall, "cpu_s": p.cpu, "cpu_util": p.cpu / max(p.wall, 1e-9),
         "peak_rss_mib": p.maxrss_mib, "other_cores": p.other_cores}
    summary = None
    for _, o in json_lines(p.lines["stdout"]):
        if "train_samples_per_second" in o:
            summary = o
    if summary:
        m["sps"] = summary["train_samples_per_second"]
    steps = [(t, o) for t, o in json_lines(p.lines["stderr"]) if o.get("type") == "step"]
    if steps:
        t1, o1 = steps[0]
        m["ttfs_s"] = t1
        m["ttfs_step"] = o1.get("step")
        m["steps_seen"] = len(steps)
        m["last_step"] = steps[-1][1].get("step")
        after = [(t, o) for t, o in steps if o.get("step", 0) >= WARM_STEPS]
        if len(after) >= 2 and after[-1][1]["step"] > after[0][1]["step"]:
            (ta, oa), (tb, ob) = after[0], after[-1]
            m["steady_sps"] = (ob["step"] - oa["step"]) * batch / (tb - ta)
            m["ms_per_step"] = (tb - ta) / (ob["step"] - oa["step"]) * 1e3
            # CPU time per step (all threads), from the sampled /proc/PID/stat: less sensitive to other load.
            ca = [(c, f) for t, _, _, c, f in p.mem if t <= ta]
            cb = [(c, f) for t, _, _, c, f in p.mem if t >= tb]
            if ca and cb and tb - ta > 0.5:
                m["cpu_ms_per_step"] = (cb[0][0] - ca[-1][0]) / (ob["step"] - oa["step"]) * 1e3
                m["faults_per_step"] = (cb[0][1] - ca[-1][1]) / (ob["step"] - oa["step"])
        ta, tb = steps[0][0], steps[-1][0]
        if tb - ta < 0.2 and len(p.mem) > 2:  # few step events: fall back to the second half of the run
            ta, tb = p.wall / 2, p.wall
        rss = [r for t, r, _, _, _ in p.mem if ta <= t <= tb]
        if rss:
            m["steady_rss_mib"] = statistics.median(rss) / 1024.0
            m["rss_end_minus_start_mib"] = (rss[-1] - rss[0]) / 1024.0
    if p.mem:
        m["vmhwm_mib"] = max(h for _, _, h, _, _ in p.mem) / 1024.0
    return m


def run_whet_train(model, data, steps, tag, env=None):
    out = os.path.join(WORK, "whet-out", tag)
    shutil.rmtree(out, ignore_errors=True)
    cmd = [WHET, "train", "--model", model, "--train", data["tsv"], "--out", out, "--epochs", "1",
           "--max-steps", str(steps), "--batch-size", str(BATCH), "--max-seq-length", str(SEQ),
           "--learning-rate", str(LR), "--warmup-ratio", "0", "--weight-decay", "0.01", "--seed", "1",
           "--threads", str(THREADS), "--progress", "json"]
    p = Proc(cmd, os.path.join(LOGS, tag + ".log"), env=dict(os.environ, **env) if env else None)
    p.wait()
    shutil.rmtree(out, ignore_errors=True)
    return p


def run_ref_train(model, data, steps, tag, padding):
    cmd = [PY, os.path.join(HERE, "ref_train.py"), "--model", model, "--data", data["npz"], "--max-steps", str(steps),
           "--batch-size", str(BATCH), "--learning-rate", str(LR), "--threads", str(THREADS), "--padding", padding,
           "--seed", "1"]
    p = Proc(cmd, os.path.join(LOGS, tag + ".log"))
    p.wait()
    return p


# ---------------------------------------------------------------- models


def side_bench_setup():
    """What a side benchmark (onnx_bench.py, int8_whet.py, browser_bench.py) starts with: the output folders, the
    machine's description, the data and whet's models of SIZES. Returns (mach, data, models)."""
    os.makedirs(LOGS, exist_ok=True)
    os.makedirs(WORK, exist_ok=True)
    mach = machine()
    data = prepare_data()
    return mach, data, make_models(data, True)


def make_models(data, whet_ok):
    models = {}
    for size in SIZES:
        s = SIZE_DEFS[size]
        out = os.path.join(WORK, "model-" + size)
        shutil.rmtree(out, ignore_errors=True)
        made = False
        if whet_ok:
            r = sh([WHET, "model", "init", "--vocab", data["vocab"], "--labels", "0,1", "--layers", str(s["layers"]),
                    "--hidden", str(s["hidden"]), "--heads", str(s["heads"]), "--intermediate", str(s["intermediate"]),
                    "--max-position", "512", "--seed", "1", "--out", out])
            made = r.returncode == 0 and os.path.exists(os.path.join(out, "config.json"))
            if not made:
                say("whet model init failed for %s (falling back to ref_bert.py save): %s" % (size, r.stderr[-400:]))
        if not made:
            cfg = {"vocab_size": sum(1 for _ in open(data["vocab"], encoding="utf-8")), "hidden_size": s["hidden"],
                   "num_hidden_layers": s["layers"], "num_attention_heads": s["heads"],
                   "intermediate_size": s["intermediate"], "hidden_act": "gelu", "max_position_embeddings": 512,
                   "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_dropout_prob": 0.1,
                   "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02, "pad_token_id": 0,
                   "model_type": "bert", "id2label": {"0": "0", "1": "1"}, "label2id": {"0": 0, "1": 1}}
            req = json.dumps({"out": out, "config": cfg, "seed": 1, "heads": ["classifier"]})
            r = subprocess.run([PY, os.path.join(ROOT, "native", "testdata", "ref_bert.py"), "save"], input=req,
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise SystemExit("cannot create the %s model: %s" % (size, r.stderr[-800:]))
            shutil.copy(data["vocab"], os.path.join(out, "vocab.txt"))
            with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
                json.dump({"do_lower_case": True}, f)
        models[size] = out
        cfg = json.load(open(os.path.join(out, "config.json")))
        say("model %s: %s (%s)" % (size, out, "whet model init" if made else "ref_bert.py save"))
        for k in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if cfg.get(k, 0.1) != 0.1:
                say("note: model %s has %s=%s (the reference uses the config's rate)" % (size, k, cfg.get(k)))
    return models


# ---------------------------------------------------------------- predict


def pct(xs, q):
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(q * (len(xs) - 1)))))
    return xs[k]


def run_whet_predict(model, texts, tag, extra=()):
    """`whet worker predict` (plus extra flags): sequential NDJSON requests of b texts, the same cycling as
    ref_predict.py."""
    cmd = [WHET, "worker", "predict", "--model", model, "--threads", str(THREADS), "--max-seq-length", str(SEQ)] + list(extra)
    p = Proc(cmd, os.path.join(LOGS, tag + ".log"), stdin=True)
    res = {"results": {}}
    try:
        ready = p.p.stdout.readline()
        res["load_s"] = time.monotonic() - p.t0
        if not ready.strip().startswith("{") or not json.loads(ready).get("ready"):
            raise RuntimeError("no ready line: %r" % ready[:300])
        rid = [0]

        def request(k, b):
            rid[0] += 1
            inputs = [texts[(k * b + i) % len(texts)] for i in range(b)]
            p.p.stdin.write(json.dumps({"id": rid[0], "inputs": inputs}) + "\n")
            p.p.stdin.flush()
            line = p.p.stdout.readline()
            o = json.loads(line)
            if o.get("error") or len(o.get("results") or []) != b:
                raise RuntimeError("bad answer: %.300s" % line)

        for b in PREDICT_BATCHES:
            request(0, b)
            lat, k = [], 1
            t0 = time.perf_counter()
            while True:
                s = time.perf_counter()
                request(k, b)
                lat.append(time.perf_counter() - s)
                k += 1
                if time.perf_counter() - t0 >= PREDICT_BUDGET and len(lat) >= 3:
                    break
            total = time.perf_counter() - t0
            res["results"][str(b)] = {"texts_per_s": len(lat) * b / total, "p50_ms": pct(lat, 0.5) * 1e3,
                                      "p99_ms": pct(lat, 0.99) * 1e3, "requests": len(lat)}
    except Exception as e:  # noqa: BLE001
        res["error"] = str(e)
    finally:
        try:
            p.p.stdin.close()
        except OSError:
            pass
        p.wait(timeout=30)
        try:
            p.p.stdout.close()
        except OSError:
            pass
    if "error" in res:
        res["error"] += " | stderr: " + p.tail(5)
    res["peak_rss_mib"] = p.maxrss_mib
    return res


def run_ref_predict(model, npz, tag):
    cmd = [PY, os.path.join(HERE, "ref_predict.py"), "--model", model, "--data", npz, "--threads", str(THREADS),
           "--batch-sizes", ",".join(map(str, PREDICT_BATCHES)), "--budget", str(PREDICT_BUDGET)]
    p = Proc(cmd, os.path.join(LOGS, tag + ".log"))
    p.wait()
    res = {"error": "rc=%s: %s" % (p.rc, p.tail(5))}
    for _, o in json_lines(p.lines["stdout"]):
        if "results" in o:
            res = o
    res["peak_rss_mib"] = p.maxrss_mib
    return res


# ---------------------------------------------------------------- parts owned by others (called, not rewritten)


def build_go_tool(folder):
    """go build ./bench/<folder> into bench/out/bin (once, outside the timed parts); (path, None) or (None, why)."""
    if not os.path.exists(os.path.join(HERE, folder, "main.go")):
        return None, "bench/%s/ not present" % folder
    out = os.path.join(OUT, "bin", folder)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    try:
        r = subprocess.run(["go", "build", "-o", out, "./bench/" + folder], cwd=ROOT, capture_output=True, text=True,
                           timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, "go build ./bench/%s: %s" % (folder, e)
    if r.returncode != 0:
        return None, "go build ./bench/%s failed: %s" % (folder, r.stderr.strip()[-400:])
    return out, None


def run_tool(cmd, tag, env_extra=None, timeout=300):
    """Runs a benchmark tool owned by another engineer; its last stdout JSON line is its summary."""
    env = dict(os.environ, **(env_extra or {}))
    p = Proc(cmd, os.path.join(LOGS, tag + ".log"), env=env, cwd=ROOT)
    p.wait(timeout=timeout)
    out = None
    for _, o in json_lines(p.lines["stdout"]):
        out = o
    return {"rc": p.rc, "json": out, "stdout": [l for _, l in p.lines["stdout"]][-20:], "tail": p.tail(8)}


HTTP_CLIENTS = [1, 4]  # 1: single-request latency; 4: throughput with concurrent clients


def http_args(models, clients):
    """bench/predict's flags: it starts `whet serve` on a temp data folder, registers the tiny model, warms up."""
    model = models.get("tiny") or next(iter(models.values()))
    return ["--bin", WHET, "--model-dir", model, "-c", str(clients), "-d", "3s" if QUICK else "6s", "--inputs", "1",
            "--warmup", "5"]


def go_duration_ms(s):
    """'1.234ms', '850µs', '1.2s', '1m2s' -> milliseconds."""
    total = 0.0
    for num, unit in re.findall(r"([0-9.]+)(ns|us|µs|μs|ms|s|m|h)", s):
        total += float(num) * {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "μs": 1e-3, "ms": 1, "s": 1e3, "m": 6e4, "h": 3.6e6}[unit]
    return total


def parse_http(lines):
    """bench/predict's text summary -> {req_per_s, p50_ms, p90_ms, p99_ms, max_ms}."""
    out = {}
    for l in lines:
        m = re.search(r"throughput ([0-9.]+) req/s", l)
        if m:
            out["req_per_s"] = float(m.group(1))
        m = re.search(r"latency p50 (\S+)\s+p90 (\S+)\s+p99 (\S+)\s+max (\S+)", l)
        if m:
            for k, v in zip(("p50_ms", "p90_ms", "p99_ms", "max_ms"), m.groups()):
                out[k] = go_duration_ms(v)
    return out or None


def tokenize_args(data):
    """bench/tokenize's flags: SST-2 train (its default) when present, else our generated rows and vocab."""
    args = ["-json"]
    if QUICK:
        args += ["-n", "20000"]
    if not os.path.exists(os.path.join(SHARED, "sst2", "train.tsv")) or "generated" in data["vocab_src"]:
        args += ["-data", data["tokenize_tsv"], "-vocab", data["vocab"]]
    return args


# ---------------------------------------------------------------- aggregation and report


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def spread(xs):
    xs = [x for x in xs if x is not None]
    if len(xs) < 2:
        return ""
    m = statistics.median(xs)
    return " ±%.0f%%" % (100 * (max(xs) - min(xs)) / 2 / m) if m else ""


def f(x, nd=1):
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    if abs(x) >= 100:
        return "%.0f" % x
    return "%.*f" % (nd, x)


def ratio(a, b, nd=2):
    if a is None or b is None or not b:
        return "—"
    return "%.*fx" % (nd, a / b)


def collect(runs, impl, key, metric):
    return [r["m"].get(metric) for r in runs if r["impl"] == impl and r["key"] == key and r["m"].get("rc") == 0]


def kept_sections(path):
    """The marker line and everything below it in the existing report at path ("" when none): the sections other
    scripts measured, which a new make bench must not drop."""
    try:
        text = open(path).read()
    except FileNotFoundError:
        return ""
    i = text.find(KEEP_MARKER)
    return text[i:].rstrip() if i >= 0 else ""


def report(mach, data, runs, preds, externals, whet_note, t_total):
    L = []
    w = L.append
    w("# whet benchmarks vs. the references")
    w("")
    w("Generated by `make bench` (bench/run.sh -> bench/harness.py) on %s; %s; %d round(s), medians; "
      "whole run %.1f min. Ratios are whet / reference: above 1 is better for whet in throughput, below 1 is better "
      "for whet in time and memory. `±` is half the min-max spread across rounds, as a share of the median."
      % (time.strftime("%Y-%m-%d %H:%M %Z"), "BENCH_QUICK=1 (smoke test: few steps, 1 round)" if QUICK else "full mode",
         ROUNDS, t_total / 60))
    w("")
    w("## Machine")
    w("")
    w("| | |")
    w("|---|---|")
    for k, label in (("cpu", "CPU"), ("cores", "cores (nproc)"), ("Thread(s) per core", "threads per core"),
                     ("Hypervisor vendor", "hypervisor"), ("Flags", "SIMD"), ("ram_gib", "RAM (GiB)"), ("os", "OS"),
                     ("kernel", "kernel"), ("libtorch", "libtorch (Debian)"), ("python_torch", "python3-torch"),
                     ("blas", "BLAS (libblas.so.3 ->)"), ("threads", "threads (whet --threads, torch.set_num_threads)"),
                     ("omp_wait_policy", "OMP_WAIT_POLICY (both sides)"),
                     ("go", "Go"), ("whet_commit", "whet commit"), ("loadavg_start", "load average at start"),
                     ("loadavg_end", "load average at end")):
        if k in mach:
            v = mach[k]
            w("| %s | %s |" % (label, " ".join(v) if isinstance(v, list) else v))
    others = [r["m"].get("other_cores") for r in runs if r["m"].get("other_cores") is not None]
    if others:
        w("| other processes' CPU during runs (cores, median / max) | %.2f / %.2f |" % (med(others), max(others)))
    w("")
    busy = [o for o in others if o > 0.25]
    if busy:
        w("**Noise warning:** other processes used more than 0.25 core during %d of %d runs (up to %.2f cores). With "
          "%d threads on %d cores, libtorch's OpenMP workers wait for a descheduled peer at every parallel region, so "
          "both sides slow down unevenly (measured here with the default spinning policy: a tiny-BERT forward at "
          "batch 1 went from 7 ms to 400 ms under a parallel `go vet`; OMP_WAIT_POLICY=PASSIVE softens this). Treat "
          "ratios from such runs as rough; rerun on a quiet machine."
          % (len(busy), len(others), max(others), THREADS, os.cpu_count() or 0))
        w("")
    w("Data: vocab %s; fixed-length rows: %d rows, every row %d tokens; real-length rows: %s, %d rows, mean %.1f "
      "tokens (a randomly batched 32-row batch's longest row: %.1f on average); predict texts: %s, mean %.1f tokens."
      % (data["vocab_src"], data["fixed"]["rows"], SEQ, data["sst2_src"], data["sst2"]["rows"],
         data["sst2"]["mean_tokens"], data["sst2"]["mean_batch_max_random"], data["predict_src"],
         data["predict"]["mean_tokens"]))
    w("")
    if SKIPS or whet_note != "ok":
        w("Skipped or replaced:")
        w("")
        if whet_note != "ok":
            w("- whet side: %s" % whet_note)
        for s in SKIPS:
            w("- %s" % s)
        w("")

    # ---- training
    tr = [r for r in runs if r["kind"] == "train"]
    if tr:
        steps = STEPS_QUICK if QUICK else STEPS
        w("## Fine-tuning throughput (train samples/s; seq %d, batch %d, %d threads)" % (SEQ, BATCH, THREADS))
        w("")
        w("whet: `bin/whet train` JSON summary `train_samples_per_second`. Reference: bench/ref_train.py, the "
          "transformers-tutorial PyTorch loop (AdamW, linear schedule, clipping 1.0, dropout 0.1) on the same weights, "
          "padded to max_length=%d; *ref per-batch pad* is the same loop cutting each batch to its longest row "
          "(DataCollatorWithPadding), shown for fairness. One epoch of steps x 32 rows." % SEQ)
        w("")
        w("| model | rows | steps | whet | reference (max_length) | whet / ref | ref per-batch pad | whet / ref-pb |")
        w("|---|---|---|---|---|---|---|---|")
        for data_name in ("fixed", "sst2"):
            for size in SIZES:
                key = "%s/%s" % (size, data_name)
                ws, rs = collect(tr, "whet", key, "sps"), collect(tr, "ref", key, "sps")
                ds = collect(tr, "ref-pb", key, "sps")
                if not (ws or rs):
                    continue
                w("| %s | %s | %d | %s%s | %s%s | **%s** | %s%s | %s |" % (
                    size, "fixed 128" if data_name == "fixed" else "real lengths", steps[data_name][size],
                    f(med(ws)), spread(ws), f(med(rs)), spread(rs), ratio(med(ws), med(rs)),
                    f(med(ds)) if ds else "—", spread(ds), ratio(med(ws), med(ds)) if ds else "—"))
        w("")
        w("Steady state, measured by the harness from the step events (steps >= %d, so model load and the first "
          "step's one-off costs are left out): wall and CPU time per step (CPU = all threads, from /proc/PID/stat; "
          "less sensitive to other load than wall time), minor page faults per step, and CPU use over the whole run "
          "(process CPU seconds / wall seconds):" % WARM_STEPS)
        w("")
        w("| model | rows | whet ms/step | ref ms/step | whet / ref (time) | whet CPU ms/step | ref CPU ms/step | whet / ref (CPU) | whet faults/step | ref faults/step | whet CPU use | ref CPU use | whet wall s | ref wall s |")
        w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for data_name in ("fixed", "sst2"):
            for size in SIZES:
                key = "%s/%s" % (size, data_name)
                wm, rm = collect(tr, "whet", key, "ms_per_step"), collect(tr, "ref", key, "ms_per_step")
                if not (wm or rm):
                    continue
                wc, rc_ = collect(tr, "whet", key, "cpu_ms_per_step"), collect(tr, "ref", key, "cpu_ms_per_step")
                w("| %s | %s | %s%s | %s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    size, "fixed 128" if data_name == "fixed" else "real lengths", f(med(wm)), spread(wm), f(med(rm)),
                    spread(rm), ratio(med(wm), med(rm)), f(med(wc)), f(med(rc_)), ratio(med(wc), med(rc_)),
                    f(med(collect(tr, "whet", key, "faults_per_step"))), f(med(collect(tr, "ref", key, "faults_per_step"))),
                    f(med(collect(tr, "whet", key, "cpu_util")), 2),
                    f(med(collect(tr, "ref", key, "cpu_util")), 2), f(med(collect(tr, "whet", key, "wall_s"))),
                    f(med(collect(tr, "ref", key, "wall_s")))))
        w("")
        if any(r["impl"] == "whet-mdef" for r in tr):
            w("Ablation (BENCH_ABLATION=1): whet with glibc's malloc defaults (WHET_MALLOC_DEFAULTS=1) against whet as "
              "built (native/torch/malloc.c: one malloc arena, 256 MiB mmap threshold, 512 MiB trim threshold):")
            w("")
            w("| model | whet ms/step | defaults ms/step | whet CPU ms/step | defaults CPU ms/step | whet faults/step | defaults faults/step | whet steady MiB | defaults steady MiB | whet peak MiB | defaults peak MiB |")
            w("|---|---|---|---|---|---|---|---|---|---|---|")
            for size in SIZES:
                key = "%s/fixed" % size
                row = [size]
                for metric, nd in (("ms_per_step", 1), ("cpu_ms_per_step", 1), ("faults_per_step", 1),
                                   ("steady_rss_mib", 1), ("peak_rss_mib", 1)):
                    row += [f(med(collect(tr, "whet", key, metric)), nd), f(med(collect(tr, "whet-mdef", key, metric)), nd)]
                w("| " + " | ".join(row) + " |")
            w("")
        w("## Time to first step (s; process start -> first optimizer step done, incl. model load; fixed 128 rows)")
        w("")
        w("whet's includes reading and tokenizing the training file in the WASM sandbox; the reference's input is "
          "tokenized beforehand (its time includes Python and torch start-up).")
        w("")
        w("| model | whet | reference | whet / ref |")
        w("|---|---|---|---|")
        for size in SIZES:
            key = "%s/fixed" % size
            wt, rt = collect(tr, "whet", key, "ttfs_s"), collect(tr, "ref", key, "ttfs_s")
            if not (wt or rt):
                continue
            first = [r["m"].get("ttfs_step") for r in tr if r["impl"] == "whet" and r["key"] == key]
            note = " (first step event: step %s)" % first[0] if first and first[0] not in (None, 1) else ""
            w("| %s | %s%s%s | %s%s | %s |" % (size, f(med(wt), 2), spread(wt), note, f(med(rt), 2), spread(rt),
                                              ratio(med(wt), med(rt))))
        w("")
        w("## Memory during training (MiB)")
        w("")
        w("Peak = the process's maximum resident set (getrusage ru_maxrss); steady = median VmRSS sampled every 50 ms "
          "from /proc/PID/status between the first and last step; drift = VmRSS at the last step minus at the first.")
        w("")
        w("| model | rows | whet peak | ref peak | whet / ref | whet steady | ref steady | whet / ref | whet drift | ref drift |")
        w("|---|---|---|---|---|---|---|---|---|---|")
        for data_name in ("fixed", "sst2"):
            for size in SIZES:
                key = "%s/%s" % (size, data_name)
                wp_, rp = collect(tr, "whet", key, "peak_rss_mib"), collect(tr, "ref", key, "peak_rss_mib")
                wsr, rsr = collect(tr, "whet", key, "steady_rss_mib"), collect(tr, "ref", key, "steady_rss_mib")
                wd, rd = collect(tr, "whet", key, "rss_end_minus_start_mib"), collect(tr, "ref", key, "rss_end_minus_start_mib")
                if not (wp_ or rp):
                    continue
                w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    size, "fixed 128" if data_name == "fixed" else "real lengths", f(med(wp_)), f(med(rp)),
                    ratio(med(wp_), med(rp)), f(med(wsr)), f(med(rsr)), ratio(med(wsr), med(rsr)), f(med(wd)),
                    f(med(rd))))
        w("")
        failed = [r for r in tr if r["m"].get("rc") != 0]
        if failed:
            w("Failed runs: " + "; ".join("%s %s round %d rc=%s (log bench/out/logs/%s.log)" % (
                r["impl"], r["key"], r["round"], r["m"].get("rc"), r["tag"]) for r in failed))
            w("")

    # ---- predict
    if preds:
        w("## Inference throughput (texts/s, sequential requests of b texts; %s)" % data["predict_src"])
        w("")
        w("whet: `whet worker predict` (NDJSON over stdin/stdout; includes WASM tokenization and JSON). Reference: "
          "bench/ref_predict.py, model.eval() + torch.no_grad() forward + softmax on pre-tokenized rows padded to "
          "max_length=%d; *ref longest* pads each batch to its longest row (padding=True). Latency = per request." % SEQ)
        w("")
        w("| model | batch | whet | ref max_length | whet / ref | ref longest | whet / ref-longest | whet p50 ms | ref p50 ms | ref-longest p50 ms |")
        w("|---|---|---|---|---|---|---|---|---|---|")
        for size in PREDICT_SIZES:
            if size not in SIZES:
                continue
            for b in PREDICT_BATCHES:
                def g(impl, pad, metric):
                    xs = []
                    for r in preds:
                        if r["impl"] != impl or r["size"] != size:
                            continue
                        res = r["res"].get("results", {})
                        if impl == "ref":
                            res = res.get(pad, {})
                        if str(b) in res:
                            xs.append(res[str(b)][metric])
                    return xs
                wt, rt, rl = g("whet", None, "texts_per_s"), g("ref", "max_length", "texts_per_s"), g("ref", "longest", "texts_per_s")
                if not (wt or rt):
                    continue
                w("| %s | %d | %s%s | %s%s | **%s** | %s | %s | %s | %s | %s |" % (
                    size, b, f(med(wt)), spread(wt), f(med(rt)), spread(rt), ratio(med(wt), med(rt)), f(med(rl)),
                    ratio(med(wt), med(rl)), f(med(g("whet", None, "p50_ms")), 2),
                    f(med(g("ref", "max_length", "p50_ms")), 2), f(med(g("ref", "longest", "p50_ms")), 2)))
        errs = [r for r in preds if "error" in r["res"]]
        w("")
        if errs:
            w("Failed predict runs: " + "; ".join("%s %s round %d: %s" % (r["impl"], r["size"], r["round"],
                                                                          r["res"]["error"][:300]) for r in errs))
            w("")
        loads = {impl: med([r["res"].get("load_s") for r in preds if r["impl"] == impl]) for impl in ("whet", "ref")}
        w("Model load to ready (median over sizes and rounds): whet worker %s s, reference %s s." % (
            f(loads["whet"], 2), f(loads["ref"], 2)))
        w("")

    # ---- parts owned by others
    for part, title in (("http", "HTTP predict latency through `whet serve` (bench/predict/)"),
                        ("tokenize", "Tokenization: sandboxed WASM vs HF tokenizers, all cores (bench/tokenize/)")):
        ex = externals.get(part)
        if ex is None:
            continue
        w("## " + title)
        w("")
        if ex.get("skipped"):
            w("Skipped: " + ex["skipped"])
            w("")
            continue
        ok = [r["json"] for r in ex["runs"] if r["rc"] == 0 and r["json"]]
        for r in ex["runs"]:
            if r["rc"] != 0 or not r["json"]:
                w("Round %d failed (rc=%s): `%s`" % (r["round"], r["rc"], r["tail"].replace("`", "'")[-400:]))
                w("")
        if not ok:
            continue

        def mk(key):
            return med([o.get(key) for o in ok if isinstance(o.get(key), (int, float))])

        def sp(key):
            return spread([o.get(key) for o in ok if isinstance(o.get(key), (int, float))])

        if part == "tokenize":
            w("The built-in bert-wordpiece module in wazero, one instance per core (trusted = as the server runs the "
              "built-in; untrusted = compiled as an upload, with the CPU-limit checks), vs HuggingFace tokenizers "
              "(Rust, npm @anush008/tokenizers): encode one sentence at a time, and encodeBatch on Rust's thread pool; "
              "%s sentences, max length 128, ids + type ids + masks read out." % f(mk("sentences")))
            w("")
            w("| | sentences/s | vs best HF |")
            w("|---|---|---|")
            best = max([x for x in (mk("hf_encode_sentences_per_second"), mk("hf_encode_batch_sentences_per_second")) if x] or [0]) or None
            for key, label in (("whet_trusted_sentences_per_second", "whet WASM, trusted (built-in)"),
                               ("whet_untrusted_sentences_per_second", "whet WASM, untrusted (CPU limit)"),
                               ("hf_encode_sentences_per_second", "HF tokenizers encode (1 thread)"),
                               ("hf_encode_batch_sentences_per_second", "HF tokenizers encodeBatch (all cores)")):
                w("| %s | %s%s | %s |" % (label, f(mk(key)), sp(key), ratio(mk(key), best)))
            w("")
        else:
            w("bench/predict starts `whet serve` on a temporary data folder, registers the tiny model (POST /v1/models "
              "from_path), warms up with 5 requests, then sends one-text requests for a fixed time from c concurrent "
              "clients over loopback HTTP (tokenization in the server's WASM sandbox, the forward pass in the "
              "`whet worker predict` subprocess). There is no HTTP reference; for scale, the reference's in-process "
              "no_grad forward of one text (no server, no tokenization) is shown.")
            w("")
            w("| clients | requests/s | p50 ms | p90 ms | p99 ms | max ms |")
            w("|---|---|---|---|---|---|")
            for c in HTTP_CLIENTS:
                cs = [r["json"] for r in ex["runs"] if r.get("clients") == c and r["rc"] == 0 and r["json"]]
                if not cs:
                    continue

                def mc(key):
                    return med([o.get(key) for o in cs])

                w("| %d | %s | %s | %s | %s | %s |" % (c, f(mc("req_per_s")), f(mc("p50_ms"), 2), f(mc("p90_ms"), 2),
                                                      f(mc("p99_ms"), 2), f(mc("max_ms"), 2)))
            refs = [r["res"]["results"]["max_length"]["1"] for r in preds if r["impl"] == "ref" and r["size"] == "tiny"
                    and "1" in r["res"].get("results", {}).get("max_length", {})]
            refl = [r["res"]["results"]["longest"]["1"] for r in preds if r["impl"] == "ref" and r["size"] == "tiny"
                    and "1" in r["res"].get("results", {}).get("longest", {})]
            if refs:
                w("| reference, in process, tiny, batch 1 (max_length / longest) | — | %s / %s | — | %s / %s | — |" % (
                    f(med([x["p50_ms"] for x in refs]), 2), f(med([x["p50_ms"] for x in refl]), 2),
                    f(med([x["p99_ms"] for x in refs]), 2), f(med([x["p99_ms"] for x in refl]), 2)))
            w("")
    if os.path.exists(ANALYSIS):
        w("")
        w(open(ANALYSIS).read().rstrip())
        w("")
    kept = kept_sections(RESULTS)
    if kept:
        w("")
        w(kept)
    text = "\n".join(L) + "\n"
    with open(RESULTS, "w") as fh:
        fh.write(text)
    return text


# ---------------------------------------------------------------- main


def main():
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    os.makedirs(LOGS, exist_ok=True)
    for fn in os.listdir(LOGS):
        os.remove(os.path.join(LOGS, fn))
    mach = machine()
    say("machine: %s, %s cores, %s GiB, libtorch %s, BLAS %s, %d threads, %d round(s)%s" % (
        mach["cpu"], mach["cores"], mach.get("ram_gib"), mach["libtorch"], mach["blas"], THREADS, ROUNDS,
        ", QUICK" if QUICK else ""))
    torch_ok = mach["python_torch"][0].isdigit()
    if not torch_ok:
        skip("PyTorch reference", "torch not importable from %s (apt-get install python3-torch python3-numpy)" % PY)
    whet_note = whet_state()
    whet_ok = whet_note == "ok"
    if not whet_ok:
        skip("whet side", whet_note)
    data = prepare_data()
    models = make_models(data, whet_ok)
    steps = STEPS_QUICK if QUICK else STEPS

    runs, preds, externals = [], [], {}
    tools = {}
    for part, folder, needs_whet in (("http", "predict", True), ("tokenize", "tokenize", False)):
        if part not in PARTS:
            continue
        if needs_whet and not whet_ok:
            externals[part] = {"skipped": "needs a working bin/whet (%s)" % whet_note}
        else:
            tools[part], why = build_go_tool(folder)
            if why:
                externals[part] = {"skipped": why}
        if part in externals:
            skip(part, externals[part]["skipped"])

    for rnd in range(ROUNDS):
        say("=== round %d/%d" % (rnd + 1, ROUNDS))
        k = 0
        if "train" in PARTS:
            for data_name in [r for r in ("fixed", "sst2") if r in ROWS]:
                for size in SIZES:
                    key = "%s/%s" % (size, data_name)
                    impls = []
                    if whet_ok:
                        impls.append("whet")
                    if torch_ok:
                        impls.append("ref")
                    if (rnd + k) % 2:
                        impls.reverse()
                    if torch_ok and data_name == "sst2":
                        impls.append("ref-pb")
                    if whet_ok and ABLATION and data_name == "fixed":
                        impls.append("whet-mdef")
                    k += 1
                    for impl in impls:
                        tag = "train-%s-%s-%s-r%d" % (impl, size, data_name, rnd + 1)
                        n = steps[data_name][size]
                        if impl == "whet":
                            p = run_whet_train(models[size], data[data_name], n, tag)
                        elif impl == "whet-mdef":
                            p = run_whet_train(models[size], data[data_name], n, tag, {"WHET_MALLOC_DEFAULTS": "1"})
                        else:
                            p = run_ref_train(models[size], data[data_name], n, tag,
                                              "longest" if impl == "ref-pb" else "max_length")
                        m = train_metrics(p, BATCH)
                        runs.append({"kind": "train", "impl": impl, "key": key, "round": rnd + 1, "tag": tag, "m": m})
                        if p.rc != 0:
                            say("%s %s FAILED rc=%s (bench/out/logs/%s.log):\n    %s" % (impl, key, p.rc, tag, p.tail()))
                        else:
                            say("%-6s %-12s %7s samples/s (steady %s, %s ms/step, %s CPU ms/step), first step %ss, peak %s MiB, cpu %.2f, other %.2f" % (
                                impl, key, f(m.get("sps")), f(m.get("steady_sps")), f(m.get("ms_per_step")), f(m.get("cpu_ms_per_step")),
                                f(m.get("ttfs_s"), 2), f(m.get("peak_rss_mib")), m["cpu_util"], m["other_cores"]))
        if "predict" in PARTS:
            for size in PREDICT_SIZES:
                if size not in SIZES:
                    continue
                impls = (["whet"] if whet_ok else []) + (["ref"] if torch_ok else [])
                if (rnd + k) % 2:
                    impls.reverse()
                k += 1
                for impl in impls:
                    tag = "predict-%s-%s-r%d" % (impl, size, rnd + 1)
                    if impl == "whet":
                        res = run_whet_predict(models[size], data["predict"]["texts"], tag)
                    else:
                        res = run_ref_predict(models[size], data["predict"]["npz"], tag)
                    preds.append({"impl": impl, "size": size, "round": rnd + 1, "res": res})
                    if "error" in res:
                        say("predict %s %s FAILED: %s" % (impl, size, res["error"][:600]))
                    else:
                        rr = res["results"] if impl == "whet" else res["results"].get("max_length", {})
                        say("predict %-4s %-5s %s" % (impl, size, "  ".join(
                            "b%s %s/s p50 %sms" % (b, f(v["texts_per_s"]), f(v["p50_ms"], 2)) for b, v in rr.items())))
        for part in ("http", "tokenize"):
            if not tools.get(part):
                continue
            ex = externals.setdefault(part, {"runs": []})
            if part == "tokenize":
                r = run_tool([tools[part]] + tokenize_args(data), "tokenize-r%d" % (rnd + 1))
                r["round"] = rnd + 1
                ex["runs"].append(r)
                say("tokenize round %d: rc=%s %s" % (rnd + 1, r["rc"], json.dumps(r["json"]) if r["json"] else r["tail"][:300]))
                continue
            for c in HTTP_CLIENTS:
                r = run_tool([tools[part]] + http_args(models, c), "http-c%d-r%d" % (c, rnd + 1))
                r["json"] = parse_http(r["stdout"]) if r["rc"] == 0 else None
                r["round"], r["clients"] = rnd + 1, c
                ex["runs"].append(r)
                say("http c=%d round %d: rc=%s %s" % (c, rnd + 1, r["rc"], json.dumps(r["json"]) if r["json"] else r["tail"][:300]))

    mach["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    t_total = time.time() - T_BEGIN
    with open(os.path.join(OUT, "raw.json"), "w") as fh:
        json.dump({"machine": mach, "quick": QUICK, "rounds": ROUNDS, "threads": THREADS, "train": runs,
                   "predict": preds, "external": externals, "skips": SKIPS,
                   "data": {k: {kk: vv for kk, vv in v.items() if kk != "texts"} if isinstance(v, dict) else v
                            for k, v in data.items()}}, fh, indent=1)
    text = report(mach, data, runs, preds, externals, whet_note, t_total)
    print()
    print(text)
    say("wrote %s and %s (took %.1f min)" % (RESULTS, os.path.join(OUT, "raw.json"), t_total / 60))


if __name__ == "__main__":
    main()
