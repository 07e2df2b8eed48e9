package host

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tandemhost/tandem/internal/reloadpolicy"
	"github.com/tandemhost/tandem/policy"
)

// BenchmarkReload1000 measures reloading a policy of 1,000 routes (see
// internal/reloadpolicy for the mix) on an in-process server with two
// Python workers, in each case the median over the iterations (`make
// bench-reload`; docs/benchmarks.md):
//
//   - load: policy.Load of the file alone (what Reload does first).
//   - start: New on the file (compiling the plugins, starting the
//     workers), for comparison.
//   - unchanged: a reload of a file whose only change is a comment: the
//     routers are rebuilt, nothing else is.
//   - routes: 10 Python routes move (the workers are kept; SetRoutes
//     switches their route table).
//   - plugin: the gate plugin's timeout changes (one plugin compiled).
//   - python: python.init changes (two new workers start).
//
// A reload iteration is policy.Load plus Replace, which is what Reload
// does; between iterations the benchmark waits, with the timer stopped,
// for the replaced policy to retire (its Python routes dropped from the
// workers, its pool or plugin closed), which the metric retire-ms times.
// setroutes-ms and workers-ms are what the native pool logs for
// SetRoutes and for starting workers within the reload.
func BenchmarkReload1000(b *testing.B) {
	dir := b.TempDir()
	if err := reloadpolicy.Setup(dir, "testdata/guests"); err != nil {
		b.Fatal(err)
	}
	file, err := reloadpolicy.Write(dir, reloadpolicy.Variant{})
	if err != nil {
		b.Fatal(err)
	}
	logs := &tookLog{}
	opts := Options{Logger: slog.New(logs), Runtime: rt}

	b.Run("load", func(b *testing.B) {
		var took []time.Duration
		for b.Loop() {
			t0 := time.Now()
			if _, err := policy.Load(file, policy.Options{}); err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(t0))
		}
		reportMedian(b, "ms", took)
	})

	b.Run("start", func(b *testing.B) {
		var took, workers []time.Duration
		for b.Loop() {
			logs.reset()
			t0 := time.Now()
			pol, err := policy.Load(file, policy.Options{})
			if err != nil {
				b.Fatal(err)
			}
			srv, err := New(context.Background(), pol, opts)
			if err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(t0))
			workers = append(workers, logs.sum("python workers started"))
			b.StopTimer()
			if err := srv.Shutdown(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		reportMedian(b, "ms", took)
		reportMedian(b, "workers-ms", workers)
	})

	pol, err := policy.Load(file, policy.Options{})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(context.Background(), pol, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := srv.Shutdown(context.Background()); err != nil {
			b.Error(err)
		}
	}()

	cases := []struct {
		name string
		a, b reloadpolicy.Variant
		// python says what the reload must log of the workers.
		python string
	}{
		{"unchanged", reloadpolicy.Variant{Comment: "a"}, reloadpolicy.Variant{Comment: "b"}, "kept"},
		{"routes", reloadpolicy.Variant{}, reloadpolicy.Variant{Moved: true}, "kept"},
		{"plugin", reloadpolicy.Variant{}, reloadpolicy.Variant{GateTimeout: "2s"}, "kept"},
		{"python", reloadpolicy.Variant{}, reloadpolicy.Variant{Init: "app:init_b"}, "new workers"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			// Start from c.a whatever the case before left.
			if _, err := reloadpolicy.Write(dir, c.a); err != nil {
				b.Fatal(err)
			}
			if err := srv.Reload(context.Background()); err != nil {
				b.Fatal(err)
			}
			srv.retiring.Wait()
			var total, load, replace, setRoutes, workers, retire []time.Duration
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				v := c.a
				if i%2 == 0 {
					v = c.b
				}
				if _, err := reloadpolicy.Write(dir, v); err != nil {
					b.Fatal(err)
				}
				oldPool := srv.Pool()
				logs.reset()
				b.StartTimer()

				t0 := time.Now()
				pol, err := policy.Load(file, policy.Options{})
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := srv.Replace(context.Background(), pol); err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()

				b.StopTimer()
				setRoutes = append(setRoutes, logs.sum("python routes replaced"))
				workers = append(workers, logs.sum("python workers started"))
				if got := logs.attr("policy reloaded", "python"); got != c.python {
					b.Fatalf("python=%s, want %s", got, c.python)
				}
				if (srv.Pool() == oldPool) != (c.python == "kept") {
					b.Fatal("the workers were not kept or replaced as expected")
				}
				srv.retiring.Wait()
				t3 := time.Now()
				total = append(total, t2.Sub(t0))
				load = append(load, t1.Sub(t0))
				replace = append(replace, t2.Sub(t1))
				retire = append(retire, t3.Sub(t2))
				b.StartTimer()
			}
			b.StopTimer()
			checkServes(b, srv)
			reportMedian(b, "ms", total)
			reportMedian(b, "load-ms", load)
			reportMedian(b, "replace-ms", replace)
			reportMedian(b, "setroutes-ms", setRoutes)
			reportMedian(b, "workers-ms", workers)
			reportMedian(b, "retire-ms", retire)
		})
	}
}

// checkServes asks the server for a route of each kind.
func checkServes(b *testing.B, srv *Server) {
	b.Helper()
	for _, c := range []struct{ host, path string }{
		{"", "/r/100/x"}, {"", "/g/3/x"}, {"acme.example.com", "/w/0"}, {"a.globex.example.com", "/w/1"},
	} {
		r := httptest.NewRequest("GET", c.path, nil)
		if c.host != "" {
			r.Host = c.host
		}
		r.Header.Set("X-Pass", "1")
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("GET %s%s: %d %s", c.host, c.path, w.Code, w.Body)
		}
	}
}

// reportMedian reports the median of ds in milliseconds, and the smallest
// and largest too in the metric's name for the record.
func reportMedian(b *testing.B, unit string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	b.ReportMetric(ms(s[len(s)/2]), unit)
	if unit == "ms" {
		b.ReportMetric(ms(s[0]), "min-ms")
		b.ReportMetric(ms(s[len(s)-1]), "max-ms")
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// tookLog is a slog handler that keeps, by message, the "took" durations
// and the string attributes logged; everything else is dropped.
type tookLog struct {
	mu    sync.Mutex
	took  map[string][]time.Duration
	attrs map[string]map[string]string
}

func (l *tookLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.took, l.attrs = nil, nil
}

// sum is the total of the durations logged with msg since reset.
func (l *tookLog) sum(msg string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var t time.Duration
	for _, d := range l.took[msg] {
		t += d
	}
	return t
}

// attr is the last value of key logged with msg since reset.
func (l *tookLog) attr(msg, key string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.attrs[msg][key]
}

func (l *tookLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *tookLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *tookLog) WithGroup(string) slog.Handler            { return l }

func (l *tookLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.took == nil {
		l.took, l.attrs = map[string][]time.Duration{}, map[string]map[string]string{}
	}
	r.Attrs(func(a slog.Attr) bool {
		switch {
		case a.Key == "took" && a.Value.Kind() == slog.KindDuration:
			l.took[r.Message] = append(l.took[r.Message], a.Value.Duration())
		case a.Value.Kind() == slog.KindString:
			if l.attrs[r.Message] == nil {
				l.attrs[r.Message] = map[string]string{}
			}
			l.attrs[r.Message][a.Key] = a.Value.String()
		}
		return true
	})
	return nil
}
