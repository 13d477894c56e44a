// ort.mjs: runs an exported ONNX classifier in onnxruntime-node (the reference runtime for whet's ONNX tests and
// benchmarks).
//
// Usage (from the repository root, where node_modules lives):
//
//	node export/onnx/testdata/ort.mjs --model onnx/model.onnx [--tokenizer tokenizer.json] [--threads N] <in.jsonl >out.jsonl
//
// Each input line is one batch, either token ids {"input_ids": [[..]], "attention_mask": [[..]], "token_type_ids":
// [[..]]} (rows of equal length) or texts {"texts": [..], "pairs": [..] (optional)} tokenized with --tokenizer
// (HuggingFace tokenizers reading the exported tokenizer.json) and padded to the longest row. Each output line is
// {"logits": [[..]]} for that batch, or {"error": "..."}. --max-length N truncates tokenized texts to N tokens (as
// whet truncates to a model's trained length).
//
// --bench SECONDS instead reads one {"texts": [...]} line and, for each --batch size (comma-separated), sends
// sequential requests of B texts cycling through them (tokenization with --tokenizer, truncated to --max-length,
// padded per batch, included in the time) after one warm-up request, until SECONDS and 3 requests have passed; it
// prints {"batch", "texts_per_s", "p50_ms", "requests"} per size (bench/onnx_bench.py).
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import path from 'node:path';

const require = createRequire(path.join(process.cwd(), 'package.json'));
const ort = require('onnxruntime-node');

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const modelPath = arg('--model');
if (!modelPath) {
  console.error('ort.mjs: --model is required');
  process.exit(2);
}
const threads = parseInt(arg('--threads', '1'), 10);
const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: threads, interOpNumThreads: 1 });
let tokenizer = null;
const tokPath = arg('--tokenizer');
if (tokPath) {
  const { Tokenizer } = require('@anush008/tokenizers');
  tokenizer = Tokenizer.fromFile(tokPath);
}

// encode tokenizes texts (and pairs) and pads them to the longest row with 0 (the attention mask marks padding).
async function encode(texts, pairs) {
  const rows = [];
  for (let i = 0; i < texts.length; i++) {
    const enc = await tokenizer.encode(texts[i], pairs ? pairs[i] : null);
    rows.push({ ids: enc.getIds(), types: enc.getTypeIds() });
  }
  const T = Math.max(...rows.map((r) => r.ids.length));
  const pad = (v) => [...v, ...new Array(T - v.length).fill(0)];
  return {
    input_ids: rows.map((r) => pad(r.ids)),
    attention_mask: rows.map((r) => pad(r.ids.map(() => 1))),
    token_type_ids: rows.map((r) => pad(r.types)),
  };
}

function feeds(batch) {
  const B = batch.input_ids.length;
  const T = batch.input_ids[0].length;
  const t = (rows) => new ort.Tensor('int64', BigInt64Array.from(rows.flat(), (v) => BigInt(v)), [B, T]);
  return { input_ids: t(batch.input_ids), attention_mask: t(batch.attention_mask), token_type_ids: t(batch.token_type_ids) };
}

async function logits(batch) {
  const out = await session.run(feeds(batch));
  const l = out.logits;
  const n = l.dims[1];
  const rows = [];
  for (let i = 0; i < l.dims[0]; i++) rows.push(Array.from(l.data.slice(i * n, (i + 1) * n)));
  return rows;
}

const lines = [];
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) if (line.trim() !== '') lines.push(JSON.parse(line));

const budget = parseFloat(arg('--bench', '0'));
if (tokenizer && (budget > 0 || arg('--max-length'))) {
  tokenizer.setTruncation(parseInt(arg('--max-length', '128'), 10));
}
if (budget > 0) {
  const texts = lines[0].texts;
  for (const B of arg('--batch', '1,8,64').split(',').map(Number)) {
    const request = async (k) => {
      const chunk = [];
      for (let i = 0; i < B; i++) chunk.push(texts[(k * B + i) % texts.length]);
      await session.run(feeds(await encode(chunk)));
    };
    await request(0);
    const lat = [];
    const t0 = performance.now();
    for (let k = 1; ; k++) {
      const s = performance.now();
      await request(k);
      lat.push(performance.now() - s);
      if ((performance.now() - t0) / 1000 >= budget && lat.length >= 3) break;
    }
    const total = (performance.now() - t0) / 1000;
    lat.sort((a, b) => a - b);
    console.log(JSON.stringify({ batch: B, texts_per_s: (lat.length * B) / total, p50_ms: lat[Math.floor(lat.length / 2)], requests: lat.length }));
  }
} else {
  for (const req of lines) {
    try {
      const batch = req.texts ? await encode(req.texts, req.pairs) : req;
      console.log(JSON.stringify({ logits: await logits(batch) }));
    } catch (e) {
      console.log(JSON.stringify({ error: String(e && e.message ? e.message : e) }));
    }
  }
}
