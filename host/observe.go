package host

import (
	"context"
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"
)

// exchange is one request as tandem's stages hand it along: Echo's context,
// with what the stages tell one another in fields. Echo's own store (Set
// and Get) would take a lock on every call and a map for every request.
// Every request reaches its route's stages through around, which makes it.
type exchange struct {
	echo.Context
	id      string // the request id
	route   *route // the route that matched; nil for the router's 404 or 405
	worker  int    // the Python worker that ran it; -1 if none did
	body    []byte // what limitBody read
	timeout string // the message of the route's 504
}

// exchangeOf is c's exchange, or nil when c did not come through around:
// Echo's error handler gets Echo's own context.
func exchangeOf(c echo.Context) *exchange {
	x, _ := c.(*exchange)
	return x
}

// markRoute is a route's first stage: it names the route for around.
func (r *route) markRoute(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if x := exchangeOf(c); x != nil {
			x.route = r
		}
		return next(c)
	}
}

// around is the stage every request passes first, 404s and 405s included.
// It gives the request its id (see assignRequestID), recovers a panic in
// what follows (see recovered), answers what the rest of the chain returns
// as an error (as Echo would after it) so that it knows the final status,
// then counts the request in the metrics and, unless access logs are off,
// logs one line: request id, method, path, route template, tenant, target,
// status, duration and Python worker. It is one stage rather than three
// because Echo wraps its global stages anew for every request.
func (g *generation) around(next echo.HandlerFunc) echo.HandlerFunc {
	s := g.s
	return func(c echo.Context) error {
		x := &exchange{Context: c, worker: -1, id: assignRequestID(c)}
		began := time.Now()
		if err := s.recovered(x, next); err != nil {
			c.Error(err)
		}
		took := time.Since(began)
		status := c.Response().Status
		var path, tenant, target string
		if r := x.route; r != nil {
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
				slog.String("request_id", x.id),
				slog.String("method", c.Request().Method),
				slog.String("path", c.Request().URL.Path),
				slog.String("route", path),
				slog.String("tenant", tenant),
				slog.String("target", target),
				slog.Int("status", status),
				slog.Duration("duration", took),
			}
			if x.worker >= 0 {
				attrs = append(attrs, slog.Int("worker", x.worker))
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
