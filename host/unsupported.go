package host

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/tandemhost/tandem/policy"
)

// notYet ends every message about a feature the policy language has but
// this version of the server cannot serve.
const notYet = "is not supported by this version of tandem yet"

// Unsupported lists what pol uses that this version cannot serve, one
// problem per use in FILE:LINE:COL form, sorted by position; nil when the
// server can serve all of it. New refuses such a policy rather than serve
// it with parts missing (a route without its auth plugin would be open), and
// `tandem check` reports the same list so that a policy it accepts also
// serves.
func Unsupported(pol *policy.Policy) policy.Problems {
	var ps policy.Problems
	add := func(p policy.Problem) { ps = append(ps, p) }

	if pol.Server.Admin != "" {
		add(pol.Problem(pol.Server.AdminPos, "server.admin", "the admin listener %s", notYet))
	}
	if pol.Sandbox.Pos != (policy.Pos{}) {
		add(pol.Problem(pol.Sandbox.Pos, "sandbox", "the sandbox section %s", notYet))
	}
	for _, name := range pol.PluginNames {
		pl := pol.Plugins[name]
		add(pol.Problem(pl.Pos, "plugins."+name, "the WebAssembly plugin %q %s", name, notYet))
	}
	for _, name := range pol.TenantNames {
		t := pol.Tenants[name]
		add(pol.Problem(t.Pos, "tenants."+name, "tenant %q: tenancy %s", name, notYet))
	}
	for _, r := range pol.Routes {
		at := fmt.Sprintf("routes[%d]", r.Index)
		switch r.Handler.Kind {
		case policy.TargetPython, policy.TargetWSGI:
		case policy.TargetWasm:
			add(pol.Problem(r.Handler.Pos, at+".handler.wasm", "a WebAssembly handler %s", notYet))
		case policy.TargetPlugin:
			add(pol.Problem(r.Handler.Pos, at+".handler.plugin", "plugin %q as a handler %s", r.Handler.Ref, notYet))
		default:
			add(pol.Problem(r.Handler.Pos, at+".handler", "a %q handler %s", r.Handler.Kind, notYet))
		}
		for i, m := range r.Middleware {
			if m.Kind != policy.MiddlewarePython {
				add(pol.Problem(m.Pos, fmt.Sprintf("%s.middleware[%d]", at, i),
					"plugin %q as middleware %s", m.Name, notYet))
			}
		}
		if r.Tenant != "" {
			add(pol.Problem(r.TenantPos, at+".tenant", "tenant %q: tenancy %s", r.Tenant, notYet))
		}
		if r.BodySchema != "" {
			add(pol.Problem(r.BodySchemaPos, at+".body_schema",
				"checking request bodies against a JSON Schema %s", notYet))
		}
	}
	if len(ps) == 0 {
		return nil
	}
	slices.SortFunc(ps, func(a, b policy.Problem) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col), cmp.Compare(a.Path, b.Path))
	})
	return ps
}
