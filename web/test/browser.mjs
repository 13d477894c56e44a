// Drives Debian's chromium (never a downloaded browser) with playwright-core through whet's page against a running
// server, checking what the page shows against direct API calls. Called by browser_test.go; prints one line per
// check and the screenshot paths, exits non-zero on the first failure.
//
// Environment:
//   WHET_URL          server base URL (required)
//   WHET_API_KEY      the server's API key; when set, the page is first checked to ask for it
//   WHET_MODEL        a fine-tuned model for the demo (required)
//   WHET_BASE_MODEL   the model the upload page fine-tunes (required)
//   WHET_TRAIN_FILE   a JSONL file the upload page uploads (required)
//   WHET_TEXTS        JSON array of texts to type in the demo (default: one English sentence)
//   WHET_HP           JSON hyperparameters typed into the upload page (default {"n_epochs":1,"max_steps":12})
//   WHET_SCREENSHOTS  folder for screenshots (default: a temp folder)
//   WHET_JOB_TIMEOUT_MS  how long the page's job may take to succeed (default 300000)
//   CHROMIUM          the browser (default /usr/bin/chromium)
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = process.env;
const base = (env.WHET_URL || '').replace(/\/$/, '');
const key = env.WHET_API_KEY || '';
const model = env.WHET_MODEL;
const baseModel = env.WHET_BASE_MODEL;
const trainFile = env.WHET_TRAIN_FILE;
if (!base || !model || !baseModel || !trainFile) {
  console.error('browser.mjs: set WHET_URL, WHET_MODEL, WHET_BASE_MODEL and WHET_TRAIN_FILE');
  process.exit(2);
}
const texts = env.WHET_TEXTS ? JSON.parse(env.WHET_TEXTS) : ['The movie was great fun, I loved it!'];
const hp = env.WHET_HP ? JSON.parse(env.WHET_HP) : { n_epochs: 1, max_steps: 12 };
const jobTimeout = Number(env.WHET_JOB_TIMEOUT_MS || 300000);
const shots = env.WHET_SCREENSHOTS || mkdtempSync(join(tmpdir(), 'whet-web-shots-'));
mkdirSync(shots, { recursive: true });

function check(cond, what, detail) {
  if (!cond) throw new Error(`FAIL ${what}${detail !== undefined ? `: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}` : ''}`);
  console.log(`ok   ${what}`);
}

async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, json, text };
}

// serverTokens asks the server to tokenize text for the model: the tokenize route, else a module dry run.
async function serverTokens(modelId, text) {
  const pick = (json) => {
    if (json && Array.isArray(json.input_ids) && Array.isArray(json.input_ids[0])) {
      return { ids: json.input_ids[0], tokens: json.tokens && json.tokens[0] }; // modules/{id}/run: column-oriented
    }
    const row = Array.isArray(json) ? json[0] : json && Array.isArray(json.data) ? json.data[0] : json && Array.isArray(json.rows) ? json.rows[0] : null;
    if (!row) return null;
    return { ids: row.input_ids || row.ids, tokens: row.tokens };
  };
  const tried = [];
  let r = await call('POST', `/v1/models/${encodeURIComponent(modelId)}/tokenize`, { inputs: [text] });
  tried.push(`tokenize: HTTP ${r.status} ${r.text.slice(0, 200)}`);
  if (r.status === 200 && pick(r.json)) return pick(r.json);
  const detail = await call('GET', `/v1/models/${encodeURIComponent(modelId)}`);
  const mod = (detail.json && detail.json.preprocess_module) || 'bert-wordpiece';
  r = await call('POST', `/v1/modules/${encodeURIComponent(mod)}/run`, { inputs: [text], model: modelId, max_length: detail.json && detail.json.max_seq_length });
  tried.push(`modules/${mod}/run: HTTP ${r.status} ${r.text.slice(0, 200)}`);
  if (r.status === 200 && pick(r.json)) return pick(r.json);
  throw new Error(`FAIL the server tokenizes the text: ${tried.join(' | ')}`);
}

const browser = await chromium.launch({
  executablePath: env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
  // playwright gives every launch a fresh, temporary user-data-dir (it refuses --user-data-dir in args).
});
const pageErrors = [];
const external = [];
let failed = false;
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('request', (r) => {
    if (!r.url().startsWith(base) && !r.url().startsWith('data:')) external.push(r.url());
  });
  page.setDefaultTimeout(30000);
  const shot = async (name, p = page) => {
    const path = join(shots, `${name}.png`);
    await p.screenshot({ path, fullPage: true });
    console.log(`screenshot ${path}`);
  };

  // API key: the page says a key is needed, and the key typed in the dialog is used from then on.
  await page.goto(`${base}/#/demo/${encodeURIComponent(model)}`);
  // Keyboard: the first Tab reaches the skip link.
  await page.keyboard.press('Tab');
  check(await page.evaluate(() => document.activeElement && document.activeElement.classList.contains('skip')), 'first Tab focuses the skip link');
  if (key) {
    await page.locator('#auth-banner').waitFor({ state: 'visible' });
    const msg = await page.locator('#main .error').first().textContent();
    const direct = await fetch(`${base}/v1/models`);
    const directMsg = (await direct.json()).error.message;
    check(direct.status === 401 && msg.includes(directMsg), 'without a key the page shows the server\'s 401 message', { page: msg, api: directMsg });
    await shot('api-key-needed');
    await page.locator('#auth-banner-button').click();
    await page.locator('#key-input').fill(key);
    await page.locator('#key-form button[value=save]').click();
  }


  // Demo: type, see word pieces and a prediction equal to the API's.
  await page.locator('#tokenizer-status[data-state=ready], #tokenizer-status[data-state=error]').waitFor();
  const tokState = await page.locator('#tokenizer-status').getAttribute('data-state');
  check(tokState === 'ready', 'the model\'s preprocess .wasm loads in the browser', await page.locator('#tokenizer-status').textContent());
  for (const [i, text] of texts.entries()) {
    await page.locator('#text').fill('');
    await page.locator('#text').pressSequentially(text, { delay: 15 });
    await page.waitForFunction((t) => document.querySelector('#pieces').dataset.text === t && document.querySelectorAll('#pieces li').length > 0, text);
    const pieces = await page.locator('#pieces li').evaluateAll((els) => els.map((e) => ({ token: e.textContent, id: Number(e.dataset.id) })));
    const server = await serverTokens(model, text);
    check(JSON.stringify(pieces.map((p) => p.token)) === JSON.stringify(server.tokens), `word pieces of ${JSON.stringify(text)} equal the server's tokenization`, { page: pieces.map((p) => p.token), server: server.tokens });
    check(JSON.stringify(pieces.map((p) => p.id)) === JSON.stringify(server.ids), `token ids of ${JSON.stringify(text)} equal the server's`, { page: pieces.map((p) => p.id), server: server.ids });
    await page.waitForFunction((t) => {
      const p = document.querySelector('#prediction');
      return p.dataset.text === t && (p.dataset.state === 'done' || p.dataset.state === 'error');
    }, text);
    check(await page.locator('#prediction').getAttribute('data-state') === 'done', `the page classifies ${JSON.stringify(text)}`, await page.locator('#prediction').textContent());
    const shown = {
      label: await page.locator('#pred-label').textContent(),
      scores: Object.fromEntries(await page.locator('#prediction .bar-row').evaluateAll((els) => els.map((e) => [e.dataset.label, Number(e.dataset.score)]))),
    };
    const api = await call('POST', `/v1/models/${encodeURIComponent(model)}/predict`, { inputs: [text] });
    check(api.status === 200, 'direct predict call succeeds', api.text);
    const want = api.json[0];
    check(shown.label === want.label, `predicted label equals the API's (${want.label})`, { page: shown.label, api: want.label });
    const labels = Object.keys(want.scores);
    // The page computes the label in the browser with the int8 ONNX export by default (web/offline_test.go checks
    // that path with the server stopped): its probabilities are the server's to int8 precision; the server's own
    // answer is shown to the digit.
    const source = await page.locator('#pred-source').getAttribute('data-source').catch(() => 'server');
    const tol = source === 'browser' ? 0.02 : 1e-6;
    check(labels.length === Object.keys(shown.scores).length && labels.every((l) => Math.abs(shown.scores[l] - want.scores[l]) < tol),
      `a probability bar per class with the API's probabilities (computed: ${source}, to ${tol})`, { page: shown.scores, api: want.scores });
    await shot(`demo-${i + 1}`);
  }
  const examples = page.locator('#examples button.example');
  const nExamples = await examples.count();
  console.log(`info ${nExamples} example texts shown`);
  if (nExamples) {
    const exText = await page.evaluate(() => document.querySelector('#examples button.example').firstChild.textContent);
    await examples.first().focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelector('#prediction').dataset.text === document.querySelector('#text').value && document.querySelector('#prediction').dataset.state === 'done');
    check((await page.locator('#text').inputValue()).startsWith(exText.replace(/…$/, '')), 'an example button (keyboard) fills the text and classifies it');
  }
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
  const ppage = await phone.newPage();
  if (key) await ppage.addInitScript((k) => localStorage.setItem('whet.apiKey', k), key);
  await ppage.goto(`${base}/#/demo/${encodeURIComponent(model)}`);
  await ppage.locator('#tokenizer-status[data-state=ready]').waitFor();
  await ppage.locator('#text').fill(texts[0]);
  await ppage.locator('#classify').click();
  await ppage.locator('#prediction[data-state=done]').waitFor();
  const overflow = await ppage.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, 'the demo fits a phone-sized screen without sideways scrolling', `${overflow}px too wide`);
  await shot('demo-phone', ppage);
  await phone.close();

  // Errors: a missing job shows the server's JSON error message.
  await page.goto(`${base}/#/jobs/ftjob-does-not-exist`);
  const missing = await call('GET', '/v1/fine_tuning/jobs/ftjob-does-not-exist');
  await page.locator('#main .error').waitFor();
  const shownErr = await page.locator('#main .error').textContent();
  check(missing.status === 404 && missing.json && shownErr.includes(missing.json.error.message), 'an API error shows the server\'s message', { page: shownErr, api: missing.text });

  // Upload page: upload the dataset and start a short job; watch it succeed with a loss curve.
  await page.goto(`${base}/#/new`);
  await page.locator('#start-job').click();
  await page.locator('#new-job-status .error').waitFor();
  check(true, 'starting without a file says what is missing');
  await page.locator('#train-upload').setInputFiles(trainFile);
  await page.locator('#base-model').selectOption(baseModel);
  for (const [k, v] of Object.entries(hp)) await page.locator(`#hp-${k}`).fill(String(v));
  // A LoRA adapter (r 4, peft's default targets): the LoRA fields show only with that method.
  check(await page.locator('#hp-lora_r').isHidden(), 'the LoRA fields are hidden for full fine-tuning');
  await page.locator('#method-lora').check();
  await page.locator('#hp-lora_r').fill('4');
  await page.locator('#suffix').fill('web');
  await shot('new-job');
  await page.locator('#start-job').click();
  await page.waitForURL(/#\/jobs\/[^/]+$/, { timeout: 60000 });
  const jobId = decodeURIComponent(page.url().split('#/jobs/')[1]);
  console.log(`info job ${jobId} started from the upload page`);
  await page.locator('#job-status[data-status=succeeded], #job-status[data-status=failed], #job-status[data-status=cancelled]').waitFor({ timeout: jobTimeout });
  const finalStatus = await page.locator('#job-status').getAttribute('data-status');
  const jobApi = await call('GET', `/v1/fine_tuning/jobs/${encodeURIComponent(jobId)}`);
  check(finalStatus === 'succeeded' && jobApi.json.status === 'succeeded', 'the job started from the upload page succeeds', { page: finalStatus, api: jobApi.json && (jobApi.json.error || jobApi.json.status) });
  check(jobApi.json.hyperparameters.n_epochs === hp.n_epochs || hp.n_epochs === undefined, 'the job got the hyperparameters typed in the form', jobApi.json.hyperparameters);
  check(jobApi.json.hyperparameters.method === 'lora' && jobApi.json.hyperparameters.lora_r === 4, 'the job is a LoRA job of rank 4, as chosen in the form', jobApi.json.hyperparameters);
  await page.waitForFunction(() => document.querySelector('#stream-note').textContent.includes('every event is shown'));
  const points = Number(await page.locator('#loss-chart').getAttribute('data-points'));
  const metricsEvents = await call('GET', `/v1/fine_tuning/jobs/${encodeURIComponent(jobId)}/events?limit=1000`);
  const lossEvents = metricsEvents.json.data.filter((e) => e.type === 'metrics' && e.data && e.data.loss != null).length;
  check(points >= 2 && points === lossEvents, 'a loss curve is drawn with one point per training step reported', { points, lossEvents });
  check((await page.locator('#loss-chart path.line').getAttribute('d')).split('L').length === points, 'the loss path has every point');
  check(Number(await page.locator('#lr-chart').getAttribute('data-points')) >= 2, 'a learning-rate curve is drawn');
  check(await page.locator('#eval-table tbody tr').count() >= 1, 'validation metrics are listed');
  check(await page.locator('#confusion tbody tr').count() >= 2, 'the confusion matrix is drawn as a heat map');
  check((await page.locator('#ft-model').textContent()) === jobApi.json.fine_tuned_model, 'the page names the fine-tuned model');
  await shot('job-succeeded');

  await page.goto(`${base}/#/jobs`);
  await page.locator(`#jobs tr[data-job="${jobId}"] .status[data-status=succeeded]`).waitFor();
  check(true, 'the job list shows the job as succeeded');
  const workerCell = (await page.locator(`#jobs tr[data-job="${jobId}"] td.worker`).textContent()).trim();
  check(workerCell === (jobApi.json.worker || 'this server'), 'the job list names the worker that trained the job', { workerCell, worker: jobApi.json.worker });
  await shot('jobs');

  // Cancel a second, long job from its page.
  const long = await call('POST', '/v1/fine_tuning/jobs', { model: baseModel, training_file: jobApi.json.training_file, hyperparameters: { n_epochs: 200, batch_size: 2 }, suffix: 'cancelme' });
  check(long.status === 200 || long.status === 201, 'a second job is created through the API', long.text);
  const longId = long.json.id;
  await page.goto(`${base}/#/jobs/${encodeURIComponent(longId)}`);
  await page.locator('#cancel-job:enabled').waitFor();
  await page.waitForFunction(() => ['running', 'queued', 'validating_files'].includes(document.querySelector('#job-status').dataset.status));
  await page.locator('#cancel-job').click();
  await page.locator('#job-status[data-status=cancelled]').waitFor({ timeout: 90000 });
  const longApi = await call('GET', `/v1/fine_tuning/jobs/${encodeURIComponent(longId)}`);
  check(longApi.json.status === 'cancelled', 'the cancel button cancels the job', longApi.json.status);
  check(await page.locator('#cancel-job').isDisabled(), 'the cancel button is disabled once the job is cancelled');
  await shot('job-cancelled');

  await page.goto(`${base}/#/models`);
  const adapterRow = page.locator(`#models tr[data-model="${jobApi.json.fine_tuned_model}"]`);
  await adapterRow.waitFor();
  check(true, 'the models page lists the new fine-tuned model');
  check(await adapterRow.locator('.badge[data-kind=adapter]').count() === 1 && (await adapterRow.textContent()).includes(baseModel),
    'the models page shows the LoRA job\'s model as an adapter of its base', await adapterRow.textContent());
  await page.goto(`${base}/#/demo/${encodeURIComponent(jobApi.json.fine_tuned_model)}`);
  await page.locator('#model-info').filter({ hasText: `LoRA adapter of ${baseModel}` }).waitFor();
  await page.locator('#text').fill('The movie was great fun');
  await page.locator('#prediction[data-state=done]').waitFor({ timeout: 60000 });
  const adapterSource = await page.locator('#pred-source').getAttribute('data-source');
  const adapterApi = await call('POST', `/v1/models/${encodeURIComponent(jobApi.json.fine_tuned_model)}/predict`, { inputs: ['The movie was great fun'] });
  check(adapterSource === 'server' && adapterApi.status === 200 && (await page.locator('#pred-label').textContent()) === adapterApi.json[0].label,
    'the demo classifies with the adapter on the server, as the API does', { page: adapterSource, api: adapterApi.text });
  await shot('models');

  check(pageErrors.length === 0, 'no uncaught errors in the page', pageErrors);
  check(external.length === 0, 'the page requests nothing outside the server', external);
} catch (err) {
  failed = true;
  console.error(err.message.startsWith('FAIL') ? err.message : `FAIL ${err.stack}`);
  if (pageErrors.length) console.error(`page errors: ${pageErrors.join(' | ')}`);
} finally {
  await browser.close();
}
console.log(`screenshots in ${shots}`);
process.exit(failed ? 1 : 0);
