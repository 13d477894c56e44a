// #/jobs: every fine-tuning job with its status, refreshed while any is still running.

import { api } from '../api.js';
import { h, replace, errorBox, fmtTime, statusBadge, terminal, workerName } from '../dom.js';

const REFRESH_MS = 3000;

/** render draws the job list. */
export async function render(main) {
  main.append(h('h1', {}, 'Fine-tuning jobs'),
    h('p', {}, h('a', { class: 'button', href: '#/new' }, 'New fine-tune')));
  const box = h('div', { id: 'jobs', 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Loading…'));
  main.append(box);
  let timer = 0;
  let alive = true;
  async function load() {
    let jobs;
    try {
      jobs = (await api.jobs()).data || [];
    } catch (err) {
      if (alive) replace(box, errorBox(err));
      return;
    }
    if (!alive) return;
    if (!jobs.length) {
      replace(box, h('p', { class: 'muted' }, 'No jobs yet.'));
    } else {
      replace(box, h('div', { class: 'table-wrap' }, h('table', {},
        h('thead', {}, h('tr', {}, ['Job', 'Status', 'Model', 'Worker', 'Steps', 'Created', 'Fine-tuned model'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, jobs.map((j) => h('tr', { 'data-job': j.id },
          h('td', {}, h('a', { href: `#/jobs/${encodeURIComponent(j.id)}` }, j.id)),
          h('td', {}, statusBadge(j.status)),
          h('td', {}, j.model),
          h('td', { class: 'worker' }, workerName(j)),
          h('td', { class: 'num' }, String(j.trained_steps ?? 0)),
          h('td', {}, fmtTime(j.created_at)),
          h('td', {}, j.fine_tuned_model ? h('a', { href: `#/demo/${encodeURIComponent(j.fine_tuned_model)}` }, j.fine_tuned_model) : '—')))))));
    }
    if (jobs.some((j) => !terminal(j.status))) timer = setTimeout(load, REFRESH_MS);
  }
  await load();
  return () => {
    alive = false;
    clearTimeout(timer);
  };
}
