package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tandemhost/tandem/native"
	"github.com/tandemhost/tandem/policy"
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
	// Listen, when set, replaces the policy's server.listen (the CLI's
	// --listen).
	Listen string
	// NewPool starts the Python worker pool; nil means native.NewPool.
	// Tests use it to look at or adjust the configuration.
	NewPool func(native.Config) (*native.Pool, error)
}

// Server serves one policy: an Echo router, its built-ins and targets, the
// Python worker pool they share, and the http.Server in front.
type Server struct {
	pol    *policy.Policy
	log    *slog.Logger
	rt     *native.Runtime
	listen string
	echo   *echo.Echo
	pool   *native.Pool // nil when no route runs Python
	http   *http.Server
	routes []*route
}

// New builds the server for pol and starts its Python workers. A policy
// that uses features this version cannot serve is refused with a
// *policy.Problems naming each use. On error nothing is left running.
func New(ctx context.Context, pol *policy.Policy, opts Options) (*Server, error) {
	if ps := Unsupported(pol); ps != nil {
		return nil, &ps
	}
	s := &Server{pol: pol, log: opts.Logger, rt: opts.Runtime, listen: opts.Listen}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.rt == nil {
		s.rt = native.Loaded()
	}
	if s.listen == "" {
		s.listen = pol.Server.Listen
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	python, err := s.pythonRoutes()
	if err != nil {
		return nil, err
	}
	if len(python) > 0 {
		if err := s.startPool(python, opts); err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			_ = s.pool.Close(context.Background())
			return nil, err
		}
	}

	s.echo = echo.New()
	s.echo.HideBanner, s.echo.HidePort = true, true
	s.echo.HTTPErrorHandler = s.handleError
	s.echo.Use(withRequestID, s.recoverPanics)
	for _, r := range s.routes {
		r.register(s.echo)
	}

	t := pol.Server.Timeouts
	s.http = &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: time.Duration(t.ReadHeader),
		ReadTimeout:       time.Duration(t.Read),
		WriteTimeout:      time.Duration(t.Write),
		IdleTimeout:       time.Duration(t.Idle),
		// net/http's own complaints (TLS handshakes, broken requests).
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// pythonRoutes compiles the policy's routes and returns the native routes
// of those served by Python, whose IDs are their index in that list.
func (s *Server) pythonRoutes() ([]native.Route, error) {
	var python []native.Route
	for _, pr := range s.pol.Routes {
		r := &route{policy: pr, maxBody: pr.MaxBody(s.pol), timeout: time.Duration(pr.Timeout(s.pol))}
		switch pr.Handler.Kind {
		case policy.TargetPython, policy.TargetWSGI:
			if !pr.Trusted(s.pol) {
				// The checker refuses this already; asking again keeps the
				// security boundary from resting on one check.
				return nil, fmt.Errorf("%s: tenant %q is not trusted to run Python", describe(s.pol, pr), pr.Tenant)
			}
			var mw []string
			for _, m := range pr.Middleware {
				if m.Kind == policy.MiddlewarePython {
					mw = append(mw, m.Name)
				}
			}
			id := len(python)
			python = append(python, native.Route{ID: id, Kind: pr.Handler.Kind, Target: pr.Handler.Ref,
				Middleware: mw, Path: pr.Path, Params: pathParams(pr.Path)})
			r.target = &pythonTarget{id: id, route: pr, log: s.log}
		default:
			// Unsupported has refused every other kind.
			return nil, fmt.Errorf("%s: %s handlers %s", describe(s.pol, pr), pr.Handler.Kind, notYet)
		}
		s.routes = append(s.routes, r)
	}
	return python, nil
}

// startPool starts the worker pool for the Python routes and hands it to
// their targets.
func (s *Server) startPool(routes []native.Route, opts Options) error {
	iso, downgraded := Isolation(s.pol, s.rt)
	if downgraded {
		s.log.Warn("this CPython cannot give each worker its own GIL (3.12 or later can): running isolation shared, one GIL for all workers",
			"python", s.rt.Version, "policy", s.pol.File)
	}
	cfg := native.Config{
		Workers:   opts.Plan.Workers,
		CPUs:      opts.Plan.CPUs,
		Isolation: iso,
		Path:      s.pol.Python.Path,
		Init:      s.pol.Python.Init,
		Routes:    routes,
		Logger:    s.log,
	}
	if cfg.Workers == 0 {
		cfg.Workers, cfg.CPUs = max(1, s.pol.Python.Workers), nil
	}
	newPool := opts.NewPool
	if newPool == nil {
		newPool = native.NewPool
	}
	pool, err := newPool(cfg)
	if err != nil {
		return fmt.Errorf("starting the Python workers for %s: %w", s.pol.File, err)
	}
	s.pool = pool
	for _, r := range s.routes {
		if t, ok := r.target.(*pythonTarget); ok {
			t.pool = pool
		}
	}
	return nil
}

// Handler is the server's HTTP handler (the Echo router with every
// built-in), for tests and for embedding behind another listener.
func (s *Server) Handler() http.Handler { return s.echo }

// Pool is the Python worker pool, or nil when no route runs Python.
func (s *Server) Pool() *native.Pool { return s.pool }

// Policy is the policy the server serves.
func (s *Server) Policy() *policy.Policy { return s.pol }

// ListenAndServe listens on the policy's server.listen (or Options.Listen)
// and serves; see Serve.
func (s *Server) ListenAndServe() error {
	ln, err := net.Listen("tcp", s.listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.listen, err)
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
	if s.pool != nil {
		workers = len(s.pool.Workers())
	}
	if s.rt != nil {
		version = s.rt.Version
	}
	s.log.Info("tandem serving", "addr", ln.Addr().String(), "workers", workers, "python", version)
	if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	}
	return nil
}

// Shutdown stops accepting connections, lets the requests in flight finish
// and then closes the worker pool, all within the policy's
// timeouts.shutdown (or ctx, if it ends sooner). Connections still open
// when that runs out are closed, and the error says so.
func (s *Server) Shutdown(ctx context.Context) error {
	limit := time.Duration(s.pol.Server.Timeouts.Shutdown)
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var errs []error
	if err := s.http.Shutdown(ctx); err != nil {
		_ = s.http.Close()
		errs = append(errs, fmt.Errorf("requests still running after the shutdown timeout (%s) were cut off: %w",
			policy.Duration(limit), err))
	}
	if s.pool != nil {
		if err := s.pool.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
