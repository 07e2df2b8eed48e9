package host

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemhost/tandem/policy"
)

// full is the server of testdata/full.yaml, shared by the tests that
// do not stop or reload it.
var full struct {
	once sync.Once
	srv  *Server
	log  *logBuffer
	err  error
}

func fullServer(t *testing.T) (*Server, *logBuffer) {
	t.Helper()
	full.once.Do(func() {
		full.log = &logBuffer{}
		full.srv, full.err = newServer("testdata/full.yaml", full.log)
	})
	require.NoError(t, full.err)
	t.Cleanup(func() {}) // shut down by TestMain
	return full.srv, full.log
}

// request sends one request with a Host.
func request(h http.Handler, method, host, target, body string, header ...string) *httptest.ResponseRecorder {
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	var req *http.Request
	if rd != nil {
		req = httptest.NewRequest(method, target, rd)
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	if host != "" {
		req.Host = host
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestPluginMiddlewareBeforePython(t *testing.T) {
	srv, _ := fullServer(t)
	h := srv.Handler()

	rec := request(h, "POST", "", "/gated", "payload")
	assert.Equal(t, 401, rec.Code)
	assert.Equal(t, "denied", rec.Body.String(), "the plugin answered; Python did not run")
	assert.Empty(t, rec.Header().Get("X-Tag"))

	rec = request(h, "POST", "", "/gated", "payload", "X-Pass", "1")
	assert.Equal(t, 200, rec.Code, rec.Body.String())
	assert.JSONEq(t, `{"gate":"passed","body":"payload"}`, rec.Body.String(), "Python got the request the plugin passed on, body included")
	assert.Equal(t, "mw", rec.Header().Get("X-Tag"), "Python middleware ran")
	assert.Equal(t, "passed", rec.Header().Get("X-Gate"), "the plugin saw the response")
	assert.NotEmpty(t, rec.Header().Get("X-Request-Id"))

	rec = request(h, "GET", "", "/gated-wasm", "", "X-Pass", "1")
	assert.Equal(t, 200, rec.Code)
	assert.Equal(t, "hello from wasm", rec.Body.String())
	assert.Equal(t, "passed", rec.Header().Get("X-Gate"))
}

func TestWasmHandlers(t *testing.T) {
	srv, _ := fullServer(t)
	for _, path := range []string{"/wasm", "/plugin"} {
		rec := request(srv.Handler(), "GET", "", path, "")
		assert.Equal(t, 200, rec.Code, path)
		assert.Equal(t, "hello from wasm", rec.Body.String(), path)
		assert.Equal(t, "text/plain", rec.Header().Get("Content-Type"), path)
	}
}

func TestWasmTimeout(t *testing.T) {
	srv, _ := fullServer(t)
	rec := request(srv.Handler(), "GET", "", "/loop", "", "X-Request-Id", "loop-1")
	assert.Equal(t, 504, rec.Code)
	assert.JSONEq(t, `{"error":"gateway timeout","status":504,"request_id":"loop-1"}`, rec.Body.String())
	// The next request gets a fresh instance and the same answer.
	rec = request(srv.Handler(), "GET", "", "/loop", "")
	assert.Equal(t, 504, rec.Code)
	assert.Equal(t, 200, request(srv.Handler(), "GET", "", "/wasm", "").Code, "other routes keep serving")
}

func TestBodySchema(t *testing.T) {
	srv, _ := fullServer(t)
	h := srv.Handler()
	rec := request(h, "POST", "", "/items", `{"name":"cup","price":3}`)
	assert.Equal(t, 201, rec.Code, rec.Body.String())

	for _, c := range []struct {
		name, body string
		errors     string
	}{
		{"wrong fields", `{"name":"","price":-1,"colour":"red"}`,
			`[{"path":"","message":"additional properties 'colour' not allowed"},` +
				`{"path":"/name","message":"minLength: got 0, want 1"},` +
				`{"path":"/price","message":"minimum: got -1, want 0"}]`},
		{"missing", `{}`, `[{"path":"","message":"missing properties 'name', 'price'"}]`},
		{"not JSON", `{"name":`, `[{"path":"","message":"the body is not valid JSON: unexpected EOF"}]`},
		{"empty", ``, `[{"path":"","message":"the body is empty; this route takes JSON"}]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := request(h, "POST", "", "/items", c.body, "X-Request-Id", "s1")
			assert.Equal(t, 422, rec.Code)
			var got struct {
				Error     string          `json:"error"`
				Status    int             `json:"status"`
				RequestID string          `json:"request_id"`
				Errors    json.RawMessage `json:"errors"`
			}
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got), rec.Body.String())
			assert.Equal(t, "the request body does not match the route's schema", got.Error)
			assert.Equal(t, 422, got.Status)
			assert.Equal(t, "s1", got.RequestID)
			assert.JSONEq(t, c.errors, string(got.Errors))
		})
	}
}

func TestTenantsByHost(t *testing.T) {
	srv, _ := fullServer(t)
	h := srv.Handler()

	rec := request(h, "GET", "ops.localhost:8080", "/hello/ann", "")
	assert.Equal(t, 200, rec.Code)
	assert.JSONEq(t, `{"hello":"ann"}`, rec.Body.String(), "a trusted tenant runs Python")

	rec = request(h, "GET", "eu.globex.localhost", "/hello", "")
	assert.Equal(t, 200, rec.Code)
	assert.Regexp(t, `^[0-9]$`, rec.Body.String(), "globex's own handler")
	assert.Equal(t, 404, request(h, "GET", "a.b.globex.localhost", "/hello", "").Code, "a wildcard matches one label")

	rec = request(h, "GET", "ACME.localhost.", "/hello", "")
	assert.Equal(t, "hello from wasm", rec.Body.String(), "host names match in any case, with a final dot")

	// A tenant's hosts reach only its routes; other hosts none of them.
	assert.Equal(t, 404, request(h, "GET", "acme.localhost", "/wasm", "").Code)
	assert.Equal(t, 404, request(h, "GET", "acme.localhost", "/hello/ann", "").Code)
	assert.Equal(t, 404, request(h, "GET", "example.com", "/hello", "").Code)
	assert.Equal(t, 200, request(h, "GET", "example.com", "/wasm", "").Code)
}

func TestTenantRateLimit(t *testing.T) {
	// A server of its own: the bucket's state must not depend on the
	// order tests run in.
	pol, err := policy.Load("testdata/full.yaml", policy.Options{})
	require.NoError(t, err)
	pol.Routes = pol.Routes[6:7] // acme's /hello only: no Python
	srv, err := New(context.Background(), pol, Options{Runtime: rt, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer srv.Shutdown(context.Background())

	h := srv.Handler()
	for i := range 2 {
		assert.Equal(t, 200, request(h, "GET", "acme.localhost", "/hello", "").Code, "burst %d", i)
	}
	rec := request(h, "GET", "acme.localhost", "/hello", "", "X-Request-Id", "r3")
	assert.Equal(t, 429, rec.Code)
	assert.Equal(t, "1", rec.Header().Get("Retry-After"))
	assert.JSONEq(t, `{"error":"tenant \"acme\" is over its rate limit (1/s, burst 2)","status":429,"request_id":"r3"}`, rec.Body.String())
}

// TestHostRefusesUntrustedPython: the checker refuses Python on an
// untrusted tenant's route; the host asks again, so a policy built any
// other way cannot get native code onto such a route either.
func TestHostRefusesUntrustedPython(t *testing.T) {
	for _, kind := range []string{policy.TargetPython, policy.TargetWSGI} {
		pol, err := policy.Load("testdata/full.yaml", policy.Options{})
		require.NoError(t, err)
		r := pol.Routes[6] // acme's /hello
		require.Equal(t, "acme", r.Tenant)
		r.Handler = policy.Target{Kind: kind, Ref: "handlers:hello", Pos: r.Handler.Pos}
		pol.Routes = []*policy.Route{r}
		_, err = New(context.Background(), pol, Options{Runtime: rt, Logger: slog.New(slog.DiscardHandler)})
		require.Error(t, err, kind)
		assert.Contains(t, err.Error(), `tenant "acme" is not trusted to run Python`)
	}
	pol, err := policy.Load("testdata/full.yaml", policy.Options{})
	require.NoError(t, err)
	r := pol.Routes[6]
	r.Middleware = []policy.Middleware{{Kind: policy.MiddlewarePython, Name: "mw:tag"}}
	pol.Routes = []*policy.Route{r}
	_, err = New(context.Background(), pol, Options{Runtime: rt, Logger: slog.New(slog.DiscardHandler)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `tenant "acme" is not trusted to run Python middleware mw:tag`)
}

// TestTenantMemoryCap: a tenant whose memory limit is below a plugin's
// gets the plugin compiled with the tenant's limit.
func TestTenantMemoryCap(t *testing.T) {
	const file = `version: 1
plugins:
  hello: {wasm: guests/hello.wasm, limits: {memory: 1MiB}}
tenants:
  small: {hosts: [s.example], limits: {memory: 128KiB}}
  big: {hosts: [b.example], limits: {memory: 4MiB}}
routes:
  - {path: /a, tenant: small, handler: {plugin: hello}}
  - {path: /a, tenant: big, handler: {plugin: hello}}
  - {path: /a, handler: {plugin: hello}}
`
	pol, err := policy.Parse("testdata/mem.yaml", []byte(file), policy.Options{})
	require.NoError(t, err)
	uses, err := PluginUses(pol)
	require.NoError(t, err)
	var mems []int64
	for _, u := range uses {
		mems = append(mems, u.Config.Limits.Memory)
	}
	assert.Equal(t, []int64{1 << 20, 128 << 10}, mems, "the plugin's own limit, then small's; big keeps the plugin's")
}

// TestHeadWhereGet: HEAD is answered wherever GET is.
func TestHeadWhereGet(t *testing.T) {
	srv, _ := sharedServer(t)
	rec := request(srv.Handler(), "HEAD", "", "/hello/x", "")
	assert.Equal(t, 200, rec.Code)
	assert.Equal(t, "13", rec.Header().Get("Content-Length"), `the length of {"hello":"x"}`)
	assert.Equal(t, 405, request(srv.Handler(), "HEAD", "", "/items", "").Code, "POST-only routes get no HEAD")

	fsrv, _ := fullServer(t)
	assert.Equal(t, 200, request(fsrv.Handler(), "HEAD", "", "/wasm", "").Code, "routes of every method include HEAD")
}
