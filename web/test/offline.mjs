// Drives Debian's chromium through the demo page's in-browser classification (browser_test.go's TestBrowserOffline):
// loads the model's int8 and fp32 ONNX exports into the page while the server runs, prints "READY", waits for a line
// on stdin (the test stops the server meanwhile), then types each text with each variant and prints one JSON line
// per text: {"variant", "text", "label", "source", "source_text", "state"}. Also prints "download <variant> <bytes>".
//
// Environment: WHET_URL, WHET_API_KEY, WHET_MODEL, WHET_TEXTS (JSON array), CHROMIUM (default /usr/bin/chromium).
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const env = process.env;
const base = env.WHET_URL.replace(/\/$/, '');
const texts = JSON.parse(env.WHET_TEXTS);
const browser = await chromium.launch({
  executablePath: env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
try {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.setDefaultTimeout(60000);
  const external = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(base) && !r.url().startsWith('data:') && !r.url().startsWith('blob:')) external.push(r.url());
  });
  page.on('pageerror', (e) => console.log(`pageerror ${e}`));
  await page.goto(`${base}/`);
  await page.evaluate((k) => localStorage.setItem('whet.apiKey', k), env.WHET_API_KEY || '');
  await page.goto(`${base}/#/demo/${encodeURIComponent(env.WHET_MODEL)}`);
  await page.locator('#tokenizer-status[data-state=ready]').waitFor().catch(async (err) => {
    throw new Error(`the page did not load the tokenizer: ${err.message}\n${await page.locator('main').innerText()}`);
  });
  const load = async (variant) => {
    await page.selectOption('#where', variant);
    await page.locator('#runtime-status[data-state=ready]').waitFor();
    console.log(`download ${variant} ${await page.locator('#runtime-status').getAttribute('data-bytes')}`);
  };
  await load('fp32');
  await load('int8');
  console.log('READY');
  await lines.next(); // the server is stopped now
  for (const variant of ['int8', 'fp32']) {
    await page.selectOption('#where', variant);
    await page.locator('#runtime-status[data-state=ready]').waitFor();
    for (const text of texts) {
      await page.fill('#text', text);
      await page.locator('#classify').click();
      await page.waitForFunction((t) => {
        const p = document.querySelector('#prediction');
        return p.dataset.text === t && (p.dataset.state === 'done' || p.dataset.state === 'error');
      }, text);
      const state = await page.locator('#prediction').getAttribute('data-state');
      const row = { variant, text, state };
      if (state === 'done') {
        row.label = await page.locator('#pred-label').textContent();
        row.source = await page.locator('#pred-source').getAttribute('data-source');
        row.source_text = await page.locator('#pred-source').textContent();
      } else {
        row.error = await page.locator('#prediction').textContent();
      }
      console.log(JSON.stringify(row));
    }
  }
  if (external.length) console.log(`external ${JSON.stringify(external)}`);
} catch (err) {
  console.log(`FAIL ${err.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
  process.exit(); // stdin (the test's pipe) would keep node alive
}
