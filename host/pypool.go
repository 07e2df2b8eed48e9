package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tandemhost/tandem/native"
	"github.com/tandemhost/tandem/policy"
)

// pyPool is a Python worker pool shared by the generations whose python
// section and Python files are the same (see pythonKey).
type pyPool struct {
	pool *native.Pool
	key  string
	refs int
	// routes is the route table the workers serve now: the union of what
	// the generations holding the pool need.
	routes []native.Route
}

// maxFingerprintFiles bounds how many files pythonKey looks at; a tree
// larger than that is fingerprinted by its first files and its count.
const maxFingerprintFiles = 50_000

// pythonKey fingerprints what the workers' interpreters are made of: the
// python section and, for each python.path directory, the names, sizes and
// modification times of the files under it (skipping __pycache__ and
// hidden directories). Generations with the same key can share workers;
// a changed key starts new ones.
func pythonKey(pol *policy.Policy) string {
	h := sha256.New()
	py := pol.Python
	fmt.Fprintf(h, "%q %q %d %q %q %q\n", py.Runtime, py.Path, py.Workers, py.Strategy, py.Isolation, py.Init)
	files := 0
	for _, dir := range py.Path {
		_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				fmt.Fprintf(h, "! %s %v\n", path, err)
				return nil
			}
			if d.IsDir() {
				if path != dir && (d.Name() == "__pycache__" || strings.HasPrefix(d.Name(), ".")) {
					return filepath.SkipDir
				}
				return nil
			}
			if files++; files > maxFingerprintFiles {
				return filepath.SkipAll
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			fmt.Fprintf(h, "%s %d %d\n", path, info.Size(), info.ModTime().UnixNano())
			return nil
		})
	}
	fmt.Fprintf(h, "files %d\n", files)
	return hex.EncodeToString(h.Sum(nil))
}

// routeID is the native route ID of a Python route: the same for the same
// target, middleware and path in every generation, so a pool that serves
// two generations at once serves each with one table.
func (s *Server) routeID(r native.Route) int {
	key := fmt.Sprintf("%s\x00%s\x00%q\x00%s", r.Kind, r.Target, r.Middleware, r.Path)
	id, ok := s.ids[key]
	if !ok {
		id = s.nextID
		s.nextID++
		s.ids[key] = id
	}
	return id
}

// preparePython gives g its Python routes and a pool to serve them: the
// current generation's, switched to serve both generations' routes, when
// the python section and files did not change; otherwise a new one. s.mu
// is held.
func (s *Server) preparePython(ctx context.Context, g *generation, plan native.Plan) error {
	for _, pr := range g.pol.Routes {
		if !pr.Handler.Native() {
			continue
		}
		var mw []string
		for _, m := range pr.Middleware {
			if m.Kind == policy.MiddlewarePython {
				mw = append(mw, m.Name)
			}
		}
		nr := native.Route{Kind: pr.Handler.Kind, Target: pr.Handler.Ref, Middleware: mw,
			Path: pr.Path, Params: pathParams(pr.Path)}
		nr.ID = s.routeID(nr)
		g.pyRoute = append(g.pyRoute, nr)
	}
	if len(g.pyRoute) == 0 {
		return nil
	}
	g.pyKey = pythonKey(g.pol)
	if cur := s.cur.Load(); cur != nil && cur.py != nil && cur.pyKey == g.pyKey {
		g.py = cur.py
		g.py.refs++
		return s.syncRoutes(g.py, g)
	}
	if cur := s.cur.Load(); cur != nil && cur.pol.Python.Runtime != g.pol.Python.Runtime {
		return fmt.Errorf("%s:%s: python.runtime: the runtime cannot change while tandem runs (it is %q, the new policy says %q): restart tandem to use another",
			g.pol.File, g.pol.Python.RuntimePos, cur.pol.Python.Runtime, g.pol.Python.Runtime)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.cur.Load() != nil && s.opts.Replan != nil {
		p, err := s.opts.Replan(g.pol)
		if err != nil {
			return fmt.Errorf("planning the Python workers: %w", err)
		}
		plan = p
	}
	iso, downgraded := Isolation(g.pol, s.rt)
	if downgraded {
		s.log.Warn("this CPython cannot give each worker its own GIL (3.12 or later can): running isolation shared, one GIL for all workers",
			"python", s.rt.Version, "policy", g.pol.File)
	}
	if iso == native.Shared {
		s.forgetSharedModules(g.pol)
	}
	cfg := native.Config{
		Workers:   plan.Workers,
		CPUs:      plan.CPUs,
		Float:     plan.Strategy == "pooled",
		Isolation: iso,
		Path:      g.pol.Python.Path,
		Init:      g.pol.Python.Init,
		Routes:    uniqueRoutes(g.pyRoute),
		Logger:    s.log,
	}
	if cfg.Workers == 0 {
		cfg.Workers, cfg.CPUs = max(1, g.pol.Python.Workers), nil
	}
	newPool := s.opts.NewPool
	if newPool == nil {
		newPool = native.NewPool
	}
	pool, err := newPool(cfg)
	if err != nil {
		return fmt.Errorf("starting the Python workers for %s: %w", g.pol.File, err)
	}
	routes := slices.Clone(cfg.Routes)
	slices.SortFunc(routes, func(a, b native.Route) int { return a.ID - b.ID })
	g.py = &pyPool{pool: pool, key: g.pyKey, refs: 1, routes: routes}
	s.py = append(s.py, g.py)
	return nil
}

// uniqueRoutes is routes with each ID once, in their order. Routes with the
// same target, middleware and path share one ID (see routeID), as the same
// path in two tenants does; the workers want each ID once.
func uniqueRoutes(routes []native.Route) []native.Route {
	seen := map[int]bool{}
	var out []native.Route
	for _, r := range routes {
		if !seen[r.ID] {
			seen[r.ID] = true
			out = append(out, r)
		}
	}
	return out
}

// forgetSharedModules drops, in shared isolation, the application modules
// that an earlier pool imported into the main interpreter, so that a new
// pool imports the files as they are now. Requests still running on the
// old pool keep the objects they hold.
func (s *Server) forgetSharedModules(pol *policy.Policy) {
	var dirs []string
	for _, p := range s.py {
		dirs = append(dirs, p.pool.Config().Path...)
	}
	if len(dirs) == 0 {
		return
	}
	for _, p := range s.py {
		if p.pool.Config().Isolation != native.Shared {
			continue
		}
		src := fmt.Sprintf(`
import sys as _s, os as _o
_dirs = tuple(_o.path.join(d, "") for d in %s)
for _n, _m in list(_s.modules.items()):
    _f = getattr(_m, "__file__", None) or ""
    if _f.startswith(_dirs):
        del _s.modules[_n]
del _s, _o, _dirs
`, pyList(dirs))
		if err := p.pool.Exec(0, src); err != nil {
			s.log.Warn("could not drop the old application modules before starting new workers; they may serve old code",
				"policy", pol.File, "error", err)
		}
		return
	}
}

// pyList writes strs as a Python list of string literals.
func pyList(strs []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range strs {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q", s)
	}
	b.WriteByte(']')
	return b.String()
}

// routeSetter is native.Pool's SetRoutes.
type routeSetter interface {
	SetRoutes([]native.Route) error
}

// syncRoutes makes p's workers serve the routes of every live generation
// that holds p, plus those of extra (a generation being built), and
// nothing else. s.mu is held.
func (s *Server) syncRoutes(p *pyPool, extra *generation) error {
	var want []native.Route
	seen := map[int]bool{}
	add := func(g *generation) {
		if g == nil || g.py != p {
			return
		}
		for _, r := range g.pyRoute {
			if !seen[r.ID] {
				seen[r.ID] = true
				want = append(want, r)
			}
		}
	}
	for _, g := range s.live {
		add(g)
	}
	add(extra)
	slices.SortFunc(want, func(a, b native.Route) int { return a.ID - b.ID })
	if slices.EqualFunc(want, p.routes, func(a, b native.Route) bool { return a.ID == b.ID }) {
		return nil
	}
	rs, ok := any(p.pool).(routeSetter)
	if !ok {
		return fmt.Errorf("this build cannot change the Python routes without restarting the workers")
	}
	if err := rs.SetRoutes(want); err != nil {
		return err
	}
	p.routes = want
	return nil
}
