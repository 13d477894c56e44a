// #/new: upload a dataset (POST /v1/files) and start a fine-tune (POST /v1/fine_tuning/jobs) with the main
// hyperparameters, full or LoRA (hyperparameters.method and lora_*); empty fields take the server's defaults.

import { api } from '../api.js';
import { h, replace, errorBox } from '../dom.js';

// Hyperparameter fields: [name, label, type, step, placeholder (the server default), hint].
const HYPER = [
  ['n_epochs', 'Epochs', 'int', '1', '3', 'Passes over the training data.'],
  ['batch_size', 'Batch size', 'int', '1', '32', 'Rows per optimizer step.'],
  ['learning_rate', 'Learning rate', 'float', 'any', '5e-5', 'AdamW peak learning rate.'],
  ['max_seq_length', 'Max sequence length', 'int', '1', '128', 'Tokens per row, special tokens included.'],
  ['warmup_ratio', 'Warmup ratio', 'float', 'any', '0', 'Share of steps warming the learning rate up.'],
  ['weight_decay', 'Weight decay', 'float', 'any', '0.01', 'AdamW decoupled weight decay.'],
  ['seed', 'Seed', 'int', '1', '42', 'Initialisation, shuffling and the validation split.'],
  ['max_steps', 'Max steps', 'int', '1', '0', 'Stop after this many steps (0 = no limit).'],
];
// LoRA fields (with method "lora"): peft's defaults as placeholders.
const LORA = [
  ['lora_r', 'Rank r', 'int', '1', '8', 'Rank of each adapter update (lora_A is r × hidden).'],
  ['lora_alpha', 'Alpha', 'float', 'any', '8', 'The update is scaled by alpha / r.'],
  ['lora_dropout', 'Dropout', 'float', 'any', '0', 'Dropout on the adapter\'s input while training.'],
];
const ADAPTER = 'PeftModelForSequenceClassification'; // the architecture of a registered LoRA adapter
const ADVANCED = [
  ['eval_every', 'Evaluate every (steps)', 'int', '1', '0', '0 = once per epoch.'],
  ['early_stopping_patience', 'Early stopping patience', 'int', '1', '0', 'Evaluations without improvement (0 = never).'],
  ['grad_accum', 'Gradient accumulation', 'int', '1', '1', 'Batches per optimizer step.'],
];

function numberField([name, label, , step, placeholder, hint]) {
  return h('div', {},
    h('label', { for: `hp-${name}` }, label),
    h('input', { type: 'number', id: `hp-${name}`, name, step, placeholder, inputmode: step === 'any' ? 'decimal' : 'numeric', 'aria-describedby': `hp-${name}-hint` }),
    h('p', { class: 'hint', id: `hp-${name}-hint` }, hint));
}

/** render draws the upload-and-train form. */
export async function render(main) {
  main.append(h('h1', {}, 'New fine-tune'));
  let models = [], files = [], modules = [];
  try {
    [models, files, modules] = await Promise.all([api.models(), api.files(), api.modules()]).then((r) => r.map((x) => (x && x.data) || []));
  } catch (err) {
    main.append(errorBox(err));
    return;
  }
  const fileOpts = (none) => [h('option', { value: '' }, none), files.map((f) => h('option', { value: f.id }, `${f.filename} · ${f.rows} rows · ${f.id}`))];
  const modOpts = (kind, none) => [h('option', { value: '' }, none), modules.filter((m) => m.kind === kind).map((m) => h('option', { value: m.id }, `${m.name} · ${m.id}`))];
  const upload = h('input', { type: 'file', id: 'train-upload', name: 'train-upload', accept: '.jsonl,.json,.csv,.tsv,.txt', 'aria-describedby': 'train-upload-hint' });
  const existing = h('select', { id: 'train-file', name: 'training_file' }, fileOpts('— upload the file above —'));
  const bases = models.filter((m) => m.architecture !== ADAPTER); // adapters are not fine-tuned: their bases are
  const methodRadio = (value, label, hint) => h('label', { class: 'choice' },
    h('input', { type: 'radio', name: 'method', value, checked: value === 'full', id: `method-${value}` }), ` ${label} `, h('span', { class: 'hint' }, hint));
  const loraBox = h('div', { id: 'lora-fields', hidden: true },
    h('div', { class: 'grid' }, LORA.map(numberField),
      h('div', {}, h('label', { for: 'hp-lora_target_modules' }, 'Target modules'),
        h('input', { type: 'text', id: 'hp-lora_target_modules', name: 'lora_target_modules', placeholder: 'query,value', autocomplete: 'off', 'aria-describedby': 'hp-lora_target_modules-hint' }),
        h('p', { class: 'hint', id: 'hp-lora_target_modules-hint' }, 'Comma-separated module names the adapter updates (query, key, value, dense, word_embeddings).'))));
  const form = h('form', { id: 'new-job', novalidate: true },
    h('fieldset', {}, h('legend', {}, 'Data'),
      h('label', { for: 'train-upload' }, 'Upload a training file'), upload,
      h('p', { class: 'hint', id: 'train-upload-hint' }, 'JSONL ({"text": …, "label": …}), CSV or TSV with a header. Rows are checked on upload; bad rows are reported by line.'),
      h('label', { for: 'train-file' }, 'Or use an uploaded file'), existing,
      h('label', { for: 'validation-file' }, 'Validation file'),
      h('select', { id: 'validation-file', name: 'validation_file' }, fileOpts('automatic: a stratified 10% split of the training file'))),
    h('fieldset', {}, h('legend', {}, 'Model'),
      h('label', { for: 'base-model' }, 'Base model'),
      h('select', { id: 'base-model', name: 'model', required: true },
        bases.length ? bases.map((m) => h('option', { value: m.id }, m.id + (m.source === 'fine-tune' ? ' (fine-tuned)' : ''))) : h('option', { value: '' }, 'no models: import one first')),
      h('label', { for: 'suffix' }, 'Suffix'),
      h('input', { type: 'text', id: 'suffix', name: 'suffix', maxlength: 40, pattern: '[A-Za-z0-9._-]*', 'aria-describedby': 'suffix-hint', autocomplete: 'off' }),
      h('p', { class: 'hint', id: 'suffix-hint' }, 'Goes into the new model\'s id; letters, digits, ".", "_" and "-".')),
    h('fieldset', { id: 'method' }, h('legend', {}, 'Method'),
      methodRadio('full', 'Full fine-tuning', 'trains every weight; the new model is a full copy.'),
      methodRadio('lora', 'LoRA adapter', 'trains a small peft adapter on the frozen base; served on the base, a few MB.'),
      loraBox),
    h('fieldset', {}, h('legend', {}, 'Hyperparameters'), h('p', { class: 'hint' }, 'Empty fields take the defaults shown.'),
      h('div', { class: 'grid' }, HYPER.map(numberField))),
    h('details', {}, h('summary', {}, 'Advanced'),
      h('fieldset', {}, h('legend', {}, 'Advanced'),
        h('div', { class: 'grid' }, ADVANCED.map(numberField),
          h('div', {}, h('label', { for: 'class-weights' }, 'Class weights'),
            h('select', { id: 'class-weights', name: 'class_weights' }, h('option', { value: '' }, 'trainer default'), h('option', { value: 'auto' }, 'auto (inverse frequency)'), h('option', { value: 'none' }, 'none')))),
        h('label', { for: 'preprocess-module' }, 'Preprocess module'),
        h('select', { id: 'preprocess-module', name: 'preprocess_module' }, modOpts('preprocess', 'built-in bert-wordpiece')),
        h('label', { for: 'evaluate-module' }, 'Evaluate module'),
        h('select', { id: 'evaluate-module', name: 'evaluate_module' }, modOpts('evaluate', 'built-in classification-metrics')))),
    h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'start-job' }, 'Start fine-tuning')));
  const out = h('div', { id: 'new-job-status', 'aria-live': 'polite' });
  main.append(form, out);
  form.querySelectorAll('input[name=method]').forEach((r) => r.addEventListener('change', () => {
    loraBox.hidden = form.querySelector('input[name=method]:checked').value !== 'lora';
  }));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const button = form.querySelector('#start-job');
    button.disabled = true;
    replace(out);
    try {
      let fileId = existing.value;
      if (upload.files && upload.files[0]) {
        out.append(h('p', { class: 'hint' }, `Uploading ${upload.files[0].name}…`));
        const f = await api.uploadFile(upload.files[0]);
        replace(out, h('div', { class: 'notice', id: 'upload-result' },
          `Uploaded ${f.filename}: ${f.rows} rows, labels ${(f.labels || []).map((l) => `${l} (${(f.label_counts || {})[l] ?? '?'})`).join(', ')} · ${f.id}`,
          (f.warnings || []).map((w) => h('p', { class: 'hint' }, `Warning: ${w}`))));
        fileId = f.id;
      }
      if (!fileId) throw new Error('Choose a training file: upload one or pick an uploaded file.');
      const fd = new FormData(form);
      const hp = {};
      const lora = fd.get('method') === 'lora';
      for (const [name, , type] of [...HYPER, ...ADVANCED, ...(lora ? LORA : [])]) {
        const v = String(fd.get(name) ?? '').trim();
        if (v === '') continue;
        const n = Number(v);
        if (!Number.isFinite(n) || (type === 'int' && !Number.isInteger(n))) throw new Error(`${name}: "${v}" is not ${type === 'int' ? 'a whole number' : 'a number'}`);
        hp[name] = n;
      }
      if (fd.get('class_weights')) hp.class_weights = fd.get('class_weights');
      if (lora) {
        hp.method = 'lora';
        const targets = String(fd.get('lora_target_modules') || '').trim();
        if (targets) hp.lora_target_modules = targets;
      }
      const body = { model: fd.get('model'), training_file: fileId, hyperparameters: hp };
      for (const k of ['validation_file', 'preprocess_module', 'evaluate_module', 'suffix']) {
        const v = String(fd.get(k) || '').trim();
        if (v) body[k] = v;
      }
      out.append(h('p', { class: 'hint' }, 'Creating the job…'));
      const job = await api.createJob(body);
      location.hash = `#/jobs/${encodeURIComponent(job.id)}`;
    } catch (err) {
      out.append(errorBox(err));
      button.disabled = false;
    }
  });
}
