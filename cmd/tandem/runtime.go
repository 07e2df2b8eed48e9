package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tandemhost/tandem/native"
	"github.com/tandemhost/tandem/policy"
)

// runtimeReport is `tandem runtime --json`: the loaded runtime and whether
// it can give each worker its own GIL.
type runtimeReport struct {
	*native.Runtime
	OwnGIL bool `json:"own_gil"`
}

func newRuntime(stdout, stderr io.Writer) *cobra.Command {
	var asJSON bool
	var policyPath string
	cmd := &cobra.Command{
		Use:   "runtime",
		Short: "Show which CPython serve would use",
		Long: `Show the CPython serve would use for the policy (its python.runtime; the
embedded CPython when there is no policy file or it names none): kind,
version, home, library, executable, site-packages and own-GIL support. The
embedded runtime is extracted into the cache first if needed. The library is
loaded but Python is not started.`,
		Args: cobra.NoArgs,
		RunE: work(func(cmd *cobra.Command, args []string) error {
			return showRuntime(policyPath, cmd.Flags().Changed("policy"), asJSON, stdout, stderr)
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&policyPath, "policy", defaultPolicy, "policy whose python.runtime to show")
	return cmd
}

func showRuntime(policyPath string, named, asJSON bool, stdout, stderr io.Writer) error {
	// The worker budget is irrelevant here: no topology, no CPU check.
	pol, err := optionalPolicy(policyPath, named, nil)
	if err != nil {
		return err
	}
	spec := policy.RuntimeEmbedded
	if pol != nil && pol.Python.Runtime != "" {
		spec = pol.Python.Runtime
	}
	rt, err := locateRuntime(spec, stderr)
	if err != nil {
		return err
	}
	rt, err = native.Load(rt)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(runtimeReport{Runtime: rt, OwnGIL: rt.OwnGIL()})
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "kind\t%s\n", rt.Kind)
	fmt.Fprintf(tw, "version\t%s\n", rt.Version)
	fmt.Fprintf(tw, "home\t%s\n", orNone(rt.Home))
	fmt.Fprintf(tw, "library\t%s\n", rt.Library)
	fmt.Fprintf(tw, "executable\t%s\n", orNone(rt.Executable))
	fmt.Fprintf(tw, "site-packages\t%s\n", orNone(strings.Join(rt.SitePackages, ", ")))
	ownGIL := "yes: each worker runs its own interpreter with its own GIL"
	if !rt.OwnGIL() {
		ownGIL = "no (3.12 or later has it): workers share one GIL"
	}
	fmt.Fprintf(tw, "own GIL\t%s\n", ownGIL)
	return tw.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
