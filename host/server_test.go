package host

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemhost/tandem/native"
)

// call sends one request to h; header is name, value, name, value...
func call(t *testing.T, h http.Handler, method, target string, body io.Reader, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, body)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// bareEcho is an Echo router with what every request of s passes (the
// around stage and the error handler) and no routes.
func bareEcho(s *Server) *echo.Echo {
	if s.metrics == nil {
		s.metrics = newMetrics(s)
	}
	return (&generation{s: s}).newEcho()
}

// errorOf decodes a JSON error body and checks that it names the request
// id the response header carries.
func errorOf(t *testing.T, rec *httptest.ResponseRecorder) errorBody {
	t.Helper()
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var e errorBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e), "body: %s", rec.Body)
	assert.Equal(t, rec.Code, e.Status)
	assert.NotEmpty(t, e.RequestID)
	assert.Equal(t, rec.Header().Get("X-Request-Id"), e.RequestID)
	return e
}

func TestStatuses(t *testing.T) {
	srv, _ := sharedServer(t)
	h := srv.Handler()
	tests := []struct {
		name, method, target, body string
		status                     int
		want                       string // the body, or the error message
		header                     map[string]string
	}{
		{name: "200 handler", method: "GET", target: "/hello/world", status: 200, want: `{"hello":"world"}`},
		{name: "201 with Location", method: "POST", target: "/items", body: `{"name":"cup"}`, status: 201,
			want: `{"name":"cup"}`, header: map[string]string{"Location": "/items/7"}},
		{name: "204 no body", method: "DELETE", target: "/empty", status: 204, want: ""},
		{name: "404 unknown path", method: "GET", target: "/nowhere", status: 404, want: "not found"},
		{name: "405 wrong method", method: "DELETE", target: "/hello/x", status: 405, want: "method not allowed",
			header: map[string]string{"Allow": "OPTIONS, GET, HEAD"}},
		{name: "413 over the route limit", method: "POST", target: "/echo", body: strings.Repeat("x", 17), status: 413,
			want: "request body larger than 16B"},
		{name: "at the route limit", method: "POST", target: "/echo", body: strings.Repeat("x", 16), status: 200,
			want: strings.Repeat("x", 16)},
		{name: "413 over server.max_body", method: "POST", target: "/size", body: strings.Repeat("x", 1025), status: 413,
			want: "request body larger than 1KiB"},
		{name: "at server.max_body", method: "POST", target: "/size", body: strings.Repeat("x", 1024), status: 200,
			want: `{"size":1024}`},
		{name: "500 exception", method: "GET", target: "/boom", status: 500, want: "internal server error"},
		{name: "400 from Python", method: "POST", target: "/items", body: "not json", status: 400},
		{name: "framing headers are the server's", method: "GET", target: "/framing", status: 200, want: "hello",
			header: map[string]string{"Content-Length": "5", "Transfer-Encoding": "", "Connection": "", "X-Kept": "yes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			rec := call(t, h, tt.method, tt.target, body)
			assert.Equal(t, tt.status, rec.Code, "body: %s", rec.Body)
			assert.NotEmpty(t, rec.Header().Get("X-Request-Id"))
			for k, v := range tt.header {
				assert.Equal(t, v, rec.Header().Get(k), k)
			}
			if tt.status >= 400 {
				e := errorOf(t, rec)
				if tt.want != "" {
					assert.Equal(t, tt.want, e.Error)
				}
				return
			}
			assert.Equal(t, tt.want, rec.Body.String())
		})
	}
}

func TestExceptionIsLoggedNotShown(t *testing.T) {
	srv, logs := sharedServer(t)
	rec := call(t, srv.Handler(), "GET", "/boom", nil, "X-Request-Id", "boom-1")
	require.Equal(t, 500, rec.Code)
	assert.Equal(t, `{"error":"internal server error","status":500,"request_id":"boom-1"}`, rec.Body.String())
	assert.NotContains(t, rec.Body.String(), "Traceback")
	assert.NotContains(t, rec.Body.String(), "kaboom")
	// The detail is in the log, with the request id, route and worker.
	line := ""
	for l := range strings.SplitSeq(logs.String(), "\n") {
		if strings.Contains(l, "request_id=boom-1") {
			line = l
		}
	}
	require.NotEmpty(t, line, "log: %s", logs)
	assert.Contains(t, line, "level=ERROR")
	assert.Contains(t, line, "route=/boom")
	assert.Contains(t, line, "worker=")
	assert.Contains(t, line, "Traceback")
	assert.Contains(t, line, "kaboom")
}

func TestOversizedBodyIsNotRead(t *testing.T) {
	srv, _ := sharedServer(t)
	// A body without a declared length is read only up to the limit.
	r := &countingReader{r: strings.NewReader(strings.Repeat("x", 1<<20))}
	req := httptest.NewRequest("POST", "/echo", r)
	req.ContentLength = -1
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	assert.Equal(t, 413, rec.Code)
	assert.LessOrEqual(t, r.n, 17+512, "read %d bytes of a body over a 16-byte limit", r.n)
	errorOf(t, rec)

	// A declared length over the limit is refused before reading.
	r = &countingReader{r: strings.NewReader(strings.Repeat("x", 100))}
	req = httptest.NewRequest("POST", "/echo", r)
	req.ContentLength = 100
	rec = httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	assert.Equal(t, 413, rec.Code)
	assert.Zero(t, r.n)
	assert.Equal(t, "close", rec.Header().Get("Connection"))
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestRouteTimeout(t *testing.T) {
	srv, _ := sharedServer(t)
	h := srv.Handler()
	start := time.Now()
	rec := call(t, h, "GET", "/sleep?seconds=1.5", nil)
	took := time.Since(start)
	assert.Equal(t, 504, rec.Code)
	e := errorOf(t, rec)
	assert.Equal(t, "the request took longer than 300ms", e.Error)
	assert.Less(t, took, time.Second, "the route's 300ms timeout did not cut the request short")

	// The pool still serves while that worker sleeps, and afterwards.
	rec = call(t, h, "GET", "/hello/after", nil)
	assert.Equal(t, 200, rec.Code)
	assert.Equal(t, `{"hello":"after"}`, rec.Body.String())
	rec = call(t, h, "GET", "/sleep?seconds=0.01", nil)
	assert.Equal(t, 200, rec.Code, "body: %s", rec.Body)
}

func TestRequestID(t *testing.T) {
	srv, _ := sharedServer(t)
	h := srv.Handler()
	t.Run("kept", func(t *testing.T) {
		rec := call(t, h, "GET", "/describe", nil, "X-Request-Id", "abc-123")
		assert.Equal(t, "abc-123", rec.Header().Get("X-Request-Id"))
		var d map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &d))
		assert.Equal(t, "abc-123", d["request_id"], "Python sees the same id")
	})
	t.Run("generated", func(t *testing.T) {
		a := call(t, h, "GET", "/hello/x", nil).Header().Get("X-Request-Id")
		b := call(t, h, "GET", "/hello/x", nil).Header().Get("X-Request-Id")
		assert.NotEmpty(t, a)
		assert.NotEqual(t, a, b)
	})
	for _, bad := range []string{"has space", strings.Repeat("x", maxRequestIDLen+1), "quote\"d", "tab\tid", "é"} {
		t.Run("replaced "+bad[:min(len(bad), 10)], func(t *testing.T) {
			got := call(t, h, "GET", "/hello/x", nil, "X-Request-Id", bad).Header().Get("X-Request-Id")
			assert.NotEqual(t, bad, got)
			assert.True(t, saneRequestID(got))
		})
	}
	t.Run("on the request, for plugins", func(t *testing.T) {
		var seen string
		e := bareEcho(&Server{log: slog.New(slog.DiscardHandler)})
		e.GET("/", func(c echo.Context) error { seen = c.Request().Header.Get("X-Request-Id"); return nil })
		for _, sent := range []string{"", "bad id"} {
			rec := call(t, e, "GET", "/", nil, "X-Request-Id", sent)
			assert.Equal(t, rec.Header().Get("X-Request-Id"), seen, "the id the response carries")
			assert.True(t, saneRequestID(seen))
		}
	})
	t.Run("on errors", func(t *testing.T) {
		for _, target := range []string{"/nowhere", "/boom"} {
			rec := call(t, h, "GET", target, nil, "X-Request-Id", "err-id")
			assert.Equal(t, "err-id", rec.Header().Get("X-Request-Id"), target)
			assert.Equal(t, "err-id", errorOf(t, rec).RequestID, target)
		}
		rec := call(t, h, "PUT", "/hello/x", nil, "X-Request-Id", "err-id")
		assert.Equal(t, 405, rec.Code)
		assert.Equal(t, "err-id", errorOf(t, rec).RequestID)
	})
}

func TestRequestFields(t *testing.T) {
	srv, _ := sharedServer(t)
	rec := call(t, srv.Handler(), "PATCH", "/describe?a=1&b=%20", strings.NewReader("x"), "X-Test", "yes")
	require.Equal(t, 200, rec.Code, "body: %s", rec.Body)
	var d map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &d))
	assert.Equal(t, map[string]any{
		"method": "PATCH", "path": "/describe", "query": "a=1&b=%20", "request_id": rec.Header().Get("X-Request-Id"),
		"remote_addr": "192.0.2.1:1234", "scheme": "http", "protocol": "HTTP/1.1", "host": "example.com",
		"server_name": "example.com", "server_port": "80", "header": "yes",
	}, d)
}

func TestPathParams(t *testing.T) {
	srv, _ := sharedServer(t)
	rec := call(t, srv.Handler(), "GET", "/files/a%2Fb/c/d%20e", nil)
	require.Equal(t, 200, rec.Code, "body: %s", rec.Body)
	assert.JSONEq(t, `{"params":{"dir":"a/b","*":"c/d e"},"path":"/files/a/b/c/d e"}`, rec.Body.String())
}

func TestPythonMiddleware(t *testing.T) {
	srv, _ := sharedServer(t)
	rec := call(t, srv.Handler(), "GET", "/tagged", nil)
	assert.Equal(t, 200, rec.Code)
	assert.Equal(t, "mw", rec.Header().Get("X-Tag"))
	assert.Equal(t, `{"tagged":true}`, rec.Body.String())
}

func TestWSGI(t *testing.T) {
	srv, _ := sharedServer(t)
	rec := call(t, srv.Handler(), "POST", "/wsgi/x/y?q=1", strings.NewReader("body"))
	assert.Equal(t, 200, rec.Code)
	assert.Equal(t, "POST /wsgi /x/y q=1", rec.Body.String())
	assert.Equal(t, "text/plain", rec.Header().Get("Content-Type"))
	assert.Equal(t, "mw", rec.Header().Get("X-Tag"), "Python middleware wraps the WSGI app")
	assert.Equal(t, []string{"19"}, rec.Header().Values("Content-Length"), "the app's own length, once")
}

func TestPoolRoutes(t *testing.T) {
	srv, _ := sharedServer(t)
	cfg := srv.Pool().Config()
	assert.Equal(t, 2, cfg.Workers)
	assert.Equal(t, native.OwnGIL, cfg.Isolation)
	byPath := map[string]native.Route{}
	for i, r := range cfg.Routes {
		assert.Equal(t, i, r.ID)
		byPath[r.Path] = r
	}
	assert.Equal(t, native.Route{ID: 7, Kind: "python", Target: "handlers:params", Path: "/files/:dir/*",
		Params: []string{"dir", "*"}}, byPath["/files/:dir/*"])
	assert.Equal(t, native.Route{ID: 11, Kind: "wsgi", Target: "wsgiapp:app", Path: "/wsgi/*",
		Middleware: []string{"mw:tag"}, Params: []string{"*"}}, byPath["/wsgi/*"])
}

func TestParamNames(t *testing.T) {
	for path, want := range map[string][]string{
		"/":                      nil,
		"/hello/:name":           {"name"},
		"/a/:x/b/:y":             {"x", "y"},
		"/files/*":               {"*"},
		"/u/:id/files/*":         {"id", "*"},
		`/literal\:colon/:named`: {"named"},
	} {
		assert.Equal(t, want, pathParams(path), path)
	}
}

func TestRecoverPanics(t *testing.T) {
	logs := &logBuffer{}
	s := &Server{log: slog.New(slog.NewTextHandler(logs, nil))}
	e := bareEcho(s)
	e.GET("/panic", func(c echo.Context) error { panic("something broke") })
	rec := call(t, e, "GET", "/panic", nil, "X-Request-Id", "p-1")
	assert.Equal(t, 500, rec.Code)
	assert.Equal(t, `{"error":"internal server error","status":500,"request_id":"p-1"}`, rec.Body.String())
	assert.Contains(t, logs.String(), "request_id=p-1")
	assert.Contains(t, logs.String(), "something broke")
	assert.Contains(t, logs.String(), "server_test.go", "the stack is logged")
}

func TestServeAndShutdown(t *testing.T) {
	logs := &logBuffer{}
	srv, err := newServer("testdata/server.yaml", logs)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()

	// One ready line, with the address.
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), `msg="tandem serving"`) }, 5*time.Second, 10*time.Millisecond)
	assert.Contains(t, logs.String(), "addr="+ln.Addr().String()+" workers=2 python="+rt.Version)
	// Pages only start-up used are given back before serving (the test
	// binary's own read-only data and libpython's at least).
	assert.Regexp(t, `msg="start-up pages released" after=start mappings=[1-9]`, logs.String())

	// The listener's address reaches Python (WSGI's SERVER_NAME/PORT).
	resp, err := http.Get(base + "/describe")
	require.NoError(t, err)
	var d map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&d))
	resp.Body.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	assert.Equal(t, "127.0.0.1", d["server_name"])
	assert.Equal(t, port, d["server_port"])

	// A request in flight when shutdown starts completes.
	slow := make(chan *http.Response, 1)
	go func() {
		resp, err := http.Get(base + "/sleep?seconds=0.2")
		if err != nil {
			t.Error(err)
		}
		slow <- resp
	}()
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, srv.Shutdown(context.Background()))
	resp = <-slow
	require.NotNil(t, resp)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, `{"slept":0.2}`, string(body))
	assert.NoError(t, <-served)

	// New connections are refused, and the pool is closed: a request that
	// still reaches the handler gets 503 with Retry-After.
	_, err = http.Get(base + "/hello/x")
	assert.Error(t, err)
	_, err = srv.Pool().Do(context.Background(), &native.Request{})
	assert.True(t, errors.Is(err, native.ErrClosed))
	rec := call(t, srv.Handler(), "GET", "/hello/x", nil)
	assert.Equal(t, 503, rec.Code)
	assert.Equal(t, "1", rec.Header().Get("Retry-After"))
	errorOf(t, rec)
}

func TestWorkerStartFailure(t *testing.T) {
	logs := &logBuffer{}
	_, err := newServer("testdata/broken.yaml", logs)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "testdata/broken.yaml")
	assert.Contains(t, err.Error(), "no_such_module")
}
