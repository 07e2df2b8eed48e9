package sandbox

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Pool is the instances of one plugin for one tenant, at most
// Limits.Instances of them. Each serves one request at a time, from
// handle_request to the end of handle_response (the next handler runs in
// between, so a middleware instance is held while its route runs). A
// Pool is safe for concurrent use.
type Pool struct {
	plugin  *Plugin
	tenant  string
	log     *slog.Logger
	handler http.Handler

	mu      sync.Mutex
	idle    []*instance // most recently used last: its memory is warm
	size    int         // instances alive or starting
	busy    int
	waiters []chan grant // first come, first served
	closed  bool
	drained chan struct{} // closed when a closed pool has no instance left

	waits, waitNanos, rejected            atomic.Uint64
	instantiations, traps, timeouts, abis atomic.Uint64
	recycled                              atomic.Uint64
}

// grant is what a waiting request is handed: an idle instance, or the
// right to start a new one (a slot freed by a discarded instance).
type grant struct {
	inst   *instance
	create bool
}

// Stats are a pool's counters since it was made. Size, Idle and Busy are
// now; the rest only grow.
type Stats struct {
	Size int // instances alive or starting
	Idle int
	Busy int

	Waits    uint64        // requests that found every instance busy and waited
	WaitTime time.Duration // their total wait
	Rejected uint64        // requests answered 503 because no instance freed in time

	Instantiations uint64 // instances started, failed starts included
	Traps          uint64 // calls (or starts) that trapped, panicked or exited
	Timeouts       uint64 // calls (or starts) stopped at their deadline
	ABIViolations  uint64 // calls stopped for breaking a rule of the ABI
	Recycled       uint64 // instances retired after Limits.MaxUses requests
}

var (
	errBusy   = errors.New("every instance is busy")
	errClosed = errors.New("the plugin is closed")
)

// noDeadlineWait bounds the wait for an instance when the request has no
// deadline of its own: a request should not queue without bound behind
// calls that may each take Limits.Timeout and routes that take longer.
const noDeadlineWait = time.Second

func newPool(p *Plugin, tenant string) *Pool {
	pool := &Pool{
		plugin:  p,
		tenant:  tenant,
		log:     p.engine.log.With("plugin", p.name, "tenant", tenant),
		drained: make(chan struct{}),
	}
	pool.handler = &server{pool: pool}
	return pool
}

// adopt makes inst, which Compile started, the first idle instance of p,
// a pool no request has seen yet.
func (p *Pool) adopt(inst *instance) {
	inst.pool = p
	p.idle = append(p.idle, inst)
	p.size++
	p.instantiations.Add(1)
}

// Tenant is the tenant whose requests the pool serves.
func (p *Pool) Tenant() string { return p.tenant }

// Stats returns the pool's counters.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	s := Stats{Size: p.size, Idle: len(p.idle), Busy: p.busy}
	p.mu.Unlock()
	s.Waits = p.waits.Load()
	s.WaitTime = time.Duration(p.waitNanos.Load())
	s.Rejected = p.rejected.Load()
	s.Instantiations = p.instantiations.Load()
	s.Traps = p.traps.Load()
	s.Timeouts = p.timeouts.Load()
	s.ABIViolations = p.abis.Load()
	s.Recycled = p.recycled.Load()
	return s
}

// acquire returns an instance for one request: an idle one, a new one
// while the pool is below its size, or the first one freed before ctx's
// deadline (noDeadlineWait without one).
func (p *Pool) acquire(ctx context.Context) (*instance, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errClosed
	}
	if n := len(p.idle); n > 0 {
		inst := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.busy++
		p.mu.Unlock()
		return inst, nil
	}
	if p.size < p.plugin.limits.Instances {
		p.size++
		p.busy++
		p.mu.Unlock()
		return p.start(ctx)
	}
	ch := make(chan grant, 1)
	p.waiters = append(p.waiters, ch)
	p.mu.Unlock()

	p.waits.Add(1)
	began := time.Now()
	var timeout <-chan time.Time
	if _, ok := ctx.Deadline(); !ok {
		t := time.NewTimer(noDeadlineWait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case g := <-ch:
		p.waitNanos.Add(uint64(time.Since(began)))
		return p.take(ctx, g)
	case <-ctx.Done():
	case <-timeout:
	}
	p.waitNanos.Add(uint64(time.Since(began)))
	p.mu.Lock()
	i := indexOf(p.waiters, ch)
	if i >= 0 {
		p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
	}
	p.mu.Unlock()
	if i < 0 {
		// Granted while giving up: pass the grant on rather than lose it.
		switch g := <-ch; {
		case g.inst != nil:
			p.release(g.inst, true, false)
		case g.create:
			p.mu.Lock()
			p.size--
			p.busy--
			p.grantLocked()
			p.signalDrainedLocked()
			p.mu.Unlock()
		}
	}
	p.rejected.Add(1)
	return nil, errBusy
}

func indexOf(s []chan grant, ch chan grant) int {
	for i, c := range s {
		if c == ch {
			return i
		}
	}
	return -1
}

// take turns a grant into an instance.
func (p *Pool) take(ctx context.Context, g grant) (*instance, error) {
	if g.inst != nil {
		return g.inst, nil
	}
	if !g.create {
		return nil, errClosed
	}
	return p.start(ctx)
}

// start makes a new instance in a slot already counted in size and busy;
// on failure the slot goes to the next waiter.
func (p *Pool) start(ctx context.Context) (*instance, error) {
	inst, err := p.instantiate(ctx)
	if err != nil {
		p.mu.Lock()
		p.size--
		p.busy--
		p.grantLocked()
		p.signalDrainedLocked()
		p.mu.Unlock()
		return nil, err
	}
	return inst, nil
}

// release gives back an instance after a request. A healthy instance goes
// to the first waiter or back to the idle list; one that failed, has served
// Limits.MaxUses requests, or belongs to a closed pool is closed, and its
// slot goes to the first waiter, who starts a fresh one. used says whether
// the instance served a request (it did not when a grant came too late).
func (p *Pool) release(inst *instance, healthy, used bool) {
	if used {
		inst.uses++
	}
	healthy = healthy && inst.healthy()
	recycle := healthy && inst.uses >= p.plugin.limits.MaxUses
	p.mu.Lock()
	p.busy--
	if !healthy || recycle || p.closed {
		p.size--
		p.grantLocked()
		p.signalDrainedLocked()
		p.mu.Unlock()
		if recycle {
			p.recycled.Add(1)
		}
		inst.close()
		return
	}
	if len(p.waiters) > 0 {
		ch := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.busy++
		p.mu.Unlock()
		ch <- grant{inst: inst}
		return
	}
	p.idle = append(p.idle, inst)
	p.mu.Unlock()
}

// grantLocked gives a free slot to the first waiter, which starts an
// instance in it. p.mu is held.
func (p *Pool) grantLocked() {
	if len(p.waiters) == 0 {
		return
	}
	ch := p.waiters[0]
	p.waiters = p.waiters[1:]
	if p.closed {
		ch <- grant{} // take answers errClosed
		return
	}
	p.size++
	p.busy++
	ch <- grant{create: true}
}

func (p *Pool) signalDrainedLocked() {
	if p.closed && p.size == 0 {
		select {
		case <-p.drained:
		default:
			close(p.drained)
		}
	}
}

// close stops the pool taking requests: waiters get errClosed, idle
// instances are closed now, busy ones when they are released.
func (p *Pool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.size -= len(idle)
	for _, ch := range p.waiters {
		ch <- grant{}
	}
	p.waiters = nil
	p.signalDrainedLocked()
	p.mu.Unlock()
	for _, inst := range idle {
		inst.close()
	}
}

// count adds a failed call to the counter of its outcome.
func (p *Pool) count(o outcome) {
	switch o {
	case outcomeTrap:
		p.traps.Add(1)
	case outcomeTimeout:
		p.timeouts.Add(1)
	case outcomeViolation:
		p.abis.Add(1)
	}
}
