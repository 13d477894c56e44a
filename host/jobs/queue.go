package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/sdk"
)

// StateError reports an action the job's current state does not allow (cancelling a finished job).
type StateError struct {
	// ID is the job.
	ID string
	// Status is its current status.
	Status string
	// Msg says what was refused.
	Msg string
}

// Error implements error.
func (e *StateError) Error() string { return fmt.Sprintf("job[%s] is %s: %s", e.ID, e.Status, e.Msg) }

// Queue is the persistent job queue and runner. Create it with New, then Start it.
type Queue struct {
	cfg Config
	st  *store.Store
	log *slog.Logger
	hub hub

	wake     chan struct{}
	stopCh   chan struct{}
	loopDone chan struct{}
	started  atomic.Bool
	stopOnce sync.Once
	stopping atomic.Bool
	crashed  atomic.Bool // tests only: play a crash (runs end without touching their jobs)
	wg       sync.WaitGroup

	mu   sync.Mutex
	runs map[string]*run // running jobs owned by this queue
}

// New checks cfg and returns a Queue; nothing runs until Start.
func New(cfg Config) (*Queue, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Queue{cfg: cfg, st: cfg.Store, log: cfg.Logger, hub: hub{subs: map[string]map[chan struct{}]struct{}{}},
		wake: make(chan struct{}, 1), stopCh: make(chan struct{}), loopDone: make(chan struct{}),
		runs: map[string]*run{}}, nil
}

// Start rescues jobs a previous server left running, then starts the scheduler. It returns at once; call it once.
func (q *Queue) Start(ctx context.Context) error {
	if !q.started.CompareAndSwap(false, true) {
		return errors.New("jobs: queue already started")
	}
	ctx = context.WithoutCancel(ctx)
	if err := q.rescue(ctx, 0); err != nil {
		return err
	}
	go q.loop(ctx)
	q.log.Info("job queue started", "bin", q.cfg.Bin, "concurrency", q.cfg.Concurrency,
		"max_attempts", q.cfg.MaxAttempts, "rescue_interval", q.cfg.RescueInterval)
	return nil
}

// Stop stops starting jobs and waits for running ones to finish on their own. If ctx ends first it returns
// ctx.Err() and the jobs keep running (until the process exits; the next Start resumes them). Idempotent.
func (q *Queue) Stop(ctx context.Context) error {
	q.stopLoop()
	return q.waitRuns(ctx)
}

// StopAndCancel stops starting jobs and interrupts running ones (SIGINT: they write a checkpoint and exit); their
// jobs go back to queued, to resume from that checkpoint at the next Start. Trainers still running when ctx ends
// are killed, and ctx.Err() is returned. Idempotent.
func (q *Queue) StopAndCancel(ctx context.Context) error {
	q.stopLoop()
	q.stopping.Store(true)
	q.mu.Lock()
	for _, r := range q.runs {
		r.interrupt(false, q.cfg.CancelGrace)
	}
	q.mu.Unlock()
	err := q.waitRuns(ctx)
	if err != nil {
		q.mu.Lock()
		for _, r := range q.runs {
			r.kill()
		}
		q.mu.Unlock()
		q.wg.Wait()
	}
	return err
}

func (q *Queue) stopLoop() {
	q.stopOnce.Do(func() {
		close(q.stopCh)
		if q.started.Load() {
			<-q.loopDone
		}
	})
}

func (q *Queue) waitRuns(ctx context.Context) error {
	done := make(chan struct{})
	go func() { q.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Subscribe returns a channel that receives a value (coalesced) whenever job id gets an event or a new status,
// and a function to unsubscribe.
func (q *Queue) Subscribe(id string) (<-chan struct{}, func()) { return q.hub.subscribe(id) }

// Running returns how many jobs this queue is training now.
func (q *Queue) Running() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.runs)
}

// Cancel cancels job id. A validating or queued job becomes cancelled at once; a running one is interrupted
// (SIGINT: it stops within a step and writes a checkpoint) and becomes cancelled when its trainer exits, killed
// after Config.CancelGrace. It returns the job as it is after the request.
//
// # Errors
//
// *store.NotFoundError for an unknown id; *StateError when the job already finished.
func (q *Queue) Cancel(ctx context.Context, id string) (*store.Job, error) {
	for range 5 {
		j, err := q.st.GetJob(ctx, id)
		if err != nil {
			return nil, err
		}
		st := State(j.Status)
		switch {
		case st.Terminal():
			return nil, &StateError{ID: id, Status: j.Status, Msg: "only validating, queued or running jobs can be cancelled"}
		case st == Running:
			ok, err := q.st.RequestCancel(ctx, id, string(Running))
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			q.event(ctx, id, sdk.JobEvent{Level: "warn", Message: "cancel requested: interrupting the trainer (it writes a checkpoint first)"})
			q.mu.Lock()
			r := q.runs[id]
			q.mu.Unlock()
			if r != nil {
				r.interrupt(true, q.cfg.CancelGrace)
			} else if j.Worker != nil {
				// A remote worker runs it: it learns of the cancel with its next heartbeat and reports the exit.
			} else {
				// Not ours: its trainer died with a previous server. Nothing to interrupt.
				if _, err := q.transition(ctx, id, Running, Cancelled, store.JobChange{Finished: true,
					IfAttemptToken: &j.AttemptToken}, "warn", "job cancelled"); err != nil && !errors.Is(err, store.ErrConflict) {
					return nil, err
				}
			}
			return q.st.GetJob(ctx, id)
		default:
			nj, err := q.transition(ctx, id, st, Cancelled, store.JobChange{Finished: true}, "warn", "job cancelled")
			if errors.Is(err, store.ErrConflict) {
				continue
			}
			return nj, err
		}
	}
	return nil, fmt.Errorf("jobs: cancel job[%s]: status kept changing", id)
}

// transition applies from -> to if the state machine allows it, recording a status event in the same
// transaction, and notifies subscribers.
func (q *Queue) transition(ctx context.Context, id string, from, to State, ch store.JobChange, level, msg string) (*store.Job, error) {
	if !CanTransition(from, to) {
		return nil, fmt.Errorf("jobs: job[%s]: transition %s -> %s is not allowed", id, from, to)
	}
	ch.Event = &sdk.JobEvent{Level: level, Type: sdk.EventStatus, Message: msg, Data: &sdk.EventData{Status: string(to)}}
	j, err := q.st.Transition(ctx, id, string(from), string(to), ch)
	if err != nil {
		return nil, err
	}
	q.log.Info("job status", "job_id", id, "from", from, "to", to, "msg", msg)
	q.hub.notify(id)
	return j, nil
}

// event appends ev to the job's log and notifies subscribers; failures are logged (events are best effort).
func (q *Queue) event(ctx context.Context, id string, ev sdk.JobEvent) {
	if _, err := q.st.AddEvent(ctx, id, ev); err != nil {
		q.log.Error("store job event", "job_id", id, "err", err)
		return
	}
	q.hub.notify(id)
}
