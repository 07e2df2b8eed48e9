package host

import (
	"cmp"
	"fmt"
	"slices"
	"sync"

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
	keys := newKeyFinder(pol)

	if pol.Server.Admin != "" {
		add(pol.Problem(keys.pos(policy.Pos{Line: 1, Col: 1}, "server", "admin"), "server.admin",
			"the admin listener %s", notYet))
	}
	if d := defaults(); keys.has("sandbox") || (d != nil && pol.Sandbox != d.Sandbox) {
		add(pol.Problem(keys.pos(policy.Pos{Line: 1, Col: 1}, "sandbox"), "sandbox",
			"the sandbox section %s", notYet))
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
			add(pol.Problem(keys.pos(r.Pos, "routes", r.Index, "tenant"), at+".tenant",
				"tenant %q: tenancy %s", r.Tenant, notYet))
		}
		if r.BodySchema != "" {
			add(pol.Problem(keys.pos(r.Pos, "routes", r.Index, "body_schema"), at+".body_schema",
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

// defaults is the policy a minimal file gives, to tell a section the file
// set from one it left alone when the file cannot be read again (a policy
// parsed from memory, or a file changed since).
var defaults = sync.OnceValue(func() *policy.Policy {
	const minimal = "version: 1\nroutes: [{path: /, handler: {python: m:f}}]\n"
	p, err := policy.Parse("defaults.yaml", []byte(minimal), policy.Options{SkipFileChecks: true})
	if err != nil {
		return nil // cannot happen; then only the file is asked
	}
	return p
})
