// The host side of whet's module ABI (wasm/ABI.md, wasm/abi) in JavaScript: load a preprocess module, configure it
// with whet_init (vocab.txt, do_lower_case, max_length) and tokenize with whet_preprocess, exactly as the server's
// sandbox does. Works in browsers and in node (the shim test runs it there).

import { wasiImports } from './wasi.js';

/** ABI_VERSION is the module ABI version this file implements (wasm/abi.Version). */
export const ABI_VERSION = 1;

const STATUS_OK = 0;
const STATUS_ERROR = 1;
const ROW_OK = 0;
const ROW_ERROR = 1;
const FLAG_PAIRS = 1;
const FLAG_TOKENS = 2;
const REQUIRED = ['_initialize', 'whet_abi_version', 'whet_alloc', 'whet_free', 'whet_info', 'whet_init', 'whet_preprocess'];

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: false });

/** ModuleError is an error the module reported for a whole call (a StatusError response) or an ABI violation. */
export class ModuleError extends Error {}

// Writer builds little-endian request bytes.
class Writer {
  constructor() {
    this.parts = [];
    this.size = 0;
  }
  u32(v) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0, true);
    return this.raw(b);
  }
  raw(b) {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }
  blob(b) {
    return this.u32(b.length).raw(b);
  }
  bytes() {
    const out = new Uint8Array(this.size);
    let off = 0;
    for (const p of this.parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }
}

// Reader decodes a response body, failing loudly on truncation.
class Reader {
  constructor(b, what) {
    this.b = b;
    this.v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    this.off = 0;
    this.what = what;
  }
  need(n, field) {
    if (this.off + n > this.b.length) {
      throw new ModuleError(`${this.what}: truncated at byte ${this.off} reading ${field} (need ${n} bytes)`);
    }
  }
  u8(field) {
    this.need(1, field);
    return this.b[this.off++];
  }
  u32(field) {
    this.need(4, field);
    const x = this.v.getUint32(this.off, true);
    this.off += 4;
    return x;
  }
  i32(field) {
    this.need(4, field);
    const x = this.v.getInt32(this.off, true);
    this.off += 4;
    return x;
  }
  bytes(n, field) {
    this.need(n, field);
    const s = this.b.subarray(this.off, this.off + n);
    this.off += n;
    return s;
  }
  string(field) {
    return dec.decode(this.bytes(this.u32(field + ' length'), field));
  }
}

/** encodeInit encodes a whet_init request: options JSON, vocab.txt bytes, tokenizer.json bytes. */
export function encodeInit({ doLowerCase = true, maxLength = 0, params, vocab, tokenizerJSON } = {}) {
  const opts = { do_lower_case: !!doLowerCase };
  if (maxLength) opts.max_length = maxLength;
  if (params !== undefined) opts.params = params;
  const asBytes = (x) => (x == null ? new Uint8Array(0) : typeof x === 'string' ? enc.encode(x) : new Uint8Array(x));
  return new Writer().blob(enc.encode(JSON.stringify(opts))).blob(asBytes(vocab)).blob(asBytes(tokenizerJSON)).bytes();
}

/** encodePreprocess encodes a whet_preprocess request for a batch of texts (and optional pairs). */
export function encodePreprocess(texts, { pairs, maxLength = 0, withTokens = true } = {}) {
  if (pairs && pairs.length !== texts.length) throw new Error(`${pairs.length} text pairs for ${texts.length} texts`);
  const w = new Writer().u32((pairs ? FLAG_PAIRS : 0) | (withTokens ? FLAG_TOKENS : 0)).u32(maxLength).u32(texts.length);
  for (const t of texts) w.blob(enc.encode(t));
  for (const t of pairs || []) w.blob(enc.encode(t));
  return w.bytes();
}

/**
 * decodePreprocess decodes a whet_preprocess response body into rows:
 * {ids, typeIds, attentionMask, tokens?} or {error}.
 */
export function decodePreprocess(body) {
  const r = new Reader(body, 'preprocess response');
  const flags = r.u32('flags');
  const n = r.u32('row count');
  const hasTokens = (flags & FLAG_TOKENS) !== 0;
  const rows = [];
  for (let i = 0; i < n; i++) {
    const st = r.u8('row status');
    if (st === ROW_ERROR) {
      rows.push({ error: r.string('row error') || 'module reported an error without a message' });
      continue;
    }
    if (st !== ROW_OK) throw new ModuleError(`preprocess response: row ${i}: unknown row status byte ${st}`);
    const m = r.u32('token count');
    const ids = new Array(m);
    for (let j = 0; j < m; j++) ids[j] = r.i32('ids');
    const typeIds = Array.from(r.bytes(m, 'type ids'));
    const attentionMask = Array.from(r.bytes(m, 'attention mask'));
    const row = { ids, typeIds, attentionMask };
    if (hasTokens) {
      row.tokens = new Array(m);
      for (let j = 0; j < m; j++) row.tokens[j] = r.string('token');
    }
    rows.push(row);
  }
  if (r.off !== body.length) throw new ModuleError(`preprocess response: ${body.length - r.off} trailing bytes`);
  return rows;
}

/** Preprocessor is one configured instance of a preprocess module; one call at a time. */
export class Preprocessor {
  /**
   * load compiles and instantiates a module, checks its ABI version and kind, and configures it.
   * @param {BufferSource|WebAssembly.Module} wasm the module's bytes (or a compiled module)
   * @param {{vocab?: string|Uint8Array, doLowerCase?: boolean, maxLength?: number, tokenizerJSON?: string|Uint8Array}} config
   * @param {{stdout?: Function, stderr?: Function}} [io] receive the module's output lines
   */
  static async load(wasm, config = {}, io = {}) {
    const module = wasm instanceof WebAssembly.Module ? wasm : await WebAssembly.compile(wasm);
    const exported = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
    const missing = REQUIRED.filter((n) => !exported.has(n));
    if (missing.length) throw new ModuleError(`not a whet preprocess module: missing exports ${missing.join(', ')}`);
    let instance;
    const imports = wasiImports(() => instance.exports.memory, io, module);
    instance = await WebAssembly.instantiate(module, imports);
    const p = new Preprocessor(instance);
    instance.exports._initialize();
    const version = instance.exports.whet_abi_version();
    if (version !== ABI_VERSION) throw new ModuleError(`module ABI version ${version}, this page supports ${ABI_VERSION}`);
    p.info = JSON.parse(dec.decode(p.call('whet_info')));
    if (p.info.kind !== 'preprocess') throw new ModuleError(`module ${p.info.name} is a ${p.info.kind} module, not preprocess`);
    p.call('whet_init', encodeInit(config));
    return p;
  }

  constructor(instance) {
    this.exports = instance.exports;
    this.info = null;
  }

  /**
   * call runs an ABI function as wasm/ABI.md's "A call, step by step": copies input into a whet_alloc buffer (the
   * view taken after alloc, since memory may grow), calls fn(ptr, len), unpacks the i64 (a BigInt: ptr<<32|len),
   * copies the response out, then whet_frees the request and checks the status byte. Returns the body.
   */
  call(fn, input) {
    const x = this.exports;
    let ptr = -1;
    try {
      let result;
      if (input === undefined) {
        result = x[fn]();
      } else {
        ptr = x.whet_alloc(Math.max(input.length, 1)) >>> 0;
        new Uint8Array(x.memory.buffer, ptr, input.length).set(input);
        result = x[fn](ptr, input.length);
      }
      const packed = BigInt.asUintN(64, BigInt(result));
      const outPtr = Number(packed >> 32n);
      const outLen = Number(packed & 0xffffffffn);
      const mem = new Uint8Array(x.memory.buffer);
      if (outLen === 0) throw new ModuleError(`${fn}: empty response (no status byte)`);
      if (outPtr + outLen > mem.length) throw new ModuleError(`${fn}: response [${outPtr}, +${outLen}) outside memory`);
      // Copy the response out before any other export runs (whet_free included): it is valid only until then.
      const resp = mem.slice(outPtr, outPtr + outLen);
      if (resp[0] === STATUS_ERROR) throw new ModuleError(dec.decode(resp.subarray(1)));
      if (resp[0] !== STATUS_OK) throw new ModuleError(`${fn}: unknown response status byte ${resp[0]}`);
      return resp.subarray(1);
    } finally {
      if (ptr >= 0) x.whet_free(ptr);
    }
  }

  /**
   * preprocess tokenizes texts; each row is {ids, typeIds, attentionMask, tokens} or {error} for that row only.
   * @param {string[]} texts
   * @param {{pairs?: string[], maxLength?: number, withTokens?: boolean}} [opts]
   */
  preprocess(texts, opts = {}) {
    return decodePreprocess(this.call('whet_preprocess', encodePreprocess(texts, opts)));
  }
}
