// Small DOM helpers. Text always goes in as text nodes (never innerHTML), so server strings cannot inject markup.

/**
 * h creates an element: h('button', {type: 'button', class: 'x', onclick: fn, 'data-id': 3}, 'text', child...).
 * Attributes with value false, null or undefined are left out; true sets a boolean attribute.
 */
export function h(tag, attrs = {}, ...children) {
  const el = tag.includes(':')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.split(':')[1])
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v == null) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' && 'value' in el) el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

/** svg creates an SVG element with attributes. */
export function svg(tag, attrs = {}, ...children) {
  return h('svg:' + tag, attrs, ...children);
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** replace empties el and appends children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** errorBox renders an error for the user: the server's JSON error message, with what to do on 401. */
export function errorBox(err) {
  const box = h('div', { class: 'error', role: 'alert' }, errorText(err));
  if (err && err.status === 401) {
    box.append(' ', h('button', { type: 'button', class: 'secondary', onclick: () => window.dispatchEvent(new Event('whet:open-key')) }, 'Enter API key'));
  }
  return box;
}

/** errorText is the message shown for err. */
export function errorText(err) {
  if (!err) return 'unknown error';
  if (err.status) return `${err.message} (HTTP ${err.status}${err.param ? `, field ${err.param}` : ''})`;
  return err.message || String(err);
}

/** fmtTime formats Unix seconds as a local date and time. */
export function fmtTime(sec) {
  if (!sec) return '—';
  return new Date(sec * 1000).toLocaleString();
}

/** fmtNum formats a number with up to digits significant digits. */
export function fmtNum(x, digits = 4) {
  if (x == null || Number.isNaN(x)) return '—';
  if (typeof x !== 'number') return String(x);
  if (Number.isInteger(x)) return String(x);
  if (Math.abs(x) < 1e-3 && x !== 0) return x.toExponential(2);
  return String(Number(x.toPrecision(digits)));
}

/** statusBadge shows a job status. */
export function statusBadge(status, id) {
  return h('span', { class: 'status', 'data-status': status, id }, status ? status.replace('_', ' ') : '—');
}

/** terminal reports whether a job status is final. */
export const terminal = (s) => s === 'succeeded' || s === 'failed' || s === 'cancelled';

/** workerName names where a job trains: its remote worker (`whet worker`), else the server itself. */
export const workerName = (job) => job.worker || (job.status === 'queued' || job.status === 'validating_files' ? '—' : 'this server');
