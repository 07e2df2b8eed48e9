package sandbox

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHostileGuests serves each hostile guest of testdata/hostile (those
// that start: the others fail Compile, see TestCompileStartFails) beside
// well-behaved routes and checks that it fails only its own requests, with
// the right status and within its timeout; that each next request gets a
// fresh instance; that the other routes keep serving, also while hostile
// calls run; and that goroutines and memory come back to where they were.
func TestHostileGuests(t *testing.T) {
	const timeout = 50 * time.Millisecond
	engine, logs := testEngine(t)
	hello := compile(t, engine, "hello", testdata(t, "hello.wasm"), Limits{}).Pool("good")
	noop := compile(t, engine, "noop", testdata(t, "noop.wasm"), Limits{}).Pool("good")

	e := newEcho()
	e.GET("/good/handler", echo.WrapHandler(hello.Handler()))
	e.GET("/good/mw", echo.WrapHandler(backend()), echo.WrapMiddleware(noop.Middleware))

	type hostile struct {
		name    string
		status  int
		counter func(Stats) uint64
		log     string        // what the log must say about the failure
		timeout time.Duration // when not the default above
	}
	cases := []hostile{
		{"loop", http.StatusGatewayTimeout, func(s Stats) uint64 { return s.Timeouts }, "reason=timeout", 0},
		// Growing to the limit copies the memory at each step (wazero's
		// allocator): 20-60 ms to reach 16 MiB on the development VM.
		{"grow", http.StatusInternalServerError, func(s Stats) uint64 { return s.Traps }, "unreachable", time.Second},
		{"bigheader", http.StatusInternalServerError, func(s Stats) uint64 { return s.ABIViolations },
			`set_header_value: header \"X-Big\": 1048581 bytes, over the 16384-byte limit`, 0},
		{"trap_response", http.StatusInternalServerError, func(s Stats) uint64 { return s.Traps }, "call=handle_response reason=trap", 0},
		{"header_after_next", http.StatusInternalServerError, func(s Stats) uint64 { return s.ABIViolations },
			"set_header_value: the request cannot change after handle_request returned next=1", 0},
	}
	pools := map[string]*Pool{}
	for _, c := range append(cases, hostile{name: "oob"}) {
		if c.timeout == 0 {
			c.timeout = timeout
		}
		p := compile(t, engine, c.name, testdata(t, "hostile/"+c.name+".wasm"), Limits{Timeout: c.timeout})
		pools[c.name] = p.Pool("evil")
		e.POST("/evil/"+c.name, echo.WrapHandler(backend()), echo.WrapMiddleware(pools[c.name].Middleware))
	}
	srv := echoServer(t, e)
	client := srv.Client()

	good := func(t *testing.T) {
		t.Helper()
		r := do(t, client, "GET", srv.URL+"/good/handler", "")
		assert.Equal(t, 200, r.status)
		assert.Equal(t, "hello from wasm", r.body)
		r = do(t, client, "GET", srv.URL+"/good/mw", "")
		assert.Equal(t, 200, r.status)
		assert.Equal(t, "backend body", r.body)
	}
	good(t)
	goroutines, heap := baseline(client)

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pool := pools[c.name]
			for i := range 3 {
				id := fmt.Sprintf("%s-%d", c.name, i)
				began := time.Now()
				r := do(t, client, "POST", srv.URL+"/evil/"+c.name, "a body", "X-Request-Id", id)
				took := time.Since(began)
				assert.Equal(t, c.status, r.status)
				assert.Equal(t, fmt.Sprintf(`{"error":%q,"status":%d,"request_id":%q}`,
					strings.ToLower(http.StatusText(c.status)), c.status, id), r.body, "a generic message only")
				assert.Empty(t, r.header.Get("X-Backend-Method"), "nothing of the backend's response leaks")
				limit := pools[c.name].plugin.limits.Timeout
				assert.Less(t, took, limit+500*time.Millisecond, "answered within its timeout")
				if c.status == http.StatusGatewayTimeout {
					assert.GreaterOrEqual(t, took, limit)
				}
				good(t)
			}
			s := pool.Stats()
			assert.Equal(t, uint64(3), c.counter(s))
			assert.Equal(t, uint64(3), s.Instantiations, "every request got a fresh instance")
			assert.Zero(t, s.Size, "no failed instance is kept")
			assert.Contains(t, logs.String(), c.log)
		})
	}

	t.Run("oob", func(t *testing.T) {
		pool := pools["oob"]
		n := uint64(0)
		for c := 'a'; c <= 'x'; c++ {
			r := do(t, client, "POST", srv.URL+"/evil/oob", "a body", "X-Case", string(c))
			n++
			if !assert.Equal(t, 500, r.status, "case %c", c) {
				continue
			}
			assert.Equal(t, n, pool.Stats().ABIViolations, "case %c", c)
		}
		r := do(t, client, "POST", srv.URL+"/evil/oob", "a body")
		assert.Equal(t, 200, r.status, "without a case the guest behaves")
		assert.Equal(t, n+1, pool.Stats().Instantiations)
		l := logs.String()
		assert.Contains(t, l, "get_config: buf [4294967040, 4294967043) is outside the guest's 65536 bytes of memory")
		assert.Contains(t, l, "set_uri: uri [0, 4294967295) is outside")
		assert.Contains(t, l, "remove_header: name [65530, 65630) is outside")
		assert.Contains(t, l, "read_body: buf_limit is zero")
		assert.Contains(t, l, "set_status_code: 1000 is not a final HTTP status")
		good(t)
	})

	t.Run("other routes serve while hostile calls run", func(t *testing.T) {
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				r := do(t, client, "POST", srv.URL+"/evil/loop", "")
				assert.Equal(t, 504, r.status)
			})
		}
		for range 20 {
			good(t)
		}
		wg.Wait()
	})

	afterGoroutines, afterHeap := settle(client, goroutines)
	assert.LessOrEqual(t, afterGoroutines, goroutines, "goroutines back to their baseline")
	assert.Less(t, afterHeap, heap+8<<20, "heap back near its baseline (%d MiB before, %d MiB after)", heap>>20, afterHeap>>20)
	good(t)
}

// TestStartFailsLater: a start that fails after the one Compile checked
// fails only its own request, with a 500 and the start's reason in the
// log, and the next request tries a fresh instance. Here the plugin's
// config changes under it, which nothing outside the package can do, to
// make every later start trap.
func TestStartFailsLater(t *testing.T) {
	engine, logs := testEngine(t)
	plugin := compile(t, engine, "config_start", testdata(t, "hostile/config_start.wasm"), Limits{})
	first := plugin.Pool("first") // takes the instance Compile started
	plugin.config = []byte("!")
	later := plugin.Pool("later")

	e := newEcho()
	e.POST("/first", echo.WrapHandler(backend()), echo.WrapMiddleware(first.Middleware))
	e.POST("/later", echo.WrapHandler(backend()), echo.WrapMiddleware(later.Middleware))
	serve := func(path, id string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest("POST", path, strings.NewReader("a body"))
		r.Header.Set("X-Request-Id", id)
		e.ServeHTTP(rec, r)
		return rec
	}

	for i := range 3 {
		id := fmt.Sprintf("later-%d", i)
		rec := serve("/later", id)
		assert.Equal(t, 500, rec.Code)
		assert.Equal(t, `{"error":"internal server error","status":500,"request_id":"`+id+`"}`, rec.Body.String())
		assert.Empty(t, rec.Header().Get("X-Backend-Method"), "the backend did not run")

		rec = serve("/first", "first")
		assert.Equal(t, 200, rec.Code, "the instance Compile started still serves")
		assert.Equal(t, "backend body", rec.Body.String())
	}
	s := later.Stats()
	assert.Equal(t, uint64(3), s.Instantiations, "every request tried a fresh instance")
	assert.Equal(t, uint64(3), s.Traps)
	assert.Zero(t, s.Size)
	assert.Equal(t, uint64(1), first.Stats().Instantiations)
	assert.Contains(t, logs.String(), "request_id=later-2 call=start reason=trap status=500")
}

// baseline returns the goroutine count and live heap with no connection
// open.
func baseline(client *http.Client) (goroutines int, heap uint64) {
	client.CloseIdleConnections()
	time.Sleep(50 * time.Millisecond) // connection goroutines notice the close
	return runtime.NumGoroutine(), liveHeap()
}

// settle waits up to five seconds for the goroutine count to come down to
// want, and returns it with the live heap.
func settle(client *http.Client, want int) (goroutines int, heap uint64) {
	client.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for {
		goroutines = runtime.NumGoroutine()
		if goroutines <= want || time.Now().After(deadline) {
			return goroutines, liveHeap()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestHostileCaseCount keeps the oob cases in step with the guest.
func TestHostileCaseCount(t *testing.T) {
	wat := string(testdata(t, "hostile/oob.wat"))
	require.Contains(t, wat, ";;   x: ", "the oob test walks cases a to x")
	require.NotContains(t, wat, ";;   y: ")
}
