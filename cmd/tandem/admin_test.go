package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAdminListener serves a policy with server.admin through the real
// binary, sends requests that should move every metric PRODUCT.md names,
// and reads them back from /metrics; /status must match the workers and
// the counters; /healthz, /readyz and the dashboard answer.
func TestAdminListener(t *testing.T) {
	const policy = `version: 1
server:
  admin: 127.0.0.1:0
python:
  path: [app]
  workers: 2
  strategy: pooled
plugins:
  trap: {wasm: trap_response.wasm}
  loop: {wasm: loop.wasm, limits: {timeout: 50ms}}
tenants:
  t:
    hosts: [t.localhost]
    limits: {rate: 1/m, burst: 1}
routes:
  - path: /hello/:name
    methods: [GET]
    handler: {python: svc:hello}
  - path: /boom
    handler: {python: svc:boom}
  - path: /spin
    handler: {python: svc:spin}
    limits: {timeout: 200ms}
  - path: /trap
    middleware: [trap]
    handler: {python: svc:hello}
  - path: /loop
    handler: {plugin: loop}
  - path: /t
    tenant: t
    handler: {wasm: hello.wasm}
`
	dir := writeFiles(t, map[string]string{
		"tandem.yaml": policy,
		"app/svc.py": "def hello(request, name: str = 'x'):\n    return {'hello': name}\n\ndef boom(request):\n    raise RuntimeError('boom')\n\n" +
			"def spin(request):\n    while True:\n        pass\n",
	})
	for file, src := range map[string]string{
		"trap_response.wasm": "sandbox/testdata/hostile/trap_response.wasm",
		"loop.wasm":          "host/testdata/guests/loop.wasm",
		"hello.wasm":         "host/testdata/guests/hello.wasm",
	} {
		b, err := os.ReadFile(filepath.Join(repoRoot, src))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, file), b, 0o644))
	}
	srv := startServe(t, "--policy", filepath.Join(dir, "tandem.yaml"))
	m := regexp.MustCompile(`msg="admin listener serving" addr=(\S+)`).FindStringSubmatch(srv.logs())
	require.NotNil(t, m, srv.logs())
	admin, public := "http://"+m[1], "http://"+srv.addr

	get := func(base, path, host string) (int, string) {
		t.Helper()
		req, err := http.NewRequest("GET", base+path, nil)
		require.NoError(t, err)
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct {
		path, host string
		status     int
	}{
		{"/hello/a", "", 200}, {"/hello/b", "", 200}, {"/boom", "", 500}, {"/trap", "", 500},
		{"/loop", "", 504}, {"/spin", "", 504}, {"/t", "t.localhost", 200}, {"/t", "t.localhost", 429}, {"/nowhere", "", 404},
	} {
		code, body := get(public, c.path, c.host)
		assert.Equal(t, c.status, code, "%s: %s", c.path, body)
	}
	require.NoError(t, srv.cmd.Process.Signal(syscall.SIGHUP))
	require.Eventually(t, func() bool { return strings.Contains(srv.logs(), `msg="policy reloaded"`) }, 10*time.Second, 20*time.Millisecond)

	code, body := get(admin, "/healthz", "")
	assert.Equal(t, 200, code)
	assert.Equal(t, "ok\n", body)
	code, body = get(admin, "/readyz", "")
	assert.Equal(t, 200, code)
	assert.Equal(t, "ready\n", body)
	code, body = get(admin, "/", "")
	assert.Equal(t, 200, code)
	assert.Contains(t, body, "<html")

	// The endless handler was interrupted at its deadline, and its worker
	// serves again.
	var metrics string
	require.Eventually(t, func() bool {
		code, metrics = get(admin, "/metrics", "")
		return strings.Contains(metrics, `tandem_python_deadline_overruns_total{outcome="interrupted"} 1`)
	}, 10*time.Second, 50*time.Millisecond, "no interrupted handler counted")
	require.Equal(t, 200, code)
	for _, want := range []string{
		`tandem_http_requests_total{code="200",route="/hello/:name",target="python",tenant=""} 2`,
		`tandem_http_requests_total{code="500",route="/boom",target="python",tenant=""} 1`,
		`tandem_http_requests_total{code="404",route="",target="",tenant=""} 1`,
		`tandem_http_requests_total{code="429",route="/t",target="wasm",tenant="t"} 1`,
		`tandem_http_request_duration_seconds_count{route="/hello/:name",target="python",tenant=""} 2`,
		`tandem_http_request_duration_seconds_bucket{route="/loop",target="plugin",tenant="",le="+Inf"} 1`,
		`tandem_http_errors_total{route="/boom",target="python",tenant=""} 1`,
		`tandem_http_errors_total{route="/trap",target="python",tenant=""} 1`,
		`tandem_tenant_rate_limited_total{tenant="t"} 1`,
		`tandem_python_workers 2`,
		`tandem_python_queue_depth 0`,
		`tandem_python_abandoned_threads 0`,
		`tandem_python_worker_busy_seconds_total{cpu="-1",worker="0"}`,
		`tandem_python_worker_requests_total{cpu="-1",worker="1"}`,
		`tandem_sandbox_instances{plugin="trap",state="idle",tenant=""}`,
		`tandem_sandbox_traps_total{plugin="trap",tenant=""} 1`,
		`tandem_sandbox_timeouts_total{plugin="loop",tenant=""} 1`,
		`tandem_sandbox_instantiations_total{plugin="wasm:hello.wasm",tenant="t"} 1`,
		`tandem_policy_reloads_total{result="ok"} 1`,
		`tandem_policy_reloads_total{result="failed"} 0`,
		`tandem_policy_loaded_timestamp_seconds `,
		`tandem_build_info{isolation="own_gil",python="3.14.6",version="`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		assert.Contains(t, metrics, want)
	}
	assert.NotContains(t, metrics, `/hello/a`, "raw paths never become labels")

	code, body = get(admin, "/status", "")
	require.Equal(t, 200, code)
	var st struct {
		Ready   bool `json:"ready"`
		Workers []struct {
			Index  int    `json:"index"`
			Served uint64 `json:"served"`
		} `json:"workers"`
		Policy struct {
			Reloads uint64 `json:"reloads"`
			Digest  string `json:"digest"`
		} `json:"policy"`
		Routes []struct {
			Path     string `json:"path"`
			Requests uint64 `json:"requests"`
			Errors   uint64 `json:"errors"`
		} `json:"routes"`
		Tenants []struct {
			Name    string `json:"name"`
			Limited uint64 `json:"limited"`
		} `json:"tenants"`
		Plugins []struct {
			Name string `json:"name"`
		} `json:"plugins"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &st), body)
	assert.True(t, st.Ready)
	assert.Len(t, st.Workers, 2)
	assert.Equal(t, uint64(1), st.Policy.Reloads)
	assert.Len(t, st.Policy.Digest, 64)
	require.Len(t, st.Routes, 6)
	assert.Equal(t, "/hello/:name", st.Routes[0].Path)
	assert.Equal(t, uint64(2), st.Routes[0].Requests, "counts survive the reload")
	assert.Equal(t, uint64(1), st.Routes[1].Errors)
	require.Len(t, st.Tenants, 1)
	assert.Equal(t, uint64(1), st.Tenants[0].Limited)
	assert.Len(t, st.Plugins, 3)
	// The access log has a line per request, with the route template and
	// the worker that ran it.
	assert.Regexp(t, `msg=request request_id=\S+ method=GET path=/hello/a route=/hello/:name tenant="" target=python status=200 duration=\S+ worker=\d`, srv.logs())

	assert.Equal(t, 0, srv.stop(t, syscall.SIGTERM), srv.logs())
}
