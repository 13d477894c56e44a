// #/jobs/ID: one job, live. Follows the job's server-sent events: loss and learning-rate curves, per-evaluation
// validation metrics, the latest confusion matrix as a heat map, checkpoints, the log, and a cancel button.

import { api, streamEvents, ApiError } from '../api.js';
import { h, replace, errorBox, errorText, fmtTime, fmtNum, statusBadge, terminal, workerName } from '../dom.js';
import { lineChart, heatmap } from '../charts.js';

const POLL_MS = 2000;
const MAX_LOG = 300;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** render draws the job page and starts following its events; the returned function stops that. */
export async function render(main, id) {
  main.append(h('h1', {}, 'Job ', h('span', { class: 'mono' }, id)));
  let job;
  try {
    job = await api.job(id);
  } catch (err) {
    main.append(errorBox(err), h('p', {}, h('a', { href: '#/jobs' }, 'All jobs')));
    return;
  }
  const ctl = new AbortController();
  let alive = true;
  const st = { loss: [], lr: [], evals: [], lastId: 0, step: 0, total: 0, sps: null, logCount: 0 };

  const statusBox = h('p', { class: 'status-line' });
  const cancelBtn = h('button', { type: 'button', class: 'danger', id: 'cancel-job' }, 'Cancel job');
  const cancelMsg = h('div', { id: 'cancel-msg', 'aria-live': 'polite' });
  const jobError = h('div', { id: 'job-error' });
  const details = h('dl', { class: 'kv', id: 'job-details' });
  const progress = h('div', { id: 'progress' });
  const lossBox = h('div', { id: 'loss-box' });
  const lrBox = h('div', { id: 'lr-box' });
  const evalBox = h('div', { id: 'eval-box' });
  const cmBox = h('div', { id: 'cm-box' });
  const ckptBox = h('div', { id: 'ckpt-box' });
  const streamNote = h('p', { class: 'hint', id: 'stream-note', 'aria-live': 'polite' });
  const log = h('ol', { class: 'log', id: 'log', 'aria-label': 'Job log' });

  main.append(
    h('div', { class: 'panel' }, statusBox, h('div', { class: 'actions' }, cancelBtn, h('a', { class: 'button secondary', href: '#/jobs' }, 'All jobs')), cancelMsg, jobError, progress),
    h('div', { class: 'two' },
      h('section', { 'aria-labelledby': 'loss-h' }, h('h2', { id: 'loss-h' }, 'Training loss'), lossBox),
      h('section', { 'aria-labelledby': 'lr-h' }, h('h2', { id: 'lr-h' }, 'Learning rate'), lrBox)),
    h('section', { 'aria-labelledby': 'ev-h' }, h('h2', { id: 'ev-h' }, 'Validation metrics'), evalBox),
    h('section', { 'aria-labelledby': 'cm-h' }, h('h2', { id: 'cm-h' }, 'Confusion matrix'), cmBox),
    h('section', { 'aria-labelledby': 'ck-h' }, h('h2', { id: 'ck-h' }, 'Checkpoints'), ckptBox),
    h('section', { 'aria-labelledby': 'de-h' }, h('h2', { id: 'de-h' }, 'Details'), details),
    h('section', { 'aria-labelledby': 'lg-h' }, h('h2', { id: 'lg-h' }, 'Log'), streamNote, log));

  let cancelRequested = false;
  cancelBtn.addEventListener('click', async () => {
    cancelBtn.disabled = true;
    cancelRequested = true;
    replace(cancelMsg, h('p', { class: 'hint' }, 'Cancelling…'));
    try {
      const got = await api.cancelJob(id);
      // The event stream may already have delivered a newer, terminal status: never step back from it.
      if (!terminal(job.status)) job = got;
      replace(cancelMsg, h('p', { class: 'hint' }, terminal(job.status)
        ? `The job is ${job.status}.`
        : 'Cancel requested: the trainer stops after its current step and saves a checkpoint.'));
      drawJob();
    } catch (err) {
      cancelRequested = false;
      replace(cancelMsg, errorBox(err));
      cancelBtn.disabled = terminal(job.status);
    }
  });

  function drawJob() {
    replace(statusBox, 'Status: ', statusBadge(job.status, 'job-status'),
      job.fine_tuned_model ? [' · model ', h('a', { href: `#/demo/${encodeURIComponent(job.fine_tuned_model)}`, id: 'ft-model' }, job.fine_tuned_model), ' (try it in the demo)'] : '');
    cancelBtn.disabled = terminal(job.status) || cancelRequested;
    replace(jobError, job.error ? h('div', { class: 'error', role: 'alert' }, `${job.error.message}${job.error.code ? ` (${job.error.code})` : ''}`) : '');
    const hp = job.hyperparameters || {};
    const kv = [
      ['Base model', job.model], ['Training file', job.training_file], ['Validation file', job.validation_file || 'automatic 10% split'],
      ['Preprocess module', job.preprocess_module || 'built-in bert-wordpiece'], ['Evaluate module', job.evaluate_module || 'built-in classification-metrics'],
      ['Hyperparameters', Object.entries(hp).map(([k, v]) => `${k}=${v}`).join(', ') || '—'],
      ['Created', fmtTime(job.created_at)], ['Started', fmtTime(job.started_at)], ['Finished', fmtTime(job.finished_at)],
      ['Attempts', String(job.attempts ?? 0)], ['Worker', workerName(job)],
    ];
    replace(details, kv.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
    if (!st.evals.length && job.metrics) drawMetrics();
  }

  let pending = 0;
  function schedule() {
    if (!pending) pending = setTimeout(() => {
      pending = 0;
      if (alive) drawLive();
    }, 150);
  }

  function drawLive() {
    const step = Math.max(st.step, job.trained_steps || 0);
    const total = st.total || 0;
    replace(progress, total ? [
      h('p', { class: 'hint' }, `Step ${step} of ${total}` + (st.sps ? ` · ${fmtNum(st.sps, 3)} samples/s` : '')),
      h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': total, 'aria-valuenow': step, 'aria-label': 'Training progress' },
        h('div', { style: `width: ${Math.min(100, (100 * step) / total).toFixed(1)}%` })),
    ] : step ? h('p', { class: 'hint' }, `Step ${step}`) : '');
    replace(lossBox, lineChart(st.loss, { title: 'Training loss', yLabel: 'loss', id: 'loss-chart' }));
    replace(lrBox, lineChart(st.lr, { title: 'Learning rate', yLabel: 'learning rate', id: 'lr-chart' }));
    drawMetrics();
  }

  function drawMetrics() {
    const evals = st.evals.length ? st.evals : job.metrics ? [{ step: job.trained_steps, epoch: null, metrics: parse(job.metrics), final: true }] : [];
    if (!evals.length) {
      replace(evalBox, h('p', { class: 'muted' }, 'No evaluation yet (the validation set is scored after each epoch).'));
      replace(cmBox, h('p', { class: 'muted' }, 'Appears after the first evaluation.'));
      return;
    }
    const keys = ['accuracy', 'macro_f1', 'weighted_f1', 'macro_precision', 'macro_recall', 'loss'].filter((k) => evals.some((e) => e.metrics && typeof e.metrics[k] === 'number'));
    replace(evalBox, h('div', { class: 'table-wrap' }, h('table', { id: 'eval-table' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Epoch'), h('th', { scope: 'col', class: 'num' }, 'Step'), keys.map((k) => h('th', { scope: 'col', class: 'num' }, k.replace('_', ' '))))),
      h('tbody', {}, evals.map((e) => h('tr', {},
        h('td', {}, e.final ? 'final' : fmtNum(e.epoch, 3)), h('td', { class: 'num' }, String(e.step ?? '—')),
        keys.map((k) => h('td', { class: 'num' }, fmtNum(e.metrics && e.metrics[k])))))))));
    const last = [...evals].reverse().find((e) => e.metrics && Array.isArray(e.metrics.confusion_matrix));
    replace(cmBox, last ? [heatmap(last.metrics.confusion_matrix, last.metrics.labels, { id: 'confusion' }),
      h('p', { class: 'hint' }, last.final ? 'Final evaluation.' : `From the evaluation at step ${last.step}.`)]
      : h('p', { class: 'muted' }, 'The evaluate module reported no confusion matrix.'));
  }

  async function loadCheckpoints() {
    try {
      const list = (await api.checkpoints(id)).data || [];
      if (!alive) return;
      replace(ckptBox, list.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'checkpoints' },
        h('thead', {}, h('tr', {}, ['Checkpoint', 'Step', 'Epoch', 'Accuracy', 'Macro F1', 'Best', 'Saved'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, list.map((c) => {
          const m = parse(c.metrics) || {};
          return h('tr', {}, h('td', { class: 'mono' }, c.id), h('td', { class: 'num' }, String(c.step_number)), h('td', { class: 'num' }, fmtNum(c.epoch, 3)),
            h('td', { class: 'num' }, fmtNum(m.accuracy)), h('td', { class: 'num' }, fmtNum(m.macro_f1)), h('td', {}, c.best ? 'best' : ''), h('td', {}, fmtTime(c.created_at)));
        })))) : h('p', { class: 'muted' }, 'No checkpoints yet.'));
    } catch (err) {
      if (alive) replace(ckptBox, errorBox(err));
    }
  }

  async function reloadJob() {
    try {
      job = await api.job(id);
      if (alive) drawJob();
    } catch (err) {
      if (alive) replace(jobError, errorBox(err));
    }
  }

  function addLog(ev) {
    const time = ev.created_at ? new Date(ev.created_at * 1000).toLocaleTimeString() : '';
    log.append(h('li', { 'data-level': ev.level || 'info' }, `${time} ${ev.message || ev.type}`));
    if (++st.logCount > MAX_LOG) log.firstChild.remove();
    log.scrollTop = log.scrollHeight;
  }

  function onEvent(ev) {
    if (!alive || typeof ev.id !== 'number' || ev.id <= st.lastId) return;
    st.lastId = ev.id;
    const d = ev.data || {};
    switch (ev.type) {
      case 'metrics':
        if (d.step) st.step = Math.max(st.step, d.step);
        if (d.total_steps) st.total = d.total_steps;
        if (d.samples_per_second != null) st.sps = d.samples_per_second;
        if (d.loss != null) st.loss.push({ x: d.step, y: d.loss });
        if (d.learning_rate != null) st.lr.push({ x: d.step, y: d.learning_rate });
        break;
      case 'eval':
        st.evals.push({ step: d.step, epoch: d.epoch, metrics: parse(d.metrics) });
        addLog(ev);
        break;
      case 'checkpoint':
        addLog(ev);
        loadCheckpoints();
        break;
      case 'status':
        addLog(ev);
        if (d.status && d.status !== job.status) {
          job = { ...job, status: d.status };
          drawJob();
          if (terminal(d.status)) reloadJob().then(loadCheckpoints);
        }
        break;
      default:
        addLog(ev);
    }
    schedule();
  }

  async function follow() {
    let polling = false;
    let drained = false;
    while (alive) {
      if (!polling) {
        try {
          streamNote.textContent = 'Live: following the job\'s event stream.';
          if (await streamEvents(id, { after: st.lastId, signal: ctl.signal, onEvent })) break;
        } catch (err) {
          if (!alive || err.name === 'AbortError') return;
          if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 408) {
            polling = true; // the server refuses streams: poll the event list instead
            streamNote.textContent = `Event stream unavailable (${errorText(err)}); polling every ${POLL_MS / 1000} s.`;
          } else {
            streamNote.textContent = `Event stream interrupted (${errorText(err)}); reconnecting…`;
          }
        }
      } else {
        try {
          const page = await api.events(id, st.lastId);
          (page.data || []).forEach(onEvent);
          if (page.has_more) continue;
        } catch (err) {
          if (!alive) return;
          streamNote.textContent = `Cannot read events: ${errorText(err)}`;
        }
      }
      if (!alive) return;
      await reloadJob();
      if (terminal(job.status)) {
        if (polling && !drained) {
          drained = true; // one more page after the terminal status, then stop
          continue;
        }
        break;
      }
      await sleep(POLL_MS);
    }
    if (!alive) return;
    streamNote.textContent = `The job is ${job.status}; every event is shown.`;
    await reloadJob();
    await loadCheckpoints();
    drawLive();
  }

  drawJob();
  drawLive();
  loadCheckpoints();
  follow();
  return () => {
    alive = false;
    ctl.abort();
    clearTimeout(pending);
  };
}

function parse(m) {
  if (!m) return null;
  if (typeof m === 'string') {
    try {
      return JSON.parse(m);
    } catch {
      return null;
    }
  }
  return m;
}
