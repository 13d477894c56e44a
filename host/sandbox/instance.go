package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/whetml/whet/internal/tail"
	"github.com/whetml/whet/wasm/abi"
)

// instance is one instantiated module. One caller at a time (the pool guarantees it).
type instance struct {
	c         *Compiled
	mod       api.Module
	mem       api.Memory
	fns       map[string]api.Function
	out       *tail.Buffer
	dead      bool // faulted: never reuse
	abandoned bool // a trusted call outlived its deadline; its goroutine closes the module
	// limit, when > 0, replaces Config.CallTimeout for the next calls (a whet_preprocess call's row budget);
	// limitName names it in timeout errors.
	limit     time.Duration
	limitName string
}

// timeout returns the time limit of the instance's calls now and the setting it comes from.
func (in *instance) timeout() (time.Duration, string) {
	if in.limit > 0 {
		return in.limit, in.limitName
	}
	return in.c.rt.cfg.CallTimeout, "Config.CallTimeout"
}

// instantiate creates an instance and runs _initialize under the call time limit. No FS, env, args or network;
// real clocks (see the package doc); deterministic random; stdout and stderr into a bounded buffer.
func (c *Compiled) instantiate(ctx context.Context) (*instance, error) {
	if c.rt.closed.Load() {
		return nil, ErrClosed
	}
	out := &tail.Buffer{Max: c.rt.cfg.MaxOutputBytes}
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithSysNanotime().
		WithSysWalltime().
		WithStdout(out).
		WithStderr(out)
	callCtx, cancel := context.WithTimeout(ctx, c.rt.cfg.CallTimeout)
	defer cancel()
	mod, err := c.wrt.InstantiateModule(callCtx, c.cm, cfg)
	if err != nil {
		in := &instance{c: c, out: out}
		return nil, in.classify(ctx, callCtx, "instantiate", err)
	}
	in := &instance{c: c, mod: mod, mem: mod.ExportedMemory(abi.ExportMemory), fns: map[string]api.Function{}, out: out}
	if in.mem == nil {
		_ = mod.Close(ctx)
		return nil, in.fail(abi.ExportMemory, fmt.Errorf("%w: no exported memory", ErrInvalidModule))
	}
	if _, err := in.run(ctx, abi.ExportInitialize); err != nil {
		in.close(ctx)
		return nil, err
	}
	return in, nil
}

func (in *instance) close(ctx context.Context) {
	if in.mod != nil && !in.abandoned {
		_ = in.mod.Close(ctx)
	}
}

func (in *instance) fail(function string, err error) *CallError {
	return &CallError{Module: in.c.info.Name, Function: function, Err: err, Output: outputText(in.out)}
}

// run calls an export under Config.CallTimeout. Any failure marks the instance dead.
func (in *instance) run(ctx context.Context, name string, params ...uint64) ([]uint64, error) {
	fn := in.fns[name]
	if fn == nil {
		if fn = in.mod.ExportedFunction(name); fn == nil {
			in.dead = true
			return nil, in.fail(name, fmt.Errorf("%w: no export %s", ErrInvalidModule, name))
		}
		in.fns[name] = fn
	}
	limit, _ := in.timeout()
	callCtx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	if !in.c.trusted {
		// Close-on-context-done: wazero stops the guest at the deadline and closes the module.
		res, err := fn.Call(callCtx, params...)
		if err != nil {
			in.dead = true
			return nil, in.classify(ctx, callCtx, name, err)
		}
		return res, nil
	}
	type result struct {
		res []uint64
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := fn.Call(callCtx, params...)
		done <- result{res, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			in.dead = true
			return nil, in.classify(ctx, callCtx, name, r.err)
		}
		return r.res, nil
	case <-callCtx.Done():
		// A trusted module cannot be interrupted: give up on it and let its goroutine close it when it returns.
		in.dead, in.abandoned = true, true
		mod, log := in.mod, in.c.rt.cfg.Logger
		go func() {
			<-done
			_ = mod.Close(context.Background())
			log.Warn("abandoned sandbox instance finished", "module", in.c.info.Name, "function", name)
		}()
		return nil, in.classify(ctx, callCtx, name, callCtx.Err())
	}
}

// classify turns a wazero error into a *CallError wrapping the right sentinel.
func (in *instance) classify(ctx, callCtx context.Context, function string, origErr error) error {
	err := origErr
	output := outputText(in.out)
	// wazero appends the wasm stack trace after the first line; the guest's own output says more.
	msg, _, _ := strings.Cut(err.Error(), "\n")
	err = errors.New(msg)
	var cause error
	var exit *sys.ExitError
	switch {
	case ctx.Err() != nil:
		cause = fmt.Errorf("call cancelled: %w", ctx.Err())
	case callCtx.Err() != nil:
		limit, name := in.timeout()
		cause = fmt.Errorf("%w: stopped after the %s limit (%s): %w", ErrTimeout, limit, name, context.DeadlineExceeded)
	case strings.Contains(output, "out of memory") || strings.Contains(err.Error(), "out of memory"):
		cause = fmt.Errorf("%w (limit %d MiB, Config.MemoryLimitPages): %v", ErrOutOfMemory, uint64(in.c.rt.cfg.MemoryLimitPages)*64/1024, err)
	case strings.Contains(output, "panic:") || strings.Contains(output, "fatal error:"):
		cause = fmt.Errorf("%w: %v", ErrGuestPanic, err)
	case errors.As(origErr, &exit):
		cause = fmt.Errorf("%w: exited with code %d", ErrTrap, exit.ExitCode())
	default:
		cause = fmt.Errorf("%w: %v", ErrTrap, err)
	}
	return &CallError{Module: in.c.info.Name, Function: function, Err: cause, Output: output}
}

// callScalar calls a no-argument export returning one value.
func (in *instance) callScalar(ctx context.Context, name string) (uint64, error) {
	in.out.Reset()
	res, err := in.run(ctx, name)
	if err != nil {
		return 0, err
	}
	if len(res) != 1 {
		in.dead = true
		return 0, in.fail(name, fmt.Errorf("%w: %d results", ErrBadResult, len(res)))
	}
	return res[0], nil
}

// call runs one ABI call: copy input into a whet_alloc buffer, call name(ptr, len) (or name() when input is nil and
// the export takes no arguments), bounds-check and copy out the response, free the input, decode the status byte.
// The returned body is the host's own copy.
func (in *instance) call(ctx context.Context, name string, input []byte) ([]byte, error) {
	in.out.Reset()
	var params []uint64
	var ptr uint32
	if name != abi.ExportInfo {
		if len(input) > 0 {
			res, err := in.run(ctx, abi.ExportAlloc, uint64(len(input)))
			if err != nil {
				return nil, err
			}
			ptr = uint32(res[0])
			if ptr == 0 || uint64(ptr)+uint64(len(input)) > uint64(in.mem.Size()) {
				in.dead = true
				return nil, in.fail(abi.ExportAlloc, fmt.Errorf("%w: returned pointer %#x for %d bytes, outside the %d-byte memory",
					ErrBadResult, ptr, len(input), in.mem.Size()))
			}
			if !in.mem.Write(ptr, input) {
				in.dead = true
				return nil, in.fail(abi.ExportAlloc, fmt.Errorf("%w: cannot write %d bytes at %#x", ErrBadResult, len(input), ptr))
			}
		}
		params = []uint64{uint64(ptr), uint64(len(input))}
	}
	res, err := in.run(ctx, name, params...)
	if err != nil {
		return nil, err
	}
	outPtr, outLen := abi.UnpackResult(res[0])
	if uint64(outPtr)+uint64(outLen) > uint64(in.mem.Size()) {
		in.dead = true
		return nil, in.fail(name, fmt.Errorf("%w: result pointer %#x length %d is outside the %d-byte memory",
			ErrBadResult, outPtr, outLen, in.mem.Size()))
	}
	view, ok := in.mem.Read(outPtr, outLen)
	if !ok {
		in.dead = true
		return nil, in.fail(name, fmt.Errorf("%w: cannot read %d bytes at %#x", ErrBadResult, outLen, outPtr))
	}
	out := bytes.Clone(view) // view aliases guest memory, which the next call reuses
	if ptr != 0 {
		if _, err := in.run(ctx, abi.ExportFree, uint64(ptr)); err != nil {
			return nil, err
		}
	}
	body, err := abi.DecodeResponse(out)
	if err != nil {
		var me *abi.ModuleError
		if errors.As(err, &me) {
			return nil, in.fail(name, fmt.Errorf("%w: %s", ErrModuleError, me.Message))
		}
		in.dead = true
		return nil, in.fail(name, fmt.Errorf("%w: %v", ErrBadResult, err))
	}
	return body, nil
}

// outputText renders a guest's captured stdout/stderr for an error message, noting how much was dropped before it.
func outputText(b *tail.Buffer) string {
	kept, dropped := b.Tail()
	s := strings.TrimSpace(strings.ToValidUTF8(string(kept), "\uFFFD"))
	if dropped > 0 {
		s = fmt.Sprintf("[%d earlier bytes dropped] %s", dropped, s)
	}
	return s
}
