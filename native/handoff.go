package native

import (
	"sync"
	"sync/atomic"
	"time"
	_ "unsafe" // for go:linkname
)

// nanotime is the runtime's monotonic clock in ns: one vDSO read, where
// time.Now reads the wall clock as well. The hand-off reads the clock
// several times per request.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// How a request reaches a worker and its response gets back, cheaply.
//
// A worker is a goroutine locked to its OS thread. When a locked goroutine
// blocks, its thread sleeps and its P goes to another thread; waking it
// takes a futex wake and a P hand-off back, and on a VM each sleeping CPU
// costs tens of microseconds more to wake (measured here: 40–140 µs per
// request when every hand-off slept, against ~2 µs for the Python call).
// Three things keep requests off that path:
//
//  1. An idle worker first polls for work for up to Config.Spin, in C (see
//     tdm_spin_wait): inside a cgo call it holds no running P, so a
//     requester it just woke can be run by another P at once. Polling in Go
//     would leave that requester queued behind the polling goroutine until
//     another P steals it (a 3 µs sleep that the kernel's timer slack turns
//     into ~50 µs).
//  2. Parked workers do not wait on the queue itself: a Go channel hands a
//     sent value straight to a waiting receiver, which would route every
//     request to a sleeping worker while a polling one stands by. They wait
//     on their own wake channel, and a requester wakes one only when no
//     worker is polling (as Go's scheduler starts an M only when none spins).
//  3. A requester whose response should come quickly polls for it rather than
//     sleeping (Pool.shouldPoll).
//
// Polling threads are capped at spinBudget (one less than the usable CPUs),
// so they never take the CPU that running workers and the HTTP side need.

// idleWorkers is the set of parked workers.
type idleWorkers struct {
	mu       sync.Mutex
	parked   []*worker
	nparked  atomic.Int32
	spinning atomic.Int32 // idle workers polling in C
}

// spinGrace is how long a thread waits for a spin slot to free up. Slots
// change hands at the moments that matter: an idle worker gives its slot up
// when it picks a request from the queue, just as that request's requester
// wants one to poll, and the requester gives it back when it sees the
// response, just as the worker wants one to wait for the next request.
const spinGrace = 10 * time.Microsecond

// acquireSpin takes one of the spin budget's slots, waiting up to spinGrace
// for one to free up; it gives up early when done() turns true. The caller
// releases the slot with p.spinners.Add(-1).
func (p *Pool) acquireSpin(done func() bool) bool {
	var deadline int64
	for i := 0; ; i++ {
		n := p.spinners.Load()
		if n < p.spinBudget {
			if p.spinners.CompareAndSwap(n, n+1) {
				return true
			}
			continue
		}
		if done != nil && done() {
			return false
		}
		switch {
		case i == 0:
			deadline = nanotime() + int64(spinGrace)
		case i%16 == 0 && nanotime() > deadline:
			return false
		}
	}
}

// take receives a queued job without blocking. got is false when the queue
// is empty; ok is false when the pool is closed and drained.
func (p *Pool) take() (j *job, ok, got bool) {
	select {
	case j, ok = <-p.queue:
		return j, ok, true
	default:
		return nil, false, false
	}
}

// callerProbe is how often a requester that had to wake a worker polls
// for its response anyway (see Pool.Do).
const callerProbe = 8

// spinMisses is how many idle periods in a row must have brought work later
// than the poll window before a worker stops polling: a single hiccup (the
// requester descheduled once) should not turn polling off, which would
// push a fast ping-pong onto the slow path for several rounds.
const spinMisses = 3

// spinProbe is how often a worker whose requests come too far apart to
// poll for polls anyway, to notice when they come close together again.
const spinProbe = 8

// spin polls for work for up to the pool's Spin, if a spin slot is free and
// work has lately come back within that time. Polling for work that comes
// later only burns a CPU, and on a machine with few CPUs it is the one the
// HTTP side (or a worker being woken) needed: measured here, polling for
// 50 µs between requests that came 40–200 µs apart cost 10–25% throughput.
func (w *worker) spin() (j *job, ok, got bool) {
	p := w.pool
	spin := p.cfg.Spin
	if spin <= 0 {
		return nil, false, false
	}
	w.idles++
	if w.slowGaps >= spinMisses && w.idles%spinProbe != 0 {
		return nil, false, false
	}
	if !p.acquireSpin(func() bool { return atomic.LoadInt32(p.pending) > 0 }) {
		return nil, false, false
	}
	p.idle.spinning.Add(1)
	deadline := nanotime() + int64(spin)
	for left := spin; left > 0 && cSpinWait(p.pending, left); left = time.Duration(deadline - nanotime()) {
		if j, ok, got = p.take(); got {
			break // else another worker took it: keep polling
		}
	}
	p.idle.spinning.Add(-1)
	p.spinners.Add(-1)
	if !got {
		// The request may have arrived as we stopped polling, after its
		// requester saw us polling and so woke nobody.
		j, ok, got = p.take()
	}
	return j, ok, got
}

// park sleeps until a requester hands the worker work, a control function
// or stop arrives, or the pool closes. It returns a job if one turned up
// while it was going to sleep.
func (w *worker) park() (j *job, ok, got bool) {
	p := w.pool
	p.idle.mu.Lock()
	p.idle.parked = append(p.idle.parked, w)
	p.idle.nparked.Add(1)
	p.idle.mu.Unlock()
	// Check again after registering: a requester that enqueued before we
	// registered saw nobody parked and woke nobody.
	if j, ok, got = p.take(); got {
		w.unpark()
		return j, ok, got
	}
	select {
	case <-w.wake:
	case f := <-w.control:
		w.unpark()
		w.controlPending.Add(-1)
		f()
	case <-w.stop:
		w.unpark()
	}
	return nil, false, false
}

// unpark removes w from the parked set if it is still there, or consumes
// the wake token of whoever removed it.
func (w *worker) unpark() {
	p := w.pool
	p.idle.mu.Lock()
	for i, x := range p.idle.parked {
		if x == w {
			p.idle.parked = append(p.idle.parked[:i], p.idle.parked[i+1:]...)
			p.idle.nparked.Add(-1)
			p.idle.mu.Unlock()
			return
		}
	}
	p.idle.mu.Unlock()
	if w.stopping.Load() {
		// retire took us out of the set; a token a waker may also have
		// sent stays in the buffered channel, unread, and the worker's
		// exit wakes another for the request that came with it.
		return
	}
	<-w.wake // a waker popped us and is sending (or sent) a token
}

// wakeCost is about what waking a parked worker costs before it runs
// Python: a futex wake and a P hand-off to a sleeping locked thread, tens of
// microseconds on a VM whose idle CPUs halt.
const wakeCost = 50 * time.Microsecond

// wakeIfNeeded wakes one parked worker after a request was queued, unless
// a worker is polling and will pick it up, or the running workers will get
// to it sooner than a woken one could (short requests: waking a second
// worker for 4 µs of Python made a trivial handler 20% slower overall).
// Only workers whose current request has not run much past its route's
// usual time count as running: one stuck in a slow or blocked handler must
// not hold fast requests back while another worker sleeps. It reports
// whether it woke one: that worker needs a CPU to get going, so its
// requester should not poll.
func (p *Pool) wakeIfNeeded(route int) bool {
	if p.idle.spinning.Load() > 0 || p.idle.nparked.Load() == 0 {
		return false
	}
	if s := p.service.Load().get(route); s != nil {
		if fresh := p.freshWorkers(); fresh > 0 {
			wait := time.Duration(int64(len(p.queue)) * s.Load() / int64(fresh))
			if wait < wakeCost {
				return false // a running worker takes it from the queue before parking
			}
		}
	}
	return p.wakeOne()
}

// freshWorkers counts the workers running a request that has not yet taken
// much longer than its route usually does.
func (p *Pool) freshWorkers() int {
	now := nanotime()
	fresh := 0
	service := p.service.Load()
	for _, w := range *p.running.Load() {
		start := w.jobStart.Load()
		if start == 0 {
			continue
		}
		route := int(w.jobRoute.Load())
		usual := int64(wakeCost)
		if s := service.get(route); s != nil {
			usual += 2 * s.Load()
		}
		if now-start < usual {
			fresh++
		}
	}
	return fresh
}

// wakeOne wakes a parked worker, if there is one.
func (p *Pool) wakeOne() bool {
	p.idle.mu.Lock()
	n := len(p.idle.parked)
	if n == 0 {
		p.idle.mu.Unlock()
		return false
	}
	w := p.idle.parked[n-1] // the most recently parked: its caches are warmest
	p.idle.parked = p.idle.parked[:n-1]
	p.idle.nparked.Add(-1)
	p.idle.mu.Unlock()
	p.stats.wakes.Add(1)
	w.wake <- struct{}{}
	return true
}

// retire tells w to end after its current request. It leaves the parked
// set first, so no requester hands it work it would not do.
func (w *worker) retire() {
	p := w.pool
	p.idle.mu.Lock()
	for i, x := range p.idle.parked {
		if x == w {
			p.idle.parked = append(p.idle.parked[:i], p.idle.parked[i+1:]...)
			p.idle.nparked.Add(-1)
			break
		}
	}
	p.idle.mu.Unlock()
	w.stopping.Store(true)
	w.stopOnce.Do(func() { close(w.stop) })
}

// wakeAll wakes every parked worker (the pool is closing).
func (p *Pool) wakeAll() {
	p.idle.mu.Lock()
	ws := p.idle.parked
	p.idle.parked = nil
	p.idle.nparked.Store(0)
	p.idle.mu.Unlock()
	for _, w := range ws {
		w.wake <- struct{}{}
	}
}
