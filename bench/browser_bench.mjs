// browser_bench.mjs: the demo page's in-browser classification timed in Chromium (bench/browser_bench.py runs it).
//
// One fresh browser context (empty cache) per run: it opens the demo page of WHET_MODEL with the variant WHET_VARIANT
// ("int8" or "fp32" ONNX in onnxruntime-web, or "server") chosen beforehand, types the first text and clicks Classify.
// Time to first label = navigation start to that label shown (page, tokenizer module, onnxruntime-web and model
// download, session creation, first run). Then it classifies the texts one after another for WHET_BUDGET seconds
// (at least 5) and reports texts/s through the page (Playwright's round trips included) and the page's own
// per-text time ("in this browser, N ms": preprocessing + onnxruntime-web, the page's cost alone).
//
// Environment: WHET_URL, WHET_API_KEY, WHET_MODEL, WHET_VARIANT, WHET_TEXTS (a JSON file: array of strings),
// WHET_BUDGET (seconds, default 10), CHROMIUM (default /usr/bin/chromium). Prints one JSON line:
// {"variant", "first_label_ms", "download_bytes", "texts", "texts_per_s", "page_ms_p50", "labels": [...]}.
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const env = process.env;
const base = env.WHET_URL.replace(/\/$/, '');
const texts = JSON.parse(readFileSync(env.WHET_TEXTS, 'utf8'));
const variant = env.WHET_VARIANT || 'int8';
const budget = parseFloat(env.WHET_BUDGET || '10');
const browser = await chromium.launch({
  executablePath: env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const ctx = await browser.newContext();
  // The API key and the variant are in localStorage before the page's first load, as a returning user's would be.
  await ctx.addInitScript(([k, w]) => {
    localStorage.setItem('whet.apiKey', k);
    localStorage.setItem('whet.demoWhere', w);
  }, [env.WHET_API_KEY || '', variant]);
  const page = await ctx.newPage();
  page.setDefaultTimeout(120000);
  page.on('pageerror', (e) => console.error(`pageerror ${e}`));
  const classify = async (text) => {
    await page.fill('#text', text);
    await page.locator('#classify').click();
    await page.waitForFunction((t) => {
      const p = document.querySelector('#prediction');
      return p && p.dataset.text === t && (p.dataset.state === 'done' || p.dataset.state === 'error');
    }, text);
    if (await page.locator('#prediction').getAttribute('data-state') !== 'done') {
      throw new Error(`classify ${JSON.stringify(text)}: ${await page.locator('#prediction').innerText()}`);
    }
    const source = await page.locator('#pred-source').getAttribute('data-source');
    const want = variant === 'server' ? 'server' : 'browser';
    if (source !== want) throw new Error(`label came from ${source}, want ${want}: ${await page.locator('#pred-source').textContent()}`);
    const m = /in this browser, ([0-9.]+) ms/.exec(await page.locator('#pred-source').textContent());
    return { label: await page.locator('#pred-label').textContent(), ms: m ? parseFloat(m[1]) : null };
  };
  const t0 = Date.now();
  await page.goto(`${base}/#/demo/${encodeURIComponent(env.WHET_MODEL)}`);
  if (variant !== 'server') await page.locator('#runtime-status[data-state=ready]').waitFor();
  const first = await classify(texts[0]);
  const firstMs = Date.now() - t0;
  const bytes = variant === 'server' ? 0 : Number(await page.locator('#runtime-status').getAttribute('data-bytes'));
  const labels = [first.label];
  const pageMs = [];
  const s = performance.now();
  let n = 0;
  while (n < 5 || (performance.now() - s) / 1000 < budget) {
    const r = await classify(texts[(n + 1) % texts.length]);
    if (n + 1 < texts.length) labels.push(r.label);
    if (r.ms !== null) pageMs.push(r.ms);
    n++;
  }
  const el = (performance.now() - s) / 1000;
  pageMs.sort((a, b) => a - b);
  console.log(JSON.stringify({ variant, first_label_ms: firstMs, download_bytes: bytes, texts: n, texts_per_s: n / el,
    page_ms_p50: pageMs.length ? pageMs[Math.floor(pageMs.length / 2)] : null, labels }));
} catch (err) {
  console.log(JSON.stringify({ variant, error: err.message }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
