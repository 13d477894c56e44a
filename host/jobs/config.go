package jobs

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/whetml/whet/host/store"
)

// Defaults for Config.
const (
	DefaultConcurrency       = 1
	DefaultHeartbeatInterval = 10 * time.Second
	DefaultRescueInterval    = time.Minute
	DefaultStaleAfter        = 5 * time.Minute
	DefaultMaxAttempts       = 3
	maxMaxAttempts           = 100
	DefaultCancelGrace       = 2 * time.Minute
	DefaultStepEventInterval = time.Second
)

// Config configures a Queue. Zero fields take their defaults (WithDefaults).
type Config struct {
	// Store persists jobs. Required.
	Store *store.Store
	// Bin is the whet binary run as `Bin train ...`. Default: os.Executable().
	Bin string
	// Concurrency is how many jobs train at once on this server's device. Default: DefaultConcurrency (1).
	Concurrency int
	// Threads, when > 0, is passed to `whet train --threads`. Default: 0 (the trainer decides).
	Threads int
	// Env is added to the trainer's environment. Default: none.
	Env []string
	// Logger receives the queue's logs. Default: a logger that discards.
	Logger *slog.Logger
	// HeartbeatInterval is how often a running job records that it is alive. Default: DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration
	// RescueInterval is how often the scheduler looks for orphaned running jobs (it also does at Start).
	// Default: DefaultRescueInterval.
	RescueInterval time.Duration
	// StaleAfter is how old a heartbeat must be before a running job this queue does not own is rescued.
	// Default: DefaultStaleAfter.
	StaleAfter time.Duration
	// MaxAttempts is how many times a job may start running unless its request sets max_attempts; a job whose
	// trainer died (by a signal, or with the server) after using them all fails instead of resuming.
	// Default: DefaultMaxAttempts.
	MaxAttempts int
	// CancelGrace is how long a trainer has to exit after SIGINT before it is killed. Default: DefaultCancelGrace.
	CancelGrace time.Duration
	// StepEventInterval is the minimum time between stored step (metrics) events of one job; every eval and
	// checkpoint is stored. Default: DefaultStepEventInterval.
	StepEventInterval time.Duration
	// ValidationFraction is the share held out per label when a job has no validation file.
	// Default: DefaultValidationFraction (0.1).
	ValidationFraction float64
	// OnStep, when set, is called with each training step's throughput (for metrics).
	OnStep func(jobID string, samplesPerSecond float64)
	// OnFinish, when set, is called when a run ends, with the job's new state.
	OnFinish func(jobID string, state State)
	// Dispatcher, when set, hands queued jobs to remote workers (host/cluster) instead of local trainers; the
	// workers report back through ClaimRemote and RemoteRun. Default: nil (train locally).
	Dispatcher Dispatcher
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() (Config, error) {
	if c.Bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return c, fmt.Errorf("jobs: config Bin: %w", err)
		}
		c.Bin = exe
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.RescueInterval == 0 {
		c.RescueInterval = DefaultRescueInterval
	}
	if c.StaleAfter == 0 {
		c.StaleAfter = DefaultStaleAfter
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.CancelGrace == 0 {
		c.CancelGrace = DefaultCancelGrace
	}
	if c.StepEventInterval == 0 {
		c.StepEventInterval = DefaultStepEventInterval
	}
	if c.ValidationFraction == 0 {
		c.ValidationFraction = DefaultValidationFraction
	}
	return c, nil
}

func (c Config) validate() error {
	switch {
	case c.Store == nil:
		return errors.New("jobs: config Store is required")
	case c.Concurrency < 1:
		return fmt.Errorf("jobs: config Concurrency must be >= 1, got %d", c.Concurrency)
	case c.MaxAttempts < 1:
		return fmt.Errorf("jobs: config MaxAttempts must be >= 1, got %d", c.MaxAttempts)
	case c.ValidationFraction <= 0 || c.ValidationFraction >= 1:
		return fmt.Errorf("jobs: config ValidationFraction must be in (0,1), got %v", c.ValidationFraction)
	case c.HeartbeatInterval < 0 || c.RescueInterval < 0 || c.StaleAfter < 0 || c.CancelGrace < 0:
		return errors.New("jobs: config durations must be positive")
	}
	return nil
}
