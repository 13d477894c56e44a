// The page's HTTP client for whet's API (DESIGN.md): JSON in and out, the API key as a Bearer token, errors as
// ApiError carrying the server's JSON error message.

const KEY = 'whet.apiKey';

/** getKey returns the stored API key ('' if none). */
export function getKey() {
  try {
    return localStorage.getItem(KEY) || '';
  } catch {
    return '';
  }
}

/** setKey stores (or, with '', forgets) the API key. */
export function setKey(key) {
  try {
    if (key) localStorage.setItem(KEY, key);
    else localStorage.removeItem(KEY);
  } catch {
    /* storage disabled: the key lives for this page only */
  }
}

/** ApiError is a failed API call: status is the HTTP status (0 for a network error). */
export class ApiError extends Error {
  constructor(status, message, { type, code, param } = {}) {
    super(message);
    this.status = status;
    this.type = type;
    this.code = code;
    this.param = param;
  }
}

function headers(extra = {}) {
  const h = { Accept: 'application/json', ...extra };
  const key = getKey();
  if (key) h.Authorization = 'Bearer ' + key;
  return h;
}

async function toError(res) {
  let text = '';
  try {
    text = await res.text();
  } catch {
    /* body unreadable */
  }
  let e = null;
  try {
    e = JSON.parse(text).error;
  } catch {
    /* not JSON */
  }
  if (res.status === 401) window.dispatchEvent(new Event('whet:auth-needed'));
  if (e && e.message) return new ApiError(res.status, e.message, e);
  return new ApiError(res.status, text.trim() || res.statusText || `HTTP ${res.status}`);
}

/**
 * request calls the API. opts.body is sent as JSON; opts.form (a FormData) as multipart. Returns the decoded JSON,
 * or, with opts.raw, the Response itself.
 */
export async function request(path, { method = 'GET', body, form, signal, raw, accept } = {}) {
  const init = { method, signal, headers: headers(accept ? { Accept: accept } : {}) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  } else if (form) {
    init.body = form;
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, `cannot reach the server: ${err.message}`);
  }
  if (!res.ok) throw await toError(res);
  if (raw) return res;
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

const enc = encodeURIComponent;

/** api has one function per route the page uses. */
export const api = {
  models: () => request('/v1/models'),
  model: (id) => request(`/v1/models/${enc(id)}`),
  modelPreprocess: (id) => request(`/v1/models/${enc(id)}/preprocess`),
  examples: (id) => request(`/v1/models/${enc(id)}/examples`),
  predict: (id, inputs, signal) => request(`/v1/models/${enc(id)}/predict`, { method: 'POST', body: { inputs }, signal }),
  modelFile: async (id, name) => {
    const res = await request(`/v1/models/${enc(id)}/files/${enc(name)}`, { raw: true, accept: '*/*' });
    return new Uint8Array(await res.arrayBuffer());
  },
  exportFile: async (id, name) => {
    const res = await request(`/v1/models/${enc(id)}/export/${name.split('/').map(enc).join('/')}`, { raw: true, accept: '*/*' });
    return new Uint8Array(await res.arrayBuffer());
  },
  preprocessWasm: async (id) => {
    const res = await request(`/v1/models/${enc(id)}/preprocess.wasm`, { raw: true, accept: 'application/wasm' });
    return new Uint8Array(await res.arrayBuffer());
  },
  files: () => request('/v1/files'),
  uploadFile: (file) => {
    const form = new FormData();
    form.append('purpose', 'fine-tune');
    form.append('file', file, file.name);
    return request('/v1/files', { method: 'POST', form });
  },
  modules: () => request('/v1/modules'),
  uploadModule: (file, kind, name) => {
    const form = new FormData();
    form.append('kind', kind);
    if (name) form.append('name', name);
    form.append('file', file, file.name);
    return request('/v1/modules', { method: 'POST', form });
  },
  jobs: (limit = 100) => request(`/v1/fine_tuning/jobs?limit=${limit}`),
  job: (id) => request(`/v1/fine_tuning/jobs/${enc(id)}`),
  createJob: (body) => request('/v1/fine_tuning/jobs', { method: 'POST', body }),
  cancelJob: (id) => request(`/v1/fine_tuning/jobs/${enc(id)}/cancel`, { method: 'POST' }),
  checkpoints: (id) => request(`/v1/fine_tuning/jobs/${enc(id)}/checkpoints`),
  events: (id, after = 0, limit = 1000) => request(`/v1/fine_tuning/jobs/${enc(id)}/events?after=${after}&limit=${limit}`),
};

/**
 * streamEvents reads GET /v1/fine_tuning/jobs/{id}/events?stream=true (server-sent events) with fetch, so the API key
 * can go in a header, calling onEvent for each JobEvent. Resolves true after `data: [DONE]`, false if the stream
 * ended early (the caller reconnects with after = the last id).
 */
export async function streamEvents(id, { after = 0, signal, onEvent }) {
  const q = new URLSearchParams({ stream: 'true' });
  if (after) q.set('after', String(after));
  const res = await request(`/v1/fine_tuning/jobs/${enc(id)}/events?${q}`, { raw: true, signal, accept: 'text/event-stream' });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return false;
    buf += value;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, '');
      buf = buf.slice(nl + 1);
      if (line === '') {
        if (!data.length) continue;
        const payload = data.join('\n');
        data = [];
        if (payload === '[DONE]') {
          reader.cancel().catch(() => {});
          return true;
        }
        onEvent(JSON.parse(payload));
      } else if (line.startsWith('data:')) {
        data.push(line.slice(5).replace(/^ /, ''));
      }
      // ':' comments (keep-alives), 'id:', 'event:' and 'retry:' lines carry nothing the data does not
    }
  }
}
