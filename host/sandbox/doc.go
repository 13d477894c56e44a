// Package sandbox runs whet's WebAssembly preprocessing and evaluation modules (see wasm/ABI.md) in wazero, with
// limits that keep an uploaded module from hurting the server.
//
// It owns the wazero runtimes, the compilation cache, module validation, the instance pools and the per-call
// limits. It imports wazero and wasm/abi only; callers (cmd/whet, host/*) see the API below.
//
//	rt, err := sandbox.New(ctx, sandbox.Config{CacheDir: dir})
//	defer rt.Close(ctx)
//	mod, err := rt.Compile(ctx, wasmBytes)           // validated, cached by sha256
//	pre, err := rt.NewPreprocessor(ctx, mod, sandbox.PreprocessOptions{Vocab: vocab, DoLowerCase: true, MaxLength: 128})
//	defer pre.Close(ctx)
//	out, err := pre.Preprocess(ctx, sandbox.PreprocessRequest{Texts: texts})
//	// out.InputIDs[i], out.TypeIDs[i], out.AttentionMask[i]; out.Errors[i] != "" for a row the module rejected
//
// # Validation
//
// Compile rejects, with ErrInvalidModule or ErrModuleTooLarge: binaries larger than Config.MaxModuleBytes,
// malformed or truncated binaries, imports from anything but wasi_snapshot_preview1, command modules (_start),
// missing or mistyped ABI exports, a whet_abi_version other than abi.Version, and a whet_info that does not parse.
// Validation instantiates the module once, under the same limits as every call. Compiled modules are cached by the
// sha256 of their bytes (and their trust level); with Config.CacheDir the machine code is also cached on disk.
//
// # Limits
//
// Every instance gets at most Config.MemoryLimitPages of memory, no filesystem, network, environment or arguments,
// a deterministic random source, the real monotonic clock and wall clock (with wazero's fake clock, Go guests never
// finish a GC cycle during a long call, see the project's wasm-sandbox notes), and stdout/stderr captured into a
// bounded buffer (Config.MaxOutputBytes, the tail is kept) that is quoted in error messages. Every call runs under
// Config.CallTimeout. Every pointer and length a guest returns is bounds-checked against its memory before it is
// read. An instance whose call trapped, exited, panicked, timed out or returned garbage is discarded and replaced by
// a fresh one on the next call; the other instances keep serving.
//
// # CPU limits and trust
//
// wazero has no fuel. The only way to stop a runaway guest in-process is wazero's close-on-context-done, which
// inserts a check at every loop header and makes Go guests 4-6x slower. The sandbox therefore runs two wazero
// runtimes:
//
//   - Compile (uploads, anything not known to be whet's own code) uses close-on-context-done: an infinite loop is
//     stopped at the deadline and the instance is discarded. This is the default and the only mode for untrusted
//     bytes.
//   - CompileTrusted is for the built-in modules whet ships (wasm/modules): their code is reviewed, bounded in work
//     per input, and tested against HuggingFace, so they run at full speed without the checks. Their calls still
//     have a deadline: when it passes the caller gets ErrTimeout at once and the instance is abandoned (it can no
//     longer be interrupted, so it finishes its current call on its own goroutine and is then closed).
//
// Never pass uploaded bytes to CompileTrusted.
//
// Measured with `go run ./bench/tokenize` (SST-2 train, 67,349 sentences, max length 128, 2 cores): the built-in
// bert-wordpiece module ran at about 109,000 sentences/s trusted and 16,800 sentences/s untrusted, against
// HuggingFace tokenizers' 8,100 (encode, one thread) and 20,800 (encodeBatch, all cores): 5.3x and 0.8x.
package sandbox
