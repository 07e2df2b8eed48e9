package sandbox

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exampleGuests are the guests of examples/guests, built once per test
// binary by exampleGuestsWasm.
var exampleGuests struct {
	once sync.Once
	wasm map[string][]byte
	err  error
}

// exampleGuestsWasm builds every example guest with examples/guests/build.sh,
// as make does, and returns each by name. It skips the test, saying why,
// only when the build for GOOS=wasip1 fails.
func exampleGuestsWasm(t *testing.T) map[string][]byte {
	t.Helper()
	g := &exampleGuests
	g.once.Do(func() {
		out, err := os.MkdirTemp("", "tandem-example-guests")
		if err != nil {
			g.err = err
			return
		}
		defer os.RemoveAll(out)
		log, err := exec.Command("sh", filepath.Join("..", "examples", "guests", "build.sh"), out).CombinedOutput()
		if err != nil {
			g.err = &buildError{msg: string(log), err: err}
			return
		}
		g.wasm = make(map[string][]byte)
		for _, line := range strings.Split(strings.TrimSpace(string(log)), "\n") {
			name, rest, _ := strings.Cut(line, " ")
			path, _, _ := strings.Cut(rest, " ")
			if g.wasm[name], err = os.ReadFile(path); err != nil {
				g.err = err
				return
			}
		}
	})
	if g.err != nil {
		t.Skipf("the example guests did not build with examples/guests/build.sh "+
			"(GOOS=wasip1 GOARCH=wasm -buildmode=c-shared needs Go 1.24 or later), so they are not served: %v", g.err)
	}
	for _, name := range []string{"auth", "addheader", "rewrite", "hello"} {
		require.NotEmpty(t, g.wasm[name], "build.sh built no %s guest", name)
	}
	return g.wasm
}

// exampleLimits are what a policy would give the example guests: 8 MiB
// is enough for a Go guest (2.3 to 3.2 MiB after it starts). The timeout
// is generous for the race detector, which slows guests tenfold.
var exampleLimits = Limits{Memory: 8 << 20, Timeout: 2 * time.Second, Instances: 4}

// TestExampleGuests serves each example guest, built from source and
// compiled with its configuration, through Echo: the middleware in front
// of a small Go backend, hello as a route's handler, and auth and
// addheader chained. Every plugin compiles on one engine, so each module
// is compiled once, then taken from its cache.
//
// With the race detector on, the engine uses wazero's interpreter: the
// compiler, itself slowed down, would take about a minute for the four
// guests, and the race detector sees no more of the host's code with it
// (guest code is not instrumented either way). Without it, the test uses
// the compiler, as tandem does.
func TestExampleGuests(t *testing.T) {
	wasm := exampleGuestsWasm(t)
	logs := &logBuffer{}
	engine, err := newEngine(t.Context(), EngineConfig{
		CacheDir: t.TempDir(),
		Logger:   slog.New(slog.NewTextHandler(logs, nil)),
	}, engineOptions{interpreter: raceEnabled})
	require.NoError(t, err)
	t.Cleanup(func() { _ = engine.Close(context.Background()) })

	// Compiled side by side: the Go guests take a second or two each.
	configs := map[string]string{
		"auth": `{"header": "X-Api-Key", "keys": ["k1", "s3cret"]}`,
		"addheader": `{"request": {"X-Forwarded-By": "tandem"},
			"response": {"X-Frame-Options": "DENY", "Cache-Control": "no-store"}}`,
		"rewrite": `{"replace": [{"from": "world", "to": "everyone"}, {"from": "Hello", "to": "Howdy"}]}`,
		"hello":   "",
	}
	plugins := make(map[string]*Plugin)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, config := range configs {
		wg.Go(func() {
			began := time.Now()
			p, err := engine.Compile(t.Context(), PluginConfig{Name: name, Wasm: wasm[name], Config: []byte(config), Limits: exampleLimits})
			if !assert.NoError(t, err) {
				return
			}
			t.Logf("%s: compiled and started in %v; %d KiB of linear memory after _initialize",
				name, time.Since(began).Round(time.Millisecond), p.spare.mod.Memory().Size()>>10)
			mu.Lock()
			plugins[name] = p
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	auth, addheader, rewrite, hello := plugins["auth"], plugins["addheader"], plugins["rewrite"], plugins["hello"]

	// The backend says what it saw, and counts its calls.
	var calls atomic.Int64
	backend := func(c echo.Context) error {
		calls.Add(1)
		r := c.Request()
		body, _ := json.Marshal(map[string]string{
			"path":           r.URL.Path,
			"x-forwarded-by": r.Header.Get("X-Forwarded-By"),
		})
		return c.Blob(http.StatusOK, "application/json", body)
	}
	text := func(contentType, body string) echo.HandlerFunc {
		return func(c echo.Context) error {
			calls.Add(1)
			h := c.Response().Header()
			h.Set("Content-Length", strconv.Itoa(len(body)))
			if c.QueryParam("br") != "" {
				h.Set("Content-Encoding", "br") // a pretence: the rewrite must leave it alone
			}
			return c.Blob(http.StatusOK, contentType, []byte(body))
		}
	}

	e := newEcho()
	mw := func(p *Plugin) echo.MiddlewareFunc { return echo.WrapMiddleware(p.Pool("").Middleware) }
	e.GET("/auth/*", backend, mw(auth))
	e.GET("/addheader/*", backend, mw(addheader))
	e.GET("/rewrite/text", text("text/plain; charset=utf-8", "Hello, world! Hello again."), mw(rewrite))
	e.GET("/rewrite/json", text("application/json", `{"greeting":"Hello, world"}`), mw(rewrite))
	e.GET("/rewrite/png", text("image/png", "Hello, world"), mw(rewrite))
	e.Any("/hello", echo.WrapHandler(hello.Pool("").Handler()))
	// Route middleware runs in the order given: auth first.
	e.GET("/chain/*", backend, echo.WrapMiddleware(auth.Pool("chain").Middleware),
		echo.WrapMiddleware(addheader.Pool("chain").Middleware))
	srv := echoServer(t, e)
	client := srv.Client()
	get := func(t *testing.T, path string, header ...string) response {
		t.Helper()
		return do(t, client, "GET", srv.URL+path, "", header...)
	}
	// called runs f and reports whether the backend ran.
	called := func(f func()) bool {
		before := calls.Load()
		f()
		return calls.Load() != before
	}

	t.Run("auth", func(t *testing.T) {
		var r response
		assert.True(t, called(func() { r = get(t, "/auth/x", "X-Api-Key", "s3cret") }), "a valid key reaches the backend")
		assert.Equal(t, 200, r.status)
		assert.JSONEq(t, `{"path":"/auth/x","x-forwarded-by":""}`, r.body)

		for _, c := range []struct {
			name   string
			header []string
			want   string
		}{
			{"missing key", nil, `{"error":"missing API key in X-Api-Key","status":401}`},
			{"wrong key", []string{"X-Api-Key", "k2"}, `{"error":"invalid API key","status":401}`},
			{"empty key", []string{"X-Api-Key", ""}, `{"error":"missing API key in X-Api-Key","status":401}`},
		} {
			assert.False(t, called(func() { r = get(t, "/auth/x", c.header...) }), "%s: the backend is not called", c.name)
			assert.Equal(t, 401, r.status, c.name)
			assert.Equal(t, "application/json", r.header.Get("Content-Type"), c.name)
			assert.Equal(t, c.want, r.body, c.name)
		}
	})

	t.Run("addheader", func(t *testing.T) {
		r := get(t, "/addheader/x", "X-Forwarded-By", "somebody else")
		assert.Equal(t, 200, r.status)
		assert.JSONEq(t, `{"path":"/addheader/x","x-forwarded-by":"tandem"}`, r.body, "the backend sees the request header, replaced")
		assert.Equal(t, "DENY", r.header.Get("X-Frame-Options"), "the client sees the response headers")
		assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
		assert.Equal(t, "application/json", r.header.Get("Content-Type"), "the backend's headers stay")
	})

	t.Run("rewrite", func(t *testing.T) {
		for _, c := range []struct{ path, want string }{
			{"/rewrite/text", "Howdy, everyone! Howdy again."},
			{"/rewrite/json", `{"greeting":"Howdy, everyone"}`},
			{"/rewrite/png", "Hello, world"},                     // not text
			{"/rewrite/text?br=1", "Hello, world! Hello again."}, // compressed
		} {
			r := get(t, c.path)
			assert.Equal(t, 200, r.status, c.path)
			assert.Equal(t, c.want, r.body, c.path)
			assert.Equal(t, strconv.Itoa(len(c.want)), r.header.Get("Content-Length"), "%s: Content-Length is the body's", c.path)
		}
	})

	t.Run("hello", func(t *testing.T) {
		var r response
		assert.False(t, called(func() { r = get(t, "/hello?name=tandem") }))
		assert.Equal(t, 200, r.status)
		assert.Equal(t, "application/json", r.header.Get("Content-Type"))
		assert.Equal(t, `{"hello":"tandem"}`, r.body)
		assert.Equal(t, `{"hello":"world"}`, get(t, "/hello").body)

		r = do(t, client, "POST", srv.URL+"/hello", "x")
		assert.Equal(t, 405, r.status)
		assert.Equal(t, "GET, HEAD", r.header.Get("Allow"))
		assert.Equal(t, `{"error":"method not allowed","status":405}`, r.body)
	})

	t.Run("chain", func(t *testing.T) {
		var r response
		assert.False(t, called(func() { r = get(t, "/chain/x") }), "auth refuses before addheader runs")
		assert.Equal(t, 401, r.status)
		assert.Empty(t, r.header.Get("X-Frame-Options"), "addheader never saw the request")

		assert.True(t, called(func() { r = get(t, "/chain/x", "X-Api-Key", "k1") }))
		assert.Equal(t, 200, r.status)
		assert.JSONEq(t, `{"path":"/chain/x","x-forwarded-by":"tandem"}`, r.body)
		assert.Equal(t, "DENY", r.header.Get("X-Frame-Options"))
		assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
	})

	t.Run("pools", func(t *testing.T) {
		for _, p := range []*Plugin{auth, addheader, rewrite, hello} {
			for _, pool := range p.Pools() {
				s := pool.Stats()
				assert.Zero(t, s.Traps+s.Timeouts+s.ABIViolations+s.Rejected, "%s/%s: %+v", p.Name(), pool.Tenant(), s)
				assert.Equal(t, uint64(s.Size), s.Instantiations, "%s/%s: every instance kept", p.Name(), pool.Tenant())
			}
		}
	})

	// A config the guest refuses is an error at load, in the guest's words.
	t.Run("bad config", func(t *testing.T) {
		for _, c := range []struct{ name, config, want string }{
			{"auth", `{"header": "X-Api-Key", "kyes": ["k1"]}`, `panic: auth: config: json: unknown field "kyes"`},
			{"auth", `{"header": ""}`, `panic: auth: config: "header" is empty`},
			{"addheader", `{"request": {"X-A": 1}}`, `panic: addheader: config: json: cannot unmarshal number`},
			{"rewrite", `{"replace": [{"from": "", "to": "x"}]}`, `panic: rewrite: config: a "from" is empty`},
		} {
			_, err := engine.Compile(t.Context(), PluginConfig{Name: c.name, Wasm: wasm[c.name], Config: []byte(c.config), Limits: exampleLimits})
			require.Error(t, err, c.config)
			assert.Contains(t, err.Error(), `plugin "`+c.name+`": the guest failed to start with its config and limits: `+c.want)
			assert.Contains(t, err.Error(), "fix the plugin's config or its module (the log has the guest's whole output)")
			assert.NotContains(t, err.Error(), "goroutine", "without the guest's stack dump")
		}
		assert.Contains(t, logs.String(), `msg="plugin output" plugin=auth stream=stderr text="panic: auth: config: json: unknown field \"kyes\"`)
	})
}
