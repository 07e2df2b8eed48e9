package policy_test

import (
	"errors"
	"fmt"

	"github.com/tandemhost/tandem/policy"
)

func ExampleParse() {
	src := []byte(`version: 1
server:
  listn: 127.0.0.1:8080
  max_body: 12 parsecs
tenants:
  acme: {hosts: [acme.example]}
routes:
  - path: /t/acme/*
    tenant: acme
    handler: {python: acme:app}
`)
	_, err := policy.Parse("tandem.yaml", src, policy.Options{SkipFileChecks: true})
	var problems *policy.Problems
	if errors.As(err, &problems) {
		for _, p := range *problems {
			fmt.Println(p)
		}
	}
	// Output:
	// tandem.yaml:3:3: server.listn: unknown key "listn" (did you mean "listen"?)
	// tandem.yaml:4:13: server.max_body: expected a size like 64KiB, got "12 parsecs": unknown unit "parsecs" (use one of B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)
	// tandem.yaml:10:15: routes[0].handler.python: route /t/acme/* of tenant "acme" (untrusted: the default when trust is not set) runs a python handler, but an untrusted tenant's routes may run only sandboxed code (wasm or plugin handlers, plugin middleware): use a wasm or plugin handler, or set tenants.acme.trust: trusted if you vouch for its code
}

func ExampleParse_valid() {
	src := []byte(`version: 1
routes:
  - path: /hello/:name
    methods: [get]
    handler: {python: app:hello}
    limits: {timeout: 2s}
`)
	p, err := policy.Parse("/srv/tandem.yaml", src, policy.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	r := p.Routes[0]
	fmt.Println(p.Server.Listen, p.Server.MaxBody, r.Methods, r.Handler.Kind, r.Handler.Ref, r.Timeout(p), r.MaxBody(p))
	// Output: 127.0.0.1:8080 1MiB [GET] python app:hello 2s 1MiB
}
