package native

import (
	"fmt"
	"runtime"
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
}

func (p *Pool) startWorker(i int) (*worker, error) {
	w := &worker{pool: p, index: i, cpu: p.cpu(i), control: make(chan func()),
		stop: make(chan struct{}), ended: make(chan struct{}), wake: make(chan struct{}, 1)}
	started := make(chan error, 1)
	p.wg.Add(1)
	go w.run(started)
	if err := <-started; err != nil {
		return nil, err
	}
	return w, nil
}

func (w *worker) run(started chan<- error) {
	defer w.pool.wg.Done()
	defer close(w.ended)
	// Never unlocked: the thread state created below is bound to this OS
	// thread. When this goroutine returns the thread exits with it.
	runtime.LockOSThread()
	w.tid = topology.CurrentThreadID()
	if w.cpu >= 0 {
		if err := topology.PinCurrentThread(w.cpu); err != nil {
			started <- fmt.Errorf("worker %d: pinning to CPU %d: %w", w.index, w.cpu, err)
			return
		}
	}
	p := w.pool
	c, err := cWorkerNew(p.cfg.Isolation == OwnGIL, p.src, p.setupJSON(w.index, w.cpu), p.routesJSON())
	if err != nil {
		started <- fmt.Errorf("worker %d: %w", w.index, err)
		return
	}
	w.c = c
	w.interpID = cInterpID(c)
	started <- nil

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
	if len(p.queue) > 0 {
		// A requester may have woken this worker just as it retired.
		p.wakeOne()
	}
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
	atomic.AddInt32(p.pending, -1)
	if j.state.Load() == jobAbandoned {
		putJob(j)
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
	r, err := cCall(w.c, j.meta, j.body, *buf)
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
	p.observe(j.route, took)
	j.resp, j.err = resp, err
	switch j.state.Swap(jobDone) {
	case jobParked:
		p.stats.slowReplies.Add(1)
		p.reaper.push(j)
	case jobAbandoned:
		// The requester gave up while we ran it.
		if resp != nil {
			resp.Release()
		}
		putJob(j)
	}
}

// onThread runs f on the worker's thread between requests. It reports false
// if the worker has ended.
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
	}
}
