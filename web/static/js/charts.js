// Charts drawn as inline SVG (no library): a line chart for loss and learning-rate curves and a table heat map for
// confusion matrices.

import { h, svg, fmtNum } from './dom.js';

const W = 640;
const H = 240;
const PAD = { left: 56, right: 14, top: 12, bottom: 34 };

function ticks(lo, hi, n) {
  if (hi === lo) return [lo];
  const out = [];
  for (let i = 0; i <= n; i++) out.push(lo + ((hi - lo) * i) / n);
  return out;
}

// xTicks returns up to six round values (1, 2 or 5 times a power of ten apart) between lo and hi.
function xTicks(lo, hi) {
  const raw = (hi - lo) / 5;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) || raw;
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) out.push(Number(t.toPrecision(10)));
  return out;
}

/**
 * lineChart draws points [{x, y}] into an accessible SVG. opts: title (the accessible name), xLabel, yLabel,
 * id (on the svg). The path has class "line" and the svg a data-points attribute with the number of points drawn.
 */
export function lineChart(points, { title, xLabel = 'step', yLabel = '', id } = {}) {
  const pts = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const last = pts.length ? pts[pts.length - 1] : null;
  const label = last ? `${title}: ${pts.length} points, last ${fmtNum(last.y)} at ${xLabel} ${last.x}` : `${title}: no data yet`;
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label, id, 'data-points': pts.length },
    svg('title', {}, label));
  const iw = W - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  let x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (pts.length) {
    x0 = Math.min(...pts.map((p) => p.x));
    x1 = Math.max(...pts.map((p) => p.x));
    y0 = Math.min(...pts.map((p) => p.y));
    y1 = Math.max(...pts.map((p) => p.y));
    if (x1 === x0) x1 = x0 + 1;
    if (y1 === y0) {
      const d = Math.abs(y0) * 0.1 || 1;
      y0 -= d;
      y1 += d;
    }
    const m = (y1 - y0) * 0.05;
    y0 = y0 >= 0 ? Math.max(0, y0 - m) : y0 - m; // a non-negative series keeps a non-negative axis
    y1 += m;
  }
  const sx = (x) => PAD.left + ((x - x0) / (x1 - x0)) * iw;
  const sy = (y) => PAD.top + ih - ((y - y0) / (y1 - y0)) * ih;
  for (const t of ticks(y0, y1, 4)) {
    root.append(svg('line', { class: 'gridline', x1: PAD.left, x2: W - PAD.right, y1: sy(t), y2: sy(t) }),
      svg('text', { x: PAD.left - 6, y: sy(t) + 4, 'text-anchor': 'end' }, fmtNum(t, 3)));
  }
  for (const t of xTicks(x0, x1)) {
    root.append(svg('text', { x: sx(t), y: H - PAD.bottom + 16, 'text-anchor': 'middle' }, fmtNum(t, 6)));
  }
  root.append(
    svg('line', { class: 'axis', x1: PAD.left, x2: PAD.left, y1: PAD.top, y2: H - PAD.bottom }),
    svg('line', { class: 'axis', x1: PAD.left, x2: W - PAD.right, y1: H - PAD.bottom, y2: H - PAD.bottom }),
    svg('text', { x: PAD.left + iw / 2, y: H - 4, 'text-anchor': 'middle' }, xLabel),
  );
  if (yLabel) root.append(svg('text', { x: 12, y: PAD.top + ih / 2, transform: `rotate(-90 12 ${PAD.top + ih / 2})`, 'text-anchor': 'middle' }, yLabel));
  if (!pts.length) root.append(svg('text', { x: PAD.left + iw / 2, y: PAD.top + ih / 2, 'text-anchor': 'middle', class: 'empty' }, 'no training steps reported yet'));
  if (pts.length) {
    const d = pts.map((p, i) => `${i ? 'L' : 'M'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ');
    root.append(svg('path', { class: 'line', d }));
    if (pts.length === 1) root.append(svg('circle', { cx: sx(last.x), cy: sy(last.y), r: 3, fill: 'currentColor' }));
  }
  return h('div', { class: 'chart' }, root);
}

/**
 * heatmap renders a confusion matrix (rows = true label, columns = predicted) as a table whose cells are shaded by
 * their share of the row.
 */
export function heatmap(matrix, labels, { id } = {}) {
  const names = labels && labels.length === matrix.length ? labels : matrix.map((_, i) => String(i));
  const head = h('tr', {}, h('th', { scope: 'col' }, 'true \\ predicted'), names.map((n) => h('th', { scope: 'col', class: 'num' }, n)));
  const rows = matrix.map((row, i) => {
    const sum = row.reduce((a, b) => a + b, 0) || 1;
    return h('tr', {}, h('th', { scope: 'row' }, names[i]), row.map((v, j) => {
      const share = v / sum;
      const light = 97 - share * 62;
      const style = `background: hsl(${i === j ? 140 : 4} 60% ${light}%); color: ${light < 60 ? '#fff' : '#1b1f24'}`;
      return h('td', { style, title: `true ${names[i]}, predicted ${names[j]}: ${v} (${(share * 100).toFixed(1)}% of the row)` }, String(v));
    }));
  });
  return h('div', { class: 'table-wrap' },
    h('p', { class: 'hint', id: id && `${id}-desc` }, 'Rows are true labels, columns predicted labels; the shade is the cell\'s share of its row.'),
    h('table', { class: 'heatmap', id, 'aria-describedby': id && `${id}-desc` },
      h('caption', { class: 'visually-hidden' }, 'Confusion matrix'),
      h('thead', {}, head), h('tbody', {}, rows)));
}
