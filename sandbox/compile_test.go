package sandbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/http-wasm/http-wasm-host-go/tck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCompileRefuses(t *testing.T) {
	engine, _ := testEngine(t)
	cases := []struct {
		file string
		want []string
	}{
		{"invalid/imports_env.wasm", []string{
			`plugin "bad": imports env.abort, which this host does not provide (only http_handler functions and the wasi_snapshot_preview1 functions a Go or TinyGo runtime needs to start)`,
		}},
		{"invalid/imports_next.wasm", []string{
			`plugin "bad": imports http_handler.next, which is not a function of the http-wasm handler ABI`,
		}},
		{"invalid/imports_socket.wasm", []string{
			`imports wasi_snapshot_preview1.sock_recv, which this host does not provide`,
		}},
		{"invalid/bad_signatures.wasm", []string{
			`imports http_handler.get_uri as (i32) -> i32, but it is (i32, i32) -> i32`,
			`exports handle_request as () -> i32, but the ABI needs () -> i64`,
			`exports no function handle_response(i32, i32)`,
		}},
		{"invalid/imports_memory.wasm", []string{
			`imports memory env.memory: a guest must define and export its own memory`,
			`exports no memory named "memory"`,
		}},
		{"invalid/big_memory.wasm", []string{
			`plugin "bad": not a valid WebAssembly module for this host:`, "over limit",
		}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			_, err := engine.Compile(t.Context(), PluginConfig{Name: "bad", Wasm: testdata(t, c.file)})
			require.Error(t, err)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}

	t.Run("not WebAssembly", func(t *testing.T) {
		_, err := engine.Compile(t.Context(), PluginConfig{Name: "text", Wasm: []byte("hello")})
		assert.ErrorContains(t, err, `plugin "text": not a valid WebAssembly module for this host: invalid magic number`)
	})
	t.Run("empty", func(t *testing.T) {
		_, err := engine.Compile(t.Context(), PluginConfig{Name: "empty"})
		assert.EqualError(t, err, `plugin "empty": the module is empty`)
	})
	t.Run("no name", func(t *testing.T) {
		_, err := engine.Compile(t.Context(), PluginConfig{Wasm: testdata(t, "noop.wasm")})
		assert.EqualError(t, err, "sandbox: a plugin needs a name")
	})
	t.Run("limits", func(t *testing.T) {
		_, err := engine.Compile(t.Context(), PluginConfig{Name: "l", Wasm: testdata(t, "noop.wasm"),
			Limits: Limits{Memory: 100000, Timeout: -1, Instances: -2, MaxUses: -3}})
		assert.EqualError(t, err, `plugin "l": limits.memory 100000 is not a multiple of 64 KiB between 64 KiB and 4 GiB; `+
			`limits.timeout -1ns is negative; limits.instances -2 is negative; limits.max_uses -3 is negative`)
	})
	t.Run("a memory limit the module fits in", func(t *testing.T) {
		_, err := engine.Compile(t.Context(), PluginConfig{Name: "big", Wasm: testdata(t, "invalid/big_memory.wasm"),
			Limits: Limits{Memory: 32 << 20}})
		assert.NoError(t, err)
	})
}

func TestCompilePin(t *testing.T) {
	engine, _ := testEngine(t)
	wasm := testdata(t, "noop.wasm")
	sum := sha256.Sum256(wasm)
	pin := hex.EncodeToString(sum[:])

	p, err := engine.Compile(t.Context(), PluginConfig{Name: "pinned", Wasm: wasm, SHA256: strings.ToUpper(pin)})
	require.NoError(t, err)
	assert.Equal(t, "pinned", p.Name())
	assert.Equal(t, Limits{Memory: DefaultMemory, Timeout: DefaultTimeout, Instances: DefaultInstances, MaxUses: DefaultMaxUses}, p.Limits())

	_, err = engine.Compile(t.Context(), PluginConfig{Name: "pinned", Wasm: append(wasm, 0), SHA256: pin})
	assert.ErrorContains(t, err, `plugin "pinned": sha256 mismatch: pinned `+pin+`, the module is `)
	assert.ErrorContains(t, err, "update the pin or the module")
}

// TestCompilationCache: compiled code lands in the cache directory, and a
// second engine on the same directory compiles from it.
func TestCompilationCache(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	for range 2 {
		e, err := NewEngine(ctx, EngineConfig{CacheDir: dir})
		require.NoError(t, err)
		_, err = e.Compile(ctx, PluginConfig{Name: "tck", Wasm: tck.GuestWASM})
		require.NoError(t, err)
		require.NoError(t, e.Close(ctx))
	}
	var files int
	require.NoError(t, filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files++
		}
		return err
	}))
	assert.Equal(t, 1, files, "one module, compiled once")

	t.Run("default directory", func(t *testing.T) {
		t.Setenv("XDG_CACHE_HOME", t.TempDir())
		e, err := NewEngine(ctx, EngineConfig{})
		require.NoError(t, err)
		defer e.Close(ctx)
		base, _ := os.UserCacheDir()
		assert.Equal(t, filepath.Join(base, "tandem", "wasm"), e.cacheDir)
	})
	t.Run("unusable directory", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		require.NoError(t, os.WriteFile(file, nil, 0o600))
		_, err := NewEngine(ctx, EngineConfig{CacheDir: file})
		assert.ErrorContains(t, err, "sandbox: compilation cache "+file)
	})
}

func TestEngineClose(t *testing.T) {
	engine, _ := testEngine(t)
	plugin := compile(t, engine, "noop", testdata(t, "noop.wasm"), Limits{})
	require.NoError(t, engine.Close(t.Context()))
	assert.True(t, plugin.isClosed())
	_, err := engine.Compile(t.Context(), PluginConfig{Name: "late", Wasm: testdata(t, "noop.wasm")})
	assert.ErrorContains(t, err, `plugin "late": the engine is closed`)
}

// TestWasmMatchesWat: every committed .wasm is what wat2wasm makes of the
// .wat beside it (testdata/build.sh rebuilds them).
func TestWasmMatchesWat(t *testing.T) {
	wat2wasm, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Skip("wat2wasm (Debian's wabt) is not installed: cannot check the committed .wasm files against their .wat sources")
	}
	var n int
	err = filepath.WalkDir("testdata", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".wat" {
			return err
		}
		n++
		out := filepath.Join(t.TempDir(), "out.wasm")
		if msg, err := exec.Command(wat2wasm, path, "-o", out).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", path, err, msg)
			return nil
		}
		want, _ := os.ReadFile(out)
		have, err := os.ReadFile(strings.TrimSuffix(path, ".wat") + ".wasm")
		if err != nil || !bytes.Equal(want, have) {
			t.Errorf("%s: the committed .wasm is missing or stale: run testdata/build.sh", path)
		}
		return nil
	})
	require.NoError(t, err)
	assert.Greater(t, n, 10)
}
