package native

import (
	"os"
	"sync/atomic"
	"time"
)

func init() {
	// See float_test.go.
	floatAll = os.Getenv("TANDEM_TEST_FLOAT") == "1"
}

// Floating reports whether the pool's workers float.
func (p *Pool) Floating() bool { return p.cfg.Float }

// DirectCalls runs n calls of req on worker 0's own thread, with no queue
// and no hand-off: the baseline the pool's dispatch overhead is measured
// against. It returns the time the calls took.
func (p *Pool) DirectCalls(n int, req *Request) (time.Duration, error) {
	meta := appendMeta(nil, req)
	buf := make([]byte, outBufSize)
	w := p.workers[0]
	var err error
	var took time.Duration
	w.onThread(func() {
		t0 := time.Now()
		for i := 0; i < n && err == nil; i++ {
			var r callResult
			r, err = cCall(w.c, 0, meta, req.Body, buf)
			_ = r
		}
		took = time.Since(t0)
	})
	return took, err
}

// CallOn runs req on worker i's own thread, outside the queue, so a test
// can see what one given worker serves.
func (p *Pool) CallOn(i int, req *Request) (*Response, error) {
	p.wmu.Lock()
	w := p.workers[i]
	p.wmu.Unlock()
	var resp *Response
	var err error
	ran := w.onThread(func() {
		buf := outBufs.Get().(*[]byte)
		var r callResult
		if r, err = cCall(w.c, 0, appendMeta(nil, req), req.Body, *buf); err != nil {
			outBufs.Put(buf)
			return
		}
		resp = &Response{Worker: w.index}
		if err = decodeOutput(r, buf, resp); err != nil {
			resp = nil
		}
	})
	if !ran {
		return nil, ErrClosed
	}
	return resp, err
}

// ServiceCounter returns the service-time counter of route id, or nil.
func (p *Pool) ServiceCounter(id int) *atomic.Int64 { return p.service.Load().get(id) }

// DrainFailures counts interrupted calls after which a pending
// HandlerTimeout had to be cleared instead of delivered (see
// drain_interrupt in shim.c); it should stay 0.
func (p *Pool) DrainFailures() uint64 { return p.deadlines.drainFailed.Load() }
