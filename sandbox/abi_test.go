package sandbox

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// probeServer serves the probe guest (testdata/probe) through Echo: as
// middleware under /mw/ in front of backend(), and as the handler of
// /handler.
func probeServer(t *testing.T) (url string, pool *Pool, logs *logBuffer) {
	t.Helper()
	wasm := buildGoGuest(t, "probe")
	engine, logs := testEngine(t)
	plugin, err := engine.Compile(t.Context(), PluginConfig{
		Name: "probe", Wasm: wasm, Config: []byte(`{"greeting":"hi"}`),
		Limits: Limits{Timeout: 5 * time.Second}, // generous: -race slows the guest
	})
	require.NoError(t, err)
	pool = plugin.Pool("acme")

	e := newEcho()
	e.Use(recoverPanics)
	mw := e.Group("/mw", echo.WrapMiddleware(pool.Middleware), renderErrors)
	mw.Any("/echo", echo.WrapHandler(backend()))
	mw.GET("/trailers", func(c echo.Context) error {
		w := c.Response()
		w.Header().Set("Trailer", "X-Backend-Trailer")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "with trailers")
		w.Header().Set("X-Backend-Trailer", "bt")
		return nil
	})
	mw.GET("/panic", func(echo.Context) error { panic("the backend fails") })
	mw.GET("/missing", func(echo.Context) error { return echo.NewHTTPError(http.StatusNotFound, "no such thing") })
	e.Any("/handler", echo.WrapHandler(pool.Handler()))
	return echoServer(t, e).URL, pool, logs
}

// recoverPanics answers a panic with a 500, as the host's recovery does.
func recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if v := recover(); v != nil {
				err = echo.NewHTTPError(http.StatusInternalServerError)
			}
		}()
		return next(c)
	}
}

// limitBody caps request bodies, as the host's body limit does.
func limitBody(n int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, n)
			return next(c)
		}
	}
}

// renderErrors writes an Echo handler's error inside the chain a Wasm
// middleware wraps, where the middleware (and its guest) can see it. See
// Pool.Middleware.
func renderErrors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := next(c); err != nil {
			c.Error(err)
		}
		return nil
	}
}

func TestABI(t *testing.T) {
	url, pool, logs := probeServer(t)
	client := http.DefaultClient

	t.Run("headers, method and URI", func(t *testing.T) {
		r := do(t, client, "GET", url+"/mw/echo?x=1", "", "X-Probe", "headers", "X-Remove", "gone")
		require.Equal(t, 200, r.status)
		assert.Equal(t, "backend body", r.body)
		assert.Equal(t, "1,2", r.header.Get("X-Backend-A"), "set then add, with a lower-case name")
		assert.Equal(t, "", r.header.Get("X-Backend-Remove"))
		assert.Equal(t, "yes", r.header.Get("X-Guest"), "set before next, kept with the backend's headers")
		names := strings.Split(r.header.Get("X-Names"), ",")
		assert.Contains(t, names, "x-a")
		assert.Contains(t, names, "x-probe")
		assert.Contains(t, names, "host", "Host is a header to the guest")
		assert.NotContains(t, names, "x-remove")
		assert.Equal(t, strings.TrimPrefix(url, "http://"), r.header.Get("X-Host"))
		assert.Equal(t, "GET", r.header.Get("X-Method"))
		assert.Equal(t, "/mw/echo?x=1", r.header.Get("X-URI"))
		assert.Equal(t, "200", r.header.Get("X-Status"), "handle_response sees the backend's status")
		assert.Equal(t, "1", r.header.Get("X-After"))
		assert.Contains(t, strings.Split(r.header.Get("X-Response-Names"), ","), "x-backend-method")
	})

	t.Run("rewrite the buffered response", func(t *testing.T) {
		r := do(t, client, "GET", url+"/mw/echo", "", "X-Probe", "rewrite", "X-Remove", "x")
		assert.Equal(t, 201, r.status)
		assert.Equal(t, "BACKEND BODY", r.body)
		assert.Equal(t, "12", r.header.Get("Content-Length"))
		assert.Equal(t, "1", r.header.Get("X-Rewritten"))
		assert.NotContains(t, r.header, "X-Backend-Remove")
	})

	t.Run("status after next without feature_buffer_response", func(t *testing.T) {
		r := do(t, client, "GET", url+"/mw/echo", "", "X-Probe", "late-status")
		assert.Equal(t, 202, r.status)
		assert.Equal(t, "backend body", r.body)
	})

	t.Run("guest answers as middleware and as handler", func(t *testing.T) {
		for _, path := range []string{"/mw/echo", "/handler"} {
			r := do(t, client, "GET", url+path, "", "X-Probe", "handler")
			assert.Equal(t, 418, r.status, path)
			assert.Equal(t, "short and stout", r.body, path)
			assert.Equal(t, "text/plain", r.header.Get("Content-Type"), path)
			assert.Empty(t, r.header.Get("X-Backend-Method"), "%s: next did not run", path)
		}
	})

	t.Run("config", func(t *testing.T) {
		r := do(t, client, "GET", url+"/handler", "", "X-Probe", "config")
		assert.Equal(t, `{"greeting":"hi"}`, r.body)
	})

	t.Run("log, bounded per call", func(t *testing.T) {
		r := do(t, client, "GET", url+"/handler", "", "X-Probe", "log", "X-Request-Id", "rid-log")
		assert.Equal(t, 200, r.status)
		assert.Equal(t, "1", r.header.Get("X-Debug-Enabled"))
		l := logs.String()
		assert.Contains(t, l, `level=INFO msg="plugin log" plugin=probe tenant=acme message="hello from the guest" request_id=rid-log`)
		assert.Contains(t, l, `level=ERROR msg="plugin log" plugin=probe tenant=acme message="an error from the guest"`)
		assert.Contains(t, l, "plugin log records dropped")
		assert.Contains(t, l, "dropped=38", "102 records, 64 kept")
	})

	t.Run("buffered request body reaches next", func(t *testing.T) {
		r := do(t, client, "POST", url+"/mw/echo", "hello body", "X-Probe", "buffered-body")
		assert.Equal(t, "hello body", r.header.Get("X-Backend-Guest-Read"))
		assert.Equal(t, "hello body", r.header.Get("X-Backend-Body"))
	})

	t.Run("unbuffered request body is consumed", func(t *testing.T) {
		r := do(t, client, "POST", url+"/mw/echo", "abcdef", "X-Probe", "consume-body")
		assert.Equal(t, "abc", r.header.Get("X-Backend-Guest-Read"))
		assert.Equal(t, "def", r.header.Get("X-Backend-Body"))
	})

	t.Run("request body replaced", func(t *testing.T) {
		r := do(t, client, "POST", url+"/mw/echo", "original", "X-Probe", "replace-body")
		assert.Equal(t, "replaced body", r.header.Get("X-Backend-Body"))
	})

	t.Run("method and URI rewritten", func(t *testing.T) {
		r := do(t, client, "GET", url+"/mw/echo", "", "X-Probe", "method-uri")
		assert.Equal(t, "PUT", r.header.Get("X-Backend-Method"))
		assert.Equal(t, "/rewritten?q=a%20b", r.header.Get("X-Backend-URI"))
	})

	t.Run("request context reaches handle_response", func(t *testing.T) {
		r := do(t, client, "GET", url+"/mw/echo", "", "X-Probe", "ctx")
		assert.Equal(t, "42", r.header.Get("X-Req-Ctx"))
		assert.Equal(t, "0", r.header.Get("X-Is-Error"))
	})

	t.Run("trailers", func(t *testing.T) {
		r := do(t, client, "GET", url+"/mw/trailers", "", "X-Probe", "trailers")
		assert.Equal(t, "with trailers", r.body)
		assert.Equal(t, "bt", r.header.Get("Trailer-X-Backend-Trailer"))
		assert.Equal(t, "bt!", r.header.Get("Trailer-X-Guest-Trailer"))
		assert.Equal(t, "x-backend-trailer,x-guest-trailer", r.header.Get("X-Trailer-Names"))
	})

	t.Run("body written before next comes first", func(t *testing.T) {
		r := do(t, client, "GET", url+"/mw/echo", "", "X-Probe", "write-then-next")
		assert.Equal(t, "guest;backend body", r.body)
		assert.Equal(t, "guest;backend body", r.header.Get("X-Body-Seen"))
		assert.Equal(t, strconv.Itoa(len(r.body)), r.header.Get("Content-Length"))
	})

	t.Run("status set before next", func(t *testing.T) {
		r := do(t, client, "GET", url+"/mw/echo", "", "X-Probe", "status-before-next")
		assert.Equal(t, "201", r.header.Get("X-Status-Seen"))
		assert.Equal(t, 200, r.status, "the backend's WriteHeader decides")
	})

	t.Run("source address and protocol", func(t *testing.T) {
		r := do(t, client, "GET", url+"/handler", "", "X-Probe", "source")
		assert.Regexp(t, `^127\.0\.0\.1:\d+ HTTP/1\.1$`, r.body)
	})

	t.Run("no environment, arguments, files or clock", func(t *testing.T) {
		r := do(t, client, "GET", url+"/handler", "", "X-Probe", "isolation")
		require.Equal(t, 200, r.status, r.body)
		var got struct {
			Env, Args, Year int
			File, Wd        string
		}
		require.NoError(t, json.Unmarshal([]byte(r.body), &got))
		assert.Zero(t, got.Env)
		assert.Zero(t, got.Args)
		assert.NotEqual(t, "<nil>", got.File, "no file can be opened")
		assert.Less(t, got.Year, time.Now().Year(), "the clock is wazero's fake one")
	})

	t.Run("stdout and stderr go to the log, bounded", func(t *testing.T) {
		r := do(t, client, "GET", url+"/handler", "", "X-Probe", "print")
		assert.Equal(t, 200, r.status)
		l := logs.String()
		assert.Contains(t, l, `msg="plugin output" plugin=probe tenant=acme stream=stdout text="to stdout\n"`)
		assert.Contains(t, l, `stream=stderr text="to stderr\nxxxx`)
		assert.Contains(t, l, "dropped_bytes=")
	})

	t.Run("a panic is a 500 with the request id, its text only in the log", func(t *testing.T) {
		before := pool.Stats()
		r := do(t, client, "GET", url+"/mw/echo", "", "X-Probe", "panic", "X-Request-Id", "rid-panic")
		assert.Equal(t, 500, r.status)
		assert.Equal(t, `{"error":"internal server error","status":500,"request_id":"rid-panic"}`, r.body)
		assert.Equal(t, "application/json", r.header.Get("Content-Type"))
		assert.Empty(t, r.header.Get("X-Backend-Method"))
		assert.Contains(t, logs.String(), "secret guest panic text")
		after := pool.Stats()
		assert.Equal(t, before.Traps+1, after.Traps)

		r = do(t, client, "GET", url+"/mw/echo", "", "X-Probe", "ctx")
		assert.Equal(t, 200, r.status, "the next request is served")
		assert.Equal(t, after.Instantiations+1, pool.Stats().Instantiations, "by a fresh instance")
	})

	t.Run("next=1 from a handler is an ABI violation", func(t *testing.T) {
		before := pool.Stats()
		r := do(t, client, "GET", url+"/handler", "", "X-Probe", "ctx", "X-Request-Id", "rid-next")
		assert.Equal(t, 500, r.status)
		assert.Contains(t, r.body, `"request_id":"rid-next"`)
		assert.Equal(t, before.ABIViolations+1, pool.Stats().ABIViolations)
		assert.Contains(t, logs.String(), "there is no next handler")
	})

	t.Run("a panic in next reaches handle_response, then fails the request", func(t *testing.T) {
		before := pool.Stats()
		r := do(t, client, "GET", url+"/mw/panic", "", "X-Probe", "ctx", "X-Request-Id", "rid-np")
		assert.Equal(t, 500, r.status)
		assert.Equal(t, `{"error":"internal server error","status":500,"request_id":"rid-np"}`, r.body)
		assert.Contains(t, logs.String(), `msg="panic in the handler after a plugin" plugin=probe tenant=acme request_id=rid-np panic="the backend fails"`)
		after := pool.Stats()
		assert.Equal(t, before.Traps, after.Traps, "the guest did nothing wrong")
		assert.Equal(t, after.Size, after.Idle, "its instance went back to the pool")
	})

	t.Run("an Echo error rendered inside the chain", func(t *testing.T) {
		r := do(t, client, "GET", url+"/mw/missing", "", "X-Probe", "headers")
		assert.Equal(t, 404, r.status)
		assert.Equal(t, "404", r.header.Get("X-Status"), "the guest saw it")
	})

	t.Run("HEAD", func(t *testing.T) {
		r := do(t, client, "HEAD", url+"/handler", "", "X-Probe", "handler")
		assert.Equal(t, 418, r.status)
		assert.Empty(t, r.body)
	})
}

// TestRequestBodyErrors: a body the route refuses while the guest reads
// it is the client's problem, not a broken guest.
func TestRequestBodyErrors(t *testing.T) {
	wasm := buildGoGuest(t, "probe")
	engine, _ := testEngine(t)
	pool := compile(t, engine, "probe", wasm, Limits{Timeout: 5 * time.Second}).Pool("")
	e := newEcho()
	e.Use(limitBody(4))
	e.Use(echo.WrapMiddleware(pool.Middleware))
	e.POST("/", echo.WrapHandler(backend()))
	url := echoServer(t, e).URL

	r := do(t, http.DefaultClient, "POST", url, strings.Repeat("x", 100), "X-Probe", "buffered-body")
	assert.Equal(t, 413, r.status)
	s := pool.Stats()
	assert.Zero(t, s.Traps+s.ABIViolations+s.Timeouts)
}

func TestStatusText(t *testing.T) {
	var g *guestError
	err := classify(t.Context(), "x", &hostError{status: 413, err: errors.New("too big")}, false)
	require.ErrorAs(t, err, &g)
	assert.Equal(t, outcomeHost, g.outcome)
	assert.Equal(t, 413, g.status)
}
