package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandemhost/tandem/internal/filepages"
	"github.com/tandemhost/tandem/native"
	"github.com/tandemhost/tandem/native/topology"
	"github.com/tandemhost/tandem/policy"
	"github.com/tandemhost/tandem/sandbox"
)

// Options are what New needs besides the policy. The zero value serves
// with slog.Default(), the runtime this process initialized, one unpinned
// worker per python.workers (at least one) and the policy's listen
// address.
type Options struct {
	// Logger receives the ready line, errors and Python's error logs.
	Logger *slog.Logger
	// Runtime is the initialized CPython (see native.Initialize); nil means
	// the one this process loaded.
	Runtime *native.Runtime
	// Plan places the Python workers (see native.MakePlan). A zero Plan
	// means python.workers workers, at least one, unpinned.
	Plan native.Plan
	// Replan places the Python workers of a reloaded policy whose python
	// section changed; nil means the zero Plan's rule.
	Replan func(*policy.Policy) (native.Plan, error)
	// Load reads the policy file again on Reload; nil means policy.Load
	// with no machine-specific options.
	Load func(file string) (*policy.Policy, error)
	// Listen, when set, replaces the policy's server.listen (the CLI's
	// --listen).
	Listen string
	// AccessLog logs one line per request (see observe).
	AccessLog bool
	// Version is tandem's version, for /status and tandem_build_info.
	Version string
	// Topology and Placement describe the machine and the workers' plan
	// on /status; nil and "" leave them out.
	Topology  *topology.Topology
	Placement string
	// NewPool starts the Python worker pool; nil means native.NewPool.
	// Tests use it to look at or adjust the configuration.
	NewPool func(native.Config) (*native.Pool, error)
}

// Server serves a policy and, after each Reload, the policy that replaced
// it. Everything a policy needs (routers, compiled plugins, the Python
// worker pool, rate limiters) belongs to a generation; a request runs to
// its end on the generation it started on, and what a new generation
// shares with the old one (an unchanged pool or plugin) is handed over
// rather than rebuilt.
type Server struct {
	log    *slog.Logger
	rt     *native.Runtime
	opts   Options
	listen string
	http   *http.Server

	cur atomic.Pointer[generation]

	metrics   *metrics
	accessLog bool
	started   time.Time
	// admin is the admin listener's server, nil without server.admin;
	// stopping is set once Shutdown begins (/readyz then says no).
	admin    *http.Server
	stopping atomic.Bool
	// lastReloadError is why the last refused reload was refused.
	lastReloadError atomic.Pointer[string]

	// mu serializes building, swapping and retiring generations, and
	// guards everything below.
	mu       sync.Mutex
	closed   bool
	live     []*generation // generations not yet drained, the current one last
	ids      map[string]int
	nextID   int
	py       []*pyPool
	plugins  map[string]*sharedPlugin
	engines  map[string]*sandbox.Engine // by cache directory
	limiters map[string]*bucket         // by tenant and limits
	retiring sync.WaitGroup
}

// New builds the server for pol, compiling its plugins and starting its
// Python workers. A policy that uses features this version cannot serve
// is refused with a *policy.Problems naming each use. On error nothing is
// left running.
func New(ctx context.Context, pol *policy.Policy, opts Options) (*Server, error) {
	s := &Server{log: opts.Logger, rt: opts.Runtime, opts: opts, listen: opts.Listen,
		ids: map[string]int{}, plugins: map[string]*sharedPlugin{}, engines: map[string]*sandbox.Engine{},
		limiters: map[string]*bucket{}, accessLog: opts.AccessLog, started: time.Now()}
	s.metrics = newMetrics(s)
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.rt == nil {
		s.rt = native.Loaded()
	}
	if s.listen == "" {
		s.listen = pol.Server.Listen
	}
	s.mu.Lock()
	g, err := s.build(ctx, pol, opts.Plan)
	s.mu.Unlock()
	if err != nil {
		s.closeAll(context.Background())
		return nil, err
	}
	s.live = []*generation{g}
	s.cur.Store(g)

	t := pol.Server.Timeouts
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: time.Duration(t.ReadHeader),
		ReadTimeout:       time.Duration(t.Read),
		WriteTimeout:      time.Duration(t.Write),
		IdleTimeout:       time.Duration(t.Idle),
		MaxHeaderBytes:    maxHeaderBytes,
		// net/http's own complaints (TLS handshakes, broken requests).
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// maxHeaderBytes bounds a request's line and headers together, on both
// listeners (net/http allows 4 KiB more): beyond it net/http answers 431
// and closes the connection, an over-long URI included. Its default,
// 1 MiB, would let every request carry a megabyte of headers into each
// plugin and Python handler; 64 KiB is far above what browsers send and
// about what common proxies accept (nginx 32 KiB, Envoy 60 KiB).
const maxHeaderBytes = 64 << 10

// ServeHTTP serves r on the current generation, which it holds until the
// response is written: a reload meanwhile lets it finish there.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g := s.acquire()
	defer g.release()
	g.ServeHTTP(w, r)
}

// acquire returns the current generation with the request counted in it.
// A generation being retired takes no new request: the loop then finds
// the one that replaced it.
func (s *Server) acquire() *generation {
	for {
		g := s.cur.Load()
		g.active.Add(1)
		if !g.retiring.Load() {
			return g
		}
		g.release()
	}
}

// Handler is the server's HTTP handler (host routing, every built-in and
// target of the current policy), for tests and for embedding behind
// another listener.
func (s *Server) Handler() http.Handler { return s }

// Pool is the current policy's Python worker pool, or nil when no route
// runs Python.
func (s *Server) Pool() *native.Pool {
	if p := s.cur.Load().py; p != nil {
		return p.pool
	}
	return nil
}

// Policy is the policy the server serves now.
func (s *Server) Policy() *policy.Policy { return s.cur.Load().pol }

// ListenAndServe listens on the policy's server.listen (or Options.Listen)
// and serves; see Serve. The admin listener (server.admin), when the
// policy has one, serves beside it.
func (s *Server) ListenAndServe() error {
	ln, err := net.Listen("tcp", s.listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.listen, err)
	}
	if err := s.listenAdmin(); err != nil {
		_ = ln.Close()
		return err
	}
	return s.Serve(ln)
}

// Serve accepts connections on ln until Shutdown, logging one line with
// the address when it is ready. It returns nil once Shutdown has stopped
// it, while requests may still be finishing: wait for Shutdown to return
// before ending the process. After any other error, call Shutdown to stop
// the workers.
func (s *Server) Serve(ln net.Listener) error {
	workers, version := 0, ""
	if p := s.Pool(); p != nil {
		workers = len(p.Workers())
	}
	if s.rt != nil {
		version = s.rt.Version
	}
	g := s.cur.Load()
	s.releaseStartupPages("start")
	s.log.Info("tandem serving", "addr", ln.Addr().String(), "workers", workers, "python", version,
		"routes", len(g.pol.Routes), "plugins", len(g.plugins), "policy", g.pol.File)
	if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	}
	return nil
}

// Shutdown stops accepting connections, lets the requests in flight finish
// and then closes the worker pools and plugins, all within the policy's
// timeouts.shutdown (or ctx, if it ends sooner). Connections still open
// when that runs out are closed, and the error says so.
func (s *Server) Shutdown(ctx context.Context) error {
	limit := time.Duration(s.Policy().Server.Timeouts.Shutdown)
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	s.stopping.Store(true) // /readyz says so while requests finish
	var errs []error
	if err := s.http.Shutdown(ctx); err != nil {
		_ = s.http.Close()
		errs = append(errs, fmt.Errorf("requests still running after the shutdown timeout (%s) were cut off: %w",
			policy.Duration(limit), err))
	}
	s.shutdownAdmin(ctx)
	if err := s.closeAll(ctx); err != nil {
		errs = append(errs, err)
	}
	// Pools of replaced policies may still be closing. A wait that ends
	// with ctx is a failure only if they still are.
	done := make(chan struct{})
	go func() { s.retiring.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		select {
		case <-done:
		case <-time.After(10 * time.Millisecond):
			errs = append(errs, fmt.Errorf("the workers of a replaced policy were still stopping at the shutdown timeout (%s)", policy.Duration(limit)))
		}
	}
	return errors.Join(errs...)
}

// closeAll marks the server closed and closes every pool, plugin and
// engine of every generation: requests still running on them fail.
func (s *Server) closeAll(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	pools, plugins, engines := s.py, s.plugins, s.engines
	s.py, s.plugins, s.engines = nil, map[string]*sharedPlugin{}, map[string]*sandbox.Engine{}
	s.mu.Unlock()

	var errs []error
	for _, p := range pools {
		if err := p.pool.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range plugins {
		_ = p.plugin.Close(ctx)
	}
	for _, e := range engines {
		_ = e.Close(ctx)
	}
	return errors.Join(errs...)
}

// releaseStartupPages gives back the pages of the binary's and libpython's
// read-only mappings that starting (or reloading) touched: the embedded
// runtime and Go tables, libpython's start-up code and frozen modules. What
// requests use comes back on first touch. See internal/filepages.
func (s *Server) releaseStartupPages(after string) {
	began := time.Now()
	// /proc/self/exe names the binary that runs even where it was replaced
	// on disk since; libpython stays loaded until the process ends.
	files := []string{"/proc/self/exe"}
	if s.rt != nil && s.rt.Library != "" {
		files = append(files, s.rt.Library)
	}
	r, err := filepages.Release(files...)
	if err != nil {
		s.log.Debug("start-up pages not all released", "after", after, "error", err)
	}
	s.log.Debug("start-up pages released", "after", after, "mappings", r.Mappings,
		"resident_mib", fmt.Sprintf("%.1f", float64(r.Bytes)/(1<<20)), "took", time.Since(began).Round(time.Microsecond))
}
