package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tandemhost/tandem/policy"
	"github.com/tandemhost/tandem/sandbox"
)

// AdminHandler serves the admin listener (server.admin): /healthz (the
// process is alive), /readyz (a policy is served and the server is not
// shutting down), /metrics (Prometheus), /status (the Status document)
// and the dashboard at /.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if why := s.notReady(); why != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, "not ready: %s\n", why)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{
		ErrorLog: errorLogger{s}, ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(s.Status())
	})
	mux.Handle("/{$}", dashboardHandler())
	return mux
}

// errorLogger passes promhttp's complaints to the server's log.
type errorLogger struct{ s *Server }

func (l errorLogger) Println(v ...any) { l.s.log.Warn("serving /metrics", "error", fmt.Sprint(v...)) }

// notReady says why /readyz fails, "" when it does not.
func (s *Server) notReady() string {
	switch g := s.cur.Load(); {
	case s.stopping.Load():
		return "shutting down"
	case g == nil:
		return "no policy loaded"
	case g.py != nil && len(g.py.pool.Workers()) == 0:
		return "no Python worker running"
	}
	return ""
}

// listenAdmin starts the admin listener when the policy has one.
func (s *Server) listenAdmin() error {
	addr := s.Policy().Server.Admin
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s (server.admin): %w", addr, err)
	}
	return s.ServeAdmin(ln)
}

// ServeAdmin serves the admin listener on ln in the background until
// Shutdown.
func (s *Server) ServeAdmin(ln net.Listener) error {
	s.mu.Lock()
	if s.admin != nil {
		s.mu.Unlock()
		_ = ln.Close()
		return errors.New("the admin listener is already serving")
	}
	s.admin = &http.Server{Handler: s.AdminHandler(), ReadHeaderTimeout: 5 * time.Second,
		MaxHeaderBytes: maxHeaderBytes, ErrorLog: s.http.ErrorLog}
	admin := s.admin
	s.mu.Unlock()
	s.log.Info("admin listener serving", "addr", ln.Addr().String())
	go func() {
		if err := admin.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("the admin listener stopped", "addr", ln.Addr().String(), "error", err)
		}
	}()
	return nil
}

// shutdownAdmin stops the admin listener, after the public one.
func (s *Server) shutdownAdmin(ctx context.Context) {
	s.mu.Lock()
	admin := s.admin
	s.mu.Unlock()
	if admin != nil {
		if err := admin.Shutdown(ctx); err != nil {
			_ = admin.Close()
		}
	}
}

// Status describes the server now: see the Status type.
func (s *Server) Status() Status {
	g := s.cur.Load()
	pol := g.pol
	st := Status{
		Version:   s.opts.Version,
		Go:        runtime.Version(),
		Wazero:    sandbox.WazeroVersion(),
		StartedAt: s.started.UTC(),
		Uptime:    time.Since(s.started).Seconds(),
		Ready:     s.notReady() == "",
		Topology:  s.opts.Topology,
		Placement: s.opts.Placement,
		Policy: StatusPolicy{File: pol.File, Digest: pol.Digest, LoadedAt: g.loadedAt.UTC(),
			Reloads: s.metrics.reloads.Load(), Failed: s.metrics.reloadsFailed.Load()},
		Workers: []StatusWorker{},
		Routes:  []StatusRoute{},
		Tenants: []StatusTenant{},
		Plugins: []StatusPlugin{},
	}
	if e := s.lastReloadError.Load(); e != nil {
		st.Policy.LastError = *e
	}
	if g.py != nil {
		if s.rt != nil {
			st.Python = s.rt.Version
		}
		st.Isolation = string(g.py.pool.Config().Isolation)
		st.QueueDepth = g.py.pool.QueueDepth()
		for _, w := range g.py.pool.Workers() {
			st.Workers = append(st.Workers, StatusWorker{Index: w.Index, CPU: w.CPU, Core: s.coreOf(w.CPU),
				ThreadID: w.ThreadID, Interpreter: w.Interpreter, Served: w.Served, Busy: w.Busy.Seconds(),
				Interrupted: w.Interrupted, Replaced: w.Replaced})
		}
	}
	for _, r := range g.routes {
		pr := r.policy
		sr := StatusRoute{Path: pr.Path, Methods: pr.Methods, Tenant: pr.Tenant, Target: pr.Handler.Kind,
			Handler: r.target.String(), Middleware: []string{}, Timeout: r.timeout.Seconds(),
			MaxBody: int64(r.maxBody), BodySchema: r.schema != nil,
			Requests: r.counts.requests.Load(), Errors: r.counts.errors.Load()}
		if t, ok := r.target.(*wasmTarget); ok {
			sr.Handler = t.name
		} else {
			sr.Handler = pr.Handler.Ref
		}
		for _, m := range pr.Middleware {
			if m.Kind == policy.MiddlewarePython {
				sr.Middleware = append(sr.Middleware, "python:"+m.Name)
			} else {
				sr.Middleware = append(sr.Middleware, m.Name)
			}
		}
		st.Routes = append(st.Routes, sr)
	}
	for _, name := range pol.TenantNames {
		t := pol.Tenants[name]
		c := s.metrics.tenantCounts(name)
		stt := StatusTenant{Name: name, Hosts: t.Hosts, Trust: t.Trust, Burst: t.Limits.Burst,
			Requests: c.requests.Load(), Limited: c.limited.Load()}
		if stt.Hosts == nil {
			stt.Hosts = []string{}
		}
		if !t.Limits.Rate.IsZero() {
			stt.Rate = t.Limits.Rate.String()
		}
		st.Tenants = append(st.Tenants, stt)
	}
	for _, sp := range g.plugins {
		l := sp.plugin.Limits()
		sp2 := StatusPlugin{Name: sp.plugin.Name(), Memory: l.Memory, Timeout: l.Timeout.Seconds(),
			Instances: l.Instances, Pools: []StatusPool{}}
		for _, pool := range sp.plugin.Pools() {
			ps := pool.Stats()
			sp2.Pools = append(sp2.Pools, StatusPool{Tenant: pool.Tenant(), Size: ps.Size, Idle: ps.Idle, Busy: ps.Busy,
				Waits: ps.Waits, WaitTime: ps.WaitTime.Seconds(), Rejected: ps.Rejected,
				Instantiations: ps.Instantiations, Traps: ps.Traps, Timeouts: ps.Timeouts,
				ABIViolations: ps.ABIViolations, Recycled: ps.Recycled})
		}
		slices.SortFunc(sp2.Pools, func(a, b StatusPool) int { return strings.Compare(a.Tenant, b.Tenant) })
		st.Plugins = append(st.Plugins, sp2)
	}
	slices.SortStableFunc(st.Plugins, func(a, b StatusPlugin) int { return strings.Compare(a.Name, b.Name) })
	return st
}

// coreOf is the index in the topology's cores of the core that has cpu,
// -1 when unpinned or unknown.
func (s *Server) coreOf(cpu int) int {
	if cpu < 0 || s.opts.Topology == nil {
		return -1
	}
	for i, c := range s.opts.Topology.Cores {
		if slices.Contains(c.CPUs, cpu) {
			return i
		}
	}
	return -1
}
