package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/whetml/whet/wasm/abi"
)

// Runtime compiles and runs whet modules. It is safe for concurrent use. Close it to release everything it created.
type Runtime struct {
	cfg    Config
	cache  wazero.CompilationCache
	safe   wazero.Runtime // close-on-context-done: untrusted modules
	fast   wazero.Runtime // no termination checks: trusted built-ins
	mu     sync.Mutex
	byKey  map[string]*Compiled
	closed atomic.Bool
}

// Config returns the runtime's configuration, defaults filled in.
func (rt *Runtime) Config() Config { return rt.cfg }

// Info describes a compiled module.
type Info struct {
	// SHA256 is the hex sha256 of the module's bytes.
	SHA256 string `json:"sha256"`
	// Kind is "preprocess" or "evaluate".
	Kind abi.Kind `json:"kind"`
	// Name is the module's self-reported name (whet_info).
	Name string `json:"name"`
	// Description is the module's self-reported one-line description, possibly empty.
	Description string `json:"description,omitempty"`
	// ABIVersion is the module's whet_abi_version.
	ABIVersion int `json:"abi_version"`
	// Size is the binary's size in bytes.
	Size int `json:"size"`
	// Trusted reports whether the module was compiled with CompileTrusted (full speed, no in-process CPU limit).
	Trusted bool `json:"trusted"`
}

// Compiled is a validated, compiled module; instantiate it with NewPreprocessor or NewEvaluator. It belongs to the
// Runtime that compiled it and lives until that Runtime is closed.
type Compiled struct {
	rt      *Runtime
	wrt     wazero.Runtime
	cm      wazero.CompiledModule
	info    Info
	trusted bool
}

// Info returns the module's description.
func (c *Compiled) Info() Info { return c.info }

// New creates a Runtime.
//
// # Errors
//
// An invalid Config (the message names the field), or a CacheDir that cannot be created.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	rt := &Runtime{cfg: cfg, byKey: map[string]*Compiled{}}
	if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("sandbox: Config.CacheDir %s: %w", cfg.CacheDir, err)
		}
		rt.cache = c
	} else {
		rt.cache = wazero.NewCompilationCache()
	}
	// Both runtimes share the cache: wazero keys compiled code by module hash *and* the termination-check flag.
	base := wazero.NewRuntimeConfig().
		WithCompilationCache(rt.cache).
		WithMemoryLimitPages(cfg.MemoryLimitPages).
		WithCoreFeatures(api.CoreFeaturesV2)
	rt.safe = wazero.NewRuntimeWithConfig(ctx, base.WithCloseOnContextDone(true))
	rt.fast = wazero.NewRuntimeWithConfig(ctx, base.WithCloseOnContextDone(false))
	for _, r := range []wazero.Runtime{rt.safe, rt.fast} {
		if _, err := wasi_snapshot_preview1.Instantiate(ctx, r); err != nil {
			_ = rt.Close(ctx)
			return nil, fmt.Errorf("sandbox: instantiate WASI: %w", err)
		}
	}
	return rt, nil
}

// Close releases every compiled module, instance and runtime this Runtime created. It is idempotent.
func (rt *Runtime) Close(ctx context.Context) error {
	if !rt.closed.CompareAndSwap(false, true) {
		return nil
	}
	err := errors.Join(rt.safe.Close(ctx), rt.fast.Close(ctx))
	return errors.Join(err, rt.cache.Close(ctx))
}

// Compile validates and compiles an untrusted module (an upload). Its calls run with wazero's
// close-on-context-done, so a runaway call is stopped at Config.CallTimeout. Compiling the same bytes again returns
// the cached *Compiled.
//
// # Errors
//
// ErrModuleTooLarge, ErrInvalidModule (malformed or truncated binary, forbidden imports, command module, missing or
// mistyped exports, unsupported ABI version, invalid whet_info), or a *CallError when the validation instance
// traps, times out or runs out of memory. ErrClosed after Close.
func (rt *Runtime) Compile(ctx context.Context, wasm []byte) (*Compiled, error) {
	return rt.compile(ctx, wasm, false)
}

// CompileTrusted is Compile for whet's own built-in modules (package wasm/modules): their calls run at full speed
// without in-process termination checks (see the package doc). Never pass uploaded bytes.
func (rt *Runtime) CompileTrusted(ctx context.Context, wasm []byte) (*Compiled, error) {
	return rt.compile(ctx, wasm, true)
}

// SHA256 returns the hex sha256 of wasm, the key modules are cached and identified by.
func SHA256(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return hex.EncodeToString(sum[:])
}

func (rt *Runtime) compile(ctx context.Context, wasm []byte, trusted bool) (*Compiled, error) {
	if rt.closed.Load() {
		return nil, ErrClosed
	}
	sum := SHA256(wasm)
	label := "sha256:" + sum[:12]
	if int64(len(wasm)) > rt.cfg.MaxModuleBytes {
		return nil, fmt.Errorf("module[%s]: %w: %d bytes, the limit is %d (Config.MaxModuleBytes)",
			label, ErrModuleTooLarge, len(wasm), rt.cfg.MaxModuleBytes)
	}
	key := cacheKey(sum, trusted)
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if c, ok := rt.byKey[key]; ok {
		return c, nil
	}
	wrt := rt.safe
	if trusted {
		wrt = rt.fast
	}
	var before map[string]bool
	if !trusted {
		before = rt.cacheFiles()
	}
	cm, err := wrt.CompileModule(ctx, wasm)
	if !trusted {
		rt.recordCacheFiles(sum, before)
	}
	if err != nil {
		return nil, fmt.Errorf("module[%s]: %w: %v", label, ErrInvalidModule, err)
	}
	c := &Compiled{rt: rt, wrt: wrt, cm: cm, trusted: trusted,
		info: Info{SHA256: sum, Name: label, Size: len(wasm), Trusted: trusted}}
	err = c.validateShape()
	if err != nil {
		err = fmt.Errorf("module[%s]: %w: %v", label, ErrInvalidModule, err)
	} else {
		err = c.probe(ctx)
	}
	if err != nil {
		_ = cm.Close(ctx)
		if !trusted {
			_ = rt.removeCacheFiles(sum)
		}
		return nil, err
	}
	rt.byKey[key] = c
	return c, nil
}

// cacheKey is byKey's key: a module's sha256 and trust level.
func cacheKey(sum string, trusted bool) string { return fmt.Sprintf("%s/%t", sum, trusted) }

type signature struct {
	params, results []api.ValueType
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
	// exportSignatures are the ABI's function types (wasm/ABI.md).
	exportSignatures = map[string]signature{
		abi.ExportInitialize: {nil, nil},
		abi.ExportABIVersion: {nil, []api.ValueType{i32}},
		abi.ExportAlloc:      {[]api.ValueType{i32}, []api.ValueType{i32}},
		abi.ExportFree:       {[]api.ValueType{i32}, nil},
		abi.ExportInfo:       {nil, []api.ValueType{i64}},
		abi.ExportInit:       {[]api.ValueType{i32, i32}, []api.ValueType{i64}},
		abi.ExportPreprocess: {[]api.ValueType{i32, i32}, []api.ValueType{i64}},
		abi.ExportEvaluate:   {[]api.ValueType{i32, i32}, []api.ValueType{i64}},
	}
)

// validateShape checks imports and exports without running anything.
func (c *Compiled) validateShape() error {
	for _, imp := range c.cm.ImportedFunctions() {
		mod, name, _ := imp.Import()
		if mod != wasi_snapshot_preview1.ModuleName {
			return fmt.Errorf("imports function %s.%s: only %s imports are allowed", mod, name, wasi_snapshot_preview1.ModuleName)
		}
	}
	for _, imp := range c.cm.ImportedMemories() {
		mod, name, _ := imp.Import()
		return fmt.Errorf("imports memory %s.%s: a module must define and export its own memory", mod, name)
	}
	if _, ok := c.cm.ExportedMemories()[abi.ExportMemory]; !ok {
		return fmt.Errorf("does not export its memory as %q", abi.ExportMemory)
	}
	exports := c.cm.ExportedFunctions()
	if _, ok := exports["_start"]; ok {
		return errors.New("exports _start: it is a command module; build a reactor (Go: -buildmode=c-shared)")
	}
	for _, name := range abi.RequiredExports() {
		if _, ok := exports[name]; !ok {
			return fmt.Errorf("does not export %s (see wasm/ABI.md)", name)
		}
	}
	for name, sig := range exportSignatures {
		def, ok := exports[name]
		if !ok {
			continue
		}
		if !sameTypes(def.ParamTypes(), sig.params) || !sameTypes(def.ResultTypes(), sig.results) {
			return fmt.Errorf("export %s has type %s, want %s", name, typeString(def.ParamTypes(), def.ResultTypes()),
				typeString(sig.params, sig.results))
		}
	}
	return nil
}

// probe instantiates the module once to read its ABI version and info.
func (c *Compiled) probe(ctx context.Context) error {
	inst, err := c.instantiate(ctx)
	if err != nil {
		return err
	}
	defer inst.close(ctx)
	ver, err := inst.callScalar(ctx, abi.ExportABIVersion)
	if err != nil {
		return err
	}
	if int32(ver) != abi.Version {
		return fmt.Errorf("module[%s]: %w: whet_abi_version is %d, this host supports %d", c.info.Name, ErrInvalidModule, int32(ver), abi.Version)
	}
	body, err := inst.call(ctx, abi.ExportInfo, nil)
	if err != nil {
		return err
	}
	info, err := abi.ParseInfo(body)
	if err != nil {
		return fmt.Errorf("module[%s]: %w: %v", c.info.Name, ErrInvalidModule, err)
	}
	if _, ok := c.cm.ExportedFunctions()[info.Kind.Export()]; !ok {
		return fmt.Errorf("module[%s]: %w: a %s module must export %s", info.Name, ErrInvalidModule, info.Kind, info.Kind.Export())
	}
	c.info.Kind, c.info.Name, c.info.Description, c.info.ABIVersion = info.Kind, info.Name, info.Description, int(int32(ver))
	return nil
}

func sameTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func typeString(params, results []api.ValueType) string {
	s := "("
	for i, p := range params {
		if i > 0 {
			s += ","
		}
		s += api.ValueTypeName(p)
	}
	s += ")->("
	for i, r := range results {
		if i > 0 {
			s += ","
		}
		s += api.ValueTypeName(r)
	}
	return s + ")"
}
