package reloadpolicy

import (
	"testing"

	"github.com/tandemhost/tandem/policy"
)

// TestVariantsLoad checks that every variant the benchmarks reload is a
// valid policy of Routes routes.
func TestVariantsLoad(t *testing.T) {
	dir := t.TempDir()
	if err := Setup(dir, "../../host/testdata/guests"); err != nil {
		t.Fatal(err)
	}
	for _, v := range []Variant{
		{},
		{Listen: "127.0.0.1:8080", Comment: "a"},
		{Moved: true},
		{GateTimeout: "2s"},
		{Init: "app:init_b", Workers: 1},
	} {
		file, err := Write(dir, v)
		if err != nil {
			t.Fatal(err)
		}
		pol, err := policy.Load(file, policy.Options{})
		if err != nil {
			t.Fatalf("%+v: %v", v, err)
		}
		if len(pol.Routes) != Routes {
			t.Errorf("%+v: %d routes, want %d", v, len(pol.Routes), Routes)
		}
	}
}
