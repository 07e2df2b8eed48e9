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
	// tandem.yaml:6:15: routes[1].handler.wasm: a WebAssembly handler is not supported by this version of tandem yet
}
