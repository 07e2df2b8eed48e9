package native_test

import (
	"fmt"
	"testing"

	"github.com/tandemhost/tandem/native"
)

// BenchmarkScaling runs a CPU-bound handler (a pure-Python loop) through
// the pool with 1 and 2 own-GIL workers and with 2 shared-mode workers, with
// enough callers to keep every worker busy. Compare ns/req across
// sub-benchmarks of one run: own-GIL workers should divide it by their
// number, shared ones should not.
func BenchmarkScaling(b *testing.B) {
	req := get(rBurn, "/burn")
	req.Query = "n=20000"
	for _, c := range []struct {
		workers int
		iso     native.Isolation
		pinned  bool
	}{{1, native.OwnGIL, true}, {2, native.OwnGIL, true}, {2, native.OwnGIL, false}, {2, native.Shared, false}} {
		b.Run(fmt.Sprintf("%s/workers=%d/pinned=%v", c.iso, c.workers, c.pinned), func(b *testing.B) {
			p := newPool(b, c.workers, c.iso, func(cfg *native.Config) {
				if c.pinned {
					cfg.CPUs = []int{0, 1}[:c.workers]
				}
			})
			b.ResetTimer()
			b.ReportMetric(poolCalls(b, p, req, 8, b.N), "ns/req")
		})
	}
}
