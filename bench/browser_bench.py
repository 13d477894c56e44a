#!/usr/bin/python3
"""In-browser classification vs the server's predict, same model (issue 14: the browser part of "Measure").

    /usr/bin/python3 bench/browser_bench.py     # needs bin/whet (make build), npm ci, chromium; a quiet machine; ~8 min

For each model shape of the main benchmark (tiny, mini, small; harness.SIZE_DEFS, `whet model init`; BENCH_SIZES
narrows them) it registers the model with a fresh `whet serve --threads BENCH_THREADS` and runs bench/browser_bench.mjs
in headless Chromium once per way of answering, each in a fresh browser context (empty cache):

- "server": the demo page asks the server (POST /v1/models/{id}/predict) for each label; the first request starts the
  model's predict worker (cold), as after a server start;
- "int8", "fp32": the page downloads the model's ONNX export and runs it in onnxruntime-web (WebAssembly, one thread)
  with the model's preprocess module; the export is made once before timing (GET /v1/models/{id}/export/...), as a
  published model's would be.

Figures: time to first label (navigation start to the first label shown), model download bytes, texts/s through the
page for BENCH_BROWSER_BUDGET seconds (default 10; one text per request, as a user types; Playwright's round trips
included), the page's own ms per text in the browser (preprocessing + onnxruntime-web), and the server's texts/s at
one text per HTTP request measured directly (http.client, keep-alive). The labels each way gives are compared with
the server's. Texts: SST-2 dev (harness.prepare_data). Writes bench/browser-results.md (BENCH_BROWSER_RESULTS).
"""
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

RESULTS = os.environ.get("BENCH_BROWSER_RESULTS", os.path.join(H.HERE, "browser-results.md"))
BUDGET = float(os.environ.get("BENCH_BROWSER_BUDGET") or 10)
KEY = "bench-browser-key"
WAYS = ["server", "int8", "fp32"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def call(base, method, path, body=None, raw=False):
    req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": "Bearer " + KEY, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        b = r.read()
    return b if raw else json.loads(b)


def server_rate(port, model, texts):
    """texts/s of sequential one-text predict requests over one keep-alive connection, after a warm-up."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    hdr = {"Authorization": "Bearer " + KEY, "Content-Type": "application/json"}

    def one(t):
        c.request("POST", "/v1/models/%s/predict" % model, json.dumps({"inputs": [t]}), hdr)
        r = c.getresponse()
        b = r.read()
        if r.status != 200:
            raise RuntimeError("predict: %d %.300s" % (r.status, b))
        return json.loads(b)[0]["label"]

    one(texts[0])
    n, t0 = 0, time.perf_counter()
    while n < 5 or time.perf_counter() - t0 < BUDGET:
        one(texts[n % len(texts)])
        n += 1
    rate = n / (time.perf_counter() - t0)
    c.close()
    return rate


def main():
    t_begin = time.time()
    mach, data, models = H.side_bench_setup()
    texts = data["predict"]["texts"][:200]
    texts_file = os.path.join(H.WORK, "browser-texts.json")
    with open(texts_file, "w") as f:
        json.dump(texts, f)
    home = os.path.join(H.WORK, "browser-serve")
    shutil.rmtree(home, ignore_errors=True)
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    log = open(os.path.join(H.LOGS, "browser-serve.log"), "w")
    srv = subprocess.Popen([H.WHET, "serve", "--addr", "127.0.0.1:%d" % port, "--data", home, "--api-key", KEY,
                            "--threads", str(H.THREADS)], stdout=log, stderr=log)
    rows = []
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        for size, model in models.items():
            call(base, "POST", "/v1/models", {"from_path": os.path.abspath(model), "id": size})
            row = {"size": size}
            for way in WAYS:
                if way != "server":
                    f = "onnx/model_quantized.onnx" if way == "int8" else "onnx/model.onnx"
                    t0 = time.monotonic()
                    call(base, "GET", "/v1/models/%s/export/%s" % (size, f), raw=True)
                    row.setdefault("export_s", time.monotonic() - t0)
                env = dict(os.environ, WHET_URL=base, WHET_API_KEY=KEY, WHET_MODEL=size, WHET_VARIANT=way,
                           WHET_TEXTS=texts_file, WHET_BUDGET=str(BUDGET))
                r = subprocess.run(["node", os.path.join(H.HERE, "browser_bench.mjs")], cwd=H.ROOT, env=env,
                                   capture_output=True, text=True, timeout=900)
                out = [l for l in r.stdout.splitlines() if l.startswith("{")]
                res = json.loads(out[-1]) if out else {"error": "rc=%d %s" % (r.returncode, r.stderr[-500:])}
                if "error" in res:
                    raise SystemExit("%s %s: %s" % (size, way, res["error"]))
                row[way] = res
                H.say("%s %s: first label %d ms, %.1f texts/s, page %s ms/text, %d bytes" % (
                    size, way, res["first_label_ms"], res["texts_per_s"], res["page_ms_p50"], res["download_bytes"]))
            row["server_http"] = server_rate(port, size, texts)
            H.say("%s server over HTTP: %.1f texts/s" % (size, row["server_http"]))
            rows.append(row)
    finally:
        srv.terminate()
        try:
            srv.wait(timeout=30)
        except subprocess.TimeoutExpired:
            srv.kill()
        log.close()
    write(mach, data, rows, time.time() - t_begin)


def agree(a, b):
    n = min(len(a), len(b))
    return sum(1 for i in range(n) if a[i] == b[i]) / n if n else float("nan")


def write(mach, data, rows, took):
    L = ["# In the browser vs the server: time to first label and texts/s", "",
         "Generated by `bench/browser_bench.py` on %s UTC; took %.1f min. Headless Chromium (%s), onnxruntime-web "
         "(WebAssembly, 1 thread) vs `whet serve --threads %d`; texts: %s (first 200), one text per request. "
         "Machine: %s, %s cores, load average at start %s." % (
             time.strftime("%Y-%m-%d %H:%M", time.gmtime()), took / 60,
             H.sh("/usr/bin/chromium --version 2>/dev/null || true").stdout.strip() or "chromium",
             H.THREADS, data["predict_src"], mach.get("cpu", "?"), mach.get("cores", "?"),
             " ".join(mach.get("loadavg_start", ["?"]))), "",
         "| model | answered by | download | time to first label | texts/s (compute) | page ms/text | texts/s through the page UI | labels = server's |",
         "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for way in WAYS:
            x = r[way]
            ms = x["page_ms_p50"]
            L.append("| %s | %s | %s | %.2f s | %s | %s | %.1f | %s |" % (
                r["size"], "server (cold worker)" if way == "server" else "this browser, %s ONNX" % way,
                "—" if way == "server" else "%.1f MB" % (x["download_bytes"] / 1e6), x["first_label_ms"] / 1e3,
                "—" if not ms else "%.0f" % (1000 / ms), "—" if ms is None else "%.1f" % ms, x["texts_per_s"],
                "—" if way == "server" else "%.3f" % agree(x["labels"], r["server"]["labels"])))
        L.append("| %s | server, one text per HTTP request (keep-alive, no page) | — | — | %.0f | — | — | — |" % (
            r["size"], r["server_http"]))
    L += ["", "texts/s (compute): in the browser 1000 / the page's median ms per text (preprocessing + onnxruntime-web, "
          "what the page itself reports); for the server, sequential HTTP requests of one text (tokenization, batching, "
          "worker round trip included). texts/s through the page UI: typing and clicking through Playwright, whose "
          "round trips dominate; it compares the three ways on equal terms, not the runtimes."]
    L += ["", "Export made before timing (`whet export` on the server, once per model): %s." % "; ".join(
        "%s %.1f s" % (r["size"], r.get("export_s", 0)) for r in rows), ""]
    with open(RESULTS, "w") as fh:
        fh.write("\n".join(L))
    H.say("wrote %s" % RESULTS)


if __name__ == "__main__":
    main()
