package host

import (
	"fmt"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tandemhost/tandem/policy"
)

// A target serves a route once the built-ins have run: the body has been
// read (see body) and the request's context carries the route's deadline.
// Python is the only target this version has; Wasm handlers will be
// another.
type target interface {
	serve(c echo.Context) error
	// String names the target in logs, like "python app:hello".
	String() string
}

// route is one policy route as the server runs it.
type route struct {
	policy  *policy.Route
	maxBody policy.Size
	timeout time.Duration
	target  target
}

// chain is the route's own built-ins, outermost first. Tenant rate
// limits, body schemas and Wasm middleware take their places here when
// they come: after the body limit, before or inside the deadline.
func (r *route) chain() []echo.MiddlewareFunc {
	return []echo.MiddlewareFunc{limitBody(r.maxBody), withDeadline(r.timeout)}
}

// register adds the route to Echo for its methods, or every method when
// the policy lists none.
func (r *route) register(e *echo.Echo) {
	handler := r.target.serve
	if r.policy.Methods == nil {
		e.Any(r.policy.Path, handler, r.chain()...)
		return
	}
	e.Match(r.policy.Methods, r.policy.Path, handler, r.chain()...)
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
