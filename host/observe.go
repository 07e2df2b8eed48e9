package host

import (
	"context"
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"
)

// Context keys of what observe reads after a request: the route that
// served it (set by the route's first stage) and the Python worker that
// ran it (set by the Python target).
const (
	routeKey  = "tandem.route"
	workerKey = "tandem.worker"
)

// markRoute is a route's first stage: it names the route for observe.
func (r *route) markRoute(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Set(routeKey, r)
		return next(c)
	}
}

// observe answers what the rest of the chain returns as an error (as Echo
// would after it) so that it knows the final status, then counts the
// request in the metrics and, unless access logs are off, logs one line:
// request id, method, path, route template, tenant, target, status,
// duration and Python worker.
func (g *generation) observe(next echo.HandlerFunc) echo.HandlerFunc {
	s := g.s
	return func(c echo.Context) error {
		began := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		took := time.Since(began)
		status := c.Response().Status
		var path, tenant, target string
		r, _ := c.Get(routeKey).(*route)
		if r != nil {
			path, tenant, target = r.policy.Path, r.tenant, r.policy.Handler.Kind
			r.counts.requests.Add(1)
			if status >= 500 {
				r.counts.errors.Add(1)
			}
			if r.tenantCounts != nil {
				r.tenantCounts.requests.Add(1)
				if status == 429 {
					r.tenantCounts.limited.Add(1)
				}
			}
		} else {
			tenant = g.hostTenant(c.Request().Host)
		}
		s.metrics.observe(path, tenant, target, status, took)
		if s.accessLog {
			attrs := []slog.Attr{
				slog.String("request_id", requestID(c)),
				slog.String("method", c.Request().Method),
				slog.String("path", c.Request().URL.Path),
				slog.String("route", path),
				slog.String("tenant", tenant),
				slog.String("target", target),
				slog.Int("status", status),
				slog.Duration("duration", took),
			}
			if w, ok := c.Get(workerKey).(int); ok {
				attrs = append(attrs, slog.Int("worker", w))
			}
			s.log.LogAttrs(context.Background(), slog.LevelInfo, "request", attrs...)
		}
		return nil
	}
}

// hostTenant is the tenant whose hosts include the request's Host, "" if
// none: a 404 on a tenant's host is counted for that tenant.
func (g *generation) hostTenant(hostport string) string {
	if len(g.exact) == 0 && len(g.wildcard) == 0 {
		return ""
	}
	return g.tenantOf[g.router(hostport)]
}
