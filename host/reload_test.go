package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemhost/tandem/native"
	"github.com/tandemhost/tandem/policy"
)

// reloadDir copies the test apps and guests into a directory of its own,
// where a test can rewrite the policy and the Python files.
func reloadDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(filepath.Join(dir, "apps"), os.DirFS("testdata/apps")))
	require.NoError(t, os.CopyFS(filepath.Join(dir, "guests"), os.DirFS("testdata/guests")))
	require.NoError(t, os.CopyFS(filepath.Join(dir, "schemas"), os.DirFS("testdata/schemas")))
	_ = os.RemoveAll(filepath.Join(dir, "apps", "__pycache__"))
	return dir
}

// reloadPolicy is a policy for the reload tests: the python section and
// the routes vary.
func reloadPolicy(python, routes string) string {
	return "version: 1\n" +
		"python:\n  path: [apps]\n  strategy: pooled\n" + python +
		"plugins:\n  gate: {wasm: guests/gate.wasm}\n  hello: {wasm: guests/hello.wasm}\n" +
		"routes:\n" + routes
}

const baseRoutes = `  - path: /hello/:name
    handler: {python: handlers:hello}
  - path: /sleep
    handler: {python: handlers:sleep}
  - path: /gated
    middleware: [gate]
    handler: {python: handlers:gated}
  - path: /wasm
    handler: {plugin: hello}
`

// startReloadable starts a server on dir/tandem.yaml with the given
// content.
func startReloadable(t *testing.T, dir, content string) (*Server, *logBuffer) {
	t.Helper()
	file := filepath.Join(dir, "tandem.yaml")
	require.NoError(t, os.WriteFile(file, []byte(content), 0o644))
	logs := &logBuffer{}
	srv, err := newServer(file, logs)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, srv.Shutdown(context.Background())) })
	return srv, logs
}

// rewrite replaces the policy file and reloads it.
func rewrite(t *testing.T, srv *Server, content string) error {
	t.Helper()
	require.NoError(t, os.WriteFile(srv.Policy().File, []byte(content), 0o644))
	return srv.Reload(context.Background())
}

func TestReloadRoutesKeepsWorkers(t *testing.T) {
	dir := reloadDir(t)
	srv, logs := startReloadable(t, dir, reloadPolicy("  workers: 1\n", baseRoutes))
	pool := srv.Pool()
	interp := pool.Workers()[0].Interpreter

	added := baseRoutes + "  - path: /describe\n    handler: {python: handlers:describe}\n"
	require.NoError(t, rewrite(t, srv, reloadPolicy("  workers: 1\n", strings.Replace(added, "/hello/:name", "/hi/:name", 1))))
	assert.Same(t, pool, srv.Pool(), "same python section and files: the workers stay")
	assert.Equal(t, interp, srv.Pool().Workers()[0].Interpreter)
	assert.Equal(t, 200, request(srv, "GET", "", "/describe", "").Code, "a new route answers")
	assert.JSONEq(t, `{"hello":"x"}`, request(srv, "GET", "", "/hi/x", "").Body.String(), "a moved route answers")
	assert.Equal(t, 404, request(srv, "GET", "", "/hello/x", "").Code, "a removed route is gone")
	assert.Contains(t, logs.String(), "python=kept")

	// Once the old policy has drained, the workers serve only the new
	// routes.
	require.Eventually(t, func() bool { return len(pool.Config().Routes) == 4 }, 5*time.Second, 10*time.Millisecond)
}

func TestReloadInvalidKeepsServing(t *testing.T) {
	dir := reloadDir(t)
	srv, _ := startReloadable(t, dir, reloadPolicy("  workers: 1\n", baseRoutes))
	before := srv.Policy()

	err := rewrite(t, srv, reloadPolicy("  workers: 1\n", baseRoutes+"  - path: /x\n    handler: {python: handlers:hello}\n    limits: {timeout: forever}\n"))
	var ps *policy.Problems
	require.ErrorAs(t, err, &ps)
	assert.Contains(t, err.Error(), filepath.Join(dir, "tandem.yaml")+":21:23: routes[4].limits.timeout")
	assert.Contains(t, err.Error(), "routes[4].limits.timeout")
	assert.Same(t, before, srv.Policy())
	assert.Equal(t, 200, request(srv, "GET", "", "/hello/x", "").Code)

	// A policy that loads but cannot be built (a handler that does not
	// import) is refused too, and leaves the workers as they were.
	err = rewrite(t, srv, reloadPolicy("  workers: 1\n", baseRoutes+"  - path: /x\n    handler: {python: nosuch:thing}\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nosuch")
	assert.Same(t, before, srv.Policy())
	assert.Equal(t, 200, request(srv, "GET", "", "/hello/x", "").Code)
	assert.Equal(t, 404, request(srv, "GET", "", "/x", "").Code)
	assert.Len(t, srv.Pool().Config().Routes, 3)
}

func TestReloadPythonChangeStartsNewWorkers(t *testing.T) {
	dir := reloadDir(t)
	srv, logs := startReloadable(t, dir, reloadPolicy("  workers: 1\n", baseRoutes))
	old := srv.Pool()

	// A request in flight on the old workers finishes there.
	slow := make(chan int, 1)
	go func() { slow <- request(srv, "GET", "", "/sleep?seconds=0.3", "").Code }()
	time.Sleep(50 * time.Millisecond)

	require.NoError(t, rewrite(t, srv, reloadPolicy("  workers: 2\n", baseRoutes)))
	assert.NotSame(t, old, srv.Pool())
	assert.Len(t, srv.Pool().Workers(), 2)
	assert.Contains(t, logs.String(), `python="new workers"`)
	assert.Equal(t, 200, <-slow, "the request in flight finished on the old workers")
	require.Eventually(t, func() bool {
		_, err := old.Do(context.Background(), &native.Request{})
		return errors.Is(err, native.ErrClosed)
	}, 5*time.Second, 10*time.Millisecond, "the old workers stop once drained")

	// A changed Python file starts new workers too, which run the new code.
	cur := srv.Pool()
	src := filepath.Join(dir, "apps", "handlers.py")
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(src, []byte(strings.Replace(string(b), `{"hello": name}`, `{"hi": name}`, 1)), 0o644))
	require.NoError(t, srv.Reload(context.Background()))
	assert.NotSame(t, cur, srv.Pool())
	assert.JSONEq(t, `{"hi":"x"}`, request(srv, "GET", "", "/hello/x", "").Body.String())
}

func TestReloadPlugins(t *testing.T) {
	dir := reloadDir(t)
	srv, _ := startReloadable(t, dir, reloadPolicy("  workers: 1\n", baseRoutes))
	pluginsOf := func() map[string]*sharedPlugin {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		out := map[string]*sharedPlugin{}
		for _, sp := range srv.cur.Load().plugins {
			out[sp.plugin.Name()] = sp
		}
		return out
	}
	before := pluginsOf()
	require.Len(t, before, 2)

	// hello's limits change: it is compiled again; gate is kept.
	changed := strings.Replace(reloadPolicy("  workers: 1\n", baseRoutes), "hello: {wasm: guests/hello.wasm}",
		"hello: {wasm: guests/hello.wasm, limits: {instances: 3}}", 1)
	require.NoError(t, rewrite(t, srv, changed))
	after := pluginsOf()
	assert.Same(t, before["gate"], after["gate"])
	assert.NotSame(t, before["hello"], after["hello"])
	assert.Equal(t, 3, after["hello"].plugin.Limits().Instances)
	assert.Equal(t, "hello from wasm", request(srv, "GET", "", "/wasm", "").Body.String())
	require.Eventually(t, func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.plugins) == 2
	}, 5*time.Second, 10*time.Millisecond, "the replaced plugin is closed once drained")
}

// TestReloadUnderLoad replaces the policy five times (routes changed, a
// plugin changed, the python section changed, an invalid policy, routes
// changed back) while clients keep sending requests to routes every
// policy has: none may fail.
func TestReloadUnderLoad(t *testing.T) {
	dir := reloadDir(t)
	extra := "  - path: /v%d\n    handler: {python: handlers:describe}\n"
	srv, _ := startReloadable(t, dir, reloadPolicy("  workers: 1\n", baseRoutes))
	srv.log = slog.New(slog.DiscardHandler)

	var sent, failed atomic.Int64
	var failures sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paths := []string{"/hello/a", "/gated", "/wasm"}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				path := paths[(i+c)%len(paths)]
				rec := request(srv, "GET", "", path, "", "X-Pass", "1")
				sent.Add(1)
				if rec.Code != 200 {
					failed.Add(1)
					failures.Store(fmt.Sprintf("%s %d %s", path, rec.Code, rec.Body), true)
				}
			}
		}()
	}
	steps := []struct {
		name    string
		content string
		invalid bool
		check   string
	}{
		{"routes", reloadPolicy("  workers: 1\n", baseRoutes+fmt.Sprintf(extra, 1)), false, "/v1"},
		{"plugin", strings.Replace(reloadPolicy("  workers: 1\n", baseRoutes+fmt.Sprintf(extra, 2)),
			"gate: {wasm: guests/gate.wasm}", "gate: {wasm: guests/gate.wasm, limits: {timeout: 2s}}", 1), false, "/v2"},
		{"python", reloadPolicy("  workers: 2\n", baseRoutes+fmt.Sprintf(extra, 3)), false, "/v3"},
		{"invalid", reloadPolicy("  workers: two\n", baseRoutes), true, "/v3"},
		{"routes again", reloadPolicy("  workers: 2\n", baseRoutes+fmt.Sprintf(extra, 5)), false, "/v5"},
	}
	for _, st := range steps {
		time.Sleep(100 * time.Millisecond)
		err := rewrite(t, srv, st.content)
		if st.invalid {
			assert.Error(t, err, st.name)
		} else {
			assert.NoError(t, err, st.name)
		}
		assert.Equal(t, 200, request(srv, "GET", "", st.check, "").Code, "after %s, %s answers", st.name, st.check)
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	failures.Range(func(k, _ any) bool { t.Log(k); return true })
	assert.Zero(t, failed.Load(), "failed requests out of %d", sent.Load())
	assert.Greater(t, sent.Load(), int64(50))
}

// TestReloadSharedIsolation: in shared isolation the workers share the
// main interpreter's modules, so new workers must not get the old ones.
func TestReloadSharedIsolation(t *testing.T) {
	dir := reloadDir(t)
	srv, _ := startReloadable(t, dir, reloadPolicy("  workers: 1\n  isolation: shared\n", baseRoutes))
	assert.JSONEq(t, `{"hello":"x"}`, request(srv, "GET", "", "/hello/x", "").Body.String())
	old := srv.Pool()

	src := filepath.Join(dir, "apps", "handlers.py")
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(src, []byte(strings.Replace(string(b), `{"hello": name}`, `{"shared": name}`, 1)), 0o644))
	require.NoError(t, srv.Reload(context.Background()))
	assert.NotSame(t, old, srv.Pool())
	assert.JSONEq(t, `{"shared":"x"}`, request(srv, "GET", "", "/hello/x", "").Body.String())
}
