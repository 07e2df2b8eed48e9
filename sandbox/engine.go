package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/tetratelabs/wazero"
)

// EngineConfig configures an Engine. The zero value is usable.
type EngineConfig struct {
	// CacheDir is where compiled modules are kept between runs, keyed by
	// the module's content, wazero's version and the CPU. Empty means
	// tandem/wasm under the user cache directory (~/.cache/tandem/wasm on
	// Linux). The directory must be writable only by tandem: whatever
	// compiled code is found there runs.
	CacheDir string

	// Logger receives what guests log, write to stdout and stderr, and
	// every failed call with its reason. Nil means slog.Default().
	Logger *slog.Logger
}

// Engine compiles plugins. One Engine serves a process: its compilation
// cache is shared by every plugin, so a module named by two policies (the
// old and the new, during a reload) is compiled once. An Engine is safe
// for concurrent use.
type Engine struct {
	log      *slog.Logger
	cache    wazero.CompilationCache
	cacheDir string // "" when the cache is in memory only
	// runtimeConfig is the configuration every plugin's runtime starts
	// from; each plugin adds its memory limit.
	runtimeConfig wazero.RuntimeConfig

	// life is held for reading by each Compile and for writing by Close:
	// wazero must not compile into a closed cache.
	life    sync.RWMutex
	mu      sync.Mutex
	plugins map[*Plugin]struct{}
	closed  bool
}

// engineOptions are settings tests and benchmarks change; the policy does
// not expose them.
type engineOptions struct {
	// noCloseOnContextDone compiles guests without the termination checks
	// that enforce Limits.Timeout. Only the benchmark that measures their
	// cost sets it.
	noCloseOnContextDone bool
	// interpreter forces wazero's interpreter instead of its compiler.
	interpreter bool
}

// NewEngine returns an Engine with a compilation cache in cfg.CacheDir. A
// cache directory that cannot be created is an error; when no user cache
// directory is known and none is given, compiled code is cached in memory
// only, and the logger says so.
func NewEngine(ctx context.Context, cfg EngineConfig) (*Engine, error) {
	return newEngine(ctx, cfg, engineOptions{})
}

func newEngine(_ context.Context, cfg EngineConfig, opts engineOptions) (*Engine, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	e := &Engine{log: log, plugins: make(map[*Plugin]struct{})}

	dir := cfg.CacheDir
	if dir == "" {
		if base, err := os.UserCacheDir(); err == nil {
			dir = filepath.Join(base, "tandem", "wasm")
		} else {
			log.Warn("no user cache directory: compiled plugins are cached in memory only",
				"error", err)
		}
	}
	if dir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(dir)
		if err != nil {
			return nil, fmt.Errorf("sandbox: compilation cache %s: %w", dir, err)
		}
		e.cache, e.cacheDir = cache, dir
	} else {
		e.cache = wazero.NewCompilationCache()
	}

	// The compiler where wazero has one for this platform, the interpreter
	// elsewhere. Termination checks on by default: without them a guest in
	// an endless loop can never be stopped (docs/rationale.md measures what
	// they cost).
	rc := wazero.NewRuntimeConfig()
	if opts.interpreter {
		rc = wazero.NewRuntimeConfigInterpreter()
	}
	e.runtimeConfig = rc.
		WithCompilationCache(e.cache).
		WithCloseOnContextDone(!opts.noCloseOnContextDone)
	return e, nil
}

// Close closes every plugin compiled by e (stopping calls still running in
// them when ctx is done) and then the compilation cache. Compile fails
// after Close.
func (e *Engine) Close(ctx context.Context) error {
	e.life.Lock()
	defer e.life.Unlock()
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	plugins := make([]*Plugin, 0, len(e.plugins))
	for p := range e.plugins {
		plugins = append(plugins, p)
	}
	e.mu.Unlock()

	var errs []error
	for _, p := range plugins {
		errs = append(errs, p.Close(ctx))
	}
	errs = append(errs, e.cache.Close(ctx))
	return errors.Join(errs...)
}

// errEngineClosed is Compile's error after Close.
var errEngineClosed = errors.New("the engine is closed")

// register records p so that Close can close it. The caller holds
// e.life for reading, so e is not closed.
func (e *Engine) register(p *Plugin) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.plugins[p] = struct{}{}
}

func (e *Engine) unregister(p *Plugin) {
	e.mu.Lock()
	delete(e.plugins, p)
	e.mu.Unlock()
}
