package policy

import (
	"fmt"
	"net"
	"slices"
	"strings"
)

// The checks here relate parts of the policy to each other, which a schema
// cannot: references by name, the trust rule, duplicates and the CPU budget.
// Each skips what an earlier layer already refused, so one mistake is not
// reported again as its consequences.

func (d *decoder) crossCheck(p *Policy) {
	d.checkListeners(p)
	d.checkWorkers(p)
	d.checkHosts()
	for _, r := range d.routes {
		d.checkReferences(p, r)
		d.checkTrust(p, r)
		d.checkMiddlewareOrder(r)
	}
	d.checkDuplicateRoutes()
}

func (d *decoder) checkListeners(p *Policy) {
	if d.admin == nil || p.Server.Admin == "" {
		return
	}
	if samePort(p.Server.Admin, p.Server.Listen) {
		d.problem(loc{d.admin, "server.admin"}, fmt.Sprintf("%s collides with server.listen (%s): give the admin listener its own port", p.Server.Admin, p.Server.Listen))
	}
}

// samePort reports whether two listen addresses would collide: the same
// port on the same host, or on any host when one listens on all of them.
func samePort(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || pa != pb || pa == "0" {
		return false
	}
	everywhere := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || everywhere(ha) || everywhere(hb)
}

func (d *decoder) checkWorkers(p *Policy) {
	if d.workers.node == nil || p.Python.Strategy == StrategyPooled {
		return
	}
	if s := mappingValue(mappingValue(d.doc.root, "python"), "strategy"); s != nil && d.doc.bad[s] {
		return
	}
	if cpus := d.opts.UsableCPUs; cpus > 0 && p.Python.Workers > cpus {
		d.problem(d.workers, fmt.Sprintf(
			"%d workers is more than the %d usable CPUs, which only strategy: pooled allows (strategy is %s): set python.strategy: pooled, or use at most %d workers",
			p.Python.Workers, cpus, p.Python.Strategy, cpus))
		return
	}
	if cores := d.opts.UsableCores; cores > 0 && p.Python.Strategy == StrategyPinned && p.Python.Workers > cores {
		d.problem(d.workers, fmt.Sprintf(
			"%d pinned workers need %d physical cores, but the usable CPUs belong to %d: use at most %d workers, or python.strategy: pooled (or auto, which pools when workers outnumber cores)",
			p.Python.Workers, p.Python.Workers, cores, cores))
	}
}

// checkHosts refuses a host claimed twice: a request must belong to
// exactly one tenant, or it would get the limits and trust of whichever
// the router tried first.
func (d *decoder) checkHosts() {
	type claim struct {
		tenant, host string
		at           loc
	}
	var claims []claim
	for _, t := range d.tenants {
		for i, h := range t.hosts {
			host := t.tenant.Hosts[i]
			for _, c := range claims {
				other := c.host
				if !hostsOverlap(host, other) {
					continue
				}
				switch {
				case c.tenant != t.tenant.Name && host == other:
					d.problem(h, fmt.Sprintf("host %q is already claimed by tenant %q (line %d): a request can belong to only one tenant", host, c.tenant, c.at.node.Line))
				case c.tenant != t.tenant.Name:
					d.problem(h, fmt.Sprintf("host %q overlaps %q of tenant %q (line %d): a request can belong to only one tenant", host, other, c.tenant, c.at.node.Line))
				case host == other:
					d.problem(h, fmt.Sprintf("host %q is listed twice (line %d)", host, c.at.node.Line))
				default:
					// One tenant may list a name its own wildcard covers:
					// redundant, but every request still has one owner.
					continue
				}
				break
			}
			claims = append(claims, claim{tenant: t.tenant.Name, host: host, at: h})
		}
	}
}

// hostsOverlap reports whether some request host matches both patterns. A
// leading "*." stands for exactly one label.
func hostsOverlap(a, b string) bool {
	if a == b {
		return true
	}
	match := func(pattern, host string) bool {
		rest, ok := strings.CutPrefix(pattern, "*.")
		if !ok || strings.HasPrefix(host, "*.") {
			return false
		}
		label, parent, found := strings.Cut(host, ".")
		return found && label != "" && parent == rest
	}
	return match(a, b) || match(b, a)
}

func (d *decoder) checkReferences(p *Policy, r *routeInfo) {
	plugin := func(name string, at loc) {
		if p.Plugins[name] == nil && !d.declaredPlugins[name] && !d.sectionRefused["plugins"] {
			d.problem(at, unknownName("plugin", name, p.PluginNames, "plugins"))
		}
	}
	for i, m := range r.route.Middleware {
		if m.Kind == MiddlewarePlugin {
			plugin(m.Name, r.middleware[i])
		}
	}
	if r.route.Handler.Kind == TargetPlugin {
		plugin(r.route.Handler.Ref, r.handler)
	}
	if name := r.route.Tenant; name != "" && p.Tenants[name] == nil && !d.declaredTenants[name] && !d.sectionRefused["tenants"] {
		d.problem(r.tenant, unknownName("tenant", name, p.TenantNames, "tenants"))
	}
}

func unknownName(what, name string, defined []string, section string) string {
	msg := fmt.Sprintf("unknown %s %q", what, name)
	switch {
	case len(defined) == 0:
		return msg + fmt.Sprintf(" (no %s are defined: add it under %s:)", section, section)
	case didYouMean(name, defined) != "":
		return msg + didYouMean(name, defined)
	}
	return msg + fmt.Sprintf(" (defined %s: %s)", section, strings.Join(defined, ", "))
}

// checkTrust enforces the rule the whole product rests on: code of an
// untrusted tenant runs only in the Wasm sandbox. Python handlers, WSGI
// applications and Python middleware are native code with the server's
// own rights, so none of them may serve an untrusted tenant's route.
func (d *decoder) checkTrust(p *Policy, r *routeInfo) {
	t := p.Tenants[r.route.Tenant]
	// Fail closed: anything but an explicit trusted is untrusted.
	if t == nil || t.Trust == TrustTrusted {
		return
	}
	i := slices.IndexFunc(d.tenants, func(info *tenantInfo) bool { return info.tenant == t })
	if i < 0 || d.tenants[i].trustUnknown {
		return
	}
	tenant := fmt.Sprintf("untrusted tenant %q", t.Name)
	if !d.tenants[i].trustSet {
		tenant = fmt.Sprintf("tenant %q (untrusted: the default when trust is not set)", t.Name)
	}
	route := r.route.Path
	if route == "" {
		route = fmt.Sprintf("routes[%d]", r.route.Index)
	}
	const rule = "an untrusted tenant's routes may run only sandboxed code (wasm or plugin handlers, plugin middleware)"
	fix := fmt.Sprintf("set tenants.%s.trust: trusted if you vouch for its code", t.Name)
	if h := r.route.Handler; h.Native() {
		d.problem(r.handlerKey, fmt.Sprintf("route %s of %s runs a %s handler, but %s: use a wasm or plugin handler, or %s", route, tenant, h.Kind, rule, fix))
	}
	for i, m := range r.route.Middleware {
		if m.Kind == MiddlewarePython {
			d.problem(r.middlewareKeys[i], fmt.Sprintf("route %s of %s uses Python middleware %s, but %s: use plugin middleware, or %s", route, tenant, m.Name, rule, fix))
		}
	}
}

// checkMiddlewareOrder follows from how a request runs: every plugin
// middleware runs in Go before the request crosses into Python, where the
// Python middleware and the handler run in one call. A plugin listed after
// Python middleware could not run in that place, and Python middleware
// has nothing to wrap without a Python handler.
func (d *decoder) checkMiddlewareOrder(r *routeInfo) {
	firstPython := -1
	for i, m := range r.route.Middleware {
		switch {
		case m.Kind == MiddlewarePython && firstPython < 0:
			firstPython = i
		case m.Kind == MiddlewarePlugin && firstPython >= 0:
			d.problem(r.middleware[i], fmt.Sprintf(
				"plugin %q comes after Python middleware %s, but plugins run before the request enters Python: move %q before it",
				m.Name, r.route.Middleware[firstPython].Name, m.Name))
		}
	}
	if h := r.route.Handler; firstPython >= 0 && h.Kind != "" && !h.Native() {
		d.problem(r.middlewareKeys[firstPython], fmt.Sprintf(
			"Python middleware runs in the same call as a python or wsgi handler, and this route's handler is %s: use plugin middleware instead", h.Kind))
	}
}

// checkDuplicateRoutes refuses two routes that the router cannot tell
// apart: the same path shape, an overlapping method and the same tenant.
func (d *decoder) checkDuplicateRoutes() {
	// Routes that can collide share a tenant and a path shape: compare
	// each route only with the earlier ones of its group.
	type group struct{ tenant, shape string }
	earlier := map[group][]int{}
	for i, r := range d.routes {
		if r.route.Path == "" || r.methodsBroken {
			continue
		}
		k := group{r.route.Tenant, shape(r.route.Path)}
		for _, j := range earlier[k] {
			prev := d.routes[j]
			common := commonMethods(prev.route.Methods, r.route.Methods)
			if common != nil && len(common) == 0 {
				continue
			}
			methods := "every method"
			if common != nil {
				methods = strings.Join(common, ", ")
			}
			msg := fmt.Sprintf("duplicate route: routes[%d] (line %d) already serves %s for %s", prev.route.Index, prev.path.node.Line, prev.route.Path, methods)
			if prev.route.Path != r.route.Path {
				msg += "; parameter names do not tell routes apart"
			}
			d.problem(r.path, msg)
			break
		}
		earlier[k] = append(earlier[k], i)
	}
}

// commonMethods intersects two method lists where nil means every method;
// the result is nil for every method.
func commonMethods(a, b []string) []string {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	common := []string{}
	for _, m := range a {
		if slices.Contains(b, m) {
			common = append(common, m)
		}
	}
	return common
}
