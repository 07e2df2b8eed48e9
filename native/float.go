package native

import "runtime"

// Floating workers.
//
// A locked worker (the default) owns an OS thread: a request crosses from
// the HTTP goroutine's thread to the worker's and back, two thread wake-ups
// that cost far more than a small handler's Python (see handoff.go). A
// floating worker is an ordinary goroutine: the requester hands it the job
// through the queue channel, which puts it on the requester's own P to run
// next; it makes the cgo call on whichever thread that P runs, and its reply
// puts the requester back on the same P. A request then needs no thread
// switch at all. The worker's interpreter is still entered by one thread at
// a time (the worker's goroutine runs one call at a time); each thread that
// runs it gets a thread state of its own (see thread_state in shim.c).
//
// What floating gives up: a worker is not pinned to a core, and Python code
// sees its interpreter on different threads from one request to the next
// (threading.get_ident, threading.local, objects such as sqlite3 connections
// that check the thread they were made on).

// floatLoop serves requests as they come until the worker ends.
func (w *worker) floatLoop() {
	p := w.pool
	for !w.stopping.Load() {
		select {
		case j, ok := <-p.queue:
			if !ok {
				return
			}
			w.serve(j)
		case f := <-w.control:
			w.controlPending.Add(-1)
			f()
		case <-w.stop:
			return
		}
	}
}

// reply wakes j's parked requester and lets it run before this worker takes
// another job: it waits on this P, and a cgo call started now would hold
// the P until the runtime's monitor took it back (20 µs at the soonest).
func (w *worker) reply(j *job) {
	j.done <- struct{}{}
	runtime.Gosched()
}
