package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/tandemhost/tandem/native"
	"github.com/tandemhost/tandem/native/topology"
)

// placementReport is `tandem topology --json`: the topology report with
// why the plan is what it is, and which policy it was made for.
type placementReport struct {
	topology.Report
	// Reasons say why auto chose what it chose.
	Reasons []string `json:"reasons,omitempty"`
	// Policy is the policy file the plan follows; "" for auto defaults.
	Policy string `json:"policy"`
}

func newTopology(stdout, stderr io.Writer) *cobra.Command {
	var asJSON bool
	var policyPath string
	cmd := &cobra.Command{
		Use:   "topology",
		Short: "Show the CPU topology and where serve would put the Python workers",
		Long: `Show the detected CPU topology (packages, physical cores and their logical
CPUs, the CPUs usable after affinity and cgroup limits, VM and hybrid flags)
and the worker placement serve would choose for the policy (./tandem.yaml
when it exists, else the defaults: workers auto, strategy auto). A policy
that does not load is an error.`,
		Args: cobra.NoArgs,
		RunE: work(func(cmd *cobra.Command, args []string) error {
			return showTopology(policyPath, cmd.Flags().Changed("policy"), asJSON, stdout)
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&policyPath, "policy", defaultPolicy, "policy whose python section the placement follows")
	return cmd
}

func showTopology(policyPath string, named, asJSON bool, stdout io.Writer) error {
	topo, err := topology.Detect()
	if err != nil {
		return fmt.Errorf("detecting the CPU topology: %w", err)
	}
	pol, err := optionalPolicy(policyPath, named, topo)
	if err != nil {
		return err
	}
	var in native.PlanInput
	source := ""
	if pol != nil {
		in = native.PlanInput{Workers: pol.Python.Workers, Strategy: pol.Python.Strategy,
			Isolation: native.Isolation(pol.Python.Isolation)}
		source = pol.File
	}
	plan, err := native.MakePlan(topo, in)
	if err != nil {
		return fmt.Errorf("planning the Python workers: %w", err)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(placementReport{
			Report: topology.Report{Topology: topo, Strategy: topology.Strategy(plan.Strategy),
				Workers: plan.Workers, GOMAXPROCS: plan.GOMAXPROCS, Placement: plan.Slots},
			Reasons: plan.Reasons,
			Policy:  source,
		})
	}
	if err := topo.WriteText(stdout, plan.Slots); err != nil {
		return err
	}
	if source == "" {
		source = "no policy file, defaults"
	}
	fmt.Fprintf(stdout, "\nPlan (%s): %s\n", source, plan)
	for _, r := range plan.Reasons {
		fmt.Fprintf(stdout, "  - %s\n", r)
	}
	return nil
}
