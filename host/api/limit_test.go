package api

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	ctx := context.Background()
	l := newLimiter(2, 1, 1, 100)
	relA, err := l.acquire(ctx, "a", 60)
	if err != nil {
		t.Fatal(err)
	}
	// b fits the run count and its key, not the memory budget: it waits (the queue holds 1)...
	got := make(chan error, 1)
	go func() {
		rel, err := l.acquire(ctx, "b", 60)
		if err == nil {
			rel()
		}
		got <- err
	}()
	waitFor(t, func() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.waiting == 1 })
	// ...so the next one finds the queue full: 429.
	var ae *Error
	if _, err := l.acquire(ctx, "c", 50); !errors.As(err, &ae) || ae.Status != 429 {
		t.Fatalf("full queue: %v, want a 429", err)
	}
	relA()
	if err := <-got; err != nil {
		t.Fatalf("waiting run after release: %v", err)
	}
	// A key at its limit waits even with room elsewhere; a cancelled wait leaves the queue.
	relA, _ = l.acquire(ctx, "a", 1)
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := l.acquire(cctx, "a", 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second run of key a: %v, want to wait until the deadline", err)
	}
	relB, err := l.acquire(ctx, "b", 1)
	if err != nil {
		t.Fatalf("key b beside a: %v", err)
	}
	relA()
	relB()
	// A run heavier than the whole budget still runs, alone.
	rel, err := l.acquire(ctx, "a", 1000)
	if err != nil {
		t.Fatal(err)
	}
	rel()
	if l.running != 0 || l.used != 0 || l.waiting != 0 || len(l.byKey) != 0 {
		t.Fatalf("state after every release: %+v", l)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
	}
}
