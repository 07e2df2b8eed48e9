package native_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemhost/tandem/internal/pytest"
	"github.com/tandemhost/tandem/native"
	"github.com/tandemhost/tandem/native/topology"
)

// The runtime each test process uses: the embedded CPython, unless a child
// of the version matrix was pointed at another library.
var rt *native.Runtime

const envChildLib = pytest.EnvLibpython

func TestMain(m *testing.M) {
	var err error
	rt, err = pytest.Runtime()
	if err != nil {
		fmt.Fprintln(os.Stderr, "native tests: the Python runtime cannot start:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := native.Finalize(); err != nil {
		fmt.Fprintln(os.Stderr, "finalize:", err)
		code = 1
	}
	os.Exit(code)
}

func appsDir(t testing.TB) string {
	d, err := filepath.Abs("testdata/apps")
	require.NoError(t, err)
	return d
}

// Route ids used by the tests.
const (
	rHit = iota
	rNoop
	rHello
	rEcho
	rBoom
	rTeapot
	rBadReturn
	rSleepy
	rRefuse
	rBig
	rBurn
	rStdlib
	rWSGI
)

func testRoutes() []native.Route {
	py := func(id int, target, path string, params ...string) native.Route {
		return native.Route{ID: id, Kind: "python", Target: target, Path: path, Params: params}
	}
	return []native.Route{
		py(rHit, "state:hit", "/hit"),
		py(rNoop, "state:noop", "/noop"),
		py(rHello, "state:hello", "/hello/:name", "name"),
		py(rEcho, "state:echo", "/echo"),
		py(rBoom, "state:boom", "/boom"),
		py(rTeapot, "state:teapot", "/teapot"),
		py(rBadReturn, "state:bad_return", "/bad"),
		py(rSleepy, "state:sleepy", "/sleepy"),
		py(rRefuse, "state:refuse", "/refuse"),
		py(rBig, "state:big", "/big"),
		py(rBurn, "state:burn", "/burn"),
		py(rStdlib, "state:stdlib", "/stdlib"),
		{ID: rWSGI, Kind: "wsgi", Target: "wsgiapp:app", Path: "/wsgi/*", Params: []string{"*"}},
	}
}

func newPool(t testing.TB, workers int, iso native.Isolation, mutate ...func(*native.Config)) *native.Pool {
	t.Helper()
	cfg := native.Config{
		Workers:   workers,
		Isolation: iso,
		Path:      []string{appsDir(t)},
		Init:      "state:setup",
		Routes:    testRoutes(),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	p, err := native.NewPool(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close(context.Background())) })
	return p
}

func get(route int, path string, params ...native.Param) *native.Request {
	return &native.Request{Route: route, Method: "GET", Path: path, RequestID: "req-1",
		RemoteAddr: "127.0.0.1:5555", Scheme: "http", Proto: "HTTP/1.1", Host: "localhost",
		ServerName: "127.0.0.1", ServerPort: "8080", Params: params}
}

func do(t testing.TB, p *native.Pool, req *native.Request) (*native.Response, map[string]any) {
	t.Helper()
	resp, err := p.Do(context.Background(), req)
	require.NoError(t, err)
	var body map[string]any
	if strings.HasPrefix(header(resp, "Content-Type"), "application/json") {
		require.NoError(t, json.Unmarshal(resp.Body, &body), "body %q", resp.Body)
	}
	return resp, body
}

func header(r *native.Response, name string) string {
	for _, h := range r.Header {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

func TestHandlerBasics(t *testing.T) {
	p := newPool(t, 1, native.OwnGIL)

	resp, body := do(t, p, get(rHello, "/hello/world", native.Param{Name: "name", Value: "world"}))
	assert.Equal(t, 200, resp.Status)
	assert.Equal(t, map[string]any{"hello": "world"}, body)

	req := get(rEcho, "/echo")
	req.Method, req.Body = "POST", []byte("payload \x00\xff")
	resp, _ = do(t, p, req)
	assert.Equal(t, 200, resp.Status)
	assert.Equal(t, []byte("payload \x00\xff"), resp.Body)
	assert.Equal(t, "POST", header(resp, "X-Method"))
	assert.Equal(t, "application/octet-stream", header(resp, "Content-Type"))

	// Larger than the 16 KiB output buffer: goes through the overflow path.
	req = get(rBig, "/big")
	req.Query = "size=1000000"
	resp, _ = do(t, p, req)
	assert.Equal(t, 200, resp.Status)
	assert.Len(t, resp.Body, 1000000)
	resp.Release()

	resp, _ = do(t, p, &native.Request{Route: rWSGI, Method: "PUT", Path: "/wsgi/a/b",
		Params: []native.Param{{Name: "*", Value: "a/b"}}, Scheme: "http", Proto: "HTTP/1.1",
		ServerName: "localhost", ServerPort: "80"})
	assert.Equal(t, 200, resp.Status)
	assert.Equal(t, "PUT /wsgi /a/b", string(resp.Body))
}

func TestErrorsAreResponses(t *testing.T) {
	p := newPool(t, 1, native.OwnGIL)
	cases := []struct {
		route  int
		status int
		log    string
	}{
		{rBoom, 500, "ValueError: kaboom"},
		{rTeapot, 418, ""},
		{rBadReturn, 500, "object"},
		{rRefuse, 500, "isolation: shared"},
	}
	for _, c := range cases {
		resp, body := do(t, p, get(c.route, "/x"))
		assert.Equal(t, c.status, resp.Status, "route %d", c.route)
		assert.Equal(t, "req-1", body["request_id"], "route %d", c.route)
		if c.log != "" {
			assert.Contains(t, resp.Log, c.log, "route %d", c.route)
			assert.NotContains(t, string(resp.Body), "Traceback")
		}
	}
	// The pool still serves.
	resp, _ := do(t, p, get(rNoop, "/noop"))
	assert.Equal(t, 200, resp.Status)
}

func TestWorkersHaveSeparateInterpreters(t *testing.T) {
	const n = 2
	p := newPool(t, n, native.OwnGIL)
	// counters[worker] collects the module counter each hit saw there.
	counters := map[int][]int{}
	interps := map[int]float64{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				// A slow request keeps a worker busy so the hits spread.
				req := get(rSleepy, "/sleepy")
				req.Query = "seconds=0.001"
				do(t, p, req)
				_, body := do(t, p, get(rHit, "/hit"))
				w := int(body["worker"].(float64))
				mu.Lock()
				counters[w] = append(counters[w], int(body["counter"].(float64)))
				interps[w] = body["interp"].(float64)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Len(t, counters, n, "every worker served requests")
	assert.NotEqual(t, interps[0], interps[1], "each worker runs its own interpreter")
	for _, w := range p.Workers() {
		assert.NotZero(t, w.Interpreter, "own-GIL workers are not the main interpreter")
		assert.Equal(t, float64(w.Interpreter), interps[w.Index])
	}
	// Module state is per interpreter: each worker's counter counted its
	// own hits, 1..k, and nobody else's.
	total := 0
	for w, seen := range counters {
		sort.Ints(seen)
		for i, c := range seen {
			require.Equal(t, i+1, c, "worker %d saw counters %v", w, seen)
		}
		total += len(seen)
	}
	assert.Equal(t, 400, total)
}

func TestSharedModeUsesMainInterpreter(t *testing.T) {
	p := newPool(t, 2, native.Shared)
	for _, w := range p.Workers() {
		assert.Zero(t, w.Interpreter)
	}
	_, a := do(t, p, get(rHit, "/hit"))
	_, b := do(t, p, get(rHit, "/hit"))
	assert.Equal(t, a["module_id"], b["module_id"], "one interpreter, one module")
	// The refusing extension imports in the main interpreter.
	resp, body := do(t, p, get(rRefuse, "/refuse"))
	assert.Equal(t, 200, resp.Status, "%s", resp.Log)
	assert.Equal(t, true, body["imported"])
}

func TestPinnedWorkers(t *testing.T) {
	topo, err := topology.Detect()
	require.NoError(t, err)
	slots, err := topo.Place(len(topo.PhysicalUsable()), true)
	require.NoError(t, err)
	cpus := make([]int, len(slots))
	for i, s := range slots {
		cpus[i] = s.CPU
	}
	p := newPool(t, len(cpus), native.OwnGIL, func(c *native.Config) { c.CPUs = cpus })
	cores := map[string]bool{}
	for i, w := range p.Workers() {
		allowed, err := topology.ThreadAllowedCPUs(w.ThreadID)
		require.NoError(t, err)
		assert.Equal(t, []int{cpus[i]}, allowed, "worker %d thread %d", i, w.ThreadID)
		s := slots[i]
		key := fmt.Sprintf("%d/%d/%d", s.Core.Package, s.Core.Die, s.Core.ID)
		assert.False(t, cores[key], "two workers on core %s", key)
		cores[key] = true
	}
	_, body := do(t, p, get(rHit, "/hit"))
	assert.NotNil(t, body["cpu"], "the init hook saw its CPU")
}

func TestRestartWorker(t *testing.T) {
	p := newPool(t, 2, native.OwnGIL)
	before := p.Workers()
	// Give worker 0 state, restart it, and see a fresh interpreter.
	require.NoError(t, p.Exec(0, "import state; state.COUNTER = 1000"))
	require.NoError(t, p.Restart(0))
	after := p.Workers()
	assert.NotEqual(t, before[0].Interpreter, after[0].Interpreter)
	assert.Equal(t, before[1].Interpreter, after[1].Interpreter)
	if p.Floating() {
		assert.Zero(t, after[0].ThreadID, "a floating worker has no thread of its own")
	} else {
		assert.NotEqual(t, before[0].ThreadID, after[0].ThreadID)
	}
	require.NoError(t, p.Exec(0, "import state\nassert state.COUNTER < 1000, state.COUNTER"))
}

func TestConcurrentCallers(t *testing.T) {
	p := newPool(t, 2, native.OwnGIL)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	routes := []int{rNoop, rBoom, rTeapot, rBadReturn, rRefuse, rHello, rSleepy}
	want := map[int]int{rNoop: 200, rBoom: 500, rTeapot: 418, rBadReturn: 500, rRefuse: 500, rHello: 200, rSleepy: 200}
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				route := routes[(g+i)%len(routes)]
				req := get(route, "/x", native.Param{Name: "name", Value: "n"})
				if route == rSleepy {
					req.Query = "seconds=0.002"
				}
				resp, err := p.Do(context.Background(), req)
				if err != nil {
					errs <- err
					return
				}
				if resp.Status != want[route] {
					errs <- fmt.Errorf("route %d: status %d, log %s", route, resp.Status, resp.Log)
					return
				}
				resp.Release()
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestContextCancelAbandonsRequest(t *testing.T) {
	p := newPool(t, 1, native.OwnGIL)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req := get(rSleepy, "/sleepy")
	req.Query = "seconds=0.3"
	_, err := p.Do(ctx, req)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	// The worker finishes the slow request and serves the next one.
	resp, _ := do(t, p, get(rNoop, "/noop"))
	assert.Equal(t, 200, resp.Status)
}

func TestStartupErrors(t *testing.T) {
	cases := []struct {
		name   string
		routes []native.Route
		init   string
		want   string
	}{
		{"missing module", []native.Route{{ID: 0, Kind: "python", Target: "nosuchmodule:fn", Path: "/"}}, "", "nosuchmodule"},
		{"missing function", []native.Route{{ID: 0, Kind: "python", Target: "state:nosuchfn", Path: "/"}}, "", "nosuchfn"},
		{"bad init", testRoutes(), "state:nosuchinit", "nosuchinit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := native.NewPool(native.Config{Workers: 1, Isolation: native.OwnGIL,
				Path: []string{appsDir(t)}, Init: c.init, Routes: c.routes})
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
	// The runtime is fine afterwards.
	p := newPool(t, 1, native.OwnGIL)
	resp, _ := do(t, p, get(rNoop, "/noop"))
	assert.Equal(t, 200, resp.Status)
}

func TestDoAfterClose(t *testing.T) {
	p, err := native.NewPool(native.Config{Workers: 1, Path: []string{appsDir(t)}, Routes: testRoutes()})
	require.NoError(t, err)
	require.NoError(t, p.Close(context.Background()))
	_, err = p.Do(context.Background(), get(rNoop, "/noop"))
	assert.ErrorIs(t, err, native.ErrClosed)
}

func TestCloseDrainsQueue(t *testing.T) {
	p, err := native.NewPool(native.Config{Workers: 1, Path: []string{appsDir(t)}, Routes: testRoutes()})
	require.NoError(t, err)
	var wg sync.WaitGroup
	statuses := make(chan int, 10)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := get(rSleepy, "/sleepy")
			req.Query = "seconds=0.01"
			resp, err := p.Do(context.Background(), req)
			if err != nil {
				statuses <- -1
				return
			}
			statuses <- resp.Status
		}()
	}
	time.Sleep(5 * time.Millisecond) // let them queue
	require.NoError(t, p.Close(context.Background()))
	wg.Wait()
	close(statuses)
	for s := range statuses {
		// Each was either served before closing or refused cleanly.
		assert.Contains(t, []int{200, -1}, s)
	}
}
