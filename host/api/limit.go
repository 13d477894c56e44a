package api

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/whetml/whet/host/sandbox"
)

// limiter bounds work that runs untrusted module code in the API process (module dry runs, server-side
// tokenization, module checks at upload): at most max runs at once and perKey per key, their memory (each run's
// weight, its sandbox instances' memory limit) within budget bytes, and at most queue runs waiting; past that a run
// is refused with 429 at once.
type limiter struct {
	max, perKey, queue int
	budget             int64

	mu      sync.Mutex
	running int
	used    int64
	byKey   map[string]int
	waiting int
	wake    chan struct{} // closed and replaced whenever a run ends
}

func newLimiter(max, perKey, queue int, budget int64) *limiter {
	return &limiter{max: max, perKey: perKey, queue: queue, budget: budget, byKey: map[string]int{}, wake: make(chan struct{})}
}

// acquire waits for a turn for key's run of weight bytes (capped at the budget) and returns its release; a 429
// *Error when the queue is full, ctx's error when it ends first.
func (l *limiter) acquire(ctx context.Context, key string, weight int64) (func(), error) {
	weight = min(weight, l.budget)
	l.mu.Lock()
	queued := false
	for l.running >= l.max || l.byKey[key] >= l.perKey || l.used+weight > l.budget {
		if !queued {
			if l.waiting >= l.queue {
				running, waiting := l.running, l.waiting
				l.mu.Unlock()
				return nil, &Error{Status: fiber.StatusTooManyRequests, Type: "rate_limit_error", Code: "sandbox_busy",
					Message: fmt.Sprintf("too many module runs: %d running and %d waiting (limits: %d at once, %d per key, %d waiting); retry later",
						running, waiting, l.max, l.perKey, l.queue)}
			}
			l.waiting++
			queued = true
		}
		wake := l.wake
		l.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			l.mu.Lock()
			l.waiting--
			l.mu.Unlock()
			return nil, ctx.Err()
		}
		l.mu.Lock()
	}
	if queued {
		l.waiting--
	}
	l.running++
	l.used += weight
	l.byKey[key]++
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			l.running--
			l.used -= weight
			if l.byKey[key]--; l.byKey[key] == 0 {
				delete(l.byKey, key)
			}
			close(l.wake)
			l.wake = make(chan struct{})
			l.mu.Unlock()
		})
	}, nil
}

// runMemoryFactor is what one sandbox instance may cost in server RSS, in multiples of its memory limit: growing
// a linear memory copies it, and the Go heap returns the old copy only later (measured: 753 MiB of peak RSS for one
// run that fills a 256 MiB limit).
const runMemoryFactor = 3

// compileRun waits for a turn to run module code on up to instances instances (moduleRun) and compiles wasm; the
// caller calls release when its run is done.
func (s *Server) compileRun(c *fiber.Ctx, wasm []byte, instances int) (mod *sandbox.Compiled, release func(), err error) {
	if release, err = s.moduleRun(c, instances); err != nil {
		return nil, nil, err
	}
	if mod, err = s.rt.Compile(c.UserContext(), wasm); err != nil {
		release()
		return nil, nil, err
	}
	return mod, release, nil
}

// moduleRun waits for a turn to run module code for c's key on up to instances sandbox instances (see limiter).
func (s *Server) moduleRun(c *fiber.Ctx, instances int) (func(), error) {
	sc := s.rt.Config()
	weight := int64(max(1, min(instances, sc.PoolSize))) * int64(sc.MemoryLimitPages) << 16 * runMemoryFactor
	return s.runs.acquire(c.UserContext(), principalOf(c).key, weight)
}

// cancelOnHangup calls cancel when the client closes its connection while the handler works, and returns the
// function that stops watching (call it before the handler returns). Call it once the request body is read: from
// then on any read from the connection ends only by the client hanging up (or sending more, which is ignored:
// the response closes the connection).
func cancelOnHangup(c *fiber.Ctx, cancel context.CancelFunc) (stop func()) {
	conn := c.Context().Conn()
	c.Set(fiber.HeaderConnection, "close")
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var b [1]byte
		if _, err := conn.Read(b[:]); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			cancel()
		}
	}()
	return func() {
		conn.SetReadDeadline(time.Unix(1, 0)) // wakes the Read
		<-done
	}
}
