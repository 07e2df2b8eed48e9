package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// PluginConfig is one plugin as the policy names it.
type PluginConfig struct {
	// Name identifies the plugin in errors, logs and metrics.
	Name string
	// Wasm is the module: an http-wasm guest.
	Wasm []byte
	// SHA256 optionally pins Wasm: the hex SHA-256 of its bytes. A module
	// that does not match is refused before anything is compiled.
	SHA256 string
	// Config is given to the guest by get_config, as is.
	Config []byte
	// Limits bound each instance; zero fields take the defaults.
	Limits Limits
}

// Limits bound what one instance of a plugin may use. A zero field means
// its default.
type Limits struct {
	// Memory caps each instance's linear memory, in bytes: a multiple of
	// 64 KiB (the WebAssembly page), at most 4 GiB. Default 16 MiB.
	Memory int64
	// Timeout stops each call into the guest (handle_request,
	// handle_response) that runs longer; the request gets a 504. Start
	// functions get at least minStartTimeout. Default 100ms.
	Timeout time.Duration
	// Instances caps the instances of each (plugin, tenant) pool; a
	// request that finds them all busy waits. Default 16.
	Instances int
	// MaxUses recycles an instance after this many requests. Default
	// 10,000: rare enough that even a Go guest's few-millisecond start
	// adds well under a microsecond per request, often enough that what
	// a guest leaks or leaves in its memory does not live long.
	MaxUses int
}

// Defaults of Limits, as in the policy's sandbox.limits.
const (
	DefaultMemory    = 16 << 20
	DefaultTimeout   = 100 * time.Millisecond
	DefaultInstances = 16
	DefaultMaxUses   = 10_000

	pageSize = 64 << 10
	// minStartTimeout is the least time start functions get. A Go
	// guest's runtime takes a few milliseconds to start on an idle
	// machine, but hundreds on a loaded one (measured under CI load), and
	// a start that fails spuriously fails a request or refuses a policy.
	// A guest that loops in its start costs this much CPU once at load,
	// where Compile refuses it.
	minStartTimeout = time.Second
)

// withDefaults fills the zero fields of l and checks the others.
func (l Limits) withDefaults() (Limits, error) {
	var errs []string
	switch {
	case l.Memory == 0:
		l.Memory = DefaultMemory
	case l.Memory < 0 || l.Memory%pageSize != 0 || l.Memory > 1<<32:
		errs = append(errs, fmt.Sprintf("limits.memory %d is not a multiple of 64 KiB between 64 KiB and 4 GiB", l.Memory))
	}
	switch {
	case l.Timeout == 0:
		l.Timeout = DefaultTimeout
	case l.Timeout < 0:
		errs = append(errs, fmt.Sprintf("limits.timeout %s is negative", l.Timeout))
	}
	switch {
	case l.Instances == 0:
		l.Instances = DefaultInstances
	case l.Instances < 0:
		errs = append(errs, fmt.Sprintf("limits.instances %d is negative", l.Instances))
	}
	switch {
	case l.MaxUses == 0:
		l.MaxUses = DefaultMaxUses
	case l.MaxUses < 0:
		errs = append(errs, fmt.Sprintf("limits.max_uses %d is negative", l.MaxUses))
	}
	if len(errs) > 0 {
		return l, errors.New(strings.Join(errs, "; "))
	}
	return l, nil
}

// startTimeout bounds an instance's start functions.
func (l Limits) startTimeout() time.Duration { return max(l.Timeout, minStartTimeout) }

// Plugin is a compiled module with its limits and configuration, shared by
// every route that names it. Each tenant gets its own pool of instances,
// so tenants never share a guest's memory.
type Plugin struct {
	engine   *Engine
	name     string
	config   []byte
	limits   Limits
	runtime  wazero.Runtime // this plugin's: the memory limit is per runtime
	compiled wazero.CompiledModule
	modCfg   wazero.ModuleConfig

	mu    sync.Mutex
	pools map[string]*Pool
	// spare is the instance Compile started, until the first pool made
	// takes it. It has served no request, so the tenant that gets it
	// shares nothing with another, and that pool's first request does not
	// wait for a start (a Go guest's takes milliseconds).
	spare  *instance
	closed bool
}

// Compile checks and compiles a plugin: its pin, its limits, and that it
// imports only what the host provides and exports what the ABI needs.
// It then starts one instance with the plugin's config and limits, so
// that a guest that cannot start (a trap or a panic in its start
// functions, such as a Go guest refusing its config in init) is an error
// here, with the guest's own message, instead of a 500 for every request.
// Every error names the plugin and says what is wrong. The instance
// started is kept for the first pool made (see Pool).
func (e *Engine) Compile(ctx context.Context, cfg PluginConfig) (*Plugin, error) {
	if cfg.Name == "" {
		return nil, errors.New("sandbox: a plugin needs a name")
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("plugin %q: %s", cfg.Name, fmt.Sprintf(format, args...))
	}
	if len(cfg.Wasm) == 0 {
		return nil, fail("the module is empty")
	}
	if cfg.SHA256 != "" {
		sum := sha256.Sum256(cfg.Wasm)
		have := hex.EncodeToString(sum[:])
		if !strings.EqualFold(strings.TrimSpace(cfg.SHA256), have) {
			return nil, fail("sha256 mismatch: pinned %s, the module is %s; update the pin or the module",
				cfg.SHA256, have)
		}
	}
	limits, err := cfg.Limits.withDefaults()
	if err != nil {
		return nil, fail("%v", err)
	}
	e.life.RLock()
	defer e.life.RUnlock()
	if e.closed {
		return nil, fail("%v", errEngineClosed)
	}

	rt := wazero.NewRuntimeWithConfig(ctx, e.runtimeConfig.WithMemoryLimitPages(uint32(limits.Memory/pageSize)))
	ok := false
	defer func() {
		if !ok {
			_ = rt.Close(ctx)
		}
	}()
	if err := instantiateHostModules(ctx, rt); err != nil {
		return nil, fail("%v", err)
	}
	compiled, err := rt.CompileModule(ctx, cfg.Wasm)
	if err != nil {
		return nil, fail("not a valid WebAssembly module for this host: %v", err)
	}
	if problems := checkModule(rt, compiled); len(problems) > 0 {
		return nil, fail("%s", strings.Join(problems, "; "))
	}

	p := &Plugin{
		engine:   e,
		name:     cfg.Name,
		config:   slices.Clone(cfg.Config),
		limits:   limits,
		runtime:  rt,
		compiled: compiled,
		// Defaults that isolate: no arguments, environment, preopened
		// directories or sockets, stdin at EOF, wazero's fake clocks and
		// no-op sleep. Randomness is real: a guest seeding its maps or
		// making tokens from a fixed sequence would be a hazard, and
		// reading it reveals nothing about the machine. The name is
		// empty so that any number of instances can coexist.
		modCfg: wazero.NewModuleConfig().
			WithName("").
			WithStartFunctions("_initialize", "_start").
			WithRandSource(rand.Reader),
		pools: make(map[string]*Pool),
	}
	inst, err := p.start(ctx)
	if err != nil {
		return nil, err
	}
	p.spare = inst
	e.register(p)
	ok = true
	return p, nil
}

// errCommand is the error of an instance whose start function exited: a
// WASI command, not a reactor.
var errCommand = errors.New("the start function exited: build the guest as a reactor " +
	"(Go: -buildmode=c-shared; TinyGo: a main that returns)")

// maxStartMessage bounds the guest's own words in Compile's error; the log
// has the rest of its output.
const maxStartMessage = 1 << 10

// start starts an instance of p for Compile, in a pool of no tenant yet
// (Pool gives the instance to the first tenant's), and turns a failure
// into an error that names the plugin and says why, in the guest's own
// words where it wrote any.
func (p *Plugin) start(ctx context.Context) (*instance, error) {
	pool := newPool(p, "")
	pool.log = p.engine.log.With("plugin", p.name)
	inst, err := pool.instantiate(ctx)
	if err == nil {
		return inst, nil
	}
	var g *guestError
	if !errors.As(err, &g) {
		return nil, fmt.Errorf("plugin %q: the guest failed to start: %w", p.name, err)
	}
	var abi *abiError
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("plugin %q: starting the guest: %w", p.name, ctx.Err())
	case g.outcome == outcomeTimeout:
		return nil, fmt.Errorf("plugin %q: the guest did not finish starting within %s: "+
			"make its initialization shorter or raise limits.timeout", p.name, p.limits.startTimeout())
	case errors.As(g.err, &abi):
		return nil, fmt.Errorf("plugin %q: the guest broke the http-wasm ABI while starting: %s", p.name, abi)
	case errors.Is(g.err, errCommand):
		return nil, fmt.Errorf("plugin %q: %w", p.name, errCommand)
	}
	said, more := g.said, " (the log has the guest's whole output)"
	if said == "" {
		more = ""
		// No word from the guest: wazero's reason, such as "wasm error:
		// unreachable", without the call that failed or its stack trace.
		first, _, _ := strings.Cut(g.err.Error(), "\n")
		if i := strings.Index(first, "wasm error: "); i >= 0 {
			first = first[i:]
		}
		said = truncate(printable(first), maxStartMessage)
	}
	return nil, fmt.Errorf("plugin %q: the guest failed to start with its config and limits: %s; "+
		"fix the plugin's config or its module%s", p.name, said, more)
}

// guestWords is what a guest wrote as it failed, for Compile's error: the
// first paragraph (a Go panic's message, without the goroutine dump that
// follows it), its lines joined by "; ", printable, and at most
// maxStartMessage bytes, keeping the end, where the reason usually is.
func guestWords(out []byte) string {
	para, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n\n")
	var lines []string
	for _, l := range strings.Split(para, "\n") {
		if l = printable(l); l != "" {
			lines = append(lines, l)
		}
	}
	s := strings.Join(lines, "; ")
	if len(s) > maxStartMessage {
		s = "..." + strings.ToValidUTF8(s[len(s)-maxStartMessage:], "")
	}
	return s
}

// printable is s without control characters or runs of spaces.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	return strings.Join(strings.Fields(s), " ")
}

// instantiateHostModules gives rt the two modules guests import from.
func instantiateHostModules(ctx context.Context, rt wazero.Runtime) error {
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return fmt.Errorf("instantiating %s: %w", wasiModule, err)
	}
	b := rt.NewHostModuleBuilder(abiModule)
	for _, f := range hostFuncs {
		b.NewFunctionBuilder().
			WithGoModuleFunction(f.goModuleFunc(), f.params, f.results).
			Export(f.name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("instantiating %s: %w", abiModule, err)
	}
	return nil
}

// checkModule lists what is wrong with a guest's imports and exports.
func checkModule(rt wazero.Runtime, m wazero.CompiledModule) []string {
	var problems []string
	provided := map[string]map[string]api.FunctionDefinition{
		abiModule:  rt.Module(abiModule).ExportedFunctionDefinitions(),
		wasiModule: rt.Module(wasiModule).ExportedFunctionDefinitions(),
	}
	for _, imp := range m.ImportedFunctions() {
		mod, name, _ := imp.Import()
		want, ok := provided[mod][name]
		if mod == wasiModule && !wasiFuncs[name] {
			ok = false
		}
		switch {
		case !ok && mod == abiModule:
			problems = append(problems, fmt.Sprintf("imports %s.%s, which is not a function of the http-wasm handler ABI", mod, name))
		case !ok:
			problems = append(problems, fmt.Sprintf("imports %s.%s, which this host does not provide (only %s functions and the %s functions a Go or TinyGo runtime needs to start)",
				mod, name, abiModule, wasiModule))
		case !sameSignature(imp, want):
			problems = append(problems, fmt.Sprintf("imports %s.%s as %s, but it is %s",
				mod, name, signature(imp), signature(want)))
		}
	}
	for _, mem := range m.ImportedMemories() {
		mod, name, _ := mem.Import()
		problems = append(problems, fmt.Sprintf("imports memory %s.%s: a guest must define and export its own memory", mod, name))
	}
	if _, ok := m.ExportedMemories()[exportMemory]; !ok {
		problems = append(problems, `exports no memory named "memory"`)
	}
	exports := m.ExportedFunctions()
	need := []struct {
		name            string
		params, results []api.ValueType
		required        bool
	}{
		{exportHandleRequest, nil, []api.ValueType{i64}, true},
		{exportHandleResponse, []api.ValueType{i32, i32}, nil, true},
		{"_initialize", nil, nil, false},
		{"_start", nil, nil, false},
	}
	for _, n := range need {
		def, ok := exports[n.name]
		switch {
		case !ok && n.required:
			problems = append(problems, fmt.Sprintf("exports no function %s%s", n.name, sigString(n.params, n.results)))
		case ok && (!slices.Equal(def.ParamTypes(), n.params) || !slices.Equal(def.ResultTypes(), n.results)):
			problems = append(problems, fmt.Sprintf("exports %s as %s, but the ABI needs %s",
				n.name, signature(def), sigString(n.params, n.results)))
		}
	}
	return problems
}

func sameSignature(a, b api.FunctionDefinition) bool {
	return slices.Equal(a.ParamTypes(), b.ParamTypes()) && slices.Equal(a.ResultTypes(), b.ResultTypes())
}

func signature(f api.FunctionDefinition) string { return sigString(f.ParamTypes(), f.ResultTypes()) }

// sigString writes a signature as "(i32, i32) -> i64".
func sigString(params, results []api.ValueType) string {
	names := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return strings.Join(s, ", ")
	}
	s := "(" + names(params) + ")"
	if len(results) > 0 {
		s += " -> " + names(results)
	}
	return s
}

// Name is the plugin's name.
func (p *Plugin) Name() string { return p.name }

// Limits are the plugin's limits, defaults filled in.
func (p *Plugin) Limits() Limits { return p.limits }

// Pool returns the tenant's pool of instances of p, the same one each
// time for the same tenant. The first pool made starts with the instance
// Compile started.
func (p *Plugin) Pool(tenant string) *Pool {
	p.mu.Lock()
	defer p.mu.Unlock()
	pool, ok := p.pools[tenant]
	if !ok {
		pool = newPool(p, tenant)
		switch {
		case p.closed:
			pool.closed = true
		case p.spare != nil:
			pool.adopt(p.spare)
			p.spare = nil
		}
		p.pools[tenant] = pool
	}
	return pool
}

// Pools returns the pools made so far, one per tenant, sorted by tenant.
func (p *Plugin) Pools() []*Pool {
	p.mu.Lock()
	defer p.mu.Unlock()
	pools := make([]*Pool, 0, len(p.pools))
	for _, pool := range p.pools {
		pools = append(pools, pool)
	}
	slices.SortFunc(pools, func(a, b *Pool) int { return strings.Compare(a.tenant, b.tenant) })
	return pools
}

// Close stops p taking requests (they get 503), closes its idle instances,
// waits until the calls in flight finish or ctx is done, and then closes
// everything left: a call still running then fails. A reload closes the
// old policy's plugins this way once the new ones serve.
func (p *Plugin) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	pools := make([]*Pool, 0, len(p.pools))
	for _, pool := range p.pools {
		pools = append(pools, pool)
	}
	spare := p.spare
	p.spare = nil
	p.mu.Unlock()

	if spare != nil {
		spare.close()
	}
	for _, pool := range pools {
		pool.close()
	}
	for _, pool := range pools {
		select {
		case <-pool.drained:
		case <-ctx.Done():
		}
	}
	p.engine.unregister(p)
	// Closing the runtime closes every instance still running, with
	// exit code 0, which their calls report as outcomeClosed.
	return p.runtime.Close(context.Background())
}

func (p *Plugin) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}
