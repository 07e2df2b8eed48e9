package policy

import "time"

// Policy is a loaded, checked and compiled policy file. Load and Parse
// return a new one each time and nothing changes it afterwards: a reload
// builds a new Policy beside the old one and the server swaps them, so treat
// every field as read-only.
type Policy struct {
	// File is the policy file as named to Load or Parse.
	File string
	// Dir is the absolute directory that relative paths in the file were
	// resolved against: the directory of File.
	Dir string
	// Digest is the hex SHA-256 of the file's bytes; /status reports it so
	// operators can tell which policy is serving.
	Digest string
	// Version is the policy format version; always 1.
	Version int

	// Server is the HTTP listener's configuration (the server: section).
	Server Server
	// Python is how Python handlers run (the python: section).
	Python Python
	// Sandbox holds defaults for every Wasm plugin (the sandbox: section).
	Sandbox Sandbox

	// Plugins are the untrusted Wasm modules by name (the plugins: section).
	Plugins map[string]*Plugin
	// PluginNames are the keys of Plugins, sorted.
	PluginNames []string
	// Tenants are the tenants by name (the tenants: section).
	Tenants map[string]*Tenant
	// TenantNames are the keys of Tenants, sorted.
	TenantNames []string
	// Routes are the routes in file order (the routes: section).
	Routes []*Route
}

// Server configures the public HTTP listener and the admin listener.
type Server struct {
	// Listen is the public listener's address, host:port
	// (server.listen, default 127.0.0.1:8080). Port 0 picks a free port.
	Listen string
	// Admin is the address of the listener for /healthz, /readyz,
	// /metrics and /status (server.admin); "" (absent) disables it.
	Admin string
	// AdminPos is where the server.admin key is written, for errors about
	// the admin listener; the zero Pos when the file does not set it.
	AdminPos Pos
	// MaxBody is the default request-body limit (server.max_body, default
	// 1MiB); larger bodies get 413. Routes may set their own.
	MaxBody Size
	// Timeouts are the listener's timeouts (server.timeouts).
	Timeouts Timeouts
}

// Timeouts are the public listener's connection timeouts, with the meaning of
// the fields of the same names in net/http.Server.
type Timeouts struct {
	// ReadHeader bounds reading request headers (read_header, default 5s).
	ReadHeader Duration
	// Read bounds reading a whole request, body included (read, default 30s).
	Read Duration
	// Write bounds writing the response, measured from the end of the
	// request headers (write, default 30s).
	Write Duration
	// Idle bounds how long a keep-alive connection waits for its next
	// request (idle, default 120s).
	Idle Duration
	// Shutdown bounds how long a graceful shutdown waits for requests in
	// flight (shutdown, default 15s).
	Shutdown Duration
}

// Values of Python.Strategy.
const (
	// StrategyAuto lets tandem choose workers, pinning and GOMAXPROCS from
	// the measured CPU topology.
	StrategyAuto = "auto"
	// StrategyPinned pins each worker to a CPU of its own physical core.
	StrategyPinned = "pinned"
	// StrategyPooled runs unpinned workers; the only strategy that may run
	// more workers than usable CPUs.
	StrategyPooled = "pooled"
)

// Values of Python.Isolation.
const (
	// IsolationOwnGIL gives each worker a sub-interpreter with its own GIL
	// (PEP 684), so workers run Python in parallel.
	IsolationOwnGIL = "own_gil"
	// IsolationShared runs every worker in the main interpreter under one
	// GIL: the fallback for extensions that refuse sub-interpreters (numpy,
	// PyO3-built modules) and for Python below 3.12.
	IsolationShared = "shared"
)

// RuntimeEmbedded is the value of Python.Runtime for the CPython that ships
// inside tandem.
const RuntimeEmbedded = "embedded"

// Python configures the CPython runtime and its worker pool.
type Python struct {
	// Runtime is which CPython to load (python.runtime): RuntimeEmbedded
	// (the default), or the absolute path of a libpython3.X.so file or of a
	// virtualenv directory (one holding pyvenv.cfg).
	Runtime string
	// RuntimePos is where the value of python.runtime is written, for
	// errors raised when the runtime is located or loaded; the zero Pos
	// when the file does not set it.
	RuntimePos Pos
	// Path lists absolute directories added to sys.path in every
	// interpreter (python.path; relative entries are resolved against the
	// policy file's directory).
	Path []string
	// Workers is the number of worker interpreters (python.workers); 0
	// means auto: tandem chooses from the CPU topology.
	Workers int
	// WorkersPos is where the value of python.workers is written, for
	// errors raised when the workers are placed or started; the zero Pos
	// when the file does not set it.
	WorkersPos Pos
	// Strategy is how workers are placed on CPUs (python.strategy):
	// StrategyAuto (the default), StrategyPinned or StrategyPooled.
	Strategy string
	// Isolation is IsolationOwnGIL (the default) or IsolationShared
	// (python.isolation).
	Isolation string
	// IsolationPos is where the value of python.isolation is written, for
	// errors and warnings about a runtime that cannot give it; the zero Pos
	// when the file does not set it.
	IsolationPos Pos
	// Init is an optional module:function called once in each interpreter
	// at start as fn(worker) (python.init); "" for none.
	Init string
	// InitPos is where python.init is written, for errors raised when it
	// is imported or called.
	InitPos Pos
}

// Sandbox configures the WebAssembly sandbox shared by every plugin.
type Sandbox struct {
	// CacheDir is the absolute directory of the compiled-module cache
	// (sandbox.cache_dir); "" means the user cache directory.
	CacheDir string
	// Limits are the defaults for every plugin (sandbox.limits; defaults
	// memory 16MiB, timeout 100ms, instances 16).
	Limits Limits
	// Pos is where the sandbox: key is written, for errors about the
	// section as a whole; the zero Pos when the file has no sandbox
	// section.
	Pos Pos
}

// Limits bound a Wasm plugin.
type Limits struct {
	// Memory caps the guest's linear memory (limits.memory). Wasm memory
	// grows in 64KiB pages, so it is a multiple of 64KiB, at most 4GiB.
	Memory Size
	// Timeout stops each call into the guest (limits.timeout); the request
	// fails with 504 and the instance is thrown away.
	Timeout Duration
	// Instances caps how many instances of the module run at once
	// (limits.instances); requests beyond it wait.
	Instances int
}

// Plugin is an untrusted WebAssembly module speaking the http-wasm handler
// ABI, usable as middleware or as a handler.
type Plugin struct {
	// Name is the plugin's key under plugins:.
	Name string
	// Wasm is the absolute path of the module (plugins.NAME.wasm).
	Wasm string
	// SHA256 is the lower-case hex SHA-256 the module must have
	// (plugins.NAME.sha256); "" means not pinned. A mismatch refuses to
	// load.
	SHA256 string
	// Config is what the guest gets from get_config (plugins.NAME.config):
	// the string as written, or a mapping encoded as JSON; nil if absent.
	Config []byte
	// Limits are plugins.NAME.limits merged over Sandbox.Limits: a limit
	// the plugin does not set is the sandbox default.
	Limits Limits
	// Pos is where the plugin's name is written.
	Pos Pos
}

// Values of Tenant.Trust.
const (
	// TrustUntrusted tenants run only sandboxed code: Wasm handlers and
	// plugin middleware. It is the default.
	TrustUntrusted = "untrusted"
	// TrustTrusted tenants may also run Python, which is native code with
	// the server's own rights.
	TrustTrusted = "trusted"
)

// Tenant is a party whose routes and limits are kept apart from others'.
type Tenant struct {
	// Name is the tenant's key under tenants:.
	Name string
	// Hosts are the lower-case host names whose requests belong to the
	// tenant (tenants.NAME.hosts), matched without the port. A name may
	// start with "*." to match any one label in its place. No two tenants
	// share a host.
	Hosts []string
	// Trust is TrustUntrusted (the default) or TrustTrusted
	// (tenants.NAME.trust).
	Trust string
	// Limits apply to the tenant's requests (tenants.NAME.limits).
	Limits TenantLimits
	// Pos is where the tenant's name is written.
	Pos Pos
}

// TenantLimits bound one tenant's traffic. Zero values mean "not limited".
type TenantLimits struct {
	// Rate is the steady request rate allowed (rate, like 100/s).
	Rate Rate
	// Burst is how many requests may arrive at once above the steady rate
	// (burst); when a rate is set and burst is not, it is the rate's count.
	Burst int
	// Timeout bounds each of the tenant's requests unless its route sets
	// one (timeout).
	Timeout Duration
	// Memory caps the linear memory of the tenant's sandboxes (memory).
	Memory Size
}

// Route is one entry of routes:, in file order.
type Route struct {
	// Index is the route's position in routes:, from 0.
	Index int
	// Path is the URL path in Echo syntax: literal segments, :name
	// parameters and a final * (routes[i].path).
	Path string
	// Methods are the upper-case HTTP methods served (routes[i].methods);
	// nil means every method.
	Methods []string
	// Middleware wraps the handler, outermost first (routes[i].middleware).
	Middleware []Middleware
	// Handler is what serves the route (routes[i].handler).
	Handler Target
	// Tenant is the name of the owning tenant (routes[i].tenant); "" for
	// the operator's own routes, which are trusted.
	Tenant string
	// TenantPos is where the route's tenant key is written; the zero Pos
	// for the operator's own routes.
	TenantPos Pos
	// Limits are the route's own limits (routes[i].limits); zero values
	// fall back, see Timeout and MaxBody.
	Limits RouteLimits
	// BodySchema is the absolute path of a JSON Schema every request body
	// must satisfy before any handler runs (routes[i].body_schema); "" for
	// none.
	BodySchema string
	// BodySchemaPos is where the route's body_schema key is written; the
	// zero Pos when it has none.
	BodySchemaPos Pos
	// Pos is where the route's entry starts.
	Pos Pos
}

// RouteLimits are limits set on one route. Zero values mean "not set".
type RouteLimits struct {
	// Timeout bounds the whole request (timeout).
	Timeout Duration
	// MaxBody caps the request body (max_body).
	MaxBody Size
}

// Values of Middleware.Kind.
const (
	// MiddlewarePlugin is a Wasm plugin used as middleware; Name is the
	// plugin's name.
	MiddlewarePlugin = "plugin"
	// MiddlewarePython is trusted Python middleware; Name is
	// module:function.
	MiddlewarePython = "python"
)

// Middleware is one entry of a route's middleware list.
type Middleware struct {
	// Kind is MiddlewarePlugin (written as a bare plugin name) or
	// MiddlewarePython (written as {python: module:function}).
	Kind string
	// Name is the plugin name or the module:function.
	Name string
	// Pos is where the entry is written.
	Pos Pos
}

// Values of Target.Kind.
const (
	// TargetPython is a Python function, module:function.
	TargetPython = "python"
	// TargetWSGI is a PEP 3333 application, module:app.
	TargetWSGI = "wsgi"
	// TargetWasm is a Wasm module used directly as the handler; Ref is its
	// absolute path.
	TargetWasm = "wasm"
	// TargetPlugin is a plugin from plugins: used as the handler.
	TargetPlugin = "plugin"
)

// Target is what serves a route.
type Target struct {
	// Kind is TargetPython, TargetWSGI, TargetWasm or TargetPlugin.
	Kind string
	// Ref is module:function for Python and WSGI, the absolute path of the
	// module for Wasm, or the plugin's name.
	Ref string
	// Pos is where the handler's kind is written.
	Pos Pos
}

// Native reports whether the target runs native code outside the sandbox.
func (t Target) Native() bool { return t.Kind == TargetPython || t.Kind == TargetWSGI }

// Timeout is the effective bound on a request to the route: the route's own
// limits.timeout, else its tenant's, else the server's write timeout, which
// bounds the response anyway.
func (r *Route) Timeout(p *Policy) Duration {
	if r.Limits.Timeout > 0 {
		return r.Limits.Timeout
	}
	if t := p.Tenants[r.Tenant]; t != nil && t.Limits.Timeout > 0 {
		return t.Limits.Timeout
	}
	return p.Server.Timeouts.Write
}

// MaxBody is the effective request-body limit of the route: its own
// limits.max_body, else server.max_body.
func (r *Route) MaxBody(p *Policy) Size {
	if r.Limits.MaxBody > 0 {
		return r.Limits.MaxBody
	}
	return p.Server.MaxBody
}

// Trusted reports whether the route may run native (Python) code: routes
// without a tenant are the operator's own, and a tenant must say
// trust: trusted. The checker already refuses policies that break this; the
// server asks again so that the rule holds in one more place.
func (r *Route) Trusted(p *Policy) bool {
	if r.Tenant == "" {
		return true
	}
	t := p.Tenants[r.Tenant]
	return t != nil && t.Trust == TrustTrusted
}

// Defaults of the values a policy may leave out; PRODUCT.md shows them.
const (
	defaultListen = "127.0.0.1:8080"
	defaultBody   = Size(1 << 20)
)

// newPolicy returns a Policy holding every default, for the decoder to
// overwrite with what the file says.
func newPolicy() *Policy {
	return &Policy{
		Version: 1,
		Server: Server{
			Listen:  defaultListen,
			MaxBody: defaultBody,
			Timeouts: Timeouts{
				ReadHeader: Duration(5 * time.Second),
				Read:       Duration(30 * time.Second),
				Write:      Duration(30 * time.Second),
				Idle:       Duration(120 * time.Second),
				Shutdown:   Duration(15 * time.Second),
			},
		},
		Python: Python{
			Runtime:   RuntimeEmbedded,
			Strategy:  StrategyAuto,
			Isolation: IsolationOwnGIL,
		},
		Sandbox: Sandbox{
			Limits: Limits{
				Memory:    Size(16 << 20),
				Timeout:   Duration(100 * time.Millisecond),
				Instances: 16,
			},
		},
		Plugins: map[string]*Plugin{},
		Tenants: map[string]*Tenant{},
	}
}
