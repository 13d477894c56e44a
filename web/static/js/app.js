// The page's entry point: hash routing (#/demo, #/jobs, #/jobs/ID, #/new, #/models), the API key dialog, and the
// "this server needs an API key" banner. Each page module exports render(main, params) and may return a cleanup
// function, called when the user leaves the page (it stops streams and timers).

import { getKey, setKey } from './api.js';
import * as demo from './pages/demo.js';
import * as jobs from './pages/jobs.js';
import * as job from './pages/job.js';
import * as create from './pages/new.js';
import * as models from './pages/models.js';

const routes = [
  [/^#\/demo(?:\/(.+))?$/, demo, 'demo'],
  [/^#\/jobs\/(.+)$/, job, 'jobs'],
  [/^#\/jobs\/?$/, jobs, 'jobs'],
  [/^#\/new\/?$/, create, 'new'],
  [/^#\/models\/?$/, models, 'models'],
];

let cleanup = null;
let generation = 0;

async function route() {
  const hash = location.hash || '#/demo';
  let match = null;
  for (const [re, page, name] of routes) {
    const m = hash.match(re);
    if (m) {
      match = { page, name, params: m.slice(1).map((p) => (p === undefined ? p : decodeURIComponent(p))) };
      break;
    }
  }
  if (!match) {
    location.replace('#/demo');
    return;
  }
  if (cleanup) {
    try {
      cleanup();
    } catch {
      /* a page's cleanup must not stop navigation */
    }
    cleanup = null;
  }
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.route === match.name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const main = document.getElementById('main');
  main.replaceChildren();
  const gen = ++generation;
  const done = await match.page.render(main, ...match.params);
  if (gen !== generation) {
    if (typeof done === 'function') done();
    return;
  }
  cleanup = typeof done === 'function' ? done : null;
  const heading = main.querySelector('h1');
  document.title = heading ? `${heading.textContent} · whet` : 'whet';
  if (document.activeElement === document.body || !main.contains(document.activeElement)) {
    if (window.__whetNavigated) main.focus({ preventScroll: true });
  }
  window.__whetNavigated = true;
}

function setupKeyDialog() {
  const dialog = document.getElementById('key-dialog');
  const input = document.getElementById('key-input');
  const banner = document.getElementById('auth-banner');
  const button = document.getElementById('key-button');
  const label = () => {
    button.textContent = getKey() ? 'API key ✓' : 'API key';
  };
  const open = () => {
    input.value = getKey();
    dialog.showModal();
    input.focus();
  };
  button.addEventListener('click', open);
  document.getElementById('auth-banner-button').addEventListener('click', open);
  window.addEventListener('whet:open-key', open);
  window.addEventListener('whet:auth-needed', () => {
    banner.hidden = false;
  });
  dialog.addEventListener('close', () => {
    if (dialog.returnValue === 'save') setKey(input.value.trim());
    if (dialog.returnValue === 'clear') setKey('');
    label();
    if (dialog.returnValue === 'save' || dialog.returnValue === 'clear') {
      banner.hidden = true;
      route();
    }
  });
  label();
}

setupKeyDialog();
window.addEventListener('hashchange', route);
route();
