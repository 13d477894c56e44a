// In-browser classification: the model's ONNX export (GET /v1/models/{id}/export/onnx/...) run by onnxruntime-web,
// whose files whet itself serves at /vendor/ort/ (bundled into the binary by `make build`; never a CDN).

import { api } from './api.js';

const ORT_DIR = new URL('../vendor/ort/', import.meta.url).href;
let ortPromise = null;

/** loadRuntime imports onnxruntime-web from whet (once) and returns its module. */
export function loadRuntime() {
  if (!ortPromise) {
    ortPromise = import(ORT_DIR + 'ort.wasm.min.mjs').then((ort) => {
      ort.env.wasm.wasmPaths = ORT_DIR;
      // Threads need a cross-origin-isolated page (SharedArrayBuffer); one thread works everywhere.
      ort.env.wasm.numThreads = 1;
      return ort;
    }, (err) => {
      ortPromise = null;
      throw new Error(`onnxruntime-web is not available from this server (a whet built without \`make build\` does not bundle it): ${err.message}`);
    });
  }
  return ortPromise;
}

/** Variants of the export the page can run. */
export const VARIANTS = {
  int8: { file: 'onnx/model_quantized.onnx', label: 'int8' },
  fp32: { file: 'onnx/model.onnx', label: 'fp32' },
};

/**
 * BrowserModel is a model's ONNX export loaded into onnxruntime-web. load() fetches the file (bytes are counted for
 * the page) and creates the session; classify() runs one batch of preprocessed rows.
 */
export class BrowserModel {
  constructor(ort, session, bytes, variant) {
    this.ort = ort;
    this.session = session;
    this.bytes = bytes;
    this.variant = variant;
  }

  static async load(modelId, variant) {
    const v = VARIANTS[variant];
    if (!v) throw new Error(`unknown variant ${variant}`);
    const ort = await loadRuntime();
    const bytes = await api.exportFile(modelId, v.file);
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
    return new BrowserModel(ort, session, bytes.length, variant);
  }

  /** classify returns the logits of each row ({ids, typeIds, attentionMask}), padded to the longest. */
  async classify(rows) {
    const B = rows.length;
    const T = Math.max(...rows.map((r) => r.ids.length));
    const tensor = (pick) => {
      const data = new BigInt64Array(B * T);
      rows.forEach((r, i) => pick(r).forEach((v, j) => { data[i * T + j] = BigInt(v); }));
      return new this.ort.Tensor('int64', data, [B, T]);
    };
    const out = await this.session.run({
      input_ids: tensor((r) => r.ids),
      attention_mask: tensor((r) => r.attentionMask || r.ids.map(() => 1)),
      token_type_ids: tensor((r) => r.typeIds || r.ids.map(() => 0)),
    });
    const l = out.logits;
    const n = l.dims[1];
    return Array.from({ length: B }, (_, i) => Array.from(l.data.slice(i * n, (i + 1) * n)));
  }
}

/** softmax turns logits into probabilities. */
export function softmax(logits) {
  const m = Math.max(...logits);
  const e = logits.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}
