// A stand-in for whet's HTTP API, for working on the page without the native trainer: it serves web/static, the
// built bert-wordpiece.wasm and a small vocab, keeps files and jobs in memory, streams made-up training events and
// classifies by counting a few words. Development only; the browser test runs against a real `whet serve`.
//
//   node web/test/mock-server.mjs [PORT]      (MOCK_API_KEY=k to require a key)
import { createServer } from 'node:http';
import { readFileSync, existsSync } from 'node:fs';
import { join, extname, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Preprocessor } from '../static/js/preprocess.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const staticDir = join(here, '..', 'static');
const wasm = readFileSync(join(root, 'wasm/modules/bin/bert-wordpiece.wasm'));
const vocab = 'the\na\nmovie\nfilm\nwas\nis\ngreat\ngood\nfun\nloved\nit\nbad\nboring\nawful\nhated\nterrible\nplot\n##s\n##ing\n,\n.\n!\n我\n很\n喜\n欢\n讨\n厌\n这\n部\n电\n影\n';
const vocabTxt = '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n' + vocab;
const key = process.env.MOCK_API_KEY || '';
const pre = await Preprocessor.load(wasm, { vocab: vocabTxt, doLowerCase: true, maxLength: 32 });
const now = () => Math.floor(Date.now() / 1000);
let seq = 0;
const models = [
  { id: 'ft:tiny:demo:ftjob-mock1', object: 'model', created_at: now(), owned_by: 'whet', source: 'fine-tune', labels: ['neg', 'pos'], base_model: 'tiny', job_id: 'ftjob-mock1',
    do_lower_case: true, max_seq_length: 32, examples: [{ text: 'the movie was great fun', label: 'pos' }, { text: 'a boring, awful plot', label: 'neg' }, { text: '我很喜欢这部电影', label: 'pos' }] },
  { id: 'tiny', object: 'model', created_at: now() - 100, owned_by: 'user', source: 'path', labels: ['neg', 'pos'], do_lower_case: true, examples: [] },
];
const files = [];
const jobs = new Map();
const events = new Map(); // job id -> [event]
const listeners = new Map(); // job id -> Set(fn)

function emit(id, type, message, data, level = 'info') {
  const ev = { id: ++seq, object: 'fine_tuning.job.event', created_at: now(), level, message, type, data };
  events.get(id).push(ev);
  for (const fn of listeners.get(id) || []) fn(ev);
}
const terminal = (s) => ['succeeded', 'failed', 'cancelled'].includes(s);
function setStatus(job, status) {
  job.status = status;
  if (terminal(status)) job.finished_at = now();
  emit(job.id, 'status', `job ${status}`, { status });
}

function runJob(job) {
  const total = Math.max(4, job.hyperparameters.max_steps || 24);
  const epochs = job.hyperparameters.n_epochs || 3;
  let step = 0;
  setTimeout(() => {
    if (terminal(job.status)) return;
    job.started_at = now();
    job.worker = 'wrk-mock-gpu1'; // a remote worker (whet serve --cluster) trains every mock job
    setStatus(job, 'running');
    job.timer = setInterval(() => {
      step++;
      job.trained_steps = step;
      const lr = 3e-5 * Math.min(step / (total * 0.1), (total - step) / (total * 0.9));
      emit(job.id, 'metrics', `step ${step}/${total}`, { step, total_steps: total, epoch: (step * epochs) / total, loss: 0.7 * Math.exp(-step / total * 2) + 0.05 * Math.random(), learning_rate: lr, samples_per_second: 400 + 50 * Math.random() });
      if (step % Math.ceil(total / epochs) === 0 || step === total) {
        const acc = 0.5 + 0.45 * step / total;
        const metrics = { accuracy: acc, macro_f1: acc - 0.02, weighted_f1: acc - 0.01, labels: ['neg', 'pos'], confusion_matrix: [[Math.round(10 * acc), 10 - Math.round(10 * acc)], [3, 7 + Math.round(3 * acc)]], loss: 0.6 - 0.3 * step / total };
        emit(job.id, 'eval', `eval at step ${step}: accuracy ${acc.toFixed(3)}`, { step, epoch: (step * epochs) / total, metrics });
        job.checkpoints.unshift({ id: `ftckpt-${job.id}-${step}`, object: 'fine_tuning.job.checkpoint', created_at: now(), fine_tuning_job_id: job.id, step_number: step, epoch: (step * epochs) / total, metrics, best: true });
        emit(job.id, 'checkpoint', `checkpoint at step ${step}`, { step, checkpoint: `ftckpt-${job.id}-${step}`, metrics });
        job.metrics = metrics;
      }
      if (step >= total) {
        clearInterval(job.timer);
        const id = `ft:${job.model}:${job.suffix ? job.suffix + ':' : ''}${job.id}`;
        const architecture = job.hyperparameters.method === 'lora' ? 'PeftModelForSequenceClassification' : 'BertForSequenceClassification';
        models.unshift({ id, object: 'model', created_at: now(), owned_by: 'whet', source: 'fine-tune', labels: ['neg', 'pos'], architecture, base_model: job.model, job_id: job.id, do_lower_case: true, max_seq_length: 32, examples: models[0].examples });
        job.fine_tuned_model = id;
        setStatus(job, 'succeeded');
      }
    }, 120);
  }, 300);
}

function classify(text) {
  const t = text.toLowerCase();
  const pos = (t.match(/great|good|fun|loved|喜欢/g) || []).length;
  const neg = (t.match(/bad|boring|awful|hated|terrible|讨厌/g) || []).length;
  const p = 1 / (1 + Math.exp(-(pos - neg) * 1.5 - 0.1));
  return { label: p >= 0.5 ? 'pos' : 'neg', score: Math.max(p, 1 - p), scores: { neg: 1 - p, pos: p } };
}

const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.wasm': 'application/wasm' };
function send(res, status, body, type = 'application/json') {
  res.writeHead(status, { 'Content-Type': type });
  res.end(typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body));
}
const fail = (res, status, message, code) => send(res, status, { error: { message, type: 'invalid_request_error', param: null, code: code || null } });
const list = (data) => ({ object: 'list', data, has_more: false });
async function body(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks);
}

createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  const p = decodeURIComponent(url.pathname);
  if (!p.startsWith('/v1/')) {
    const file = join(staticDir, p === '/' ? 'index.html' : p);
    if (!file.startsWith(staticDir) || !existsSync(file)) return send(res, 404, 'not found', 'text/plain');
    return send(res, 200, readFileSync(file), types[extname(file)] || 'application/octet-stream');
  }
  if (key && req.headers.authorization !== `Bearer ${key}`) return fail(res, 401, 'missing or invalid API key: send Authorization: Bearer <key>', 'missing_api_key');
  let m;
  if (p === '/v1/models') return send(res, 200, list(models));
  if ((m = p.match(/^\/v1\/models\/(.+)\/predict$/))) {
    const { inputs } = JSON.parse(await body(req));
    if (!Array.isArray(inputs) || !inputs.length) return fail(res, 400, 'inputs: give at least one text');
    return send(res, 200, inputs.map(classify));
  }
  if ((m = p.match(/^\/v1\/models\/(.+)\/tokenize$/))) {
    const { inputs } = JSON.parse(await body(req));
    return send(res, 200, { data: pre.preprocess(inputs).map((r) => ({ input_ids: r.ids, token_type_ids: r.typeIds, attention_mask: r.attentionMask, tokens: r.tokens, error: r.error || '' })) });
  }
  if ((m = p.match(/^\/v1\/models\/(.+)\/preprocess$/))) return send(res, 200, { module: 'bert-wordpiece', sha256: '', do_lower_case: true, max_length: 32, files: ['vocab.txt'] });
  if ((m = p.match(/^\/v1\/models\/(.+)\/examples$/))) return send(res, 200, list((models.find((x) => x.id === m[1]) || {}).examples || []));
  if ((m = p.match(/^\/v1\/models\/(.+)\/preprocess\.wasm$/))) return send(res, 200, wasm, 'application/wasm');
  if ((m = p.match(/^\/v1\/models\/(.+)\/files\/(.+)$/))) {
    if (m[2] === 'vocab.txt') return send(res, 200, vocabTxt, 'text/plain');
    if (m[2] === 'tokenizer_config.json') return send(res, 200, { do_lower_case: true });
    return fail(res, 404, `model[${m[1]}] has no file ${m[2]}`, 'not_found');
  }
  if ((m = p.match(/^\/v1\/models\/(.+)$/))) {
    const model = models.find((x) => x.id === m[1]);
    return model ? send(res, 200, model) : fail(res, 404, `model[${m[1]}] not found`, 'not_found');
  }
  if (p === '/v1/modules') return send(res, 200, list([]));
  if (p === '/v1/files' && req.method === 'POST') {
    const form = await new Request('http://x', { method: 'POST', headers: req.headers, body: await body(req) }).formData();
    const file = form.get('file');
    const lines = (await file.text()).split('\n').filter((l) => l.trim());
    const counts = {};
    for (const [i, l] of lines.entries()) {
      let row;
      try {
        row = JSON.parse(l);
      } catch {
        return fail(res, 400, `${file.name}:${i + 1}: not valid JSON`, 'invalid_file');
      }
      counts[row.label] = (counts[row.label] || 0) + 1;
    }
    const f = { id: `file-${++seq}`, object: 'file', bytes: file.size, created_at: now(), filename: file.name, purpose: 'fine-tune', format: 'jsonl', rows: lines.length, labels: Object.keys(counts).sort(), label_counts: counts, status: 'processed' };
    files.unshift(f);
    return send(res, 200, f);
  }
  if (p === '/v1/files') return send(res, 200, list(files));
  if (p === '/v1/fine_tuning/jobs' && req.method === 'POST') {
    const r = JSON.parse(await body(req));
    if (!models.some((x) => x.id === r.model)) return fail(res, 400, `model: no model ${r.model}`);
    if (!files.some((x) => x.id === r.training_file)) return fail(res, 400, `training_file: no file ${r.training_file}`);
    const job = { id: `ftjob-${++seq}`, object: 'fine_tuning.job', created_at: now(), started_at: null, finished_at: null, model: r.model, training_file: r.training_file, hyperparameters: { n_epochs: 3, batch_size: 32, learning_rate: 3e-5, ...r.hyperparameters }, suffix: r.suffix, status: 'queued', fine_tuned_model: null, error: null, trained_steps: 0, attempts: 1, worker: null, checkpoints: [] };
    jobs.set(job.id, job);
    events.set(job.id, []);
    emit(job.id, 'status', 'job queued', { status: 'queued' });
    runJob(job);
    return send(res, 200, job);
  }
  if (p === '/v1/fine_tuning/jobs') return send(res, 200, list([...jobs.values()].reverse()));
  if ((m = p.match(/^\/v1\/fine_tuning\/jobs\/([^/]+)(\/.*)?$/))) {
    const job = jobs.get(m[1]);
    if (!job) return fail(res, 404, `job[${m[1]}] not found`, 'not_found');
    const rest = m[2] || '';
    if (rest === '') return send(res, 200, job);
    if (rest === '/cancel') {
      if (terminal(job.status)) return fail(res, 409, `job[${job.id}] is already ${job.status}`, 'conflict');
      clearInterval(job.timer);
      setStatus(job, 'cancelled');
      return send(res, 200, job);
    }
    if (rest === '/checkpoints') return send(res, 200, list(job.checkpoints));
    if (rest === '/events') {
      const after = Number(url.searchParams.get('after') || 0);
      if (url.searchParams.get('stream') !== 'true') return send(res, 200, list(events.get(job.id).filter((e) => e.id > after)));
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      const write = (ev) => {
        res.write(`id: ${ev.id}\ndata: ${JSON.stringify(ev)}\n\n`);
        if (ev.type === 'status' && terminal(ev.data.status)) {
          res.end('data: [DONE]\n\n');
          listeners.get(job.id).delete(write);
        }
      };
      for (const ev of events.get(job.id).filter((e) => e.id > after)) write(ev);
      if (!res.writableEnded) {
        if (!listeners.has(job.id)) listeners.set(job.id, new Set());
        listeners.get(job.id).add(write);
        req.on('close', () => listeners.get(job.id).delete(write));
      }
      return;
    }
  }
  return fail(res, 404, `no route ${req.method} ${p}`, 'not_found');
}).listen(Number(process.argv[2] || 8099), '127.0.0.1', function () {
  console.log(`mock whet API on http://127.0.0.1:${this.address().port}`);
});
