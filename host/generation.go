package host

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tandemhost/tandem/native"
	"github.com/tandemhost/tandem/policy"
)

// generation is one policy as served: its routers, the targets behind
// them, and counted references to the pool, plugins and limiters it uses,
// which it may share with the generation before or after it.
type generation struct {
	s   *Server
	pol *policy.Policy

	// hosts routes requests by Host; see router.
	exact    map[string]*echo.Echo
	wildcard []wildcardHost
	fallback *echo.Echo

	routes  []*route
	py      *pyPool         // nil when no route runs Python
	pyRoute []native.Route  // the routes this generation needs of py
	plugins []*sharedPlugin // every plugin it holds a reference to
	pyKey   string          // fingerprint of the python section and files
	tenants map[string]*bucket
	// tenantOf names the tenant of each router with hosts.
	tenantOf map[*echo.Echo]string
	loadedAt time.Time
	schemas  map[string]*bodySchema // compiled body schemas by file

	// active counts requests running on the generation; retiring, once
	// set, turns new ones away (see Server.acquire), and drained is closed
	// when the last one ends.
	active    atomic.Int64
	retiring  atomic.Bool
	drained   chan struct{}
	drainOnce sync.Once
}

// wildcardHost is a tenant's "*.example.com" host: suffix is
// ".example.com", and the label before it must be one.
type wildcardHost struct {
	suffix string
	e      *echo.Echo
}

// release ends one request's hold on g.
func (g *generation) release() {
	if g.active.Add(-1) == 0 && g.retiring.Load() {
		g.drainOnce.Do(func() { close(g.drained) })
	}
}

// retire stops g taking requests and returns when those running have
// ended.
func (g *generation) retire() {
	g.retiring.Store(true)
	if g.active.Load() == 0 {
		g.drainOnce.Do(func() { close(g.drained) })
	}
	<-g.drained
}

// ServeHTTP routes r by its Host to the tenant's router or the fallback.
func (g *generation) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.router(r.Host).ServeHTTP(w, r)
}

// router is the Echo router for a request's Host: that of the tenant the
// host belongs to (an exact name first, then a "*." wildcard), or the
// fallback, which serves the routes with no tenant and those of tenants
// that list no hosts.
func (g *generation) router(hostport string) *echo.Echo {
	if len(g.exact) == 0 && len(g.wildcard) == 0 {
		return g.fallback
	}
	host := normalizeHost(hostport)
	if e := g.exact[host]; e != nil {
		return e
	}
	for _, w := range g.wildcard {
		if label, ok := strings.CutSuffix(host, w.suffix); ok && label != "" && !strings.Contains(label, ".") {
			return w.e
		}
	}
	return g.fallback
}

// normalizeHost is the host name of a Host header: without the port, in
// lower case, without a final dot.
func normalizeHost(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// build makes the generation for pol: it compiles the plugins that the
// running generations do not already have, starts a Python pool unless
// the current one can serve the new routes, and builds the routers. On
// error everything it started is closed again and nothing running
// changes. s.mu is held.
func (s *Server) build(ctx context.Context, pol *policy.Policy, plan native.Plan) (_ *generation, err error) {
	if s.closed {
		return nil, errors.New("the server is shut down")
	}
	g := &generation{s: s, pol: pol, drained: make(chan struct{}), tenants: map[string]*bucket{},
		tenantOf: map[*echo.Echo]string{}, loadedAt: time.Now(), schemas: map[string]*bodySchema{}}
	defer func() {
		if err != nil {
			s.releaseLocked(g)
		}
	}()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Before any module is imported: the checker refuses this already;
	// asking again keeps the security boundary from resting on one check.
	for _, pr := range pol.Routes {
		if pr.Handler.Native() && !pr.Trusted(pol) {
			return nil, fmt.Errorf("%s: tenant %q is not trusted to run Python", describe(pol, pr), pr.Tenant)
		}
		for _, m := range pr.Middleware {
			if m.Kind == policy.MiddlewarePython && !pr.Trusted(pol) {
				return nil, fmt.Errorf("%s: tenant %q is not trusted to run Python middleware %s", describe(pol, pr), pr.Tenant, m.Name)
			}
		}
	}

	targets, err := s.preparePlugins(ctx, g)
	if err != nil {
		return nil, err
	}
	if err := s.preparePython(ctx, g, plan); err != nil {
		return nil, err
	}
	for name, t := range pol.Tenants {
		if !t.Limits.Rate.IsZero() {
			g.tenants[name] = s.limiter(name, t.Limits)
		}
	}
	if err := g.buildRouters(targets); err != nil {
		return nil, err
	}
	return g, nil
}

// buildRouters compiles every route and registers it with the router of
// its tenant's hosts, or with the fallback.
func (g *generation) buildRouters(sandboxed map[*policy.Route]sandboxTargets) error {
	pol := g.pol
	g.fallback = g.newEcho()
	g.exact = map[string]*echo.Echo{}
	byTenant := map[string]*echo.Echo{}
	for _, name := range pol.TenantNames {
		t := pol.Tenants[name]
		if len(t.Hosts) == 0 {
			continue
		}
		e := g.newEcho()
		byTenant[name] = e
		g.tenantOf[e] = name
		for _, h := range t.Hosts {
			if suffix, ok := strings.CutPrefix(h, "*"); ok {
				g.wildcard = append(g.wildcard, wildcardHost{suffix: suffix, e: e})
				continue
			}
			g.exact[h] = e
		}
	}
	// Longer suffixes first: "*.eu.example.com" before "*.example.com"
	// cannot both match one label, but keep the order fixed anyway.
	slices.SortStableFunc(g.wildcard, func(a, b wildcardHost) int { return len(b.suffix) - len(a.suffix) })

	// The checker refuses duplicates within a tenant; two tenants without
	// hosts share the fallback router, where they would collide.
	type slot struct {
		e    *echo.Echo
		path string
	}
	taken := map[slot]map[string]*policy.Route{} // by method, "*" for all
	type headRoute struct {
		r    *route
		e    *echo.Echo
		slot slot
	}
	var heads []headRoute
	pyIndex := 0
	for _, pr := range pol.Routes {
		r, err := g.compileRoute(pr, sandboxed[pr], &pyIndex)
		if err != nil {
			return err
		}
		e := g.fallback
		if te := byTenant[pr.Tenant]; te != nil {
			e = te
		}
		k := slot{e, policy.PathShape(pr.Path)}
		methods := pr.Methods
		if methods == nil {
			methods = []string{"*"}
		}
		if taken[k] == nil {
			taken[k] = map[string]*policy.Route{}
		}
		for _, m := range methods {
			prev := taken[k][m]
			if prev == nil {
				prev = taken[k]["*"]
			}
			if prev == nil && m == "*" {
				for _, p := range taken[k] {
					prev = p
					break
				}
			}
			if prev != nil {
				return fmt.Errorf("%s: routes[%d] (line %d, tenant %q) already serves %s on the same hosts: "+
					"give one of the tenants hosts, or change a path", describe(pol, pr), prev.Index, prev.Pos.Line, prev.Tenant, pr.Path)
			}
			taken[k][m] = pr
		}
		r.register(e)
		g.routes = append(g.routes, r)
		if slices.Contains(methods, http.MethodGet) && !slices.Contains(methods, http.MethodHead) {
			heads = append(heads, headRoute{r, e, k})
		}
	}
	// HEAD is answered wherever GET is (RFC 9110 §9.3.2), unless another
	// route serves HEAD there: net/http sends the headers and drops the
	// body.
	for _, h := range heads {
		if taken[h.slot][http.MethodHead] == nil && taken[h.slot]["*"] == nil {
			taken[h.slot][http.MethodHead] = h.r.policy
			h.e.Add(http.MethodHead, h.r.policy.Path, h.r.handler())
		}
	}
	return nil
}

// newEcho is an Echo router with the server's error handler and the
// built-ins every request passes, 404s included.
func (g *generation) newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = g.s.handleError
	e.Use(g.around)
	return e
}

// compileRoute makes the running form of one policy route: its target and
// its chain of built-ins and middleware.
func (g *generation) compileRoute(pr *policy.Route, sb sandboxTargets, pyIndex *int) (*route, error) {
	pol := g.pol
	r := &route{policy: pr, maxBody: pr.MaxBody(pol), timeout: time.Duration(pr.Timeout(pol)),
		limiter: g.tenants[pr.Tenant], tenant: pr.Tenant, middleware: sb.middleware, log: g.s.log,
		counts: g.s.metrics.routeCounts(fmt.Sprintf("%s\x00%s\x00%q", pr.Tenant, pr.Path, pr.Methods))}
	if pr.Tenant != "" {
		r.tenantCounts = g.s.metrics.tenantCounts(pr.Tenant)
	}
	switch pr.Handler.Kind {
	case policy.TargetPython, policy.TargetWSGI:
		nr := g.pyRoute[*pyIndex]
		*pyIndex++
		r.target = &pythonTarget{pool: g.py.pool, id: nr.ID, route: pr, log: g.s.log}
	case policy.TargetWasm, policy.TargetPlugin:
		if sb.handler == nil {
			return nil, fmt.Errorf("%s: its %s handler was not compiled", describe(pol, pr), pr.Handler.Kind)
		}
		r.target = sb.handler
	default:
		return nil, fmt.Errorf("%s: a %q handler is not something this version can serve", describe(pol, pr), pr.Handler.Kind)
	}
	if pr.BodySchema != "" {
		// One compiled schema per file: many routes often share one.
		v := g.schemas[pr.BodySchema]
		if v == nil {
			var err error
			if v, err = compileBodySchema(pr.BodySchema); err != nil {
				return nil, fmt.Errorf("%s: body_schema: %w", describe(pol, pr), err)
			}
			g.schemas[pr.BodySchema] = v
		}
		r.schema = v
	}
	return r, nil
}
