package native

import "time"

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
			r, err = cCall(w.c, meta, req.Body, buf)
			_ = r
		}
		took = time.Since(t0)
	})
	return took, err
}
