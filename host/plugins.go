package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tandemhost/tandem/policy"
	"github.com/tandemhost/tandem/sandbox"
)

// A PluginUse is one module the policy runs in the sandbox, as one tenant
// (or the operator) uses it: a named plugin, or a route's inline
// {wasm: FILE} handler. Uses with the same Key share one compiled plugin;
// a tenant whose memory limit is lower than the plugin's gets its own.
type PluginUse struct {
	// Config is what sandbox.Engine.Compile gets.
	Config sandbox.PluginConfig
	// Key identifies the module bytes, config and limits: a reload reuses
	// a compiled plugin whose key did not change.
	Key string
	// Where names the policy entry in errors: FILE:LINE:COL: path.
	Where string
}

// PluginUses reads the module of every plugin and inline Wasm handler pol
// uses and returns what to compile, in policy order, once per distinct
// key: the named plugins first (each with the sandbox limits the policy
// merged in), then each tenant's variants and inline handlers. A module
// that cannot be read is an error naming the policy entry.
func PluginUses(pol *policy.Policy) ([]PluginUse, error) {
	b := newUsesBuilder(pol)
	for _, name := range pol.PluginNames {
		pl := pol.Plugins[name]
		if _, err := b.use(pl.Name, pl.Wasm, pl.SHA256, pl.Config, pl.Limits, "", pl.Pos, "plugins."+name); err != nil {
			return nil, err
		}
	}
	for _, r := range pol.Routes {
		if _, err := b.middleware(r); err != nil {
			return nil, err
		}
		if _, err := b.handler(r); err != nil {
			return nil, err
		}
	}
	return b.uses, nil
}

// usesBuilder collects PluginUses without repeating a key.
type usesBuilder struct {
	pol   *policy.Policy
	uses  []PluginUse
	index map[string]int    // position in uses by key
	bytes map[string][]byte // module bytes by absolute path, read once
}

func newUsesBuilder(pol *policy.Policy) *usesBuilder {
	return &usesBuilder{pol: pol, index: map[string]int{}, bytes: map[string][]byte{}}
}

// middleware adds the uses of route r's plugin middleware and returns
// their keys, outermost first.
func (b *usesBuilder) middleware(r *policy.Route) ([]string, error) {
	var keys []string
	for i, m := range r.Middleware {
		if m.Kind != policy.MiddlewarePlugin {
			continue
		}
		pl := b.pol.Plugins[m.Name]
		if pl == nil {
			return nil, fmt.Errorf("%s:%s: routes[%d].middleware[%d]: no plugin %q", b.pol.File, m.Pos, r.Index, i, m.Name)
		}
		key, err := b.use(pl.Name, pl.Wasm, pl.SHA256, pl.Config, pl.Limits, r.Tenant, pl.Pos, "plugins."+pl.Name)
		if err != nil {
			return nil, err
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// handler adds the use of route r's sandboxed handler, if it has one, and
// returns its key ("" for Python handlers).
func (b *usesBuilder) handler(r *policy.Route) (string, error) {
	at := "routes[" + strconv.Itoa(r.Index) + "].handler"
	switch r.Handler.Kind {
	case policy.TargetPlugin:
		pl := b.pol.Plugins[r.Handler.Ref]
		if pl == nil {
			return "", fmt.Errorf("%s:%s: %s.plugin: no plugin %q", b.pol.File, r.Handler.Pos, at, r.Handler.Ref)
		}
		return b.use(pl.Name, pl.Wasm, pl.SHA256, pl.Config, pl.Limits, r.Tenant, pl.Pos, "plugins."+pl.Name)
	case policy.TargetWasm:
		return b.use(inlineName(b.pol, r.Handler.Ref), r.Handler.Ref, "", nil, b.pol.Sandbox.Limits, r.Tenant, r.Handler.Pos, at+".wasm")
	}
	return "", nil
}

// inlineName names an inline Wasm handler's module in logs and metrics:
// "wasm:" and its path as the policy wrote it, relative to the policy.
func inlineName(pol *policy.Policy, abs string) string {
	if rel, err := filepath.Rel(pol.Dir, abs); err == nil {
		return "wasm:" + filepath.ToSlash(rel)
	}
	return "wasm:" + abs
}

// use adds one use unless its key is known, and returns the key. The
// tenant's memory limit, when lower, replaces the plugin's.
func (b *usesBuilder) use(name, file, pin string, config []byte, limits policy.Limits, tenant string, pos policy.Pos, path string) (string, error) {
	where := fmt.Sprintf("%s:%s: %s", b.pol.File, pos, path)
	if t := b.pol.Tenants[tenant]; t != nil && t.Limits.Memory > 0 && (limits.Memory == 0 || t.Limits.Memory < limits.Memory) {
		limits.Memory = t.Limits.Memory
	}
	wasm, ok := b.bytes[file]
	if !ok {
		var err error
		if wasm, err = os.ReadFile(file); err != nil {
			return "", fmt.Errorf("%s: reading the module: %w", where, err)
		}
		b.bytes[file] = wasm
	}
	sum := sha256.Sum256(wasm)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%x\x00%s\x00%q\x00%d\x00%d\x00%d", name, sum, pin, config,
		limits.Memory, time.Duration(limits.Timeout), limits.Instances)
	key := hex.EncodeToString(h.Sum(nil))
	if _, ok := b.index[key]; ok {
		return key, nil
	}
	b.index[key] = len(b.uses)
	b.uses = append(b.uses, PluginUse{
		Key:   key,
		Where: where,
		Config: sandbox.PluginConfig{
			Name:   name,
			Wasm:   wasm,
			SHA256: pin,
			Config: config,
			Limits: sandbox.Limits{
				Memory:    int64(limits.Memory),
				Timeout:   time.Duration(limits.Timeout),
				Instances: limits.Instances,
			},
		},
	})
	return key, nil
}

// CompilePlugins compiles every use on engine (see PluginUses) and closes
// them all again: what `tandem check` does to prove that each module
// loads, has the ABI's exports and imports, and starts with its config
// and limits. Every failure is reported, each prefixed with its policy
// entry.
func CompilePlugins(ctx context.Context, engine *sandbox.Engine, uses []PluginUse) []error {
	var errs []error
	for _, u := range uses {
		p, err := engine.Compile(ctx, u.Config)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u.Where, err))
			continue
		}
		_ = p.Close(ctx)
	}
	return errs
}
