package sandbox

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/http-wasm/http-wasm-host-go/tck"
	"github.com/labstack/echo/v4"
	"github.com/tetratelabs/wazero/api"

	"github.com/tandemhost/tandem/internal/discard"
)

// BenchmarkMiddleware measures what one pooled no-op Wasm middleware adds
// to a request through Echo: the same route with and without it, served
// in alternating batches in the same sub-benchmark (so both see the same
// machine noise), from one caller. overhead-ns is the difference; the
// target is at most 2 µs.
//
// checks=off compiles the guest without wazero's termination checks (so
// without the goroutine wazero starts per call to watch the deadline): it
// shows what enforcing Limits.Timeout costs per request, not a setting
// tandem offers.
func BenchmarkMiddleware(b *testing.B) {
	for _, c := range []struct {
		guest  string
		checks bool
	}{{"wat", true}, {"go", true}, {"wat", false}} {
		name := "guest=" + c.guest
		if !c.checks {
			name += "/checks=off"
		}
		b.Run(name, func(b *testing.B) {
			wasm := benchGuest(b, c.guest)
			engine, err := newEngine(context.Background(), EngineConfig{CacheDir: b.TempDir(), Logger: discardLogger()},
				engineOptions{noCloseOnContextDone: !c.checks})
			if err != nil {
				b.Fatal(err)
			}
			defer engine.Close(context.Background())
			pool := compile(b, engine, "noop", wasm, Limits{}).Pool("")
			ok := func(c echo.Context) error { return c.String(http.StatusOK, "ok") }
			plain, wrapped := newEcho(), newEcho()
			plain.GET("/", ok)
			wrapped.GET("/", ok, echo.WrapMiddleware(pool.Middleware))

			r := httptest.NewRequest("GET", "/", nil)
			w := discard.New()
			serve := func(e *echo.Echo, n int) time.Duration {
				began := time.Now()
				for range n {
					clear(w.Header())
					e.ServeHTTP(w, r)
				}
				return time.Since(began)
			}
			serve(wrapped, 100) // an instance in the pool
			if w.Status != http.StatusOK {
				b.Fatalf("status %d", w.Status)
			}

			const batch = 1000
			var plainT, wrappedT time.Duration
			var mallocs [2]uint64
			var ms runtime.MemStats
			done := 0
			b.ResetTimer()
			for done < b.N {
				n := min(batch, b.N-done)
				runtime.ReadMemStats(&ms)
				m0 := ms.Mallocs
				plainT += serve(plain, n)
				runtime.ReadMemStats(&ms)
				m1 := ms.Mallocs
				wrappedT += serve(wrapped, n)
				runtime.ReadMemStats(&ms)
				mallocs[0] += m1 - m0
				mallocs[1] += ms.Mallocs - m1
				done += n
			}
			b.StopTimer()
			p := float64(plainT.Nanoseconds()) / float64(b.N)
			q := float64(wrappedT.Nanoseconds()) / float64(b.N)
			b.ReportMetric(p, "plain-ns/req")
			b.ReportMetric(q, "wasm-ns/req")
			b.ReportMetric(q-p, "overhead-ns")
			b.ReportMetric(float64(mallocs[1]-mallocs[0])/float64(b.N), "overhead-allocs")
			b.ReportMetric(0, "ns/op") // both contenders are reported above
		})
	}
}

// BenchmarkInstantiate measures starting one instance (start functions
// included) of a WAT guest and of a Go guest, and what an instance keeps:
// Go heap (wazero's structures and the linear memory, which wazero keeps
// on the Go heap) and its linear memory alone.
func BenchmarkInstantiate(b *testing.B) {
	for _, guest := range []string{"wat", "go"} {
		b.Run("guest="+guest, func(b *testing.B) {
			wasm := benchGuest(b, guest)
			engine, _ := testEngine(b)
			pool := compile(b, engine, "noop", wasm, Limits{}).Pool("")
			ctx := context.Background()

			// What instances keep: start some, measure, close them.
			const keep = 32
			insts := make([]*instance, keep)
			before := liveHeap()
			for i := range insts {
				inst, err := pool.instantiate(ctx)
				if err != nil {
					b.Fatal(err)
				}
				insts[i] = inst
			}
			after := liveHeap()
			linear := insts[0].mod.Memory().Size()
			for _, inst := range insts {
				inst.close()
			}

			b.ResetTimer()
			for b.Loop() {
				inst, err := pool.instantiate(ctx)
				if err != nil {
					b.Fatal(err)
				}
				inst.close()
			}
			b.ReportMetric(float64(after-before)/keep, "heap-B/instance")
			b.ReportMetric(float64(linear), "linear-memory-B")
		})
	}
}

// BenchmarkCompile measures compiling a plugin: cold (an empty cache
// directory), from the disk cache (a new engine on a warm directory: a
// process restart) and from memory (the same engine: a reload naming the
// same module).
func BenchmarkCompile(b *testing.B) {
	ctx := context.Background()
	for _, guest := range []string{"wat", "tck", "go"} {
		wasm := benchGuest(b, guest)
		b.Run("guest="+guest+"/cold", func(b *testing.B) {
			for b.Loop() {
				dir, err := os.MkdirTemp("", "tandem-bench-cache")
				if err != nil {
					b.Fatal(err)
				}
				compileOnce(b, dir, wasm)
				_ = os.RemoveAll(dir)
			}
		})
		b.Run("guest="+guest+"/disk-cache", func(b *testing.B) {
			dir := b.TempDir()
			compileOnce(b, dir, wasm)
			for b.Loop() {
				compileOnce(b, dir, wasm)
			}
		})
		b.Run("guest="+guest+"/memory-cache", func(b *testing.B) {
			e, err := NewEngine(ctx, EngineConfig{CacheDir: b.TempDir(), Logger: discardLogger()})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close(ctx)
			// The first plugin compiles the module; it stays open, because
			// closing the last plugin of a module drops its code from memory.
			if _, err := e.Compile(ctx, PluginConfig{Name: "first", Wasm: wasm}); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				p, err := e.Compile(ctx, PluginConfig{Name: "bench", Wasm: wasm})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				_ = p.Close(ctx)
				b.StartTimer()
			}
		})
	}
}

func compileOnce(b *testing.B, dir string, wasm []byte) {
	ctx := context.Background()
	e, err := NewEngine(ctx, EngineConfig{CacheDir: dir, Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.Compile(ctx, PluginConfig{Name: "bench", Wasm: wasm}); err != nil {
		b.Fatal(err)
	}
	if err := e.Close(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkDeadlineEnforcement measures what WithCloseOnContextDone costs
// CPU-bound guest code (testdata/cpu.wat): the same export compiled with
// and without wazero's termination checks, called alternately in the same
// sub-benchmark. slowdown-x is the ratio. "call" is one pooled no-op
// handle_request, where the cost is the watcher goroutine wazero starts
// per call rather than the checks.
func BenchmarkDeadlineEnforcement(b *testing.B) {
	ctx := context.Background()
	start := func(checks bool, wasm []byte) *instance {
		e, err := newEngine(ctx, EngineConfig{CacheDir: b.TempDir(), Logger: discardLogger()},
			engineOptions{noCloseOnContextDone: !checks})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = e.Close(ctx) })
		p := compile(b, e, "cpu", wasm, Limits{Timeout: time.Minute})
		inst, err := p.Pool("").instantiate(ctx)
		if err != nil {
			b.Fatal(err)
		}
		return inst
	}
	cpu, noop := testdata(b, "cpu.wasm"), testdata(b, "noop.wasm")
	workloads := []struct {
		name, export string
		arg          uint64
		wasm         []byte
	}{
		{"loop", "burn", 1_000_000, cpu},
		{"calls", "fib", 25, cpu},
		{"call", exportHandleRequest, 0, noop},
	}
	for _, w := range workloads {
		b.Run(w.name, func(b *testing.B) {
			on, off := start(true, w.wasm), start(false, w.wasm)
			fnOn, fnOff := on.mod.ExportedFunction(w.export), off.mod.ExportedFunction(w.export)
			x := &exchange{phase: phaseStart}
			stack := make([]uint64, 1)
			run := func(inst *instance, fn api.Function, n int) time.Duration {
				x.inst = inst
				began := time.Now()
				for range n {
					stack[0] = w.arg
					if err := inst.call(ctx, x, w.export, fn, stack); err != nil {
						b.Fatal(err)
					}
				}
				return time.Since(began)
			}
			run(on, fnOn, 1)
			run(off, fnOff, 1)
			// Alternate in batches: long enough to amortize the clock, short
			// enough that both see the same noise.
			batch := max(1, int(time.Millisecond/run(on, fnOn, 1)))
			var tOn, tOff time.Duration
			b.ResetTimer()
			for done := 0; done < b.N; done += batch {
				n := min(batch, b.N-done)
				tOn += run(on, fnOn, n)
				tOff += run(off, fnOff, n)
			}
			n := float64(b.N)
			b.ReportMetric(float64(tOn.Nanoseconds())/n, "checks-ns/op")
			b.ReportMetric(float64(tOff.Nanoseconds())/n, "no-checks-ns/op")
			b.ReportMetric(float64(tOn)/float64(tOff), "slowdown-x")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// benchGuest returns a no-op middleware: the WAT one, the TCK's TinyGo
// guest, or the Go one built from testdata/goguest (skipping when the Go
// toolchain cannot build it).
func benchGuest(b *testing.B, guest string) []byte {
	switch guest {
	case "go":
		return buildGoGuest(b, "goguest")
	case "tck":
		return tck.GuestWASM
	}
	return testdata(b, "noop.wasm")
}
