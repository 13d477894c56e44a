// #/models: the registered models, the uploaded WASM modules (with an upload form) and the dataset files.

import { api } from '../api.js';
import { h, replace, errorBox, fmtTime } from '../dom.js';

function table(id, head, rows) {
  return h('div', { class: 'table-wrap' }, h('table', { id },
    h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col' }, c)))), h('tbody', {}, rows)));
}

/** render draws the lists. */
export async function render(main) {
  main.append(h('h1', {}, 'Models, modules and files'));
  const modelsBox = h('div', { id: 'models-box' });
  const modulesBox = h('div', { id: 'modules-box' });
  const filesBox = h('div', { id: 'files-box' });
  const modFile = h('input', { type: 'file', id: 'module-file', name: 'file', accept: '.wasm', required: true });
  const modForm = h('form', { id: 'module-form', class: 'panel' },
    h('h3', {}, 'Upload a module'),
    h('label', { for: 'module-file' }, 'WebAssembly module (.wasm)'), modFile,
    h('label', { for: 'module-kind' }, 'Kind'),
    h('select', { id: 'module-kind', name: 'kind' }, h('option', { value: 'preprocess' }, 'preprocess'), h('option', { value: 'evaluate' }, 'evaluate')),
    h('label', { for: 'module-name' }, 'Name (optional)'), h('input', { type: 'text', id: 'module-name', name: 'name', autocomplete: 'off' }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Upload module')),
    h('div', { id: 'module-result', 'aria-live': 'polite' }));
  main.append(
    h('section', { 'aria-labelledby': 'm-h' }, h('h2', { id: 'm-h' }, 'Models'), modelsBox),
    h('section', { 'aria-labelledby': 'mo-h' }, h('h2', { id: 'mo-h' }, 'Modules'), modulesBox, modForm),
    h('section', { 'aria-labelledby': 'f-h' }, h('h2', { id: 'f-h' }, 'Dataset files'), filesBox));

  async function load() {
    const [models, modules, files] = await Promise.allSettled([api.models(), api.modules(), api.files()]);
    if (models.status === 'rejected') replace(modelsBox, errorBox(models.reason));
    else {
      const list = models.value.data || [];
      replace(modelsBox, list.length ? table('models', ['Model', 'Labels', 'Source', 'Base model', 'Created', ''], list.map((m) => h('tr', { 'data-model': m.id },
        h('td', { class: 'mono' }, m.id, m.architecture === 'PeftModelForSequenceClassification' ? [' ', h('span', { class: 'badge', 'data-kind': 'adapter' }, 'LoRA adapter')] : ''),
        h('td', {}, (m.labels || []).join(', ') || '—'), h('td', {}, m.source || m.owned_by || '—'),
        h('td', {}, m.base_model || '—', m.job_id ? [' · ', h('a', { href: `#/jobs/${encodeURIComponent(m.job_id)}` }, 'job')] : ''),
        h('td', {}, fmtTime(m.created_at)),
        h('td', {}, h('a', { href: `#/demo/${encodeURIComponent(m.id)}` }, 'Try in demo'))))) : h('p', { class: 'muted' }, 'No models registered.'));
    }
    if (modules.status === 'rejected') replace(modulesBox, errorBox(modules.reason));
    else {
      const list = modules.value.data || [];
      replace(modulesBox, list.length ? table('modules', ['Module', 'Name', 'Kind', 'ABI', 'Size', 'SHA-256', 'Uploaded'], list.map((m) => h('tr', {},
        h('td', { class: 'mono' }, m.id), h('td', {}, m.name), h('td', {}, m.kind), h('td', { class: 'num' }, String(m.abi_version ?? '—')),
        h('td', { class: 'num' }, m.bytes ? `${(m.bytes / 1024).toFixed(0)} KiB` : '—'), h('td', { class: 'mono' }, (m.sha256 || '').slice(0, 12)),
        h('td', {}, fmtTime(m.created_at))))) : h('p', { class: 'muted' }, 'No uploaded modules; jobs use the built-in bert-wordpiece and classification-metrics.'));
    }
    if (files.status === 'rejected') replace(filesBox, errorBox(files.reason));
    else {
      const list = files.value.data || [];
      replace(filesBox, list.length ? table('files', ['File', 'Name', 'Format', 'Rows', 'Labels', 'Uploaded'], list.map((f) => h('tr', {},
        h('td', { class: 'mono' }, f.id), h('td', {}, f.filename), h('td', {}, f.format || '—'), h('td', { class: 'num' }, String(f.rows ?? '—')),
        h('td', {}, (f.labels || []).map((l) => `${l} (${(f.label_counts || {})[l] ?? '?'})`).join(', ')), h('td', {}, fmtTime(f.created_at))))) : h('p', { class: 'muted' }, 'No files uploaded.'));
    }
  }

  modForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const result = modForm.querySelector('#module-result');
    if (!modFile.files || !modFile.files[0]) {
      replace(result, errorBox(new Error('Choose a .wasm file.')));
      return;
    }
    replace(result, h('p', { class: 'hint' }, 'Uploading and validating…'));
    try {
      const m = await api.uploadModule(modFile.files[0], modForm.querySelector('#module-kind').value, modForm.querySelector('#module-name').value.trim());
      replace(result, h('div', { class: 'notice' }, `Uploaded ${m.name || m.id} (${m.kind}, ABI ${m.abi_version}) · ${m.id}`));
      load();
    } catch (err) {
      replace(result, errorBox(err));
    }
  });
  await load();
}
