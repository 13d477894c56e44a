package sandbox

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/whetml/whet/wasm/abi"
)

// pool holds up to Config.PoolSize configured instances of one module; one caller per instance at a time.
type pool struct {
	c      *Compiled
	init   []byte // the whet_init request every new instance gets
	slots  chan struct{}
	mu     sync.Mutex
	idle   []*instance
	closed bool
}

func newPool(ctx context.Context, c *Compiled, init []byte) (*pool, error) {
	p := &pool{c: c, init: init, slots: make(chan struct{}, c.rt.cfg.PoolSize)}
	// Create one instance now so a bad configuration (missing vocab, ...) fails here, not on the first batch.
	in, err := p.get(ctx)
	if err != nil {
		return nil, err
	}
	p.put(ctx, in)
	return p, nil
}

// get returns an idle instance or a new one, waiting for a free slot.
func (p *pool) get(ctx context.Context) (*instance, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("module[%s]: waiting for a free instance: %w", p.c.info.Name, ctx.Err())
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.slots
		return nil, fmt.Errorf("module[%s]: %w", p.c.info.Name, ErrClosed)
	}
	if n := len(p.idle); n > 0 {
		in := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return in, nil
	}
	p.mu.Unlock()
	in, err := p.c.instantiate(ctx)
	if err == nil {
		if _, err = in.call(ctx, abi.ExportInit, p.init); err != nil {
			in.close(ctx)
		}
	}
	if err != nil {
		<-p.slots
		return nil, err
	}
	return in, nil
}

// put returns an instance; a dead one is closed (and replaced by a fresh one on a later get).
func (p *pool) put(ctx context.Context, in *instance) {
	p.mu.Lock()
	if in.dead || p.closed {
		p.mu.Unlock()
		if in.dead {
			p.c.rt.cfg.Logger.Warn("discarding faulted sandbox instance", "module", p.c.info.Name)
		}
		in.close(ctx)
	} else {
		p.idle = append(p.idle, in)
		p.mu.Unlock()
	}
	<-p.slots
}

// do runs fn on a pooled instance.
func (p *pool) do(ctx context.Context, fn func(in *instance) error) error {
	in, err := p.get(ctx)
	if err != nil {
		return err
	}
	defer p.put(ctx, in)
	return fn(in)
}

func (p *pool) close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, in := range idle {
		in.close(ctx)
	}
	return nil
}

func (c *Compiled) checkKind(want abi.Kind) error {
	if c.rt.closed.Load() {
		return ErrClosed
	}
	if c.info.Kind != want {
		return fmt.Errorf("module[%s]: %w: it is a %s module, not a %s module", c.info.Name, ErrWrongKind, c.info.Kind, want)
	}
	return nil
}

var errNilModule = errors.New("sandbox: nil module")
