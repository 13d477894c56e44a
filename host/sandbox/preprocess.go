package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/whetml/whet/wasm/abi"
)

// PreprocessOptions configure a Preprocessor's instances (the whet_init call).
type PreprocessOptions struct {
	// Vocab is a vocab.txt (WordPiece modules need it).
	Vocab []byte
	// DoLowerCase lowercases and strips accents (a model folder's tokenizer_config.json do_lower_case).
	DoLowerCase bool
	// TokenizerJSON is a HuggingFace tokenizer.json (the hf-tokenizer module needs it).
	TokenizerJSON []byte
	// MaxLength is the default maximum sequence length, special tokens included; 0 means none.
	MaxLength int
	// Params are module-specific JSON settings, passed through to the module.
	Params json.RawMessage
}

// PreprocessRequest is one batch: Texts (and optional TextPairs, one per text), an optional MaxLength overriding
// PreprocessOptions.MaxLength, and WithTokens to get the token strings as well.
type PreprocessRequest = abi.PreprocessRequest

// PreprocessResult holds one entry per input row, in order. Rows are unpadded.
type PreprocessResult struct {
	// InputIDs are the token ids of each row (nil for a failed row).
	InputIDs [][]int32
	// TypeIDs are the segment ids of each row.
	TypeIDs [][]int32
	// AttentionMask is 1 for each real token of each row.
	AttentionMask [][]int32
	// Tokens are the token strings of each row; nil unless the request set WithTokens.
	Tokens [][]string
	// Errors holds each row's error; "" means the row is fine.
	Errors []string
	// Faulted[i] reports that Errors[i] is the module failing on that row run alone (it hung past
	// Config.RowTimeout, trapped, panicked, ran out of memory or returned a bad result): the module's fault, where
	// a row the module rejected (its own row error) is the input's.
	Faulted []bool
}

// Preprocessor runs a preprocess module configured with PreprocessOptions on a pool of instances. It is safe for
// concurrent use; Close it when done.
type Preprocessor struct {
	rt   *Runtime
	name string
	pool *pool
}

// maxChunkBytes bounds the request bytes sent in one call (big batches are split further).
const maxChunkBytes = 8 << 20

// NewPreprocessor instantiates mod (a preprocess module) and configures it with opts; the first instance is
// created at once so configuration errors surface here.
//
// # Errors
//
// ErrWrongKind for an evaluate module; a *CallError (wrapping ErrModuleError with the module's message) when the
// module rejects the options; the instantiation failures of Compile.
func (rt *Runtime) NewPreprocessor(ctx context.Context, mod *Compiled, opts PreprocessOptions) (*Preprocessor, error) {
	if mod == nil {
		return nil, errNilModule
	}
	if err := mod.checkKind(abi.KindPreprocess); err != nil {
		return nil, err
	}
	if opts.MaxLength < 0 {
		return nil, fmt.Errorf("module[%s]: PreprocessOptions.MaxLength %d is negative", mod.info.Name, opts.MaxLength)
	}
	init := abi.InitRequest{
		Options:       abi.Options{DoLowerCase: opts.DoLowerCase, MaxLength: opts.MaxLength, Params: opts.Params},
		Vocab:         opts.Vocab,
		TokenizerJSON: opts.TokenizerJSON,
	}
	p, err := newPool(ctx, mod, init.Append(nil))
	if err != nil {
		return nil, err
	}
	return &Preprocessor{rt: rt, name: mod.info.Name, pool: p}, nil
}

// Close releases the Preprocessor's instances. It is idempotent.
func (p *Preprocessor) Close(ctx context.Context) error { return p.pool.close(ctx) }

// Preprocess tokenizes a batch. Large batches are split into chunks of at most Config.MaxBatchRows rows that run in
// parallel on up to Config.PoolSize instances. A row the module rejects gets its message in Errors and does not fail
// the call.
//
// # Errors
//
// A *CallError naming the module and whet_preprocess when a chunk times out, traps, runs out of memory, returns a
// bad result, or the module reports an error for the whole call; ctx's error if it ends first.
func (p *Preprocessor) Preprocess(ctx context.Context, req PreprocessRequest) (PreprocessResult, error) {
	if err := req.Validate(); err != nil {
		return PreprocessResult{}, fmt.Errorf("module[%s] function[%s]: %w", p.name, abi.ExportPreprocess, err)
	}
	n := len(req.Texts)
	res := PreprocessResult{
		InputIDs:      make([][]int32, n),
		TypeIDs:       make([][]int32, n),
		AttentionMask: make([][]int32, n),
		Errors:        make([]string, n),
		Faulted:       make([]bool, n),
	}
	if req.WithTokens {
		res.Tokens = make([][]string, n)
	}
	if n == 0 {
		return res, nil
	}
	call := func(ctx context.Context, ch chunk) error { return p.callChunk(ctx, req, ch, &res) }
	run := func(ctx context.Context, ch chunk) error {
		err := call(ctx, ch)
		if err == nil || ch.hi-ch.lo == 1 || !faulted(ctx, err) {
			return err
		}
		return p.isolate(ctx, ch, call, &res, err)
	}
	if err := p.runChunks(ctx, p.split(req), run); err != nil {
		return PreprocessResult{}, err
	}
	return res, nil
}

// callChunk preprocesses the rows ch of req in one call of an instance, writing them into res. A bad result
// marks the instance dead.
func (p *Preprocessor) callChunk(ctx context.Context, req PreprocessRequest, ch chunk, res *PreprocessResult) error {
	sub := PreprocessRequest{Texts: req.Texts[ch.lo:ch.hi], MaxLength: req.MaxLength, WithTokens: req.WithTokens}
	if req.TextPairs != nil {
		sub.TextPairs = req.TextPairs[ch.lo:ch.hi]
	}
	return p.pool.do(ctx, func(in *instance) error {
		in.limit, in.limitName = p.budget(ch.hi - ch.lo)
		defer func() { in.limit = 0 }()
		body, err := in.call(ctx, abi.ExportPreprocess, sub.Append(make([]byte, 0, sub.Size())))
		if err != nil {
			return err
		}
		out, err := abi.DecodePreprocessResponse(body)
		if err == nil && len(out.Rows) != len(sub.Texts) {
			err = fmt.Errorf("%d rows for %d texts", len(out.Rows), len(sub.Texts))
		}
		if err == nil && req.WithTokens && !out.HasTokens {
			err = fmt.Errorf("tokens were requested but not returned")
		}
		if err != nil {
			in.dead = true
			return in.fail(abi.ExportPreprocess, fmt.Errorf("%w: %v", ErrBadResult, err))
		}
		for i, row := range out.Rows {
			j := ch.lo + i
			if row.Err != "" {
				res.Errors[j] = row.Err
				continue
			}
			res.InputIDs[j], res.TypeIDs[j], res.AttentionMask[j] = row.IDs, row.TypeIDs, row.AttentionMask
			if req.WithTokens {
				res.Tokens[j] = row.Tokens
			}
		}
		return nil
	})
}

// runChunks runs run on each chunk, on up to Config.PoolSize goroutines; the first error cancels the rest and is
// returned.
func (p *Preprocessor) runChunks(ctx context.Context, chunks []chunk, run func(context.Context, chunk) error) error {
	if len(chunks) == 1 {
		return run(ctx, chunks[0])
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan chunk, len(chunks))
	for _, ch := range chunks {
		work <- ch
	}
	close(work)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for w := 0; w < min(p.rt.cfg.PoolSize, len(chunks)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ch := range work {
				if ctx.Err() != nil {
					return
				}
				if err := run(ctx, ch); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

type chunk struct{ lo, hi int }

// maxIsolatedRows is how many rows of one chunk may fail alone before the module is taken as failing on
// everything (its first error fails the call).
const maxIsolatedRows = 2

// budget is the time limit of a call of n rows: Config.RowTimeout per row, at most Config.CallTimeout.
func (p *Preprocessor) budget(n int) (time.Duration, string) {
	cfg := p.rt.cfg
	if perRow := time.Duration(n) * cfg.RowTimeout; perRow < cfg.CallTimeout {
		return perRow, fmt.Sprintf("Config.RowTimeout: %s per row", cfg.RowTimeout)
	}
	return cfg.CallTimeout, "Config.CallTimeout"
}

// faulted reports whether err is an instance fault a single row can cause (a hang, a trap, a panic, memory, a bad
// result), as opposed to a cancelled call or an error the module reported.
func faulted(ctx context.Context, err error) bool {
	var ce *CallError
	return ctx.Err() == nil && errors.As(err, &ce) && (errors.Is(err, ErrTimeout) || errors.Is(err, ErrTrap) ||
		errors.Is(err, ErrGuestPanic) || errors.Is(err, ErrOutOfMemory) || errors.Is(err, ErrBadResult))
}

// isolate re-runs the rows of ch, whose call faulted with first, one at a time on fresh instances: a row that
// faults alone gets its error in res.Errors (and res.Faulted) and the others their results, so one hostile input
// (one that hangs the module) fails alone. When more than maxIsolatedRows rows, or all of them, fault alone, the
// module fails on its own and first is returned.
func (p *Preprocessor) isolate(ctx context.Context, ch chunk, call func(context.Context, chunk) error, res *PreprocessResult, first error) error {
	var failed []int
	for i := ch.lo; i < ch.hi; i++ {
		err := call(ctx, chunk{i, i + 1})
		if err == nil {
			continue
		}
		if !faulted(ctx, err) {
			return err
		}
		if failed = append(failed, i); len(failed) > maxIsolatedRows || len(failed) == ch.hi-ch.lo {
			return first
		}
		res.Errors[i], res.Faulted[i] = err.Error(), true
	}
	p.rt.cfg.Logger.Warn("module faulted on single rows; the other rows of the call were answered",
		"module", p.name, "rows", failed, "err", first)
	return nil
}

// split cuts the batch into chunks: about n/PoolSize rows each (so all instances work), at most MaxBatchRows rows
// and about maxChunkBytes bytes.
func (p *Preprocessor) split(req PreprocessRequest) []chunk {
	n := len(req.Texts)
	per := min(p.rt.cfg.MaxBatchRows, max(1, (n+p.rt.cfg.PoolSize-1)/p.rt.cfg.PoolSize))
	var chunks []chunk
	lo, bytes := 0, 0
	for i := 0; i < n; i++ {
		sz := len(req.Texts[i]) + 8
		if req.TextPairs != nil {
			sz += len(req.TextPairs[i])
		}
		if i > lo && (i-lo >= per || bytes+sz > maxChunkBytes) {
			chunks = append(chunks, chunk{lo, i})
			lo, bytes = i, 0
		}
		bytes += sz
	}
	return append(chunks, chunk{lo, n})
}
