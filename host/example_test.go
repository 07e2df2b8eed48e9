package host_test

import (
	"fmt"

	"github.com/tandemhost/tandem/host"
	"github.com/tandemhost/tandem/policy"
)

// Unsupported tells which parts of a policy this version cannot serve yet;
// host.New refuses such a policy with the same list.
func ExampleUnsupported() {
	const file = `version: 1
server: {admin: 127.0.0.1:9090}
routes:
  - path: /hello/:name
    handler: {python: app:hello}
  - path: /edge
    handler: {wasm: edge.wasm}
`
	pol, err := policy.Parse("tandem.yaml", []byte(file), policy.Options{SkipFileChecks: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range host.Unsupported(pol) {
		fmt.Println(p)
	}
	// Output:
	// tandem.yaml:2:10: server.admin: the admin listener is not supported by this version of tandem yet
}
