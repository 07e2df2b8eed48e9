package main_test

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemhost/tandem/policy"
)

// writeFiles writes name → content under a new temporary directory and
// returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return dir
}

const slowPolicy = `version: 1
server:
  timeouts: {shutdown: 10s}
python:
  path: [app]
  workers: 1
  strategy: pooled
routes:
  - path: /slow
    handler: {python: slow:handler}
`

const slowApp = `import time

def handler(request, seconds: float = 1.0, started: str = ""):
    if started:
        open(started, "w").close()
    time.sleep(seconds)
    return {"slept": seconds}
`

func TestServeFinishesRequestsOnSIGTERM(t *testing.T) {
	dir := writeFiles(t, map[string]string{"tandem.yaml": slowPolicy, "app/slow.py": slowApp})
	srv := startServe(t, "--policy", filepath.Join(dir, "tandem.yaml"))
	type answer struct {
		status int
		body   string
		err    error
	}
	answered := make(chan answer, 1)
	start := time.Now()
	started := filepath.Join(dir, "started")
	go func() {
		resp, err := http.Get("http://" + srv.addr + "/slow?seconds=1&started=" + url.QueryEscape(started))
		if err != nil {
			answered <- answer{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		answered <- answer{resp.StatusCode, string(b), err}
	}()
	// Signal once the handler runs: the request is surely in flight.
	require.Eventually(t, func() bool { _, err := os.Stat(started); return err == nil }, 10*time.Second, 5*time.Millisecond)
	code := srv.stop(t, syscall.SIGTERM)
	a := <-answered
	require.NoError(t, a.err)
	assert.Equal(t, 200, a.status)
	assert.Equal(t, `{"slept":1.0}`, a.body)
	assert.GreaterOrEqual(t, time.Since(start), time.Second)
	assert.Equal(t, 0, code, srv.logs())
	logs := srv.logs()
	assert.Contains(t, logs, `msg="shutting down" signal=terminated`)
	assert.Contains(t, logs, `msg="tandem stopped"`)
}

func TestServeRefusesInvalidPolicy(t *testing.T) {
	dir := writeFiles(t, map[string]string{"tandem.yaml": "version: 1\nroutes:\n  - path: /x\n    handler: {python: m:f}\n    limits: {timeout: soon}\n"})
	r := run(t, dir, "serve")
	assert.Equal(t, 1, r.code)
	assert.Regexp(t, `^tandem\.yaml:5:23: routes\[0\]\.limits\.timeout: .*\n$`, r.stderr)
	assert.Empty(t, r.stdout)

	r = run(t, dir, "serve", "--policy", "missing.yaml")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "missing.yaml")
}

func TestServeListenError(t *testing.T) {
	dir := writeFiles(t, map[string]string{"tandem.yaml": slowPolicy, "app/slow.py": slowApp})
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	r := run(t, dir, "serve", "--listen", busy.Addr().String())
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "tandem: listening on "+busy.Addr().String()+": ")
	assert.Contains(t, r.stderr, "address already in use")
	assert.Contains(t, r.stderr, `msg="python workers stopped"`, "the workers stop before the exit")
}

func TestCheck(t *testing.T) {
	invalid := "version: 1\nserver:\n  listn: x\n  max_body: lots\nroutes:\n  - path: /a\n    handler: {python: m:f}\n  - path: /a\n    handler: {python: m:g}\n"
	dir := writeFiles(t, map[string]string{"bad.yaml": invalid, "good.yaml": slowPolicy, "app/slow.py": slowApp})
	// A policy without tenants or plugins has no lines for them.
	const goodSummary = "good.yaml: ok\n" +
		"  routes   1: 1 python\n" +
		"  python   workers 1, strategy pooled, isolation own_gil\n"

	t.Run("valid", func(t *testing.T) {
		r := run(t, dir, "check", "good.yaml")
		assert.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, goodSummary, r.stdout)
		assert.Empty(t, r.stderr)
	})
	t.Run("invalid", func(t *testing.T) {
		// Every problem, exactly as the policy package words them.
		_, err := policy.Load(filepath.Join(dir, "bad.yaml"), policy.Options{})
		var ps *policy.Problems
		require.True(t, errors.As(err, &ps))
		require.GreaterOrEqual(t, len(*ps), 3)
		r := run(t, dir, "check", "bad.yaml")
		assert.Equal(t, 1, r.code)
		assert.Empty(t, r.stdout)
		want := strings.ReplaceAll(ps.Error(), filepath.Join(dir, "bad.yaml"), "bad.yaml") + "\n"
		assert.Equal(t, want, r.stderr)
		for line := range strings.SplitSeq(strings.TrimSpace(r.stderr), "\n") {
			assert.Regexp(t, `^bad\.yaml:\d+:\d+: \S+: .+$`, line)
		}
	})
	t.Run("several files", func(t *testing.T) {
		r := run(t, dir, "check", "good.yaml", "bad.yaml", "missing.yaml")
		assert.Equal(t, 1, r.code)
		assert.Equal(t, goodSummary, r.stdout)
		assert.Contains(t, r.stderr, "bad.yaml:3:3: server.listn: ")
		assert.Contains(t, r.stderr, "missing.yaml: ")
	})
	t.Run("usage", func(t *testing.T) {
		for _, args := range [][]string{{"check"}, {"check", "--no-compile"}, {"check", "--nope", "good.yaml"},
			{"check", "--no-compile=maybe", "good.yaml"}} {
			r := run(t, dir, args...)
			assert.Equal(t, 2, r.code, "%v: %s", args, r.stderr)
			assert.Contains(t, r.stderr, "Run 'tandem check --help' for usage.")
		}
	})
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"version", "extra"},
		{"serve", "--listen"},
		{"--log-level", "loud", "version"},
		{"topology", "--bogus"},
	} {
		r := run(t, "", args...)
		assert.Equal(t, 2, r.code, "%v: %s", args, r.stderr)
		assert.Contains(t, r.stderr, "for usage.", "%v", args)
	}
	r := run(t, "", "--help")
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "serve")
}

func TestTopologyJSON(t *testing.T) {
	var rep struct {
		Topology struct {
			Usable []int `json:"usable"`
			Cores  []struct {
				CPUs []int `json:"cpus"`
			} `json:"cores"`
		} `json:"topology"`
		Strategy   string `json:"strategy"`
		Workers    int    `json:"workers"`
		GOMAXPROCS int    `json:"gomaxprocs"`
		Placement  []struct {
			Index int `json:"index"`
			CPU   int `json:"cpu"`
		} `json:"placement"`
		Reasons []string `json:"reasons"`
		Policy  string   `json:"policy"`
	}
	// Without a policy file: the defaults.
	r := run(t, t.TempDir(), "topology", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	assert.NotEmpty(t, rep.Topology.Usable)
	assert.NotEmpty(t, rep.Topology.Cores)
	assert.Positive(t, rep.Workers)
	assert.Len(t, rep.Placement, rep.Workers)
	assert.Equal(t, len(rep.Topology.Usable)+rep.Workers, rep.GOMAXPROCS)
	assert.Contains(t, []string{"pinned", "pooled"}, rep.Strategy)
	assert.NotEmpty(t, rep.Reasons)
	assert.Empty(t, rep.Policy)

	// With a policy: its python section.
	dir := writeFiles(t, map[string]string{"tandem.yaml": slowPolicy, "app/slow.py": slowApp})
	r = run(t, dir, "topology", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	assert.Equal(t, 1, rep.Workers)
	assert.Equal(t, "pooled", rep.Strategy)
	assert.Equal(t, -1, rep.Placement[0].CPU)
	assert.Equal(t, "tandem.yaml", rep.Policy)

	// Text: the tables and the plan.
	r = run(t, dir, "topology")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Usable")
	assert.Contains(t, r.stdout, "Plan (tandem.yaml): 1 worker, pooled")

	// A named policy that does not exist is an error.
	r = run(t, dir, "topology", "--policy", "nope.yaml")
	assert.Equal(t, 1, r.code)
}

func TestRuntimeJSON(t *testing.T) {
	r := run(t, t.TempDir(), "runtime", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var rt struct {
		Kind    string `json:"kind"`
		Version string `json:"version"`
		Major   int    `json:"major"`
		Minor   int    `json:"minor"`
		Home    string `json:"home"`
		Library string `json:"library"`
		OwnGIL  bool   `json:"own_gil"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rt), r.stdout)
	assert.Equal(t, "embedded", rt.Kind)
	assert.True(t, strings.HasPrefix(rt.Version, "3.14."), rt.Version)
	assert.Equal(t, []int{3, 14}, []int{rt.Major, rt.Minor})
	assert.FileExists(t, rt.Library)
	assert.DirExists(t, rt.Home)
	assert.True(t, rt.OwnGIL)

	r = run(t, t.TempDir(), "runtime")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `(?m)^version +3\.14\.\d+$`, r.stdout)
	assert.Regexp(t, `(?m)^own GIL +yes`, r.stdout)
}

func TestVersion(t *testing.T) {
	r := run(t, "", "version")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `(?m)^tandem +dev$`, r.stdout)
	assert.Regexp(t, `(?m)^go +`+strings.ReplaceAll(goruntime.Version(), ".", `\.`)+`$`, r.stdout)
	assert.Regexp(t, `(?m)^wazero +v\d+\.\d+\.\d+$`, r.stdout, "check and the host link the sandbox")
	assert.Regexp(t, `(?m)^cpython +3\.14\.\d+ \(embedded\)$`, r.stdout)
}

// A runtime that cannot start gives an error naming it, not a crash.
func TestServeRefusesBrokenRuntime(t *testing.T) {
	home := os.Getenv("TANDEM_PYTHON_HOME")
	require.NotEmpty(t, home, "TestMain extracts the embedded runtime")
	libs, _ := filepath.Glob(filepath.Join(home, "lib", "libpython3.*.so.1.0"))
	require.Len(t, libs, 1)
	lib := libs[0]
	minor := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(lib), "libpython"), ".so.1.0")

	// No standard library at all: refused before Python starts.
	bare := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(bare, "lib"), 0o755))
	require.NoError(t, os.Symlink(lib, filepath.Join(bare, "lib", filepath.Base(lib))))
	// A standard library that is there but broken: CPython fails to start.
	broken := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(broken, "lib", "python"+minor), 0o755))
	require.NoError(t, os.Symlink(lib, filepath.Join(broken, "lib", filepath.Base(lib))))
	require.NoError(t, os.WriteFile(filepath.Join(broken, "lib", "python"+minor, "os.py"), nil, 0o644))

	for name, c := range map[string]struct{ lib, want string }{
		"no stdlib":     {filepath.Join(bare, "lib", filepath.Base(lib)), "cannot find the standard library"},
		"broken stdlib": {filepath.Join(broken, "lib", filepath.Base(lib)), "encodings"},
	} {
		t.Run(name, func(t *testing.T) {
			policy := "version: 1\npython:\n  runtime: " + c.lib + "\nroutes:\n  - path: /x\n    handler: {python: m:f}\n"
			dir := writeFiles(t, map[string]string{"tandem.yaml": policy})
			r := run(t, dir, "serve", "--listen", "127.0.0.1:0")
			assert.Equal(t, 1, r.code, "%s", r.stderr)
			assert.Contains(t, r.stderr, c.want)
			assert.NotContains(t, r.stderr, "Fatal Python error")
		})
	}
}

// A route that times out answers 504 through the real listener, also when
// its timeout is the listener's write timeout (the default) or longer.
func TestServeRouteTimeoutAnswers504(t *testing.T) {
	policy := `version: 1
server:
  timeouts: {write: 1s}
python:
  path: [app]
  workers: 2 # the first request's handler sleeps on after its 504
  strategy: pooled
routes:
  - path: /slow
    handler: {python: slow:handler}
  - path: /longer
    handler: {python: slow:handler}
    limits: {timeout: 2s}
`
	dir := writeFiles(t, map[string]string{"tandem.yaml": policy, "app/slow.py": slowApp})
	srv := startServe(t, "--policy", filepath.Join(dir, "tandem.yaml"))
	for _, c := range []struct {
		path   string
		status int
	}{{"/slow?seconds=3", 504}, {"/longer?seconds=1.5", 200}} {
		resp, err := http.Get("http://" + srv.addr + c.path)
		require.NoError(t, err, c.path)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, c.status, resp.StatusCode, "%s: %s", c.path, b)
	}
}
