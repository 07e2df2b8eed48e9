package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// productExample is the policy shown in PRODUCT.md, verbatim.
const productExample = `version: 1

server:
  listen: 127.0.0.1:8080          # public listener
  admin: 127.0.0.1:9090           # health, metrics, status; absent = disabled
  max_body: 1MiB                  # default request-body limit (413 beyond it)
  timeouts: {read_header: 5s, read: 30s, write: 30s, idle: 120s, shutdown: 15s}

python:
  runtime: embedded               # embedded | path to libpython3.X.so | path to a virtualenv
  path: [app]                     # added to sys.path in every interpreter (relative to this file)
  workers: auto                   # auto | N
  strategy: auto                  # auto | pinned | pooled
  isolation: own_gil              # own_gil | shared (main interpreter, one GIL: the fallback)
  init: app:setup                 # optional; called once in each interpreter at start

sandbox:
  cache_dir: ""                   # compiled-module cache; "" = the user cache dir
  limits: {memory: 16MiB, timeout: 100ms, instances: 16}   # defaults for every plugin

plugins:                          # untrusted Wasm modules (http-wasm guests), by name
  auth:
    wasm: plugins/auth.wasm
    sha256: ""                    # optional pin; a mismatch refuses to load
    config: {header: X-Api-Key}   # given to the guest by get_config (a mapping becomes JSON)
    limits: {memory: 8MiB, timeout: 20ms}

tenants:
  acme:
    hosts: [acme.localhost]       # requests whose Host matches belong to the tenant
    trust: untrusted              # untrusted (the default) | trusted
    limits: {rate: 100/s, burst: 20, timeout: 50ms, memory: 8MiB}

routes:
  - path: /hello/:name            # Echo path syntax (:param, *)
    methods: [GET]                # absent = every method
    middleware: [auth, {python: app.mw:timing}]   # plugin names and/or trusted Python middleware
    handler: {python: app:hello}  # exactly one of: python | wsgi | wasm | plugin
    limits: {timeout: 2s, max_body: 64KiB}
    body_schema: schemas/hello.json   # optional JSON Schema, checked in Go before any Python runs
  - path: /t/acme/*
    tenant: acme
    handler: {wasm: tenants/acme.wasm}
`

// wasmHeader is the smallest valid WebAssembly module: magic and version.
const wasmHeader = "\x00asm\x01\x00\x00\x00"

// writeTree creates files under dir; a name ending in "/" is a directory.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if name[len(name)-1] == '/' {
			require.NoError(t, os.MkdirAll(p, 0o755))
			continue
		}
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
}

func exampleTree(t *testing.T) string {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"tandem.yaml":        productExample,
		"app/":               "",
		"plugins/auth.wasm":  wasmHeader,
		"tenants/acme.wasm":  wasmHeader,
		"schemas/hello.json": `{"type": "object", "required": ["name"]}`,
	})
	return dir
}

func TestLoadProductExample(t *testing.T) {
	dir := exampleTree(t)
	file := filepath.Join(dir, "tandem.yaml")
	p, err := Load(file, Options{UsableCPUs: 4})
	require.NoError(t, err)

	sum := sha256.Sum256([]byte(productExample))
	auth := &Plugin{
		Name:   "auth",
		Wasm:   filepath.Join(dir, "plugins/auth.wasm"),
		Config: []byte(`{"header":"X-Api-Key"}`),
		Limits: Limits{Memory: 8 << 20, Timeout: Duration(20 * time.Millisecond), Instances: 16},
		Pos:    Pos{Line: 22, Col: 3},
	}
	acme := &Tenant{
		Name:  "acme",
		Hosts: []string{"acme.localhost"},
		Trust: TrustUntrusted,
		Limits: TenantLimits{
			Rate:    Rate{Count: 100, Per: Duration(time.Second)},
			Burst:   20,
			Timeout: Duration(50 * time.Millisecond),
			Memory:  8 << 20,
		},
		Pos: Pos{Line: 29, Col: 3},
	}
	want := &Policy{
		File:    file,
		Dir:     dir,
		Digest:  hex.EncodeToString(sum[:]),
		Version: 1,
		Server: Server{
			Listen:   "127.0.0.1:8080",
			Admin:    "127.0.0.1:9090",
			AdminPos: Pos{Line: 5, Col: 3},
			MaxBody:  1 << 20,
			Timeouts: Timeouts{
				ReadHeader: Duration(5 * time.Second),
				Read:       Duration(30 * time.Second),
				Write:      Duration(30 * time.Second),
				Idle:       Duration(120 * time.Second),
				Shutdown:   Duration(15 * time.Second),
			},
		},
		Python: Python{
			Runtime:      RuntimeEmbedded,
			RuntimePos:   Pos{Line: 10, Col: 12},
			Path:         []string{filepath.Join(dir, "app")},
			WorkersPos:   Pos{Line: 12, Col: 12},
			Strategy:     StrategyAuto,
			Isolation:    IsolationOwnGIL,
			IsolationPos: Pos{Line: 14, Col: 14},
			Init:         "app:setup",
			InitPos:      Pos{Line: 15, Col: 9},
		},
		Sandbox: Sandbox{
			Limits: Limits{Memory: 16 << 20, Timeout: Duration(100 * time.Millisecond), Instances: 16},
			Pos:    Pos{Line: 17, Col: 1},
		},
		Plugins:     map[string]*Plugin{"auth": auth},
		PluginNames: []string{"auth"},
		Tenants:     map[string]*Tenant{"acme": acme},
		TenantNames: []string{"acme"},
		Routes: []*Route{
			{
				Index:   0,
				Path:    "/hello/:name",
				Methods: []string{"GET"},
				Middleware: []Middleware{
					{Kind: MiddlewarePlugin, Name: "auth", Pos: Pos{Line: 37, Col: 18}},
					{Kind: MiddlewarePython, Name: "app.mw:timing", Pos: Pos{Line: 37, Col: 25}},
				},
				Handler:       Target{Kind: TargetPython, Ref: "app:hello", Pos: Pos{Line: 38, Col: 15}},
				Limits:        RouteLimits{Timeout: Duration(2 * time.Second), MaxBody: 64 << 10},
				BodySchema:    filepath.Join(dir, "schemas/hello.json"),
				BodySchemaPos: Pos{Line: 40, Col: 5},
				Pos:           Pos{Line: 35, Col: 5},
			},
			{
				Index:     1,
				Path:      "/t/acme/*",
				Tenant:    "acme",
				TenantPos: Pos{Line: 42, Col: 5},
				Handler:   Target{Kind: TargetWasm, Ref: filepath.Join(dir, "tenants/acme.wasm"), Pos: Pos{Line: 43, Col: 15}},
				Pos:       Pos{Line: 41, Col: 5},
			},
		},
	}
	assert.Equal(t, want, p)

	// The effective limits fall back route, tenant, server.
	hello, acmeRoute := p.Routes[0], p.Routes[1]
	assert.Equal(t, Duration(2*time.Second), hello.Timeout(p))
	assert.Equal(t, Duration(50*time.Millisecond), acmeRoute.Timeout(p))
	assert.Equal(t, Size(64<<10), hello.MaxBody(p))
	assert.Equal(t, Size(1<<20), acmeRoute.MaxBody(p))
	assert.True(t, hello.Trusted(p))
	assert.False(t, acmeRoute.Trusted(p))
}

func TestLoadRelativeFileName(t *testing.T) {
	dir := exampleTree(t)
	t.Chdir(dir)
	p, err := Load("tandem.yaml", Options{})
	require.NoError(t, err)
	assert.Equal(t, "tandem.yaml", p.File)
	assert.Equal(t, dir, p.Dir)
	assert.Equal(t, filepath.Join(dir, "plugins/auth.wasm"), p.Plugins["auth"].Wasm)
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), Options{})
	require.Error(t, err)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	var problems *Problems
	assert.False(t, errors.As(err, &problems), "an unreadable file is not a policy problem")
}

const minimal = `version: 1
routes:
  - path: /
    handler: {python: app:index}
`

func TestParseMinimalAppliesDefaults(t *testing.T) {
	p, err := Parse("/srv/tandem.yaml", []byte(minimal), Options{})
	require.NoError(t, err)

	// The defaults PRODUCT.md shows, spelled out here rather than taken
	// from newPolicy so that a changed default fails this test.
	assert.Equal(t, 1, p.Version)
	assert.Equal(t, "/srv", p.Dir)
	assert.Equal(t, Server{
		Listen:  "127.0.0.1:8080",
		Admin:   "",
		MaxBody: 1 << 20,
		Timeouts: Timeouts{
			ReadHeader: Duration(5 * time.Second),
			Read:       Duration(30 * time.Second),
			Write:      Duration(30 * time.Second),
			Idle:       Duration(120 * time.Second),
			Shutdown:   Duration(15 * time.Second),
		},
	}, p.Server)
	assert.Equal(t, Python{Runtime: "embedded", Workers: 0, Strategy: "auto", Isolation: "own_gil"}, p.Python)
	assert.Equal(t, Sandbox{Limits: Limits{Memory: 16 << 20, Timeout: Duration(100 * time.Millisecond), Instances: 16}}, p.Sandbox)
	assert.Empty(t, p.Plugins)
	assert.Empty(t, p.Tenants)
	require.Len(t, p.Routes, 1)
	r := p.Routes[0]
	assert.Equal(t, &Route{
		Path:    "/",
		Handler: Target{Kind: TargetPython, Ref: "app:index", Pos: Pos{Line: 4, Col: 15}},
		Pos:     Pos{Line: 3, Col: 5},
	}, r)
	assert.Nil(t, r.Methods, "no methods means every method")
	assert.Equal(t, Duration(30*time.Second), r.Timeout(p), "falls back to the write timeout")
	assert.Equal(t, Size(1<<20), r.MaxBody(p))
}

func TestParseValues(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"venv/pyvenv.cfg":          "home = /usr/bin\n",
		"lib/libpython3.12.so.1.0": "",
		"m.wasm":                   wasmHeader,
	})
	sum := sha256.Sum256([]byte(wasmHeader))
	pin := hex.EncodeToString(sum[:])

	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, p *Policy)
	}{
		{"virtualenv runtime", "python: {runtime: venv}", func(t *testing.T, p *Policy) {
			assert.Equal(t, filepath.Join(dir, "venv"), p.Python.Runtime)
		}},
		{"libpython runtime", "python: {runtime: lib/libpython3.12.so.1.0}", func(t *testing.T, p *Policy) {
			assert.Equal(t, filepath.Join(dir, "lib/libpython3.12.so.1.0"), p.Python.Runtime)
		}},
		{"workers above CPUs with pooled", "python: {workers: 64, strategy: pooled}", func(t *testing.T, p *Policy) {
			assert.Equal(t, 64, p.Python.Workers)
		}},
		{"pinned with shared isolation", "python: {workers: 2, strategy: pinned, isolation: shared}", func(t *testing.T, p *Policy) {
			assert.Equal(t, StrategyPinned, p.Python.Strategy)
			assert.Equal(t, IsolationShared, p.Python.Isolation)
		}},
		{"sizes", "server: {max_body: 1.5MiB}\nsandbox: {limits: {memory: 4194304}}", func(t *testing.T, p *Policy) {
			assert.Equal(t, Size(1572864), p.Server.MaxBody)
			assert.Equal(t, Size(4<<20), p.Sandbox.Limits.Memory)
		}},
		{"plugin limits merge over sandbox defaults", "sandbox: {limits: {memory: 32MiB, instances: 4}}\nplugins: {p: {wasm: m.wasm, limits: {timeout: 1s}}}", func(t *testing.T, p *Policy) {
			assert.Equal(t, Limits{Memory: 32 << 20, Timeout: Duration(time.Second), Instances: 4}, p.Plugins["p"].Limits)
		}},
		{"plugin pin and string config", "plugins: {p: {wasm: m.wasm, sha256: " + pin + ", config: 'a=b'}}", func(t *testing.T, p *Policy) {
			assert.Equal(t, pin, p.Plugins["p"].SHA256)
			assert.Equal(t, []byte("a=b"), p.Plugins["p"].Config)
		}},
		{"burst defaults to the rate's count", "tenants: {t: {limits: {rate: 20/m}}}", func(t *testing.T, p *Policy) {
			assert.Equal(t, TenantLimits{Rate: Rate{Count: 20, Per: Duration(time.Minute)}, Burst: 20}, p.Tenants["t"].Limits)
		}},
		{"hosts are lower-cased", "tenants: {t: {hosts: [Acme.Example, '*.b.example']}}", func(t *testing.T, p *Policy) {
			assert.Equal(t, []string{"acme.example", "*.b.example"}, p.Tenants["t"].Hosts)
			assert.Equal(t, TrustUntrusted, p.Tenants["t"].Trust)
		}},
		{"cache dir resolved", "sandbox: {cache_dir: cache}", func(t *testing.T, p *Policy) {
			assert.Equal(t, filepath.Join(dir, "cache"), p.Sandbox.CacheDir)
		}},
		{"admin on another port of all interfaces", "server: {listen: ':8080', admin: '127.0.0.1:9090'}", func(t *testing.T, p *Policy) {
			assert.Equal(t, ":8080", p.Server.Listen)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "version: 1\n" + tt.yaml + "\nroutes: [{path: /, handler: {wasm: m.wasm}}]\n"
			p, err := Parse(filepath.Join(dir, "p.yaml"), []byte(src), Options{UsableCPUs: 4})
			require.NoError(t, err)
			tt.check(t, p)
		})
	}
}

func TestParseRoutes(t *testing.T) {
	src := `version: 1
plugins:
  auth: {wasm: a.wasm}
tenants:
  a: {hosts: [a.example]}
  b: {hosts: [b.example], trust: trusted}
routes:
  - {path: /x/:id, methods: [get, Post], handler: {plugin: auth}, middleware: [auth]}
  - {path: /x/:other, methods: [PUT], handler: {wsgi: app:application}}
  - {path: /x/:id, tenant: a, handler: {plugin: auth}}
  - {path: /x/:id, tenant: b, handler: {python: app:x}, middleware: [auth, {python: m:w}]}
  - {path: /static/*, handler: {wasm: /opt/s.wasm}}
`
	p, err := Parse("/srv/p.yaml", []byte(src), Options{SkipFileChecks: true})
	require.NoError(t, err)
	require.Len(t, p.Routes, 5)
	assert.Equal(t, []string{"GET", "POST"}, p.Routes[0].Methods)
	assert.Equal(t, Target{Kind: TargetPlugin, Ref: "auth", Pos: Pos{Line: 8, Col: 52}}, p.Routes[0].Handler)
	assert.Equal(t, Target{Kind: TargetWSGI, Ref: "app:application", Pos: Pos{Line: 9, Col: 49}}, p.Routes[1].Handler)
	assert.Equal(t, "/opt/s.wasm", p.Routes[4].Handler.Ref)
	assert.Equal(t, []Middleware{
		{Kind: MiddlewarePlugin, Name: "auth", Pos: Pos{Line: 11, Col: 70}},
		{Kind: MiddlewarePython, Name: "m:w", Pos: Pos{Line: 11, Col: 77}},
	}, p.Routes[3].Middleware)
	for i, r := range p.Routes {
		assert.Equal(t, i, r.Index)
	}
	assert.True(t, p.Routes[3].Trusted(p))
	assert.False(t, p.Routes[2].Trusted(p))
}

func TestProblemsFormat(t *testing.T) {
	_, err := Parse("dir/p.yaml", []byte("version: 1\nroutes: []\nbogus: 1\n"), Options{})
	var problems *Problems
	require.ErrorAs(t, err, &problems)
	assert.Equal(t, Problems{
		{File: "dir/p.yaml", Line: 2, Col: 9, Path: "routes", Message: "expected at least one entry, got an empty list (add at least one route)"},
		{File: "dir/p.yaml", Line: 3, Col: 1, Path: "bogus", Message: `unknown key "bogus" (expected one of version, server, python, sandbox, plugins, tenants, routes)`},
	}, *problems)
	assert.Equal(t, "dir/p.yaml:2:9: routes: expected at least one entry, got an empty list (add at least one route)\n"+
		`dir/p.yaml:3:1: bogus: unknown key "bogus" (expected one of version, server, python, sandbox, plugins, tenants, routes)`, err.Error())
	assert.Equal(t, "f:1:2: m", Problem{File: "f", Line: 1, Col: 2, Message: "m"}.String())
}

func TestPolicyProblem(t *testing.T) {
	p, err := Parse("p.yaml", []byte(minimal), Options{})
	require.NoError(t, err)
	pr := p.Problem(p.Routes[0].Handler.Pos, "routes[0].handler.python", "cannot import %s", "app")
	assert.Equal(t, "p.yaml:4:15: routes[0].handler.python: cannot import app", pr.String())
}

func TestParseConcurrent(t *testing.T) {
	dir := exampleTree(t)
	file := filepath.Join(dir, "tandem.yaml")
	done := make(chan error)
	for range 8 {
		go func() {
			_, err := Load(file, Options{})
			if err == nil {
				_, err = Parse("bad.yaml", []byte("version: 2\nroutes: []\n"), Options{})
				if err == nil {
					err = errors.New("want problems")
				} else {
					err = nil
				}
			}
			done <- err
		}()
	}
	for range 8 {
		assert.NoError(t, <-done)
	}
}
