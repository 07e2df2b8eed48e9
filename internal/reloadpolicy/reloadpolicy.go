// Package reloadpolicy writes the 1,000-route policy of the reload
// benchmarks (host's BenchmarkReload1000 and `go run ./bench reload`; see
// docs/benchmarks.md), so that both measure the same file.
//
// The mix: 800 Python routes (600 of the operator's, 100 on each of two
// trusted tenants; four handler functions, a Python middleware on one in
// eight, a body schema on the POST ones), 150 routes behind the gate
// plugin (100 to Python handlers, 50 to the hello plugin on an untrusted
// tenant) and 50 Wasm handler routes (25 {plugin: hello}, 25 inline
// {wasm: hello.wasm}) on two untrusted tenants, one of them with a rate
// limit and a memory limit (which gives it its own compiled variant of
// hello). Every path is distinct: /r/N/:id and the like.
package reloadpolicy

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Routes is how many routes Policy writes.
const Routes = 1000

// Variant is what changes between the reloads of the benchmark.
type Variant struct {
	// Listen is server.listen; "" leaves it out.
	Listen string
	// Moved renames the paths of 10 of the operator's Python routes
	// (/r/N/:id becomes /r/N/v2/:id): a routes-only change.
	Moved bool
	// GateTimeout is the gate plugin's limits.timeout; changing it
	// recompiles that one plugin. "" means 1s.
	GateTimeout string
	// Init is python.init; changing it starts new workers. "" means
	// app:init_a.
	Init string
	// Workers is python.workers; 0 means 2.
	Workers int
	// Comment is written at the top of the file: a change that changes
	// nothing served.
	Comment string
}

// App is the Python module the routes call.
const App = `"""Handlers of the 1,000-route reload benchmark."""

import tandem


def init_a(worker):
    pass


def init_b(worker):
    pass


def item(request, id: str):
    return {"id": id}


def items(request, id: str):
    return {"id": id, "items": [1, 2, 3]}


def create(request, id: str):
    return tandem.Response(request.json(), status=201)


def describe(request, id: str):
    return {"path": request.path, "id": id}


def tag(request, call_next):
    response = call_next(request)
    response.headers["X-Tag"] = "mw"
    return response
`

// Schema is the body schema of the POST routes.
const Schema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "name": {"type": "string", "minLength": 1},
    "price": {"type": "number", "minimum": 0}
  },
  "required": ["name", "price"],
  "additionalProperties": false
}
`

// Setup writes the app, the schema and the two guests (gate.wasm and
// hello.wasm, copied from the directory guests) under dir, where the
// policy file is then written.
func Setup(dir, guests string) error {
	for _, d := range []string{"app", "schemas", "guests", "cache"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "app", "app.py"), []byte(App), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "schemas", "item.json"), []byte(Schema), 0o644); err != nil {
		return err
	}
	for _, g := range []string{"gate.wasm", "hello.wasm"} {
		b, err := os.ReadFile(filepath.Join(guests, g))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "guests", g), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Write writes Policy(v) to dir/tandem.yaml (in one rename, as a deploy
// tool would) and returns the file's path.
func Write(dir string, v Variant) (string, error) {
	file := filepath.Join(dir, "tandem.yaml")
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, []byte(Policy(v)), 0o644); err != nil {
		return "", err
	}
	return file, os.Rename(tmp, file)
}

// Policy is the policy text of v: Routes routes.
func Policy(v Variant) string {
	if v.GateTimeout == "" {
		v.GateTimeout = "1s"
	}
	if v.Init == "" {
		v.Init = "app:init_a"
	}
	if v.Workers == 0 {
		v.Workers = 2
	}
	var b strings.Builder
	if v.Comment != "" {
		fmt.Fprintf(&b, "# %s\n", v.Comment)
	}
	b.WriteString("version: 1\n")
	if v.Listen != "" {
		fmt.Fprintf(&b, "server:\n  listen: %s\n", v.Listen)
	}
	fmt.Fprintf(&b, `python:
  path: [app]
  workers: %d
  strategy: pooled
  init: %s
sandbox:
  cache_dir: cache
  limits: {memory: 1MiB, timeout: 1s, instances: 4}
plugins:
  gate: {wasm: guests/gate.wasm, limits: {timeout: %s}}
  hello: {wasm: guests/hello.wasm}
tenants:
  ops:
    hosts: [ops.example.com]
    trust: trusted
  beta:
    hosts: ["*.beta.example.com"]
    trust: trusted
  acme:
    hosts: [acme.example.com]
    limits: {rate: 1000/s, burst: 200, memory: 512KiB}
  globex:
    hosts: ["*.globex.example.com"]
routes:
`, v.Workers, v.Init, v.GateTimeout)

	// 800 Python routes: 600 of the operator's, then 100 for ops and 100
	// for beta.
	for i := range 800 {
		tenant := ""
		switch {
		case i >= 700:
			tenant = "beta"
		case i >= 600:
			tenant = "ops"
		}
		path := fmt.Sprintf("/r/%d/:id", i)
		if v.Moved && i < 10 {
			path = fmt.Sprintf("/r/%d/v2/:id", i)
		}
		if i%4 == 3 {
			// A collection beside the items: /r/N/:id/items.
			path += "/items"
		}
		fmt.Fprintf(&b, "  - path: %s\n", path)
		switch {
		case i%8 == 3:
			b.WriteString("    methods: [POST]\n    handler: {python: app:create}\n    body_schema: schemas/item.json\n")
		case i%8 == 7:
			b.WriteString("    methods: [GET]\n    handler: {python: app:items}\n")
		case i%4 == 2:
			b.WriteString("    handler: {python: app:describe}\n")
		default:
			b.WriteString("    handler: {python: app:item}\n")
		}
		if i%8 == 5 {
			b.WriteString("    middleware: [{python: app:tag}]\n")
		}
		if i%10 == 7 {
			b.WriteString("    limits: {timeout: 5s}\n")
		}
		if tenant != "" {
			fmt.Fprintf(&b, "    tenant: %s\n", tenant)
		}
	}
	// 150 routes behind gate: 100 to Python, 50 to hello on globex.
	for i := range 100 {
		fmt.Fprintf(&b, "  - path: /g/%d/:id\n    middleware: [gate]\n    handler: {python: app:item}\n", i)
	}
	for i := range 50 {
		fmt.Fprintf(&b, "  - path: /gw/%d\n    middleware: [gate]\n    handler: {plugin: hello}\n    tenant: globex\n", i)
	}
	// 50 Wasm handlers on acme (with its memory limit) and globex.
	for i := range 50 {
		tenant := "acme"
		if i%2 == 1 {
			tenant = "globex"
		}
		if i < 25 {
			fmt.Fprintf(&b, "  - path: /w/%d\n    handler: {plugin: hello}\n    tenant: %s\n", i, tenant)
		} else {
			fmt.Fprintf(&b, "  - path: /w/%d\n    handler: {wasm: guests/hello.wasm}\n    tenant: %s\n", i, tenant)
		}
	}
	return b.String()
}
