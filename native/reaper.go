package native

import (
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// reaper wakes requesters whose responses are ready, on behalf of workers.
//
// A worker that woke its requester itself would put it on its own P's run
// queue and then enter the next Python call, a cgo call that holds that P
// in a system-call state for a millisecond. The runtime's sysmon thread must
// then steal the P back to run the requester, waking every 20 µs to check,
// and each of those wakes preempts a worker when workers fill every CPU
// (measured: ~5 preemptions per request, Python running 20% slower). Instead
// the worker queues the finished job and, if the reaper sleeps, writes an
// eventfd; the reaper is an ordinary goroutine parked in the network poller,
// woken like any socket, that readies the requesters from its own P.
type reaper struct {
	mu       sync.Mutex
	ended    chan struct{}
	done     []*job
	spare    []*job
	efd      *os.File
	fd       int
	sleeping atomic.Bool
	quit     atomic.Bool
}

func newReaper() (*reaper, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	r := &reaper{fd: fd, efd: os.NewFile(uintptr(fd), "tandem-reaper"), ended: make(chan struct{})}
	go r.run()
	return r, nil
}

var one = []byte{1, 0, 0, 0, 0, 0, 0, 0}

// push hands a finished job whose requester sleeps to the reaper.
func (r *reaper) push(j *job) {
	r.mu.Lock()
	r.done = append(r.done, j)
	r.mu.Unlock()
	if r.sleeping.Load() {
		unix.Write(r.fd, one)
	}
}

func (r *reaper) run() {
	var buf [8]byte
	for {
		r.mu.Lock()
		batch := r.done
		r.done, r.spare = r.spare[:0], nil
		r.mu.Unlock()
		for i, j := range batch {
			j.done <- struct{}{}
			batch[i] = nil
		}
		r.mu.Lock()
		if r.spare == nil {
			r.spare = batch
		}
		r.mu.Unlock()
		if len(batch) > 0 {
			continue
		}
		if r.quit.Load() {
			close(r.ended)
			return
		}
		r.sleeping.Store(true)
		r.mu.Lock()
		n := len(r.done)
		r.mu.Unlock()
		if n == 0 {
			r.efd.Read(buf[:]) // parks in the network poller
		}
		r.sleeping.Store(false)
	}
}

// stop ends the reaper once it has delivered what it holds, then closes
// the eventfd (only then: a write to a closed descriptor number could land
// in whatever file reused it).
func (r *reaper) stop() {
	r.quit.Store(true)
	unix.Write(r.fd, one)
	<-r.ended
	r.efd.Close()
}
