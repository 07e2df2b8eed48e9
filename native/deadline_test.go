package native_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemhost/tandem/internal/logbuf"
	"github.com/tandemhost/tandem/native"
)

// Routes of testdata/apps/stuck.py: handlers that do not return by
// themselves.
const (
	rSpin = 100 + iota
	rSwallow
	rSwallowAll
	rCleanup
	rCleaned
	rBacktrack
	rNap
)

func stuckRoutes() []native.Route {
	py := func(id int, fn string) native.Route {
		return native.Route{ID: id, Kind: "python", Target: "stuck:" + fn, Path: "/" + fn}
	}
	return []native.Route{py(rSpin, "spin"), py(rSwallow, "swallow"), py(rSwallowAll, "swallow_all"),
		py(rCleanup, "cleanup"), py(rCleaned, "cleaned"), py(rBacktrack, "backtrack"), py(rNap, "nap")}
}

// logBuffer collects a pool's log records as text, safe for concurrent use.
type logBuffer = logbuf.Buffer

// stuckPool is a pool serving the test routes and stuck.py's, with the
// given grace, whose log the test can read.
func stuckPool(t *testing.T, workers int, iso native.Isolation, grace time.Duration) (*native.Pool, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	p := newPool(t, workers, iso, func(c *native.Config) {
		c.Routes = append(c.Routes, stuckRoutes()...)
		c.InterruptGrace = grace
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pool log:\n%s", logs)
		}
	})
	return p, logs
}

func needOwnGIL(t *testing.T) {
	if !rt.OwnGIL() {
		t.Skipf("CPython %s has no own-GIL interpreters", rt.Version)
	}
}

// overrun sends req with a deadline of d and checks that Do gives up at it.
// It returns when the deadline passed.
func overrun(t *testing.T, p *native.Pool, req *native.Request, d time.Duration) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	deadline, _ := ctx.Deadline()
	_, err := p.Do(ctx, req)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	late := time.Since(deadline)
	t.Logf("Do returned %s after the deadline", late)
	// At the deadline, give or take a loaded machine's scheduling.
	assert.Less(t, late, 500*time.Millisecond, "Do returns at the deadline")
	return deadline
}

func stuckReq(route int, path, id string) *native.Request {
	req := get(route, path)
	req.RequestID = id
	return req
}

// An endless pure-Python loop is interrupted at its deadline: the worker
// serves the next request within a few switch intervals, keeps its
// interpreter, and the log says which request and route were interrupted.
func TestDeadlineInterruptsEndlessLoop(t *testing.T) {
	for _, iso := range []native.Isolation{native.OwnGIL, native.Shared} {
		t.Run(string(iso), func(t *testing.T) {
			if iso == native.OwnGIL {
				needOwnGIL(t)
			}
			p, logs := stuckPool(t, 1, iso, time.Second)
			do(t, p, get(rNoop, "/noop"))
			before := p.Workers()[0]
			deadline := overrun(t, p, stuckReq(rSpin, "/spin", "req-spin"), 200*time.Millisecond)
			resp, _ := do(t, p, get(rNoop, "/noop"))
			freed := time.Since(deadline)
			require.Equal(t, 200, resp.Status)
			t.Logf("%s: deadline to the next request answered: %s", iso, freed)
			// Within a few switch intervals (5 ms) when the machine is
			// idle; never as late as the grace, after which it would
			// have been replaced.
			assert.Less(t, freed, time.Second, "the worker is freed by the interruption, not by a replacement")

			require.Eventually(t, func() bool { return p.Deadlines().Interrupted == 1 }, 2*time.Second, 5*time.Millisecond)
			st := p.Deadlines()
			assert.Equal(t, native.DeadlineStats{Overran: 1, Interrupted: 1}, st)
			after := p.Workers()[0]
			assert.Equal(t, before.Interpreter, after.Interpreter, "not replaced")
			assert.Equal(t, uint64(1), after.Interrupted)
			assert.Zero(t, after.Replaced)
			log := logs.String()
			assert.Contains(t, log, "python handler interrupted at its deadline")
			assert.Contains(t, log, "request_id=req-spin")
			assert.Contains(t, log, "route=/spin")
			assert.Contains(t, log, "HandlerTimeout", "the detail is the traceback of where it stopped")
			assert.Contains(t, log, "stuck.py", "the traceback shows where the handler was")
			assert.Contains(t, log, "in spin")
		})
	}
}

// HandlerTimeout derives from BaseException: a loop catching Exception is
// interrupted, `finally` runs, and one catching BaseException is replaced
// after the grace unless a re-raised HandlerTimeout gets past it first.
func TestDeadlineExceptionClass(t *testing.T) {
	needOwnGIL(t)
	grace := 300 * time.Millisecond
	p, logs := stuckPool(t, 1, native.OwnGIL, grace)

	overrun(t, p, stuckReq(rSwallow, "/swallow", "req-swallow"), 100*time.Millisecond)
	require.Eventually(t, func() bool { return p.Deadlines().Interrupted == 1 }, time.Second, 5*time.Millisecond,
		"except Exception does not catch HandlerTimeout")

	overrun(t, p, stuckReq(rCleanup, "/cleanup", "req-cleanup"), 100*time.Millisecond)
	require.Eventually(t, func() bool { return p.Deadlines().Interrupted == 2 }, time.Second, 5*time.Millisecond)
	_, body := do(t, p, get(rCleaned, "/cleaned"))
	assert.Equal(t, []any{"req-cleanup"}, body["cleaned"], "the finally block ran")

	// A loop that catches BaseException catches HandlerTimeout wherever it
	// lands inside its try; the exception is raised again every 100 ms,
	// and lands sooner or later where the loop goes back to its try (then
	// the handler is interrupted), unless the grace passes first (then
	// its worker is replaced). Either way the worker is free again.
	deadline := overrun(t, p, stuckReq(rSwallowAll, "/swallow_all", "req-all"), 100*time.Millisecond)
	resp, _ := do(t, p, get(rNoop, "/noop"))
	require.Equal(t, 200, resp.Status)
	require.Eventually(t, func() bool { st := p.Deadlines(); return st.Interrupted+st.Replaced == 3 }, 2*time.Second, 5*time.Millisecond)
	st := p.Deadlines()
	how := "interrupted (a re-raised HandlerTimeout got past the except)"
	if st.Replaced == 1 {
		how = "replaced"
		assert.Contains(t, logs.String(), "python worker replaced")
	}
	t.Logf("except BaseException: %s; the next request answered %s after the deadline (grace %s)",
		how, time.Since(deadline), grace)
	// An abandoned thread stops catching after its second and ends.
	waitAbandoned(t, p, 30*time.Second)
}

// waitAbandoned waits until no abandoned worker is left.
func waitAbandoned(t *testing.T, p *native.Pool, within time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool { return p.Deadlines().Abandoned == 0 }, within, 10*time.Millisecond,
		"abandoned workers left: %+v", p.Deadlines())
}

// backtrackN picks the input length for which stuck:backtrack runs about
// want in C, measured on this machine and CPython (the fastest of three
// runs: a loaded machine makes single runs slow, not fast). Each more
// character doubles the time.
func backtrackN(t *testing.T, p *native.Pool, want time.Duration) int {
	t.Helper()
	req := get(rBacktrack, "/backtrack")
	req.Query = "n=20"
	took := time.Hour
	for range 3 {
		t0 := time.Now()
		do(t, p, req)
		took = min(took, time.Since(t0))
	}
	took = max(took, time.Millisecond)
	n := min(max(20+int(math.Round(math.Log2(float64(want)/float64(took)))), 22), 28)
	t.Logf("backtracking n=20 took %s: n=%d for about %s", took, n, want)
	return n
}

// A handler stuck in C code that holds the GIL (a regular expression
// backtracking) cannot be interrupted: after the grace its worker is
// replaced, the other worker serves throughout, the slot serves again, and
// the abandoned thread ends its interpreter once the regex gives up.
func TestDeadlineReplacesWorkerStuckHoldingTheGIL(t *testing.T) {
	needOwnGIL(t)
	grace := 300 * time.Millisecond
	p, logs := stuckPool(t, 2, native.OwnGIL, grace)
	n := backtrackN(t, p, time.Second)
	for range 20 { // the noop route's service time is short
		do(t, p, get(rNoop, "/noop"))
	}
	before := p.Workers()

	// From the deadline on, requests flow to the other worker. (Before it,
	// one that came while the regex still looked like an ordinary slow
	// request may wait for it: see wakeIfNeeded.)
	req := stuckReq(rBacktrack, "/backtrack", "req-regex")
	req.Query = fmt.Sprintf("n=%d", n)
	deadline := overrun(t, p, req, 200*time.Millisecond)
	stop := make(chan struct{})
	var served, slow atomic.Int32
	var wg sync.WaitGroup
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }); wg.Wait() }
	defer halt()
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			t0 := time.Now()
			resp, err := p.Do(context.Background(), get(rNoop, "/noop"))
			if err != nil || resp.Status != 200 {
				t.Errorf("noop: %v %v", err, resp)
				return
			}
			if time.Since(t0) > 100*time.Millisecond {
				slow.Add(1)
			}
			served.Add(1)
			time.Sleep(2 * time.Millisecond)
		}
	})

	require.Eventually(t, func() bool { return p.Deadlines().Replaced == 1 }, 2*time.Second, 5*time.Millisecond)
	replacedAfter := time.Since(deadline)
	t.Logf("replaced %s after the deadline (grace %s)", replacedAfter, grace)
	assert.GreaterOrEqual(t, replacedAfter, grace)
	st := p.Deadlines()
	// Still running, unless starting the replacement took as long as the
	// rest of the regex on a loaded machine.
	t.Logf("%+v", st)
	assert.Zero(t, st.Interrupted)

	after := p.Workers()
	slot := -1
	for i := range after {
		if after[i].Interpreter != before[i].Interpreter {
			slot = i
		}
	}
	require.NotEqual(t, -1, slot, "one slot has a new interpreter")
	assert.Equal(t, uint64(1), after[slot].Replaced)
	resp, err := p.CallOn(slot, get(rNoop, "/noop"))
	require.NoError(t, err)
	assert.Equal(t, 200, resp.Status, "the replaced slot serves again")
	halt()
	t.Logf("meanwhile %d requests were served, %d of them slower than 100ms", served.Load(), slow.Load())
	// (A slow one is this loaded machine's scheduling, not a request
	// held behind the stuck worker: that one would wait for the grace.)
	assert.GreaterOrEqual(t, served.Load(), int32(10), "the other worker served them")
	assert.LessOrEqual(t, slow.Load(), served.Load()/10)

	// Close cannot finish while the regex runs: within its context it
	// reports the abandoned worker.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	err = p.Close(ctx)
	cancel()
	if p.Deadlines().Abandoned == 1 {
		require.Error(t, err)
		assert.Contains(t, err.Error(), "still stuck in a handler")
		assert.Contains(t, err.Error(), "route /backtrack")
	}
	waitAbandoned(t, p, 30*time.Second)
	t.Logf("the abandoned worker ended %s after the deadline", time.Since(deadline))
	require.NoError(t, p.Close(context.Background()))
	log := logs.String()
	assert.Contains(t, log, "python worker replaced")
	assert.Contains(t, log, "held the interpreter's GIL the whole time")
	assert.Contains(t, log, "request_id=req-regex")
	assert.Contains(t, log, "abandoned python worker ended")
}

// In shared isolation one GIL serves every worker: a handler that holds it
// in C code stalls them all, and the replacement too, until it returns.
// Nothing can be done about that; what matters is that it resolves without
// a deadlock once the C code returns, and every worker serves again.
func TestDeadlineSharedWorkerStuckHoldingTheGIL(t *testing.T) {
	grace := 300 * time.Millisecond
	p, logs := stuckPool(t, 2, native.Shared, grace)
	n := backtrackN(t, p, 600*time.Millisecond)
	req := stuckReq(rBacktrack, "/backtrack", "req-regex")
	req.Query = fmt.Sprintf("n=%d", n)
	deadline := overrun(t, p, req, 200*time.Millisecond)
	resp, _ := do(t, p, get(rNoop, "/noop"))
	assert.Equal(t, 200, resp.Status)
	t.Logf("the next request was answered %s after the deadline", time.Since(deadline))
	require.Eventually(t, func() bool { st := p.Deadlines(); return st.Interrupted+st.Replaced == 1 }, 30*time.Second, 10*time.Millisecond)
	waitAbandoned(t, p, 30*time.Second)
	t.Logf("%+v, settled %s after the deadline", p.Deadlines(), time.Since(deadline))
	for i := range p.Workers() {
		resp, err := p.CallOn(i, get(rNoop, "/noop"))
		require.NoError(t, err)
		assert.Equal(t, 200, resp.Status, "worker %d", i)
	}
	assert.Contains(t, logs.String(), "request_id=req-regex")
}

// A handler blocked in C code that released the GIL (time.sleep) gets the
// exception at once but cannot raise it before the call returns: its worker
// is replaced after the grace, and every request queued behind it is
// answered by the replacement.
func TestDeadlineReplacesSleepingWorkerAndServesItsQueue(t *testing.T) {
	grace := 300 * time.Millisecond
	for _, iso := range []native.Isolation{native.OwnGIL, native.Shared} {
		t.Run(string(iso), func(t *testing.T) {
			if iso == native.OwnGIL {
				needOwnGIL(t)
			}
			p, logs := stuckPool(t, 1, iso, grace)
			do(t, p, get(rNoop, "/noop"))
			req := stuckReq(rNap, "/nap", "req-nap")
			req.Query = "seconds=1.5"
			deadline := overrun(t, p, req, 200*time.Millisecond)

			// Queued behind the sleeping handler, on the pool's only worker.
			const queued = 20
			var wg sync.WaitGroup
			var answered atomic.Int32
			var slowest atomic.Int64
			for range queued {
				wg.Go(func() {
					resp, err := p.Do(context.Background(), get(rNoop, "/noop"))
					if err != nil || resp.Status != 200 {
						t.Errorf("queued request: %v %v", err, resp)
						return
					}
					answered.Add(1)
					for d := int64(time.Since(deadline)); ; {
						s := slowest.Load()
						if d <= s || slowest.CompareAndSwap(s, d) {
							break
						}
					}
				})
			}
			wg.Wait()
			assert.Equal(t, int32(queued), answered.Load(), "every queued request is answered")
			t.Logf("%s: all %d queued requests answered %s after the deadline (grace %s)", iso, queued,
				time.Duration(slowest.Load()), grace)
			require.Eventually(t, func() bool { return p.Deadlines().Replaced == 1 }, time.Second, 5*time.Millisecond)
			assert.Less(t, time.Duration(slowest.Load()), grace+time.Second, "served by the replacement, not after the sleep")
			assert.Contains(t, logs.String(), "it did not return")
			waitAbandoned(t, p, 30*time.Second)
			t.Logf("%s: the abandoned worker ended %s after the deadline", iso, time.Since(deadline))
		})
	}
}

// SetRoutes and Restart wait for a worker stuck past its deadline only until
// it is abandoned, not until its handler returns; the replacement serves the
// routes SetRoutes gave.
func TestDeadlineSetRoutesAndRestartDoNotWaitForAStuckWorker(t *testing.T) {
	needOwnGIL(t)
	grace := 300 * time.Millisecond
	p, _ := stuckPool(t, 2, native.OwnGIL, grace)
	nap := func(id string) *native.Request {
		req := stuckReq(rNap, "/nap", id)
		req.Query = "seconds=2"
		return req
	}
	routes := append(append(testRoutes(), stuckRoutes()...),
		native.Route{ID: 500, Kind: "python", Target: "state:noop", Path: "/new"})

	deadline := overrun(t, p, nap("req-nap-1"), 100*time.Millisecond)
	require.NoError(t, p.SetRoutes(routes))
	took := time.Since(deadline)
	t.Logf("SetRoutes returned %s after the deadline (grace %s, the handler sleeps 2s)", took, grace)
	assert.Less(t, took, 1500*time.Millisecond)
	require.Eventually(t, func() bool { return p.Deadlines().Replaced == 1 }, time.Second, 5*time.Millisecond)
	for i := range p.Workers() {
		resp, err := p.CallOn(i, get(500, "/new"))
		require.NoError(t, err)
		assert.Equal(t, 200, resp.Status, "worker %d serves the new route: %s", i, resp.Log)
	}

	// Restart both workers: the one sleeping in the handler is let go when
	// it is abandoned.
	deadline = overrun(t, p, nap("req-nap-2"), 100*time.Millisecond)
	for i := range p.Workers() {
		require.NoError(t, p.Restart(i))
	}
	took = time.Since(deadline)
	t.Logf("Restart of both workers returned %s after the deadline", took)
	assert.Less(t, took, 1500*time.Millisecond)
	waitAbandoned(t, p, 30*time.Second)
	assert.Equal(t, uint64(2), p.Deadlines().Replaced)
	for i := range p.Workers() {
		resp, err := p.CallOn(i, get(500, "/new"))
		require.NoError(t, err)
		assert.Equal(t, 200, resp.Status)
	}
}

// A requester canceled before its deadline leaves the handler running until
// the deadline, which then interrupts it.
func TestDeadlineAfterCancel(t *testing.T) {
	needOwnGIL(t)
	p, _ := stuckPool(t, 1, native.OwnGIL, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	deadline, _ := ctx.Deadline()
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := p.Do(ctx, stuckReq(rSpin, "/spin", "req-cancel"))
	require.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, p.Deadlines().Overran, "running until the deadline")
	resp, _ := do(t, p, get(rNoop, "/noop"))
	assert.Equal(t, 200, resp.Status)
	freed := time.Since(deadline)
	t.Logf("freed %s after the deadline", freed)
	assert.Greater(t, freed, time.Duration(0))
	require.Eventually(t, func() bool { return p.Deadlines().Interrupted == 1 }, time.Second, 5*time.Millisecond)
}

// Deadlines that fall just as handlers finish: the watchdog must raise only
// into the job it was started for, and no HandlerTimeout may stay pending
// for the next request (which would then fail for nothing).
func TestDeadlineRacesLeaveNoStrayException(t *testing.T) {
	for _, iso := range []native.Isolation{native.OwnGIL, native.Shared} {
		t.Run(string(iso), func(t *testing.T) {
			if iso == native.OwnGIL {
				needOwnGIL(t)
			}
			p, _ := stuckPool(t, 2, iso, time.Second)
			burn := get(rBurn, "/burn")
			burn.Query = "n=100000"
			for range 5 {
				do(t, p, burn)
			}
			t0 := time.Now()
			do(t, p, burn)
			service := time.Since(t0)
			t.Logf("burn takes %s", service)
			var wg sync.WaitGroup
			var failed atomic.Int32
			end := time.Now().Add(1500 * time.Millisecond)
			if testing.Short() {
				end = time.Now().Add(500 * time.Millisecond)
			}
			for g := range 4 {
				wg.Go(func() {
					for i := 0; time.Now().Before(end); i++ {
						if g%2 == 0 {
							// Deadlines that the interruption (a switch
							// interval after the deadline) reaches just
							// before or just after the handler ends.
							d := service/4 + time.Duration(i%8)*service/8
							ctx, cancel := context.WithTimeout(context.Background(), d)
							resp, err := p.Do(ctx, burn)
							cancel()
							if err == nil {
								if resp.Status != 200 {
									failed.Add(1)
									t.Errorf("burn with a deadline: %d %s", resp.Status, resp.Log)
								}
								resp.Release()
							}
							continue
						}
						resp, err := p.Do(context.Background(), get(rNoop, "/noop"))
						if err != nil || resp.Status != 200 {
							failed.Add(1)
							t.Errorf("noop: %v %+v", err, resp)
							return
						}
						resp.Release()
					}
				})
			}
			wg.Wait()
			st := p.Deadlines()
			t.Logf("%+v", st)
			assert.Zero(t, failed.Load())
			assert.Zero(t, st.Replaced)
			assert.Positive(t, st.Interrupted)
			assert.Zero(t, p.DrainFailures(), "a re-armed HandlerTimeout is always taken by _drain_interrupt")
			for i := range p.Workers() {
				resp, err := p.CallOn(i, get(rNoop, "/noop"))
				require.NoError(t, err)
				assert.Equal(t, 200, resp.Status, "worker %d: %s", i, resp.Log)
			}
		})
	}
}

// TestVersionMatrixDeadlines runs the deadline tests in a child process per
// pyenv CPython found (see TestVersionMatrix).
func TestVersionMatrixDeadlines(t *testing.T) {
	if os.Getenv(envChildLib) != "" {
		t.Skip("the children run the deadline tests themselves")
	}
	if testing.Short() {
		t.Skip("the version matrix of the deadline tests is not run in -short mode")
	}
	runPyenvChildren(t, []string{"-test.run", "^TestDeadline", "-test.short"}, "--- PASS: TestDeadlineInterruptsEndlessLoop")
}
