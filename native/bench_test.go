package native_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tandemhost/tandem/native"
)

// BenchmarkDispatch measures what the pool adds per request: a no-op Python
// handler called through Pool.Do by 1 or 64 concurrent callers, against the
// same call made directly on the worker's own thread in the same
// sub-benchmark (so both see the same machine noise). overhead-ns is the
// difference; the target is at most 3 µs.
func BenchmarkDispatch(b *testing.B) {
	req := get(rNoop, "/noop")
	for _, workers := range []int{1, 2} {
		p := newPool(b, workers, native.OwnGIL)
		for _, callers := range []int{1, 64} {
			b.Run(fmt.Sprintf("workers=%d/callers=%d", workers, callers), func(b *testing.B) {
				before := p.Handoff()
				pooled := poolCalls(b, p, req, callers, b.N)
				after := p.Handoff()
				// The slow path's share: each wake or slow reply costs tens of
				// microseconds on a VM, so a fraction of a percent shows in
				// the average.
				b.ReportMetric(float64(after.Wakes-before.Wakes)/float64(b.N), "wakes/req")
				b.ReportMetric(float64(after.SlowReplies-before.SlowReplies)/float64(b.N), "slow-replies/req")
				took, err := p.DirectCalls(b.N, req)
				if err != nil {
					b.Fatal(err)
				}
				direct := float64(took.Nanoseconds()) / float64(b.N)
				// With several workers the pool's throughput is shared
				// among them; compare per worker.
				perWorker := pooled * float64(min(workers, callers))
				b.ReportMetric(perWorker, "pool-ns/req")
				b.ReportMetric(direct, "direct-ns/req")
				b.ReportMetric(perWorker-direct, "overhead-ns")
			})
		}
	}
}

// poolCalls makes n calls through the pool from callers goroutines and
// returns the wall time per request in ns.
func poolCalls(b *testing.B, p *native.Pool, req *native.Request, callers, n int) float64 {
	ctx := context.Background()
	var wg sync.WaitGroup
	per := n/callers + 1
	t0 := time.Now()
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := *req
			for i := 0; i < per; i++ {
				resp, err := p.Do(ctx, &r)
				if err != nil {
					b.Error(err)
					return
				}
				resp.Release()
			}
		}()
	}
	wg.Wait()
	return float64(time.Since(t0).Nanoseconds()) / float64(per*callers)
}
