package sandbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/http-wasm/http-wasm-host-go/tck"
	"github.com/labstack/echo/v4"
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

// TestCompileStartFails: a guest that cannot start with its config and
// limits is refused at load, with an error that names the plugin and says
// why, in the guest's own words where it has any.
func TestCompileStartFails(t *testing.T) {
	engine, _ := testEngine(t)
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	cases := []struct {
		name   string
		file   string
		config string
		limits Limits
		ctx    context.Context
		want   string
	}{
		{name: "trap", file: "trap_start", want: `plugin "trap_start": the guest failed to start with its config and limits: ` +
			`wasm error: unreachable; fix the plugin's config or its module`},
		{name: "trap on its config", file: "config_start", config: "!", want: `plugin "config_start": the guest failed to start with its config and limits: ` +
			`wasm error: unreachable; fix the plugin's config or its module`},
		{name: "exit", file: "exit_start", want: `plugin "exit_start": the start function exited: build the guest as a reactor ` +
			`(Go: -buildmode=c-shared; TinyGo: a main that returns)`},
		{name: "abi violation", file: "method_start", want: `plugin "method_start": the guest broke the http-wasm ABI while starting: ` +
			`get_method: called while the guest was starting, outside any request`},
		{name: "the least start timeout", file: "loop_start", limits: Limits{Timeout: 10 * time.Millisecond},
			want: `plugin "loop_start": the guest did not finish starting within 1s: ` +
				`make its initialization shorter or raise limits.timeout`},
		{name: "limits.timeout", file: "loop_start", limits: Limits{Timeout: 1500 * time.Millisecond},
			want: `plugin "loop_start": the guest did not finish starting within 1.5s: `},
		{name: "canceled", file: "loop_start", ctx: canceled, want: `plugin "loop_start": starting the guest: context canceled`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := c.ctx
			if ctx == nil {
				ctx = t.Context()
			}
			began := time.Now()
			p, err := engine.Compile(ctx, PluginConfig{Name: c.file, Wasm: testdata(t, "hostile/"+c.file+".wasm"),
				Config: []byte(c.config), Limits: c.limits})
			assert.Nil(t, p)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.NotContains(t, err.Error(), "\n")
			assert.Less(t, time.Since(began), max(c.limits.Timeout, minStartTimeout)+time.Second)
		})
	}
	assert.Empty(t, engine.plugins, "no plugin is kept")
}

// TestCompileKeepsItsInstance: the instance Compile started serves the
// first pool made, and only that one.
func TestCompileKeepsItsInstance(t *testing.T) {
	engine, _ := testEngine(t)
	plugin := compile(t, engine, "counter", testdata(t, "counter.wasm"), Limits{})
	first, second := plugin.Pool("acme"), plugin.Pool("")
	assert.Equal(t, Stats{Size: 1, Idle: 1, Instantiations: 1}, first.Stats())
	assert.Equal(t, Stats{}, second.Stats())

	e := newEcho()
	e.GET("/first", echo.WrapHandler(first.Handler()))
	e.GET("/second", echo.WrapHandler(second.Handler()))
	get := func(path string) string {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Body.String()
	}
	assert.Equal(t, "1", get("/first"), "an instance no request had seen")
	assert.Equal(t, "1", get("/second"))
	assert.Equal(t, uint64(1), first.Stats().Instantiations)
	assert.Equal(t, uint64(1), second.Stats().Instantiations)

	t.Run("closed unused", func(t *testing.T) {
		plugin := compile(t, engine, "noop", testdata(t, "noop.wasm"), Limits{})
		spare := plugin.spare
		require.NotNil(t, spare)
		require.NoError(t, plugin.Close(t.Context()))
		assert.True(t, spare.mod.IsClosed())
		assert.Equal(t, Stats{}, plugin.Pool("").Stats(), "a pool of a closed plugin gets nothing")
	})
}

// TestGuestWords: Compile quotes the reason a guest gave, on one line and
// bounded.
func TestGuestWords(t *testing.T) {
	goPanic := "panic: auth: config: json: unknown field \"kyes\"\n\ngoroutine 1 [running]:\nmain.setup()\n\t/src/main.go:37 +0x2\n"
	assert.Equal(t, `panic: auth: config: json: unknown field "kyes"`, guestWords([]byte(goPanic)))
	assert.Equal(t, "loading; panic: no", guestWords([]byte("loading\n\x00panic:\tno\r\n\nrest")))
	assert.Empty(t, guestWords(nil))
	long := guestWords([]byte(strings.Repeat("x", 5000) + " the reason"))
	assert.Len(t, long, maxStartMessage+3)
	assert.True(t, strings.HasSuffix(long, " the reason"), "the end is kept")
	assert.Equal(t, "a \uFFFD b", guestWords([]byte("a \xff b")))
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
