// progress.mjs renders whet's NDJSON progress events (`--progress json`, docs/contracts.md) as one live status
// line; other lines pass through unchanged.  whet pretrain ... --progress json 2>&1 | node scripts/progress.mjs
import readline from 'node:readline';

const tty = process.stdout.isTTY;
let last = '';
const show = (s) => {
  if (tty) process.stdout.write('\r\x1b[K' + s);
  else if (s !== last) console.log(s);
  last = s;
};
for await (const line of readline.createInterface({ input: process.stdin })) {
  let ev;
  try { ev = JSON.parse(line); } catch { ev = null; }
  if (!ev || !ev.type) {
    if (tty && last) process.stdout.write('\n');
    console.log(line);
    last = '';
    continue;
  }
  if (ev.type === 'step') {
    const pct = ev.total_steps ? Math.round((100 * ev.step) / ev.total_steps) : 0;
    const bar = '#'.repeat(Math.round(pct / 5)).padEnd(20, '.');
    // Without a terminal, print every 10th step so logs stay short.
    if (tty || ev.step % 10 === 0 || ev.step === ev.total_steps) {
      show(`[${bar}] ${ev.step}/${ev.total_steps} loss ${ev.loss.toFixed(4)} lr ${ev.learning_rate.toExponential(2)} ${ev.samples_per_second} samples/s`);
    }
  } else if (ev.type === 'log') {
    if (tty && last) process.stdout.write('\n');
    console.log(`${ev.level}: ${ev.message}`);
    last = '';
  }
}
if (tty && last) process.stdout.write('\n');
