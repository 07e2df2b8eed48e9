package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTrustRule covers every way of putting native code on an untrusted
// tenant's route, and the ways that are allowed. It is the rule the
// product's security rests on, so each case is spelled out.
func TestTrustRule(t *testing.T) {
	const head = `version: 1
plugins:
  auth: {wasm: auth.wasm}
tenants:
  untrusted: {hosts: [u.example], trust: untrusted}
  implicit: {hosts: [i.example]}
  trusted: {hosts: [t.example], trust: trusted}
routes:
`
	tests := []struct {
		name  string
		route string
		// refused lists the paths of the problems expected; none means
		// the policy is valid.
		refused []string
	}{
		{"python handler", `{path: /a, tenant: untrusted, handler: {python: app:a}}`, []string{"routes[0].handler.python"}},
		{"wsgi handler", `{path: /a, tenant: untrusted, handler: {wsgi: app:wsgi}}`, []string{"routes[0].handler.wsgi"}},
		{"python middleware", `{path: /a, tenant: untrusted, middleware: [{python: app:mw}], handler: {python: app:a}}`,
			[]string{"routes[0].handler.python", "routes[0].middleware[0].python"}},
		{"python middleware behind a plugin", `{path: /a, tenant: untrusted, middleware: [auth, {python: app:mw}], handler: {wsgi: app:a}}`,
			[]string{"routes[0].handler.wsgi", "routes[0].middleware[1].python"}},
		{"default trust is untrusted: python handler", `{path: /a, tenant: implicit, handler: {python: app:a}}`, []string{"routes[0].handler.python"}},
		{"default trust is untrusted: wsgi handler", `{path: /a, tenant: implicit, handler: {wsgi: app:a}}`, []string{"routes[0].handler.wsgi"}},
		{"default trust is untrusted: python middleware", `{path: /a, tenant: implicit, middleware: [{python: app:mw}], handler: {python: app:a}}`,
			[]string{"routes[0].handler.python", "routes[0].middleware[0].python"}},

		{"wasm handler", `{path: /a, tenant: untrusted, handler: {wasm: a.wasm}}`, nil},
		{"plugin handler", `{path: /a, tenant: untrusted, handler: {plugin: auth}}`, nil},
		{"plugin middleware", `{path: /a, tenant: implicit, middleware: [auth], handler: {wasm: a.wasm}}`, nil},
		{"trusted tenant: python", `{path: /a, tenant: trusted, middleware: [auth, {python: app:mw}], handler: {python: app:a}}`, nil},
		{"trusted tenant: wsgi", `{path: /a, tenant: trusted, handler: {wsgi: app:a}}`, nil},
		{"operator route without tenant", `{path: /a, middleware: [{python: app:mw}], handler: {python: app:a}}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("/srv/p.yaml", []byte(head+"  - "+tt.route+"\n"), Options{SkipFileChecks: true})
			if tt.refused == nil {
				require.NoError(t, err)
				for _, r := range p.Routes {
					assert.True(t, r.Trusted(p) || !r.Handler.Native(), "an untrusted route compiled with native code")
				}
				return
			}
			var problems *Problems
			require.True(t, errors.As(err, &problems), "want the trust rule to refuse this, got %v", err)
			var paths []string
			for _, pr := range *problems {
				paths = append(paths, pr.Path)
				// The message names the route, the tenant and the rule.
				assert.Contains(t, pr.Message, "route /a of ")
				assert.Contains(t, pr.Message, "tenant \"")
				assert.Contains(t, pr.Message, "an untrusted tenant's routes may run only sandboxed code")
			}
			assert.ElementsMatch(t, tt.refused, paths)
			if strings.Contains(tt.name, "default trust") {
				assert.Contains(t, (*problems)[0].Message, "the default when trust is not set")
			}
		})
	}
}
