package sandbox

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// blockingBackend answers once release is closed, telling started when
// it begins.
func blockingBackend(started chan<- struct{}, release <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		_, _ = w.Write([]byte("done"))
	})
}

// withDeadline gives a request the deadline its X-Deadline header asks
// for, or d, as the host's route timeout does.
func withDeadline(d time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			deadline := d
			if v, err := time.ParseDuration(c.Request().Header.Get("X-Deadline")); err == nil {
				deadline = v
			}
			ctx, cancel := context.WithTimeout(c.Request().Context(), deadline)
			defer cancel()
			c.SetRequest(c.Request().WithContext(ctx))
			return next(c)
		}
	}
}

func TestPoolExhausted(t *testing.T) {
	engine, logs := testEngine(t)
	pool := compile(t, engine, "noop", testdata(t, "noop.wasm"), Limits{Instances: 1}).Pool("acme")
	started, release := make(chan struct{}, 1), make(chan struct{})

	e := newEcho()
	e.Use(withDeadline(10 * time.Second))
	e.Use(echo.WrapMiddleware(pool.Middleware))
	e.GET("/", echo.WrapHandler(blockingBackend(started, release)))
	srv := echoServer(t, e)

	var wg sync.WaitGroup
	wg.Go(func() {
		r := do(t, srv.Client(), "GET", srv.URL, "")
		assert.Equal(t, 200, r.status)
		assert.Equal(t, "done", r.body)
	})
	<-started // the only instance is held while the backend runs

	began := time.Now()
	r := do(t, srv.Client(), "GET", srv.URL, "", "X-Request-Id", "rid-busy", "X-Deadline", "100ms")
	waited := time.Since(began)
	assert.Equal(t, 503, r.status)
	assert.Equal(t, "1", r.header.Get("Retry-After"))
	assert.Equal(t, `{"error":"service unavailable","status":503,"request_id":"rid-busy"}`, r.body)
	assert.GreaterOrEqual(t, waited, 90*time.Millisecond, "waited for its deadline")
	assert.Contains(t, logs.String(), `msg="plugin busy" plugin=noop tenant=acme request_id=rid-busy instances=1`)

	s := pool.Stats()
	assert.Equal(t, Stats{Size: 1, Busy: 1, Waits: 1, WaitTime: s.WaitTime, Rejected: 1, Instantiations: 1}, s)
	assert.GreaterOrEqual(t, s.WaitTime, 90*time.Millisecond)

	close(release)
	wg.Wait()
	r = do(t, srv.Client(), "GET", srv.URL, "")
	assert.Equal(t, 200, r.status, "served again once the instance is free")
}

// TestPoolWaitsForAnInstance: a request that finds the pool busy is
// served by the instance freed first.
func TestPoolWaitsForAnInstance(t *testing.T) {
	engine, _ := testEngine(t)
	pool := compile(t, engine, "noop", testdata(t, "noop.wasm"), Limits{Instances: 1}).Pool("")
	started, release := make(chan struct{}, 2), make(chan struct{})
	e := newEcho()
	e.Use(echo.WrapMiddleware(pool.Middleware))
	e.GET("/", echo.WrapHandler(blockingBackend(started, release)))
	srv := echoServer(t, e)

	var wg sync.WaitGroup
	wg.Go(func() { assert.Equal(t, 200, do(t, srv.Client(), "GET", srv.URL, "").status) })
	<-started
	wg.Go(func() { assert.Equal(t, 200, do(t, srv.Client(), "GET", srv.URL, "").status) })
	require.Eventually(t, func() bool { return pool.Stats().Waits == 1 }, time.Second, time.Millisecond)
	release <- struct{}{} // the first finishes; the second gets its instance
	<-started
	close(release)
	wg.Wait()

	s := pool.Stats()
	assert.Equal(t, uint64(1), s.Waits)
	assert.Zero(t, s.Rejected)
	assert.Equal(t, uint64(1), s.Instantiations, "handed over, not started anew")
}

func TestPoolRecycles(t *testing.T) {
	engine, _ := testEngine(t)
	pool := compile(t, engine, "counter", testdata(t, "counter.wasm"), Limits{MaxUses: 3}).Pool("")
	e := newEcho()
	e.GET("/", echo.WrapHandler(pool.Handler()))
	srv := echoServer(t, e)

	var bodies string
	for range 7 {
		bodies += do(t, srv.Client(), "GET", srv.URL, "").body
	}
	assert.Equal(t, "1231231", bodies, "a fresh instance after every third request")
	s := pool.Stats()
	assert.Equal(t, uint64(3), s.Instantiations)
	assert.Equal(t, uint64(2), s.Recycled)
	assert.Equal(t, 1, s.Size)
}

// TestPoolsPerTenant: tenants of one plugin never share an instance.
func TestPoolsPerTenant(t *testing.T) {
	engine, _ := testEngine(t)
	plugin := compile(t, engine, "counter", testdata(t, "counter.wasm"), Limits{})
	a, b := plugin.Pool("a"), plugin.Pool("b")
	assert.Same(t, a, plugin.Pool("a"))
	assert.NotSame(t, a, b)
	assert.Equal(t, []*Pool{a, b}, plugin.Pools())
	assert.Equal(t, "b", b.Tenant())

	e := newEcho()
	e.GET("/a", echo.WrapHandler(a.Handler()))
	e.GET("/b", echo.WrapHandler(b.Handler()))
	srv := echoServer(t, e)
	get := func(path string) string { return do(t, srv.Client(), "GET", srv.URL+path, "").body }
	assert.Equal(t, "1", get("/a"))
	assert.Equal(t, "2", get("/a"))
	assert.Equal(t, "1", get("/b"), "b's instance has seen none of a's requests")
}

// TestPoolConcurrency: many requests at once never start more instances
// than the limit, and all are served.
func TestPoolConcurrency(t *testing.T) {
	engine, _ := testEngine(t)
	pool := compile(t, engine, "noop", testdata(t, "noop.wasm"), Limits{Instances: 3, Timeout: time.Second}).Pool("")
	e := newEcho()
	e.Use(echo.WrapMiddleware(pool.Middleware))
	e.GET("/", echo.WrapHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(2 * time.Millisecond)
		_, _ = w.Write([]byte("ok"))
	})))
	e.Use(withDeadline(10 * time.Second))
	srv := echoServer(t, e)

	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			r := do(t, srv.Client(), "GET", srv.URL, "")
			assert.Equal(t, 200, r.status)
			assert.Equal(t, "ok", r.body)
		})
	}
	wg.Wait()
	s := pool.Stats()
	assert.LessOrEqual(t, s.Instantiations, uint64(3))
	assert.Equal(t, s.Size, s.Idle)
	assert.Zero(t, s.Rejected)
}

// TestPluginClose: Close lets the call in flight finish, refuses new
// requests, and closes every instance.
func TestPluginClose(t *testing.T) {
	engine, _ := testEngine(t)
	plugin := compile(t, engine, "noop", testdata(t, "noop.wasm"), Limits{})
	pool := plugin.Pool("")
	started, release := make(chan struct{}, 1), make(chan struct{})
	e := newEcho()
	e.Use(echo.WrapMiddleware(pool.Middleware))
	e.GET("/", echo.WrapHandler(blockingBackend(started, release)))
	srv := echoServer(t, e)

	var wg sync.WaitGroup
	wg.Go(func() { assert.Equal(t, 200, do(t, srv.Client(), "GET", srv.URL, "").status, "finished despite Close") })
	<-started
	closed := make(chan error)
	go func() { closed <- plugin.Close(context.Background()) }()
	require.Eventually(t, func() bool { return do(t, srv.Client(), "GET", srv.URL, "").status == 503 },
		time.Second, time.Millisecond, "new requests are refused")
	select {
	case <-closed:
		t.Fatal("Close returned with a call in flight")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	wg.Wait()
	require.NoError(t, <-closed)
	assert.Zero(t, pool.Stats().Size)
	assert.Equal(t, 503, do(t, srv.Client(), "GET", srv.URL, "").status)
}

// TestPluginCloseDeadline: when Close's context ends first, calls still
// running are stopped and their requests fail.
func TestPluginCloseDeadline(t *testing.T) {
	engine, logs := testEngine(t)
	plugin := compile(t, engine, "loop", testdata(t, "hostile/loop.wasm"), Limits{Timeout: 10 * time.Second})
	e := newEcho()
	e.GET("/", echo.WrapHandler(plugin.Pool("").Handler()))
	srv := echoServer(t, e)

	done := make(chan response)
	go func() { done <- do(t, srv.Client(), "GET", srv.URL, "") }()
	require.Eventually(t, func() bool { return plugin.Pool("").Stats().Busy == 1 }, time.Second, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.NoError(t, plugin.Close(ctx))
	r := <-done
	assert.Equal(t, 503, r.status)
	assert.Contains(t, logs.String(), "reason=closed")
}

// TestPoolNoDeadline: without a deadline a request waits noDeadlineWait.
func TestPoolNoDeadline(t *testing.T) {
	if testing.Short() {
		t.Skip("waits a second")
	}
	engine, _ := testEngine(t)
	pool := compile(t, engine, "loop", testdata(t, "hostile/loop.wasm"), Limits{Instances: 1, Timeout: 3 * time.Second}).Pool("")
	e := newEcho()
	e.GET("/", echo.WrapHandler(pool.Handler()))
	srv := echoServer(t, e)

	go do(t, srv.Client(), "GET", srv.URL, "")
	require.Eventually(t, func() bool { return pool.Stats().Busy == 1 }, time.Second, time.Millisecond)
	began := time.Now()
	assert.Equal(t, 503, do(t, srv.Client(), "GET", srv.URL, "").status)
	assert.InDelta(t, noDeadlineWait.Seconds(), time.Since(began).Seconds(), 0.5)
}
