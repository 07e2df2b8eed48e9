package host

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tandemhost/tandem/policy"
)

// A target serves a route once the built-ins and middleware have run: the
// body has been read (see body) and the request's context carries the
// route's deadline. Python (pythonTarget) and sandboxed guests
// (wasmTarget) are the two kinds.
type target interface {
	serve(c echo.Context) error
	// String names the target in logs, like "python app:hello".
	String() string
}

// route is one policy route as the server runs it.
type route struct {
	policy  *policy.Route
	tenant  string
	maxBody policy.Size
	timeout time.Duration
	limiter *bucket // the tenant's rate limit, or nil
	// middleware are the route's plugins, outermost first; its Python
	// middleware runs inside the Python target.
	middleware []echo.MiddlewareFunc
	schema     *bodySchema // nil without body_schema
	target     target
	log        *slog.Logger
	// counts and tenantCounts are kept across reloads for /status.
	counts       *counts
	tenantCounts *counts
}

// chain is the route's own stages, outermost first: the tenant's rate
// limit (before the body is read), the body limit, the deadline, the
// plugins in the order the policy lists them, and the body schema (after
// the plugins, which may refuse the request or change its body; before
// any Python).
func (r *route) chain() []echo.MiddlewareFunc {
	ch := []echo.MiddlewareFunc{r.markRoute}
	if r.limiter != nil {
		ch = append(ch, rateLimit(r.limiter))
	}
	ch = append(ch, limitBody(r.maxBody), withDeadline(r.timeout, r.log))
	ch = append(ch, r.middleware...)
	if r.schema != nil {
		ch = append(ch, r.schema.check)
	}
	return ch
}

// handler is the route's target wrapped in its chain, built once: Echo
// would re-wrap a route's middleware on every request (a closure per stage
// per request).
func (r *route) handler() echo.HandlerFunc {
	h := r.target.serve
	ch := r.chain()
	for i := len(ch) - 1; i >= 0; i-- {
		h = ch[i](h)
	}
	return h
}

// register adds the route to Echo for its methods, or every method when
// the policy lists none.
func (r *route) register(e *echo.Echo) {
	if r.policy.Methods == nil {
		e.Any(r.policy.Path, r.handler())
		return
	}
	e.Match(r.policy.Methods, r.policy.Path, r.handler())
}

// pathParams lists the parameters of an Echo route path in path order, as
// Echo's router names them: ":name" up to the next '/', "*" for the
// wildcard; a colon written "\:" is a literal colon.
func pathParams(path string) []string {
	var names []string
	for i := 0; i < len(path); i++ {
		switch path[i] {
		case ':':
			if i > 0 && path[i-1] == '\\' {
				continue
			}
			j := i + 1
			for i < len(path) && path[i] != '/' {
				i++
			}
			names = append(names, path[j:i])
		case '*':
			names = append(names, "*")
		}
	}
	return names
}

// describe names a route in errors: its position in the policy and its
// path.
func describe(pol *policy.Policy, r *policy.Route) string {
	return fmt.Sprintf("%s:%s: routes[%d] (%s)", pol.File, r.Pos, r.Index, r.Path)
}
