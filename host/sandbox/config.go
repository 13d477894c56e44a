package sandbox

import (
	"fmt"
	"log/slog"
	"runtime"
	"time"
)

// Defaults applied by New to zero Config fields.
const (
	// DefaultMaxModuleBytes caps the size of a module binary: 32 MiB.
	DefaultMaxModuleBytes = 32 << 20
	// DefaultMemoryLimitPages caps each instance's linear memory: 4096 pages of 64 KiB = 256 MiB.
	DefaultMemoryLimitPages = 4096
	// DefaultCallTimeout bounds every guest call, instantiation included.
	DefaultCallTimeout = 30 * time.Second
	// DefaultMaxOutputBytes is how much guest stdout/stderr is kept per instance (the tail): 16 KiB.
	DefaultMaxOutputBytes = 16 << 10
	// DefaultMaxBatchRows is the most rows sent to one instance in one whet_preprocess call.
	DefaultMaxBatchRows = 512
	// DefaultRowTimeout is the time one row of a whet_preprocess call may take.
	DefaultRowTimeout = 2 * time.Second
)

// Config configures a Runtime. It is a plain struct; New applies the defaults to zero fields and validates it.
type Config struct {
	// CacheDir, when set, keeps compiled machine code on disk (wazero's file-backed compilation cache), so a restart
	// compiles a known module in tens of milliseconds instead of seconds. Default: "" (in-memory cache only).
	CacheDir string
	// MaxModuleBytes rejects larger binaries at Compile. Default: DefaultMaxModuleBytes.
	MaxModuleBytes int64
	// MemoryLimitPages caps every instance's memory in 64 KiB pages; a guest that needs more fails with
	// ErrOutOfMemory. Default: DefaultMemoryLimitPages. At most 65536.
	MemoryLimitPages uint32
	// CallTimeout bounds each guest call (and each instantiation). Default: DefaultCallTimeout.
	CallTimeout time.Duration
	// PoolSize is the most instances one Preprocessor or Evaluator runs at once. Default: runtime.NumCPU().
	PoolSize int
	// MaxOutputBytes is how much guest stdout/stderr each instance keeps (the tail) for error messages; the rest is
	// dropped. Default: DefaultMaxOutputBytes.
	MaxOutputBytes int
	// MaxBatchRows splits larger Preprocess batches across calls and instances. Default: DefaultMaxBatchRows.
	MaxBatchRows int
	// RowTimeout is what one row of a whet_preprocess call may take: a call of n rows is stopped after
	// min(CallTimeout, n*RowTimeout), and a row that faults its instance when sent alone (a hang, a trap, memory)
	// fails alone. Default: DefaultRowTimeout.
	RowTimeout time.Duration
	// Logger receives instance discards and other events. Default: a logger that discards everything.
	Logger *slog.Logger
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.MaxModuleBytes == 0 {
		c.MaxModuleBytes = DefaultMaxModuleBytes
	}
	if c.MemoryLimitPages == 0 {
		c.MemoryLimitPages = DefaultMemoryLimitPages
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.PoolSize == 0 {
		c.PoolSize = runtime.NumCPU()
	}
	if c.MaxOutputBytes == 0 {
		c.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if c.MaxBatchRows == 0 {
		c.MaxBatchRows = DefaultMaxBatchRows
	}
	if c.RowTimeout == 0 {
		c.RowTimeout = DefaultRowTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.MaxModuleBytes < 0:
		return fmt.Errorf("sandbox: Config.MaxModuleBytes %d is negative", c.MaxModuleBytes)
	case c.MemoryLimitPages > 65536:
		return fmt.Errorf("sandbox: Config.MemoryLimitPages %d is more than 65536 (4 GiB)", c.MemoryLimitPages)
	case c.CallTimeout < 0:
		return fmt.Errorf("sandbox: Config.CallTimeout %s is negative", c.CallTimeout)
	case c.PoolSize < 0:
		return fmt.Errorf("sandbox: Config.PoolSize %d is negative", c.PoolSize)
	case c.MaxOutputBytes < 0:
		return fmt.Errorf("sandbox: Config.MaxOutputBytes %d is negative", c.MaxOutputBytes)
	case c.MaxBatchRows < 0:
		return fmt.Errorf("sandbox: Config.MaxBatchRows %d is negative", c.MaxBatchRows)
	case c.RowTimeout < 0:
		return fmt.Errorf("sandbox: Config.RowTimeout %s is negative", c.RowTimeout)
	}
	return nil
}
