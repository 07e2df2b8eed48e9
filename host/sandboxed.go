package host

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/tandemhost/tandem/policy"
	"github.com/tandemhost/tandem/sandbox"
)

// sharedPlugin is a compiled plugin held by the generations that use it
// with the same bytes, config and limits.
type sharedPlugin struct {
	plugin *sandbox.Plugin
	key    string // cache directory and PluginUse.Key
	refs   int
}

// sandboxTargets are one route's sandboxed parts.
type sandboxTargets struct {
	// middleware wraps the rest of the chain with each plugin, outermost
	// first.
	middleware []echo.MiddlewareFunc
	// handler serves the route when its handler is wasm or a plugin.
	handler target
}

// engine returns the sandbox engine for a cache directory, made once.
// s.mu is held.
func (s *Server) engine(ctx context.Context, dir string) (*sandbox.Engine, error) {
	if e := s.engines[dir]; e != nil {
		return e, nil
	}
	e, err := sandbox.NewEngine(ctx, sandbox.EngineConfig{CacheDir: dir, Logger: s.log})
	if err != nil {
		return nil, fmt.Errorf("starting the WebAssembly sandbox: %w", err)
	}
	s.engines[dir] = e
	return e, nil
}

// preparePlugins compiles (or takes from the running generations) every
// plugin g's routes use, and returns each route's sandboxed middleware and
// handler. s.mu is held.
func (s *Server) preparePlugins(ctx context.Context, g *generation) (map[*policy.Route]sandboxTargets, error) {
	pol := g.pol
	b := newUsesBuilder(pol)
	out := map[*policy.Route]sandboxTargets{}
	used := map[string]bool{}
	get := func(key string) (*sandbox.Plugin, error) {
		u := b.uses[b.index[key]]
		used[u.Config.Name] = true
		return s.holdPlugin(ctx, g, u)
	}
	for _, r := range pol.Routes {
		var st sandboxTargets
		keys, err := b.middleware(r)
		if err != nil {
			return nil, err
		}
		for _, key := range keys {
			p, err := get(key)
			if err != nil {
				return nil, err
			}
			st.middleware = append(st.middleware, pluginMiddleware(p.Pool(r.Tenant)))
		}
		key, err := b.handler(r)
		if err != nil {
			return nil, err
		}
		if key != "" {
			p, err := get(key)
			if err != nil {
				return nil, err
			}
			st.handler = &wasmTarget{name: p.Name(), kind: r.Handler.Kind, h: p.Pool(r.Tenant).Handler()}
		}
		out[r] = st
	}
	for _, name := range pol.PluginNames {
		if !used[name] {
			s.log.Warn("plugin is not used by any route; it is not loaded", "plugin", name,
				"policy", fmt.Sprintf("%s:%s", pol.File, pol.Plugins[name].Pos))
		}
	}
	return out, nil
}

// holdPlugin gives g a reference to the compiled plugin for u, compiling
// it unless a running generation has it. s.mu is held.
func (s *Server) holdPlugin(ctx context.Context, g *generation, u PluginUse) (*sandbox.Plugin, error) {
	dir := g.pol.Sandbox.CacheDir
	key := dir + "\x00" + u.Key
	if sp := s.plugins[key]; sp != nil {
		if !slices.Contains(g.plugins, sp) {
			sp.refs++
			g.plugins = append(g.plugins, sp)
		}
		return sp.plugin, nil
	}
	engine, err := s.engine(ctx, dir)
	if err != nil {
		return nil, err
	}
	p, err := engine.Compile(ctx, u.Config)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u.Where, err)
	}
	sp := &sharedPlugin{plugin: p, key: key, refs: 1}
	s.plugins[key] = sp
	g.plugins = append(g.plugins, sp)
	return p, nil
}

// wasmTarget serves a route with a sandboxed guest: an inline wasm module
// or a named plugin.
type wasmTarget struct {
	name string
	kind string
	h    http.Handler
}

func (t *wasmTarget) String() string { return t.kind + " " + t.name }

func (t *wasmTarget) serve(c echo.Context) error {
	t.h.ServeHTTP(c.Response(), c.Request())
	return nil
}

// pluginMiddleware runs the rest of the chain inside a plugin: the guest
// sees the request first and, when it passes it on, the response last.
// What the rest of the chain fails with is answered inside, where the
// guest's handle_response can see it, since the plugin buffers what it
// wraps. The body the guest passed on is what the inner stages get.
func pluginMiddleware(pool *sandbox.Pool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			outerReq, outerResp := c.Request(), c.Response()
			inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c.SetRequest(r)
				c.SetResponse(echo.NewResponse(w, c.Echo()))
				if r.Body != nil && r.Body != http.NoBody {
					b, err := io.ReadAll(r.Body)
					if err != nil {
						c.Error(errStatus(http.StatusBadRequest, "reading the request body failed"))
						return
					}
					setBody(c, b)
				} else {
					setBody(c, nil)
				}
				if err := next(c); err != nil {
					c.Error(deadlineError(c, err))
				}
			})
			pool.Middleware(inner).ServeHTTP(outerResp, outerReq)
			c.SetRequest(outerReq)
			c.SetResponse(outerResp)
			return nil
		}
	}
}

// setBody makes b the request body for what follows: for Python (see
// body) and for a plugin or Wasm handler, which read the request's Body.
func setBody(c echo.Context, b []byte) {
	if x := exchangeOf(c); x != nil {
		x.body = b
	}
	r := c.Request()
	if len(b) == 0 {
		r.Body, r.ContentLength = http.NoBody, 0
		return
	}
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
}
