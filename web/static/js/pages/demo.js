// #/demo[/MODEL]: pick a model, type text, see its word pieces (tokenized in the browser by the model's own
// preprocess .wasm) and the predicted label with a probability bar per class, computed in this browser (the model's
// ONNX export in onnxruntime-web, int8 by default) or by the server.

import { api, ApiError } from '../api.js';
import { h, replace, errorBox, errorText } from '../dom.js';
import { Preprocessor } from '../preprocess.js';
import { BrowserModel, softmax } from '../onnx.js';

const LAST = 'whet.demoModel';
const ADAPTER = 'PeftModelForSequenceClassification'; // the architecture of a registered LoRA adapter
const WHERE = 'whet.demoWhere'; // "int8" | "fp32" (in this browser) | "server"
const browserModels = new Map(); // `${model id}\n${variant}` -> Promise<{model: BrowserModel, labels}>
const DEBOUNCE_MS = 400;
const tokenizers = new Map(); // model id -> Promise<{pre, maxLength, lower}>

const utf8 = new TextDecoder();

// loadTokenizer fetches the model's preprocess module and its configuration (GET .../preprocess says which module,
// do_lower_case and max_length; the files come from GET .../files/{name}) and instantiates it.
async function loadTokenizer(model) {
  let info = null;
  try {
    info = await api.modelPreprocess(model.id);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) throw err;
  }
  const wasm = await api.preprocessWasm(model.id);
  const files = info ? info.files || [] : ['vocab.txt', 'tokenizer_config.json'];
  const vocab = files.includes('vocab.txt') ? await api.modelFile(model.id, 'vocab.txt') : null;
  const tokenizerJSON = files.includes('tokenizer.json') ? await api.modelFile(model.id, 'tokenizer.json') : null;
  let lower = info ? info.do_lower_case : undefined;
  if (typeof lower !== 'boolean') {
    lower = true; // HuggingFace's default for BERT
    try {
      const cfg = JSON.parse(utf8.decode(await api.modelFile(model.id, 'tokenizer_config.json')));
      if (typeof cfg.do_lower_case === 'boolean') lower = cfg.do_lower_case;
    } catch {
      /* no tokenizer_config.json: keep the default */
    }
  }
  const maxLength = (info && info.max_length) || 128;
  const pre = await Preprocessor.load(wasm, { vocab, tokenizerJSON, doLowerCase: lower, maxLength }, {
    stderr: (line) => console.warn(`[${model.id} preprocess] ${line}`),
  });
  return { pre, maxLength, lower, module: info ? info.module : pre.info.name };
}

// loadBrowserModel fetches the model's ONNX export (variant "int8" or "fp32") and its config.json (label order) and
// creates an onnxruntime-web session.
async function loadBrowserModel(model, variant) {
  const cfg = JSON.parse(utf8.decode(await api.exportFile(model.id, 'config.json')));
  const id2label = cfg.id2label || {};
  const labels = Object.keys(id2label).sort((a, b) => a - b).map((k) => id2label[k]);
  const bm = await BrowserModel.load(model.id, variant);
  return { model: bm, labels };
}

function browserModelFor(model, variant) {
  const key = `${model.id}\n${variant}`;
  if (!browserModels.has(key)) {
    const p = loadBrowserModel(model, variant);
    p.catch(() => browserModels.delete(key));
    browserModels.set(key, p);
  }
  return browserModels.get(key);
}

function tokenizerFor(model) {
  if (!tokenizers.has(model.id)) {
    const p = loadTokenizer(model);
    p.catch(() => tokenizers.delete(model.id)); // try again next time
    tokenizers.set(model.id, p);
  }
  return tokenizers.get(model.id);
}

/** render draws the demo page. */
export async function render(main, wanted) {
  const heading = h('h1', {}, 'Demo');
  main.append(heading, h('p', { class: 'muted' },
    'Classify text with a fine-tuned model. The text is split into word pieces right here in your browser by the ',
    'model\'s own preprocessing module (the same WebAssembly the server runs); the label is computed in this browser by ',
    'the model\'s ONNX export in onnxruntime-web (nothing leaves the page once it is loaded), or by the server.'));
  let list;
  try {
    list = (await api.models()).data || [];
  } catch (err) {
    main.append(errorBox(err));
    return;
  }
  if (!list.length) {
    main.append(h('div', { class: 'notice' }, 'No models yet. ', h('a', { href: '#/new' }, 'Start a fine-tune'), ' or import a model with ',
      h('code', {}, 'whet models import'), '.'));
    return;
  }
  const ranked = [...list].sort((a, b) => (b.source === 'fine-tune') - (a.source === 'fine-tune') || b.created_at - a.created_at);
  let current = ranked.find((m) => m.id === wanted) || ranked.find((m) => m.id === localStorage.getItem(LAST)) || ranked[0];

  const select = h('select', { id: 'model', name: 'model' },
    ranked.map((m) => h('option', { value: m.id, selected: m.id === current.id }, m.id + (m.labels && m.labels.length ? ` (${m.labels.join(', ')})` : '') +
      (m.architecture === ADAPTER ? ` · LoRA adapter of ${m.base_model || '?'}` : ''))));
  const text = h('textarea', { id: 'text', name: 'text', rows: 4, placeholder: 'Type or paste text…', spellcheck: 'true' });
  const modelInfo = h('p', { class: 'hint', id: 'model-info' });
  let where = ['int8', 'fp32', 'server'].includes(localStorage.getItem(WHERE)) ? localStorage.getItem(WHERE) : 'int8';
  const whereSelect = h('select', { id: 'where', name: 'where' },
    [['int8', 'In this browser (int8 ONNX)'], ['fp32', 'In this browser (fp32 ONNX)'], ['server', 'On the server']]
      .map(([v, t]) => h('option', { value: v, selected: v === where }, t)));
  const runtimeStatus = h('p', { class: 'hint', id: 'runtime-status', 'aria-live': 'polite' });
  const form = h('form', { id: 'demo-form', class: 'panel' },
    h('label', { for: 'model' }, 'Model'), select, modelInfo,
    h('label', { for: 'where' }, 'Run the model'), whereSelect, runtimeStatus,
    h('label', { for: 'text' }, 'Text'), text,
    h('div', { class: 'actions' },
      h('button', { type: 'submit', id: 'classify' }, 'Classify'),
      h('button', { type: 'button', class: 'secondary', onclick: () => { text.value = ''; onInput(); text.focus(); } }, 'Clear')));
  const examples = h('div', { id: 'examples' });
  const tokStatus = h('p', { class: 'hint', id: 'tokenizer-status', 'aria-live': 'polite' });
  const pieces = h('ol', { class: 'pieces', id: 'pieces', 'aria-label': 'Word pieces' });
  const pieceInfo = h('p', { class: 'hint', id: 'piece-info' });
  const ids = h('code', { id: 'piece-ids' });
  const prediction = h('div', { id: 'prediction', 'data-state': 'idle', 'aria-live': 'polite' },
    h('p', { class: 'muted' }, 'Type some text to classify it.'));
  main.append(form,
    h('section', { 'aria-labelledby': 'ex-h' }, h('h2', { id: 'ex-h' }, 'Examples'), examples),
    h('div', { class: 'two' },
      h('section', { class: 'panel', 'aria-labelledby': 'wp-h' }, h('h2', { id: 'wp-h' }, 'Word pieces'), tokStatus, pieces, pieceInfo,
        h('details', {}, h('summary', {}, 'Token ids'), ids)),
      h('section', { class: 'panel', 'aria-labelledby': 'pr-h' }, h('h2', { id: 'pr-h' }, 'Prediction'), prediction)));

  let tok = null; // the loaded tokenizer of the current model, or null
  let browser = null; // Promise<{model, labels}> of the current model and variant, or null (server)
  let timer = 0;
  let seq = 0;
  let controller = null;
  let alive = true;

  function showPieces() {
    const value = text.value;
    pieces.replaceChildren();
    ids.textContent = '';
    pieceInfo.textContent = '';
    pieces.dataset.text = value;
    if (!tok) return;
    let row;
    try {
      [row] = tok.pre.preprocess([value], { withTokens: true, maxLength: tok.maxLength });
    } catch (err) {
      pieceInfo.replaceChildren(errorBox(err));
      return;
    }
    if (row.error) {
      pieceInfo.replaceChildren(errorBox(new Error(`the tokenizer rejected this text: ${row.error}`)));
      return;
    }
    const tokens = row.tokens || row.ids.map(String);
    pieces.append(...tokens.map((t, i) => {
      let cls = 'piece';
      if (/^\[(CLS|SEP|PAD|MASK)\]$/.test(t) || /^<\/?s>$/.test(t)) cls += ' special';
      else if (t === '[UNK]') cls += ' unk';
      else if (t.startsWith('##')) cls += ' cont';
      return h('li', { class: cls, title: `id ${row.ids[i]}`, 'data-id': row.ids[i] }, t);
    }));
    ids.textContent = JSON.stringify(row.ids);
    pieceInfo.textContent = `${row.ids.length} tokens` + (tok.maxLength ? ` (at most ${tok.maxLength}, special tokens included)` : '');
  }

  async function predict() {
    clearTimeout(timer);
    const value = text.value;
    const mySeq = ++seq;
    if (controller) controller.abort();
    if (!value.trim()) {
      prediction.dataset.state = 'idle';
      replace(prediction, h('p', { class: 'muted' }, 'Type some text to classify it.'));
      return;
    }
    controller = new AbortController();
    prediction.dataset.state = 'loading';
    prediction.setAttribute('aria-busy', 'true');
    try {
      const { p, source } = await classify(value, controller.signal);
      if (mySeq !== seq || !alive) return;
      const labels = current.labels && current.labels.length ? current.labels : Object.keys(p.scores || {});
      const rows = labels.map((l) => ({ label: l, score: (p.scores || {})[l] ?? (l === p.label ? p.score : 0) }));
      replace(prediction,
        h('p', {}, 'Predicted label: ', h('span', { class: 'prediction-label', id: 'pred-label', 'data-score': p.score }, p.label),
          ` (${(p.score * 100).toFixed(1)}%)`),
        h('p', { class: 'hint', id: 'pred-source', 'data-source': source.kind }, source.text),
        h('div', { class: 'bars', role: 'list', 'aria-label': 'Probability per label' }, rows.map((r) =>
          h('div', { class: 'bar-row' + (r.label === p.label ? ' top' : ''), role: 'listitem', 'data-label': r.label, 'data-score': r.score },
            h('span', { class: 'name' }, r.label),
            h('div', { class: 'bar-track', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': (r.score * 100).toFixed(1), 'aria-label': r.label },
              h('div', { class: 'bar-fill', style: `width: ${(r.score * 100).toFixed(2)}%` })),
            h('span', { class: 'pct' }, `${(r.score * 100).toFixed(1)}%`)))));
      prediction.dataset.text = value;
      prediction.dataset.state = 'done';
    } catch (err) {
      if (err.name === 'AbortError' || mySeq !== seq || !alive) return;
      prediction.dataset.state = 'error';
      prediction.dataset.text = value;
      replace(prediction, errorBox(err));
    } finally {
      if (mySeq === seq) prediction.removeAttribute('aria-busy');
    }
  }

  // classify labels one text in this browser when a browser model is chosen and loads, else on the server. Returns
  // the prediction ({label, score, scores}) and where it came from.
  async function classify(value, signal) {
    let why = '';
    if (browser && tok) {
      try {
        const { model, labels } = await browser;
        const t0 = performance.now();
        const [row] = tok.pre.preprocess([value], { maxLength: tok.maxLength });
        if (row.error) throw new Error(`the tokenizer rejected this text: ${row.error}`);
        const [logits] = await model.classify([row]);
        const ms = performance.now() - t0;
        const probs = softmax(logits);
        const top = probs.indexOf(Math.max(...probs));
        const scores = Object.fromEntries(labels.map((l, i) => [l, probs[i]]));
        return { p: { label: labels[top], score: probs[top], scores },
          source: { kind: 'browser', text: `in this browser, ${ms.toFixed(1)} ms (${model.variant} ONNX, onnxruntime-web)` } };
      } catch (err) {
        why = ` (in-browser run failed: ${err.message})`;
      }
    }
    const [p] = await api.predict(current.id, [value], signal);
    return { p, source: { kind: 'server', text: 'server' + why } };
  }

  // loadRuntime starts loading the chosen browser model (or none for "server") and reports progress.
  function loadRuntime() {
    const model = current;
    browser = null;
    if (where === 'server') {
      runtimeStatus.dataset.state = 'server';
      runtimeStatus.textContent = 'Each label comes from the server.';
      return;
    }
    if (model.architecture === ADAPTER) {
      runtimeStatus.dataset.state = 'server';
      runtimeStatus.textContent = 'A LoRA adapter has no in-browser export: each label comes from the server, which holds its base model once for all its adapters.';
      return;
    }
    runtimeStatus.dataset.state = 'loading';
    runtimeStatus.textContent = `Loading the ${where} ONNX model into this browser…`;
    const t0 = performance.now();
    const p = browserModelFor(model, where);
    browser = p;
    p.then(({ model: bm }) => {
      if (browser !== p || !alive) return;
      runtimeStatus.dataset.state = 'ready';
      runtimeStatus.dataset.bytes = bm.bytes;
      runtimeStatus.textContent = `Model loaded into this browser: ${bm.variant} ONNX, ${(bm.bytes / 1e6).toFixed(1)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s. Labels are computed here; the server is not asked.`;
    }, (err) => {
      if (browser !== p || !alive) return;
      browser = null;
      runtimeStatus.dataset.state = 'error';
      runtimeStatus.replaceChildren(h('span', {}, 'Classifying on the server: the model cannot run in this browser: '), errorText(err));
    });
  }

  function onInput() {
    showPieces();
    clearTimeout(timer);
    timer = setTimeout(predict, DEBOUNCE_MS);
  }

  async function selectModel(id) {
    current = ranked.find((m) => m.id === id) || current;
    localStorage.setItem(LAST, current.id);
    if (location.hash !== `#/demo/${encodeURIComponent(current.id)}`) history.replaceState(null, '', `#/demo/${encodeURIComponent(current.id)}`);
    tok = null;
    showPieces();
    loadRuntime();
    replace(examples, h('p', { class: 'muted' }, 'Loading…'));
    replace(modelInfo, `Labels: ${(current.labels || []).join(', ') || '—'}`,
      current.base_model ? (current.architecture === ADAPTER ? ` · LoRA adapter of ${current.base_model}` : ` · fine-tuned from ${current.base_model}`) : '',
      current.job_id ? [' · ', h('a', { href: `#/jobs/${encodeURIComponent(current.job_id)}` }, 'training job')] : '');
    tokStatus.dataset.state = 'loading';
    tokStatus.textContent = 'Loading the model\'s preprocessing module…';
    const model = current;
    let ex;
    try {
      ex = (await api.examples(model.id)).data || [];
    } catch (err) {
      ex = err instanceof ApiError && err.status === 404 ? undefined : err; // 404: an older server without the route
    }
    if (current !== model || !alive) return;
    if (ex instanceof Error) {
      replace(examples, errorBox(ex));
    } else if (Array.isArray(ex) && ex.length) {
      replace(examples, h('ul', { class: 'examples' }, ex.map((e) => h('li', {},
        h('button', { type: 'button', class: 'example', 'data-label': e.label ?? '', onclick: () => { text.value = e.text; onInput(); predict(); } },
          e.text.length > 90 ? e.text.slice(0, 88) + '…' : e.text, e.label != null ? h('span', { class: 'tag' }, `(${e.label})`) : '')))));
    } else if (ex === undefined) {
      replace(examples, h('p', { class: 'muted' }, 'This server does not list example texts for its models.'));
    } else {
      replace(examples, h('p', { class: 'muted' }, 'No example texts for this model (only fine-tuned models keep validation examples).'));
    }
    const detail = model;
    try {
      const t = await tokenizerFor(detail);
      if (current !== detail || !alive) return;
      tok = t;
      tokStatus.dataset.state = 'ready';
      tokStatus.textContent = `Tokenized in your browser by ${t.pre.info.name} (module ${t.module}, WebAssembly${t.lower ? ', lowercased' : ', cased'}).`;
    } catch (err) {
      if (current !== detail || !alive) return;
      tokStatus.dataset.state = 'error';
      tokStatus.replaceChildren(h('span', {}, 'Word pieces unavailable: '), errorText(err));
    }
    showPieces();
    if (text.value.trim()) predict();
  }

  select.addEventListener('change', () => selectModel(select.value));
  whereSelect.addEventListener('change', () => {
    where = whereSelect.value;
    localStorage.setItem(WHERE, where);
    loadRuntime();
    if (text.value.trim()) predict();
  });
  text.addEventListener('input', onInput);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    predict();
  });
  selectModel(current.id);
  return () => {
    alive = false;
    clearTimeout(timer);
    if (controller) controller.abort();
  };
}
