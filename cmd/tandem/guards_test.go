package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeGuards: through the real binary, each of the server's own
// refusals arises where it should, with the JSON error body and the
// headers it promises: 413 (body limit), 422 (body schema), 429 (a
// tenant's rate), 504 (a route's timeout, here in a plugin) and 503 (a
// plugin's instances all busy past the request's deadline).
func TestServeGuards(t *testing.T) {
	const policy = `version: 1
server:
  max_body: 64B
python:
  path: [app]
  workers: 1
  strategy: pooled
plugins:
  loop: {wasm: loop.wasm, limits: {timeout: 5s, instances: 1}}
tenants:
  t:
    hosts: [t.localhost]
    limits: {rate: 1/m, burst: 1}
routes:
  - path: /items
    methods: [POST]
    handler: {python: svc:create}
    body_schema: item.json
  - path: /hold
    handler: {plugin: loop}
    limits: {timeout: 1500ms}
  - path: /busy
    handler: {plugin: loop}
    limits: {timeout: 200ms}
  - path: /hello
    tenant: t
    handler: {wasm: hello.wasm}
`
	dir := writeFiles(t, map[string]string{
		"tandem.yaml": policy,
		"app/svc.py":  "def create(request):\n    return request.json()\n",
		"item.json":   `{"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}`,
	})
	for _, g := range []string{"loop", "hello"} {
		b, err := os.ReadFile(filepath.Join(repoRoot, "host", "testdata", "guests", g+".wasm"))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, g+".wasm"), b, 0o644))
	}
	srv := startServe(t, "--policy", filepath.Join(dir, "tandem.yaml"))
	base := "http://" + srv.addr

	type answer struct {
		status int
		header http.Header
		body   map[string]any
	}
	send := func(method, path, host, body string) answer {
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		a := answer{status: resp.StatusCode, header: resp.Header}
		_ = json.Unmarshal(b, &a.body)
		return a
	}
	errorIs := func(a answer, status int, message string) {
		t.Helper()
		assert.Equal(t, status, a.status, "%v", a.body)
		assert.Equal(t, float64(status), a.body["status"])
		assert.Equal(t, message, a.body["error"])
		assert.Equal(t, a.header.Get("X-Request-Id"), a.body["request_id"])
	}

	assert.Equal(t, 200, send("POST", "/items", "", `{"name":"cup"}`).status)
	errorIs(send("POST", "/items", "", `{"name":"`+strings.Repeat("x", 100)+`"}`), 413, "request body larger than 64B")
	a := send("POST", "/items", "", `{"colour":"red"}`)
	errorIs(a, 422, "the request body does not match the route's schema")
	assert.Equal(t, []any{map[string]any{"path": "", "message": "missing property 'name'"}}, a.body["errors"])

	assert.Equal(t, 200, send("GET", "/hello", "t.localhost", "").status)
	a = send("GET", "/hello", "t.localhost", "")
	errorIs(a, 429, `tenant "t" is over its rate limit (1/m, burst 1)`)
	assert.Equal(t, "60", a.header.Get("Retry-After"))

	// /hold keeps the plugin's one instance busy in its endless loop for
	// 1.5s; /busy, meanwhile, waits for it until its own 200ms are up.
	var wg sync.WaitGroup
	var held answer
	wg.Add(1)
	go func() { defer wg.Done(); held = send("GET", "/hold", "", "") }()
	time.Sleep(300 * time.Millisecond)
	a = send("GET", "/busy", "", "")
	errorIs(a, 503, "service unavailable")
	assert.Equal(t, "1", a.header.Get("Retry-After"))
	wg.Wait()
	errorIs(held, 504, "gateway timeout")
	assert.Eventually(t, func() bool { return strings.Contains(srv.logs(), "reason=timeout") }, 5*time.Second, 20*time.Millisecond)
}
