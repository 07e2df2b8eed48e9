package main_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// guest returns the bytes of a test module of the sandbox package.
func guest(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "sandbox", "testdata", name))
	require.NoError(t, err)
	return string(b)
}

// assertProblemLines asserts that every line on stderr has the form
// FILE:LINE:COL: path: message.
func assertProblemLines(t *testing.T, file, stderr string) {
	t.Helper()
	require.NotEmpty(t, strings.TrimSpace(stderr))
	for line := range strings.SplitSeq(strings.TrimRight(stderr, "\n"), "\n") {
		assert.Regexp(t, `^`+strings.ReplaceAll(file, ".", `\.`)+`:\d+:\d+: \S+: .+$`, line)
	}
}

// pluginPolicy is a valid policy whose WebAssembly modules are compiled:
// the plugin noop as middleware and as an inline handler of a tenant's
// route, and a Python route. The sandbox cache is kept beside it.
const pluginPolicy = `version: 1
sandbox:
  cache_dir: cache
python:
  path: [app]
  workers: 1
  strategy: pooled
plugins:
  noop:
    wasm: noop.wasm
    limits: {memory: 1MiB, timeout: 20ms, instances: 2}
tenants:
  acme:
    hosts: [acme.localhost]
    limits: {rate: 10/s, burst: 5}
routes:
  - path: /slow
    middleware: [noop]
    handler: {python: slow:handler}
  - path: /wasm
    tenant: acme
    handler: {wasm: noop.wasm}
  - path: /plugin
    tenant: acme
    handler: {plugin: noop}
`

func TestCheckPlugins(t *testing.T) {
	noop := guest(t, "noop.wasm")
	files := map[string]string{
		"app/slow.py":      slowApp,
		"noop.wasm":        noop,
		"trap_start.wasm":  guest(t, "hostile/trap_start.wasm"),
		"imports_env.wasm": guest(t, "invalid/imports_env.wasm"),
		"good.yaml":        pluginPolicy,
		// A plugin whose start function traps, and an inline handler
		// that imports what no host provides: both are problems of the
		// policy, in the order of the file.
		"bad.yaml": strings.NewReplacer("wasm: noop.wasm\n    limits", "wasm: trap_start.wasm\n    limits",
			"handler: {wasm: noop.wasm}", "handler: {wasm: imports_env.wasm}").Replace(pluginPolicy),
	}
	sum := sha256.Sum256([]byte(noop))
	files["pinned.yaml"] = strings.Replace(pluginPolicy, "wasm: noop.wasm\n", "wasm: noop.wasm\n    sha256: "+hex.EncodeToString(sum[:])+"\n", 1)
	files["mispinned.yaml"] = strings.Replace(pluginPolicy, "wasm: noop.wasm\n", "wasm: noop.wasm\n    sha256: "+strings.Repeat("f", 64)+"\n", 1)
	dir := writeFiles(t, files)
	require.NotEqual(t, files["bad.yaml"], pluginPolicy)

	summary := func(file, plugin, wasm string) string {
		return file + ": ok\n" +
			"  routes   3: 1 python, 1 wasm, 1 plugin; 1 with plugin middleware\n" +
			"  tenants  1: acme (untrusted; acme.localhost; rate 10/s burst 5)\n" +
			"  plugins  1: noop (" + plugin + "; memory 1MiB, timeout 20ms, instances 2)\n" +
			"  wasm     " + wasm + "\n" +
			"  python   workers 1, strategy pooled, isolation own_gil\n"
	}

	t.Run("valid", func(t *testing.T) {
		r := run(t, dir, "check", "good.yaml")
		assert.Equal(t, 0, r.code, r.stderr)
		assert.Empty(t, r.stderr)
		// noop as middleware and as a handler is one module; the inline
		// handler another.
		assert.Equal(t, summary("good.yaml", "88B", "2 modules: compiled and started"), r.stdout)
		entries, err := os.ReadDir(filepath.Join(dir, "cache"))
		require.NoError(t, err, "sandbox.cache_dir is used")
		assert.NotEmpty(t, entries)
	})
	t.Run("pinned", func(t *testing.T) {
		r := run(t, dir, "check", "pinned.yaml")
		assert.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, summary("pinned.yaml", "88B, pinned", "2 modules: compiled and started"), r.stdout)
	})
	t.Run("start fails and bad import", func(t *testing.T) {
		r := run(t, dir, "check", "bad.yaml")
		assert.Equal(t, 1, r.code)
		assert.Empty(t, r.stdout)
		assertProblemLines(t, "bad.yaml", r.stderr)
		compiled := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
		require.Len(t, compiled, 2, r.stderr)
		assert.Regexp(t, `^bad\.yaml:9:3: plugins\.noop: plugin "noop": .*failed to start.*unreachable`, compiled[0])
		assert.Regexp(t, `^bad\.yaml:22:15: routes\[1\]\.handler\.wasm: plugin "wasm:imports_env\.wasm": .*env\.abort`, compiled[1])
	})
	t.Run("pin mismatch", func(t *testing.T) {
		for _, args := range [][]string{{"check", "mispinned.yaml"}, {"check", "--no-compile", "mispinned.yaml"}} {
			r := run(t, dir, args...)
			assert.Equal(t, 1, r.code, "%v", args)
			assert.Empty(t, r.stdout)
			assert.Regexp(t, `^mispinned\.yaml:11:13: plugins\.noop\.sha256: noop\.wasm has sha256 [0-9a-f]{64}, not the pinned f{64}`, r.stderr)
			assertProblemLines(t, "mispinned.yaml", r.stderr)
		}
	})
	t.Run("no-compile", func(t *testing.T) {
		r := run(t, dir, "check", "--no-compile", "bad.yaml")
		assert.NotContains(t, r.stderr, "unreachable")
		assert.NotContains(t, r.stderr, "env.abort")
		assert.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, summary("bad.yaml", "99B", "2 modules: not compiled (--no-compile)"), r.stdout)
	})
}
