// A minimal wasi_snapshot_preview1 for running whet's preprocess modules (Go wasip1 reactors) in a browser or node.
// It gives a module what the server's sandbox gives it and nothing more: no arguments, no environment, no files,
// a real clock, random bytes (crypto here; the server's are deterministic, and a module's output may not depend on
// them), and stdout/stderr delivered line by line to callbacks. Any other WASI import a
// module declares gets a stub answering ENOSYS, so modules built with other toolchains still instantiate.

const ESUCCESS = 0;
const EBADF = 8;
const EINVAL = 28;
const ENOSYS = 52;

/** WasiExit is thrown by proc_exit: the module asked to stop with code. */
export class WasiExit extends Error {
  constructor(code) {
    super(`module exited with code ${code}`);
    this.code = code;
  }
}

/**
 * wasiImports returns the import object for a module.
 * @param {() => WebAssembly.Memory} memory returns the instance's memory (known only after instantiation)
 * @param {{stdout?: (line: string) => void, stderr?: (line: string) => void}} [io]
 * @param {WebAssembly.Module} [module] when given, every other wasi import it declares gets an ENOSYS stub
 */
export function wasiImports(memory, io = {}, module) {
  const view = () => new DataView(memory().buffer);
  const bytes = () => new Uint8Array(memory().buffer);
  const decoders = { 1: new TextDecoder(), 2: new TextDecoder() };
  const pending = { 1: '', 2: '' };
  const sinks = { 1: io.stdout || (() => {}), 2: io.stderr || (() => {}) };
  const flush = (fd, text) => {
    pending[fd] += text;
    let nl;
    while ((nl = pending[fd].indexOf('\n')) >= 0) {
      sinks[fd](pending[fd].slice(0, nl));
      pending[fd] = pending[fd].slice(nl + 1);
    }
  };
  const now = (id) => {
    if (id === 0) return BigInt(Date.now()) * 1000000n; // realtime
    const t = globalThis.performance ? performance.timeOrigin + performance.now() : Date.now();
    return BigInt(Math.round(t * 1e6)); // monotonic and cpu clocks
  };
  const zeroCounts = (countPtr, sizePtr) => {
    const v = view();
    v.setUint32(countPtr, 0, true);
    v.setUint32(sizePtr, 0, true);
    return ESUCCESS;
  };

  const wasi = {
    args_sizes_get: zeroCounts,
    args_get: () => ESUCCESS,
    environ_sizes_get: zeroCounts,
    environ_get: () => ESUCCESS,
    clock_res_get(id, resPtr) {
      view().setBigUint64(resPtr, 1000n, true);
      return ESUCCESS;
    },
    clock_time_get(id, _precision, timePtr) {
      if (id < 0 || id > 3) return EINVAL;
      view().setBigUint64(timePtr, now(id), true);
      return ESUCCESS;
    },
    random_get(ptr, len) {
      for (let off = 0; off < len; off += 65536) {
        crypto.getRandomValues(new Uint8Array(memory().buffer, ptr + off, Math.min(65536, len - off)));
      }
      return ESUCCESS;
    },
    fd_write(fd, iovs, iovsLen, nwrittenPtr) {
      if (fd !== 1 && fd !== 2) return EBADF;
      const v = view();
      const mem = bytes();
      let n = 0;
      for (let i = 0; i < iovsLen; i++) {
        const ptr = v.getUint32(iovs + 8 * i, true);
        const len = v.getUint32(iovs + 8 * i + 4, true);
        flush(fd, decoders[fd].decode(mem.subarray(ptr, ptr + len), { stream: true }));
        n += len;
      }
      v.setUint32(nwrittenPtr, n, true);
      return ESUCCESS;
    },
    fd_close: (fd) => (fd <= 2 ? ESUCCESS : EBADF),
    fd_fdstat_get(fd, ptr) {
      if (fd > 2) return EBADF;
      const v = view();
      v.setUint8(ptr, 2); // filetype: character device
      v.setUint16(ptr + 2, 0, true); // flags
      v.setBigUint64(ptr + 8, 0xffffffffn, true); // rights base
      v.setBigUint64(ptr + 16, 0n, true); // rights inheriting
      return ESUCCESS;
    },
    fd_fdstat_set_flags: (fd) => (fd <= 2 ? ESUCCESS : EBADF),
    fd_prestat_get: () => EBADF, // no preopened directories: the module sees no filesystem
    fd_prestat_dir_name: () => EBADF,
    // poll_oneoff: a browser cannot block, so every subscription fires at once (Go only polls to sleep when idle).
    poll_oneoff(inPtr, outPtr, nsubs, neventsPtr) {
      const v = view();
      for (let i = 0; i < nsubs; i++) {
        const sub = inPtr + 48 * i;
        const ev = outPtr + 32 * i;
        v.setBigUint64(ev, v.getBigUint64(sub, true), true); // userdata
        v.setUint16(ev + 8, ESUCCESS, true); // error
        v.setUint8(ev + 10, v.getUint8(sub + 8)); // type
        v.setBigUint64(ev + 16, 0n, true); // nbytes
        v.setUint16(ev + 24, 0, true); // flags
      }
      v.setUint32(neventsPtr, nsubs, true);
      return ESUCCESS;
    },
    sched_yield: () => ESUCCESS,
    proc_exit(code) {
      throw new WasiExit(code);
    },
  };
  if (module) {
    for (const imp of WebAssembly.Module.imports(module)) {
      if (imp.module === 'wasi_snapshot_preview1' && imp.kind === 'function' && !(imp.name in wasi)) {
        wasi[imp.name] = () => ENOSYS;
      }
    }
  }
  return { wasi_snapshot_preview1: wasi };
}
