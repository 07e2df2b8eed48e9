package native

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandemhost/tandem/native/topology"
)

// worker is one goroutine locked to one OS thread for its whole life, which
// owns one interpreter (or, in shared mode, one thread state of the main
// interpreter). Only this goroutine touches c.
type worker struct {
	pool     *Pool
	index    int
	cpu      int
	tid      int
	c        *cWorker
	interpID int64
	served   atomic.Uint64
	busy     atomic.Int64
	// control runs functions on the worker's thread between requests;
	// controlPending counts senders so a busy worker notices them.
	control        chan func()
	controlPending atomic.Int32
	// stop ends this worker alone (Restart) once it is set; the pool's
	// queue closing ends them all after the queue drains.
	stop     chan struct{}
	stopOnce sync.Once
	stopping atomic.Bool
	ended    chan struct{}
	// wake gets a token when a requester hands this parked worker work.
	wake chan struct{}
	// jobStart is nanotime() when the worker began its current request (0
	// between requests) and jobRoute that request's route: freshWorkers
	// reads them to tell a busy worker from a stuck one.
	jobStart atomic.Int64
	jobRoute atomic.Int32
	// slowGaps counts, up to spinMisses, the idle periods in a row in
	// which work took longer than the poll window to come; idles counts
	// idle periods. Both decide whether the worker polls.
	slowGaps int
	idles    uint64

	// What deadline.go needs. jobs numbers the jobs this worker takes
	// (only its goroutine writes it); finished is the number of the last
	// one it is done with; a watchdog waiting for job n stores n in watched
	// and gets a token on jobEnd when it ends. note is what the worker's
	// last interrupted job left in the log.
	jobs     uint64
	finished atomic.Uint64
	watched  atomic.Uint64
	jobEnd   chan struct{}
	note     atomic.Pointer[interruptNote]
	// imu guards ending and interrupters' additions: once ending is set
	// no interrupter starts, and the worker waits for those running
	// before it ends its interpreter (their thread states are in it).
	imu          sync.Mutex
	ending       bool
	interrupters sync.WaitGroup
	// abandoned is set, and abandonedCh closed, when a watchdog gave up on
	// the worker; accounted is set by whoever first counts its end: the
	// worker when it ends, or the watchdog that abandons it (under p.amu).
	abandoned   atomic.Bool
	abandonedCh chan struct{}
	accounted   atomic.Bool
}

func (p *Pool) startWorker(i int) (*worker, error) {
	w := &worker{pool: p, index: i, cpu: p.cpu(i), control: make(chan func()),
		stop: make(chan struct{}), ended: make(chan struct{}), wake: make(chan struct{}, 1),
		jobEnd: make(chan struct{}, 1), abandonedCh: make(chan struct{})}
	started := make(chan error, 1)
	p.wg.Add(1)
	go w.run(started)
	if err := <-started; err != nil {
		return nil, err
	}
	return w, nil
}

func (w *worker) run(started chan<- error) {
	defer w.pool.workerEnded(w)
	// The thread state created below is bound to this OS thread: a locked
	// worker keeps it for good (the thread exits with this goroutine), a
	// floating one unlocks it once the interpreter exists (float.go).
	runtime.LockOSThread()
	w.tid = topology.CurrentThreadID()
	if w.cpu >= 0 {
		if err := topology.PinCurrentThread(w.cpu); err != nil {
			started <- fmt.Errorf("worker %d: pinning to CPU %d: %w", w.index, w.cpu, err)
			return
		}
	}
	p := w.pool
	c, err := cWorkerNew(p.cfg.Isolation == OwnGIL, p.cfg.Float, p.src, p.setupJSON(w.index, w.cpu), p.routesJSON())
	if err != nil {
		started <- fmt.Errorf("worker %d: %w", w.index, err)
		return
	}
	w.c = c
	w.interpID = cInterpID(c)
	if p.cfg.Float {
		w.tid = 0 // it will run on whichever thread is free
	}
	started <- nil
	if p.cfg.Float {
		runtime.UnlockOSThread()
		w.floatLoop()
	} else {
		w.lockedLoop()
	}
	w.finish()
}

// lockedLoop serves requests on the worker's own thread until it ends.
func (w *worker) lockedLoop() {
	p := w.pool
	for {
		idleSince := nanotime()
		j, f, ok := w.next()
		if !ok {
			break
		}
		if f == nil {
			// How long work took to come, not how long this worker took to
			// notice it (which includes waking up when it slept).
			if time.Duration(j.queued-idleSince) > p.cfg.Spin {
				w.slowGaps = min(w.slowGaps+1, spinMisses)
			} else {
				w.slowGaps = 0
			}
		}
		if f != nil {
			f()
			continue
		}
		w.serve(j)
	}
}

// finish ends the worker's interpreter once it serves no more.
func (w *worker) finish() {
	p := w.pool
	if len(p.queue) > 0 && !w.abandoned.Load() {
		// A requester may have woken this worker just as it retired.
		p.wakeOne()
	}
	// No interrupter may hold a thread state in the interpreter it ends.
	w.imu.Lock()
	w.ending = true
	w.imu.Unlock()
	w.interrupters.Wait()
	cWorkerEnd(w.c)
	w.c = nil
}

// next returns the next job or control function, or false when the worker
// should end. See handoff.go for how an idle worker waits.
func (w *worker) next() (*job, func(), bool) {
	p := w.pool
	for {
		if w.stopping.Load() {
			return nil, nil, false
		}
		if w.controlPending.Load() > 0 {
			f := <-w.control
			w.controlPending.Add(-1)
			return nil, f, true
		}
		if j, ok, got := p.take(); got {
			return j, nil, ok
		}
		if j, ok, got := w.spin(); got {
			return j, nil, ok
		}
		if j, ok, got := w.park(); got {
			return j, nil, ok
		}
	}
}

// serve runs one request and hands the result to its requester.
func (w *worker) serve(j *job) {
	p := w.pool
	w.jobs++
	seq := w.jobs
	// Before looking at the state: see Pool.Do.
	j.seq.Store(seq)
	j.runner.Store(w)
	atomic.AddInt32(p.pending, -1)
	if j.state.Load() == jobAbandoned {
		w.jobDone(seq)
		if j.release() {
			putJob(j)
		}
		return
	}
	if len(p.queue) > 0 {
		// More requests wait than this worker is about to take: maybe
		// another should wake, as a spinning Go scheduler thread that finds
		// work starts another.
		p.wakeIfNeeded(j.route)
	}
	start := nanotime()
	w.jobRoute.Store(int32(j.route))
	w.jobStart.Store(start)
	buf := outBufs.Get().(*[]byte)
	r, err := cCall(w.c, seq, j.meta, j.body, *buf)
	interrupted, drainFailed := cInterrupted(w.c)
	if drainFailed {
		p.deadlines.drainFailed.Add(1)
	}
	var resp *Response
	if err == nil {
		resp = &Response{Worker: w.index}
		if derr := decodeOutput(r, buf, resp); derr != nil {
			resp, err = nil, derr
			outBufs.Put(buf)
		}
		if r.hdrLen+r.logLen+r.bodyLen > outBufSize {
			cReleaseBig(w.c, 1<<20)
		}
	} else {
		outBufs.Put(buf)
		err = fmt.Errorf("worker %d: %w", w.index, err)
	}
	took := time.Duration(nanotime() - start)
	w.busy.Add(int64(took))
	w.served.Add(1)
	w.jobStart.Store(0)
	if interrupted {
		// Its time says nothing of the route's usual one. What it left
		// in the log (the traceback of HandlerTimeout) is the watchdog's.
		n := &interruptNote{seq: seq}
		if resp != nil {
			n.detail = resp.Log
		} else if err != nil {
			n.detail = err.Error()
		}
		w.note.Store(n)
	} else {
		p.observe(j.route, took)
	}
	j.resp, j.err = resp, err
	w.jobDone(seq)
	switch j.state.Swap(jobDone) {
	case jobParked:
		p.stats.slowReplies.Add(1)
		if p.cfg.Float {
			w.reply(j)
		} else {
			p.reaper.push(j)
		}
	case jobAbandoned:
		// The requester gave up while we ran it (and has the 504).
		if resp != nil {
			resp.Release()
		}
		if j.release() {
			putJob(j)
		}
	}
}

// jobDone records that the worker is done with job seq and wakes a watchdog
// waiting for it.
func (w *worker) jobDone(seq uint64) {
	w.finished.Store(seq)
	if w.watched.Load() == seq {
		select {
		case w.jobEnd <- struct{}{}:
		default:
		}
	}
}

// onThread runs f on the worker's thread between requests. It reports false
// if the worker has ended or was abandoned in a handler that did not stop.
func (w *worker) onThread(f func()) bool {
	done := make(chan struct{})
	w.controlPending.Add(1)
	select {
	case w.control <- func() { f(); close(done) }:
		<-done
		return true
	case <-w.ended:
		w.controlPending.Add(-1)
		return false
	case <-w.abandonedCh:
		w.controlPending.Add(-1)
		return false
	}
}
