package native

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
)

// Deadlines: what happens to a handler still running when its requester's
// deadline passes.
//
// Do returns ctx.Err() at the deadline (the host answers 504), but the
// worker would go on running the handler to its end, and an endless loop
// would hold it forever. So the requester that gives up on a running job
// starts a watchdog for it:
//
//  1. An interrupter, a goroutine locked to a thread of its own, creates a
//     thread state in the worker's interpreter and attaches it (tdm_interrupt).
//     That waits for the interpreter's GIL: a worker running Python drops it
//     within the switch interval (5 ms), one in C code that released it (a
//     sleep, a read) at once, one in C code that holds it only when that
//     code returns. Holding the GIL, the interrupter raises
//     tandem.HandlerTimeout in the worker's thread if the worker is still on
//     that job, which it cannot leave without the GIL.
//  2. The handler unwinds (HandlerTimeout is a BaseException, so `except
//     Exception` does not stop it), the dispatcher turns it into a 500 that
//     nobody reads, and the worker takes the next request. The watchdog logs
//     the interruption with the traceback of where the handler was.
//  3. While the job goes on, the exception is raised again every rearmEvery
//     (it may have been swallowed); if the job has not ended InterruptGrace
//     after the deadline, the watchdog gives up on the worker: a fresh
//     worker takes its slot (as Restart does) and the old thread is
//     abandoned, since a thread in C code cannot be stopped safely. When it
//     returns it ends its interpreter on its own thread and touches nothing
//     else of the pool; its late result goes to no one.
//
// Requests queued behind it are never lost: workers take requests from one
// shared queue only when they are about to run them, so whatever the
// abandoned worker did not take is served by the others and its successor.
//
// A pool with an abandoned worker still alive counts as open: Close waits for
// it within its context, and Finalize refuses to run while an interpreter
// may still be executing.

// rearmEvery is how often a handler that has not stopped yet gets
// HandlerTimeout again.
const rearmEvery = 100 * time.Millisecond

// nudgeEvery is how often, while a handler runs past its deadline, a parked
// worker is woken if requests are queued.
const nudgeEvery = 50 * time.Millisecond

// slotStats counts what deadlines did on one worker slot.
type slotStats struct{ interrupted, replaced atomic.Uint64 }

// interruptNote is what an interrupted job left in the log.
type interruptNote struct {
	seq    uint64
	detail string
}

// abandonment describes an abandoned worker for Close's error and the logs.
type abandonment struct {
	index     int
	route     string
	requestID string
	since     time.Time
}

// overrun describes a job whose requester gave up on it.
type overrun struct {
	w         *worker
	seq       uint64
	route     int
	requestID string
	deadline  time.Time
}

// DeadlineStats counts what the pool did about handlers that ran past
// their request's deadline.
type DeadlineStats struct {
	// Overran counts requests whose handler was still running at the
	// deadline.
	Overran uint64 `json:"overran"`
	// Interrupted counts those that stopped when tandem.HandlerTimeout was
	// raised in them, freeing their worker.
	Interrupted uint64 `json:"interrupted"`
	// Replaced counts workers replaced because their handler had not
	// stopped InterruptGrace after its deadline. (Overran - Interrupted -
	// Replaced ended on their own before the exception reached them.)
	Replaced uint64 `json:"replaced"`
	// Abandoned is how many replaced workers' threads are still running
	// now; each holds an interpreter until its handler returns.
	Abandoned int `json:"abandoned"`
}

// Deadlines returns the pool's deadline counters.
func (p *Pool) Deadlines() DeadlineStats {
	p.amu.Lock()
	n := len(p.abandoned)
	p.amu.Unlock()
	return DeadlineStats{Overran: p.deadlines.overran.Load(), Interrupted: p.deadlines.interrupted.Load(),
		Replaced: p.deadlines.replaced.Load(), Abandoned: n}
}

// overran is called by a requester that abandoned job seq, which worker w
// took. At ctx's deadline, if w is still running it, a watchdog stops it; a
// requester that was canceled before its deadline (the client went away)
// leaves the handler running until then.
func (p *Pool) overran(ctx context.Context, w *worker, seq uint64, route int, requestID string) {
	if p.cfg.InterruptGrace < 0 || w.finished.Load() >= seq {
		return
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		return
	}
	o := overrun{w: w, seq: seq, route: route, requestID: requestID, deadline: deadline}
	if wait := time.Until(deadline); wait > 0 {
		time.AfterFunc(wait, func() { p.watch(o) })
		return
	}
	go p.watch(o)
}

// watch interrupts o's job, waits for it to end, and replaces its worker if
// it does not end within the grace period from when the watch began (at
// the deadline, or as soon after it as the requester ran).
func (p *Pool) watch(o overrun) {
	w, seq := o.w, o.seq
	if w.finished.Load() >= seq {
		return
	}
	p.deadlines.overran.Add(1)
	// A request queued while w still looked busy rather than stuck woke
	// nobody (see wakeIfNeeded) and would wait for w while another worker
	// sleeps: wake one now, and again while w is still on the job.
	nudgeQueue := func() {
		if len(p.queue) > 0 {
			p.wakeOne()
		}
	}
	nudgeQueue()
	nudge := time.NewTicker(nudgeEvery)
	defer nudge.Stop()
	// Announce before checking again, so a job ending in between sends a
	// token (see worker.jobDone).
	w.watched.Store(seq)
	// From now, not from the deadline: on a loaded machine the requester
	// may see its deadline late, and the interrupter should still get
	// its whole grace.
	started := time.Now()
	grace := time.NewTimer(p.cfg.InterruptGrace)
	defer grace.Stop()
	rearm := time.NewTimer(time.Hour)
	rearm.Stop()
	defer rearm.Stop()
	result := make(chan int, 1)
	inflight := p.interrupt(w, seq, result)
	var raised time.Time // when HandlerTimeout was first set
	for w.finished.Load() < seq {
		select {
		case <-w.jobEnd:
		case <-nudge.C:
			nudgeQueue()
		case rc := <-result:
			inflight = false
			if rc == 1 {
				if raised.IsZero() {
					raised = time.Now()
				}
				rearm.Reset(rearmEvery)
			}
			// rc 0: the call is over; the worker records it at once.
		case <-rearm.C:
			if !inflight && w.finished.Load() < seq {
				inflight = p.interrupt(w, seq, result)
			}
		case <-grace.C:
			p.replace(o, inflight, raised)
			return
		}
	}
	late := time.Since(o.deadline).Round(time.Microsecond)
	took := time.Since(started).Round(time.Microsecond)
	route, target := p.routeNames(o.route)
	// The worker's note, not the interrupter's answer, which may come
	// after the job's end, says whether the exception reached the job.
	n := w.note.Load()
	if n == nil || n.seq != seq {
		p.log.Warn("python handler ran past its deadline and ended before it could be interrupted",
			"request_id", o.requestID, "route", route, "target", target, "worker", w.index, "after_deadline", late)
		return
	}
	p.log.Warn("python handler interrupted at its deadline: HandlerTimeout was raised in it and the worker is free",
		"request_id", o.requestID, "route", route, "target", target, "worker", w.index,
		"freed_after_deadline", late, "interrupt_took", took, "detail", n.detail)
	// Counted after the log line, so that whoever sees the count finds it.
	p.deadlines.interrupted.Add(1)
	p.slots[w.index].interrupted.Add(1)
}

// interrupt starts an interrupter for w's job seq, which sends cInterrupt's
// result on result. It reports false when w is ending (its job is over).
func (p *Pool) interrupt(w *worker, seq uint64, result chan<- int) bool {
	w.imu.Lock()
	if w.ending {
		w.imu.Unlock()
		return false
	}
	w.interrupters.Add(1)
	c := w.c
	w.imu.Unlock()
	go func() {
		// Never unlocked: the thread had a Python thread state (deleted
		// again by then) and exits with this goroutine.
		runtime.LockOSThread()
		defer w.interrupters.Done()
		result <- cInterrupt(c, seq)
	}()
	return true
}

// replace gives up on o's worker: a fresh worker takes its slot, unless the
// worker ended meanwhile or Restart already replaced it, and the old thread
// is left to end by itself.
func (p *Pool) replace(o overrun, waitingForGIL bool, raised time.Time) {
	w := o.w
	route, target := p.routeNames(o.route)
	p.amu.Lock()
	if !w.accounted.CompareAndSwap(false, true) {
		p.amu.Unlock() // it has ended after all
		return
	}
	p.abandoned[w] = abandonment{index: w.index, route: route, requestID: o.requestID, since: time.Now()}
	p.amu.Unlock()
	w.abandoned.Store(true)
	close(w.abandonedCh) // releases Restart, SetRoutes and Exec waiting for it
	w.retire()

	var why string
	switch {
	case waitingForGIL && raised.IsZero():
		why = "it held the interpreter's GIL the whole time (in C code), so HandlerTimeout could not be raised"
	case raised.IsZero():
		why = "HandlerTimeout could not be raised in it"
	default:
		why = "HandlerTimeout was raised in it but it did not return (blocked in C code that released the GIL, such as time.sleep or a read without a timeout, or it caught the exception)"
	}
	// The successor is counted in wg before the old worker leaves it (at
	// the end), so a closing pool does not stop while it still has a queue
	// to drain.
	var nw *worker
	var err error
	p.restartMu.Lock()
	p.wmu.Lock()
	current := p.workers[w.index] == w
	p.wmu.Unlock()
	if current {
		if nw, err = p.startWorker(w.index); err == nil {
			p.wmu.Lock()
			p.workers[w.index] = nw
			p.publishWorkersLocked()
			p.wmu.Unlock()
		}
	}
	p.restartMu.Unlock()
	args := []any{"request_id", o.requestID, "route", route, "target", target, "worker", w.index,
		"grace", p.cfg.InterruptGrace, "why", why}
	switch {
	case err != nil:
		p.log.Error("python worker abandoned in a handler that did not stop after its deadline; starting its replacement failed, the pool runs one worker short",
			append(args, "error", err)...)
	case nw != nil:
		p.log.Warn("python worker replaced: its handler did not stop after its deadline, and its thread is abandoned until the handler returns",
			append(args, "interpreter", nw.interpID)...)
	default:
		p.log.Warn("python worker abandoned in a handler that did not stop after its deadline (it had already been replaced)", args...)
	}
	p.deadlines.replaced.Add(1)
	p.slots[w.index].replaced.Add(1)
	p.wg.Done() // the abandoned worker's share, now that its successor counts
}

// workerEnded accounts for a worker's end: in wg, or, for an abandoned
// worker, in the abandoned set, which may let the closing pool release.
func (p *Pool) workerEnded(w *worker) {
	p.amu.Lock()
	normal := w.accounted.CompareAndSwap(false, true)
	var a abandonment
	if !normal {
		a = p.abandoned[w]
		delete(p.abandoned, w)
	}
	p.amu.Unlock()
	close(w.ended)
	if normal {
		p.wg.Done()
		return
	}
	p.log.Info("abandoned python worker ended: its handler returned and its interpreter is gone",
		"worker", a.index, "route", a.route, "request_id", a.requestID,
		"abandoned_for", time.Since(a.since).Round(time.Millisecond))
	p.releaseIfDone()
}

// stuckWorkers describes the abandoned workers still running, or "".
func (p *Pool) stuckWorkers() string {
	p.amu.Lock()
	defer p.amu.Unlock()
	if len(p.abandoned) == 0 {
		return ""
	}
	var parts []string
	for _, a := range p.abandoned {
		parts = append(parts, fmt.Sprintf("worker %d (route %s, request %s, abandoned %s ago)",
			a.index, a.route, a.requestID, time.Since(a.since).Round(time.Millisecond)))
	}
	return fmt.Sprintf("%d abandoned worker(s) still stuck in a handler: %s", len(parts), strings.Join(parts, "; "))
}

// routeNames returns the path and target of route id, for logs.
func (p *Pool) routeNames(id int) (path, target string) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	for _, r := range p.cfg.Routes {
		if r.ID == id {
			return r.Path, r.Target
		}
	}
	return fmt.Sprintf("#%d", id), ""
}
