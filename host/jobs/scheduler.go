package jobs

import (
	"context"
	"time"
)

func (q *Queue) nudge() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// loop is the scheduler: the one goroutine that prepares validating jobs, rescues orphans and starts runs.
func (q *Queue) loop(ctx context.Context) {
	defer close(q.loopDone)
	ticker := time.NewTicker(q.cfg.RescueInterval)
	defer ticker.Stop()
	for {
		q.tick(ctx)
		select {
		case <-q.stopCh:
			return
		case <-q.wake:
		case <-ticker.C:
			if err := q.rescue(ctx, q.cfg.StaleAfter); err != nil {
				q.log.Error("rescue jobs", "err", err)
			}
		}
	}
}

func (q *Queue) tick(ctx context.Context) {
	validating, err := q.st.JobsWithStatus(ctx, string(ValidatingFiles))
	if err != nil {
		q.log.Error("list validating jobs", "err", err)
	}
	for _, j := range validating {
		if q.stopped() {
			return
		}
		q.prepare(ctx, j)
	}
	if q.cfg.Dispatcher != nil {
		q.dispatch(ctx)
		return
	}
	if q.stopped() || q.Running() >= q.cfg.Concurrency {
		return
	}
	queued, err := q.st.JobsWithStatus(ctx, string(Queued))
	if err != nil {
		q.log.Error("list queued jobs", "err", err)
		return
	}
	for _, j := range queued {
		if q.stopped() || q.Running() >= q.cfg.Concurrency {
			return
		}
		q.startRun(ctx, j)
	}
}

func (q *Queue) stopped() bool {
	select {
	case <-q.stopCh:
		return true
	default:
		return false
	}
}
