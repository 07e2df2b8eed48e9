package policy

import (
	"path/filepath"
	"regexp"
	"slices"

	"go.yaml.in/yaml/v3"
)

// decoder reads the YAML nodes into a Policy, checking each value, and
// keeps what the cross-checks need: the nodes that references and rules
// point at.
type decoder struct {
	doc  *document
	dir  string
	opts Options

	// record, when set, switches the decoder into a dry run that visits
	// every key it knows and records its path, so a test can compare the
	// decoder's keys with the schema's. Problems are not kept then.
	record map[string]bool

	files   []fileRef
	admin   *yaml.Node
	workers loc
	// declared holds every plugin and tenant name written in the file,
	// valid or not, so that a reference to a name already reported as
	// broken is not reported again as unknown.
	declaredPlugins map[string]bool
	declaredTenants map[string]bool
	// sectionRefused is set for plugins and tenants when the whole
	// section was refused: names cannot be checked against it.
	sectionRefused map[string]bool
	tenants        []*tenantInfo
	routes         []*routeInfo
}

// loc is a node with the path that names it in problems.
type loc struct {
	node *yaml.Node
	at   path
}

func posOf(n *yaml.Node) Pos { return Pos{Line: n.Line, Col: n.Column} }

type tenantInfo struct {
	tenant *Tenant
	hosts  []loc
	// trustUnknown is set when the trust value was refused: the trust
	// rule cannot be applied fairly to the tenant's routes.
	trustUnknown bool
	trustSet     bool
}

type routeInfo struct {
	route          *Route
	path           loc
	methodsBroken  bool
	tenant         loc
	handler        loc // the handler's value: "app:hello", "auth", ...
	handlerKey     loc // the handler's kind key: python, wsgi, wasm, plugin
	middleware     []loc
	middlewareKeys []loc
}

func (d *decoder) problem(l loc, msg string) {
	if d.record != nil {
		return
	}
	d.doc.add(l.node.Line, l.node.Column, l.at, msg)
}

// read reads node v with a value reader from values.go, reporting its error.
func read[T any](d *decoder, v *yaml.Node, at path, reader func(*yaml.Node) (T, error)) (T, bool) {
	x, err := reader(v)
	if err != nil {
		d.problem(loc{v, at}, err.Error())
		var zero T
		return zero, false
	}
	return x, true
}

// set reads v into *dst, leaving *dst (the default) alone on error.
func set[T any](d *decoder, v *yaml.Node, at path, reader func(*yaml.Node) (T, error), dst *T) {
	if x, ok := read(d, v, at, reader); ok {
		*dst = x
	}
}

// fields maps a key to the function that reads its value.
type fields map[string]func(key, val *yaml.Node, at path)

// placeholder stands in for values during a recording dry run.
func placeholder() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"} }

var indexes = regexp.MustCompile(`\[[0-9]+\]`)

// fields reads the known keys of mapping n in file order. Unknown keys, a
// non-mapping n and values already refused were reported by earlier layers
// and are skipped here.
func (d *decoder) fields(n *yaml.Node, at path, fs fields) {
	if d.record != nil {
		for k, f := range fs {
			d.record[indexes.ReplaceAllString(string(at.key(k)), "[]")] = true
			f(&yaml.Node{Kind: yaml.ScalarNode, Value: k}, placeholder(), at.key(k))
		}
		return
	}
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if f := fs[k.Value]; f != nil && k.Kind == yaml.ScalarNode && !d.doc.bad[k] && !d.doc.bad[v] {
			f(k, v, at.key(k.Value))
		}
	}
}

// items reads each entry of list n.
func (d *decoder) items(n *yaml.Node, at path, each func(i int, v *yaml.Node, at path)) {
	if d.record != nil {
		each(0, placeholder(), at.index(0))
		return
	}
	if n.Kind != yaml.SequenceNode {
		return
	}
	for i, v := range n.Content {
		if !d.doc.bad[v] {
			each(i, v, at.index(i))
		}
	}
}

// entries reads each NAME: VALUE of mapping n, for sections keyed by
// user-chosen names.
func (d *decoder) entries(n *yaml.Node, at path, declared map[string]bool, each func(k, v *yaml.Node, at path)) {
	if d.record != nil {
		// A valid name, so the entry is read; the path says "any name".
		each(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "name"}, placeholder(), at.key("*"))
		return
	}
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			continue
		}
		declared[k.Value] = true
		if !d.doc.bad[k] && !d.doc.bad[v] {
			each(k, v, at.key(k.Value))
		}
	}
}

// resolve makes a path from the policy absolute, relative to its directory.
func (d *decoder) resolve(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(d.dir, p)
}

func (d *decoder) policy(root *yaml.Node, p *Policy) {
	d.fields(root, "", fields{
		"version": func(_, v *yaml.Node, at path) { set(d, v, at, versionValue, &p.Version) },
		"server":  func(_, v *yaml.Node, at path) { d.server(v, at, &p.Server) },
		"python":  func(_, v *yaml.Node, at path) { d.python(v, at, &p.Python) },
		"sandbox": func(k, v *yaml.Node, at path) {
			p.Sandbox.Pos = posOf(k)
			d.sandbox(v, at, &p.Sandbox)
		},
		"plugins": func(_, v *yaml.Node, at path) { d.plugins(v, at, p) },
		"tenants": func(_, v *yaml.Node, at path) { d.tenantSection(v, at, p) },
		"routes": func(_, v *yaml.Node, at path) {
			d.items(v, at, func(i int, v *yaml.Node, at path) { p.Routes = append(p.Routes, d.route(i, v, at)) })
		},
	})
	for _, section := range []string{"plugins", "tenants"} {
		if v := mappingValue(root, section); v != nil && d.doc.bad[v] {
			d.sectionRefused[section] = true
		}
	}
	// Limits a plugin leaves out come from the sandbox defaults, whichever
	// section the file wrote first.
	for _, pl := range p.Plugins {
		if pl.Limits.Memory == 0 {
			pl.Limits.Memory = p.Sandbox.Limits.Memory
		}
		if pl.Limits.Timeout == 0 {
			pl.Limits.Timeout = p.Sandbox.Limits.Timeout
		}
		if pl.Limits.Instances == 0 {
			pl.Limits.Instances = p.Sandbox.Limits.Instances
		}
	}
}

func (d *decoder) server(n *yaml.Node, at path, s *Server) {
	d.fields(n, at, fields{
		"listen": func(_, v *yaml.Node, at path) { set(d, v, at, addressValue, &s.Listen) },
		"admin": func(k, v *yaml.Node, at path) {
			if a, ok := read(d, v, at, optionalAddressValue); ok {
				s.Admin, s.AdminPos, d.admin = a, posOf(k), v
			}
		},
		"max_body": func(_, v *yaml.Node, at path) { set(d, v, at, sizeValue, &s.MaxBody) },
		"timeouts": func(_, v *yaml.Node, at path) {
			t := &s.Timeouts
			d.fields(v, at, fields{
				"read_header": func(_, v *yaml.Node, at path) { set(d, v, at, durationValue, &t.ReadHeader) },
				"read":        func(_, v *yaml.Node, at path) { set(d, v, at, durationValue, &t.Read) },
				"write":       func(_, v *yaml.Node, at path) { set(d, v, at, durationValue, &t.Write) },
				"idle":        func(_, v *yaml.Node, at path) { set(d, v, at, durationValue, &t.Idle) },
				"shutdown":    func(_, v *yaml.Node, at path) { set(d, v, at, durationValue, &t.Shutdown) },
			})
		},
	})
}

func (d *decoder) python(n *yaml.Node, at path, py *Python) {
	d.fields(n, at, fields{
		"runtime": func(_, v *yaml.Node, at path) {
			s, ok := read(d, v, at, runtimeValue)
			if !ok {
				return
			}
			py.RuntimePos = posOf(v)
			if s == RuntimeEmbedded {
				return
			}
			py.Runtime = d.resolve(s)
			d.files = append(d.files, fileRef{kind: runtimeFile, loc: loc{v, at}, written: s, abs: py.Runtime})
		},
		"path": func(_, v *yaml.Node, at path) {
			d.items(v, at, func(_ int, v *yaml.Node, at path) {
				if s, ok := read(d, v, at, fileValue); ok {
					abs := d.resolve(s)
					py.Path = append(py.Path, abs)
					d.files = append(d.files, fileRef{kind: directory, loc: loc{v, at}, written: s, abs: abs})
				}
			})
		},
		"workers": func(_, v *yaml.Node, at path) {
			if w, ok := read(d, v, at, workersValue); ok {
				py.Workers, py.WorkersPos, d.workers = w, posOf(v), loc{v, at}
			}
		},
		"strategy": func(_, v *yaml.Node, at path) {
			set(d, v, at, enumValue(StrategyAuto, StrategyPinned, StrategyPooled), &py.Strategy)
		},
		"isolation": func(_, v *yaml.Node, at path) {
			if iso, ok := read(d, v, at, enumValue(IsolationOwnGIL, IsolationShared)); ok {
				py.Isolation, py.IsolationPos = iso, posOf(v)
			}
		},
		"init": func(_, v *yaml.Node, at path) {
			if t, ok := read(d, v, at, targetValue); ok {
				py.Init, py.InitPos = t, posOf(v)
			}
		},
	})
}

func (d *decoder) sandbox(n *yaml.Node, at path, s *Sandbox) {
	d.fields(n, at, fields{
		"cache_dir": func(_, v *yaml.Node, at path) {
			dir, ok := read(d, v, at, stringValue)
			if !ok || dir == "" {
				return
			}
			if err := checkPathText(dir, false); err != nil {
				d.problem(loc{v, at}, err.Error())
				return
			}
			s.CacheDir = d.resolve(dir)
		},
		"limits": func(_, v *yaml.Node, at path) { d.limits(v, at, &s.Limits) },
	})
}

func (d *decoder) limits(n *yaml.Node, at path, l *Limits) {
	d.fields(n, at, fields{
		"memory":    func(_, v *yaml.Node, at path) { set(d, v, at, memoryValue, &l.Memory) },
		"timeout":   func(_, v *yaml.Node, at path) { set(d, v, at, durationValue, &l.Timeout) },
		"instances": func(_, v *yaml.Node, at path) { set(d, v, at, countValue, &l.Instances) },
	})
}

func (d *decoder) plugins(n *yaml.Node, at path, p *Policy) {
	d.entries(n, at, d.declaredPlugins, func(k, v *yaml.Node, at path) {
		name, ok := read(d, k, at, nameValue)
		if !ok {
			return
		}
		pl := &Plugin{Name: name, Pos: posOf(k)}
		var wasm fileRef
		d.fields(v, at, fields{
			"wasm": func(_, v *yaml.Node, at path) {
				if s, ok := read(d, v, at, fileValue); ok {
					pl.Wasm = d.resolve(s)
					wasm = fileRef{kind: wasmFile, loc: loc{v, at}, written: s, abs: pl.Wasm}
				}
			},
			"sha256": func(_, v *yaml.Node, at path) {
				if sum, ok := read(d, v, at, sha256Value); ok && sum != "" {
					pl.SHA256 = sum
					wasm.pin, wasm.pinLoc = sum, loc{v, at}
				}
			},
			"config": func(_, v *yaml.Node, at path) { set(d, v, at, configValue, &pl.Config) },
			"limits": func(_, v *yaml.Node, at path) { d.limits(v, at, &pl.Limits) },
		})
		if wasm.abs != "" {
			d.files = append(d.files, wasm)
		}
		p.Plugins[name] = pl
		p.PluginNames = append(p.PluginNames, name)
	})
	slices.Sort(p.PluginNames)
}

func (d *decoder) tenantSection(n *yaml.Node, at path, p *Policy) {
	d.entries(n, at, d.declaredTenants, func(k, v *yaml.Node, at path) {
		name, ok := read(d, k, at, nameValue)
		if !ok {
			return
		}
		t := &Tenant{Name: name, Trust: TrustUntrusted, Pos: posOf(k)}
		info := &tenantInfo{tenant: t}
		var burst loc
		d.fields(v, at, fields{
			"hosts": func(_, v *yaml.Node, at path) {
				d.items(v, at, func(_ int, v *yaml.Node, at path) {
					if h, ok := read(d, v, at, hostValue); ok {
						t.Hosts = append(t.Hosts, h)
						info.hosts = append(info.hosts, loc{v, at})
					}
				})
			},
			"trust": func(_, v *yaml.Node, at path) {
				info.trustSet = true
				set(d, v, at, enumValue(TrustUntrusted, TrustTrusted), &t.Trust)
			},
			"limits": func(_, v *yaml.Node, at path) {
				l := &t.Limits
				d.fields(v, at, fields{
					"rate": func(_, v *yaml.Node, at path) { set(d, v, at, rateValue, &l.Rate) },
					"burst": func(_, v *yaml.Node, at path) {
						if b, ok := read(d, v, at, countValue); ok {
							l.Burst, burst = b, loc{v, at}
						}
					},
					"timeout": func(_, v *yaml.Node, at path) { set(d, v, at, durationValue, &l.Timeout) },
					"memory":  func(_, v *yaml.Node, at path) { set(d, v, at, sizeValue, &l.Memory) },
				})
			},
		})
		if trust := mappingValue(v, "trust"); trust != nil && d.doc.bad[trust] {
			info.trustUnknown = true
		}
		if burst.node != nil && t.Limits.Rate.IsZero() && !d.doc.bad[mappingValue(mappingValue(v, "limits"), "rate")] {
			d.problem(burst, "burst has no effect without a rate: add limits.rate, like rate: 100/s")
		}
		if t.Limits.Burst == 0 {
			t.Limits.Burst = t.Limits.Rate.Count
		}
		p.Tenants[name] = t
		p.TenantNames = append(p.TenantNames, name)
		d.tenants = append(d.tenants, info)
	})
	slices.Sort(p.TenantNames)
}

func (d *decoder) route(i int, n *yaml.Node, at path) *Route {
	r := &Route{Index: i, Pos: posOf(n)}
	info := &routeInfo{route: r}
	d.fields(n, at, fields{
		"path": func(_, v *yaml.Node, at path) {
			if s, ok := read(d, v, at, routePathValue); ok {
				r.Path, info.path = s, loc{v, at}
			}
		},
		"methods": func(_, v *yaml.Node, at path) {
			r.Methods = []string{}
			first := map[string]bool{}
			d.items(v, at, func(_ int, v *yaml.Node, at path) {
				m, ok := read(d, v, at, methodValue)
				switch {
				case !ok:
					info.methodsBroken = true
				case first[m]:
					d.problem(loc{v, at}, "method "+m+" is listed twice")
				default:
					first[m] = true
					r.Methods = append(r.Methods, m)
				}
			})
		},
		"middleware": func(_, v *yaml.Node, at path) {
			d.items(v, at, func(_ int, v *yaml.Node, at path) {
				if v.Kind == yaml.ScalarNode {
					if name, ok := read(d, v, at, middlewareValue); ok {
						r.Middleware = append(r.Middleware, Middleware{Kind: MiddlewarePlugin, Name: name, Pos: posOf(v)})
						info.middleware = append(info.middleware, loc{v, at})
						info.middlewareKeys = append(info.middlewareKeys, loc{v, at})
					}
					return
				}
				d.fields(v, at, fields{
					"python": func(k, v *yaml.Node, at path) {
						if t, ok := read(d, v, at, targetValue); ok {
							r.Middleware = append(r.Middleware, Middleware{Kind: MiddlewarePython, Name: t, Pos: posOf(k)})
							info.middleware = append(info.middleware, loc{v, at})
							info.middlewareKeys = append(info.middlewareKeys, loc{k, at})
						}
					},
				})
			})
		},
		"handler": func(_, v *yaml.Node, at path) {
			target := func(kind string, reader func(*yaml.Node) (string, error)) func(k, v *yaml.Node, at path) {
				return func(k, v *yaml.Node, at path) {
					ref, ok := read(d, v, at, reader)
					if !ok {
						return
					}
					if kind == TargetWasm {
						written := ref
						ref = d.resolve(ref)
						d.files = append(d.files, fileRef{kind: wasmFile, loc: loc{v, at}, written: written, abs: ref})
					}
					r.Handler = Target{Kind: kind, Ref: ref, Pos: posOf(k)}
					info.handler, info.handlerKey = loc{v, at}, loc{k, at}
				}
			}
			d.fields(v, at, fields{
				TargetPython: target(TargetPython, targetValue),
				TargetWSGI:   target(TargetWSGI, targetValue),
				TargetWasm:   target(TargetWasm, fileValue),
				TargetPlugin: target(TargetPlugin, nameValue),
			})
		},
		"tenant": func(k, v *yaml.Node, at path) {
			if name, ok := read(d, v, at, nameValue); ok {
				r.Tenant, r.TenantPos, info.tenant = name, posOf(k), loc{v, at}
			}
		},
		"limits": func(_, v *yaml.Node, at path) {
			l := &r.Limits
			d.fields(v, at, fields{
				"timeout":  func(_, v *yaml.Node, at path) { set(d, v, at, durationValue, &l.Timeout) },
				"max_body": func(_, v *yaml.Node, at path) { set(d, v, at, sizeValue, &l.MaxBody) },
			})
		},
		"body_schema": func(k, v *yaml.Node, at path) {
			if s, ok := read(d, v, at, fileValue); ok {
				r.BodySchema, r.BodySchemaPos = d.resolve(s), posOf(k)
				d.files = append(d.files, fileRef{kind: schemaFile, loc: loc{v, at}, written: s, abs: r.BodySchema})
			}
		},
	})
	// A refused methods list reads as nil, which would mean "every
	// method" to the duplicate check.
	if m := mappingValue(n, "methods"); m != nil && (d.doc.bad[m] || slices.ContainsFunc(m.Content, func(c *yaml.Node) bool { return d.doc.bad[c] })) {
		info.methodsBroken = true
	}
	d.routes = append(d.routes, info)
	return r
}
