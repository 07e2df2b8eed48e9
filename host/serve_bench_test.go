package host

import (
	"context"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"

	"github.com/tandemhost/tandem/internal/discard"
)

// cpuTime is the CPU time the process has used, user and system, in ns:
// every thread's, the Python workers' included.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// benchPaths are the routes of testdata/bench.yaml: a Python handler, a
// Wasm handler, and each behind a no-op Wasm middleware.
var benchPaths = []string{"/hello/bench", "/wasm/bench", "/mw/bench", "/mwwasm/bench"}

// benchServer serves testdata/bench.yaml until the test ends.
func benchServer(tb testing.TB) *Server {
	srv, err := newServer("testdata/bench.yaml", &logBuffer{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return srv
}

// TestBenchPolicy keeps BenchmarkServeHTTP's policy serving: every route
// answers 200.
func TestBenchPolicy(t *testing.T) {
	srv := benchServer(t)
	for _, path := range benchPaths {
		rec := call(t, srv, "GET", path, nil)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: status %d, body %q", path, rec.Code, rec.Body.String())
		}
	}
}

// BenchmarkServeHTTP measures what the host adds to a request, without
// the network: the whole chain of a route (request id, metrics, deadline,
// body limit) to its target, from one caller, for the target kinds the
// compare benchmark serves (testdata/bench.yaml). cpu-ns/op is the whole
// process's CPU time per request, the workers' and the Go scheduler's
// included: with one caller the CPUs are mostly idle, so it also counts
// the threads each hand-off wakes.
func BenchmarkServeHTTP(b *testing.B) {
	srv := benchServer(b)
	for _, path := range benchPaths {
		b.Run(path[1:], func(b *testing.B) {
			r := httptest.NewRequest("GET", path, nil)
			w := discard.New()
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				clear(w.Header())
				r.Header.Del(headerRequestID)
				srv.ServeHTTP(w, r)
				if w.Status != http.StatusOK {
					b.Fatalf("%s: status %d", path, w.Status)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
