package native

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemhost/tandem/native/topology"
)

func recorded(t *testing.T, name string, affinity []int) *topology.Topology {
	t.Helper()
	topo, err := topology.FromSysfs(os.DirFS(filepath.Join("topology", "testdata", name)), affinity)
	require.NoError(t, err)
	return topo
}

func TestMakePlan(t *testing.T) {
	t.Setenv("GOMAXPROCS", "")
	smt := recorded(t, "intel-2socket-smt", nil) // 2 packages x 4 cores x 2 threads
	container := recorded(t, "container-cpuset", []int{2, 3, 10})
	small := recorded(t, "intel-2socket-smt", []int{0, 1}) // two CPUs of two cores, as on a 2-vCPU VM
	flat := recorded(t, "kvm-16", nil)                     // 16 cores, no SMT siblings, as on a 16-vCPU VM
	flat8 := recorded(t, "kvm-16", []int{0, 1, 2, 3, 4, 5, 6, 7})
	flat9 := recorded(t, "kvm-16", []int{0, 1, 2, 3, 4, 5, 6, 7, 8})
	cases := []struct {
		name       string
		topo       *topology.Topology
		in         PlanInput
		workers    int
		strategy   string
		pinnedN    int // how many CPUs are set when pinned
		gomaxprocs int
		err        string
	}{
		{name: "auto: a worker per physical core, pinned", topo: smt, in: PlanInput{},
			workers: 8, strategy: "pinned", pinnedN: 8, gomaxprocs: 16 + 8},
		{name: "auto with fewer workers", topo: smt, in: PlanInput{Workers: 3},
			workers: 3, strategy: "pinned", pinnedN: 3, gomaxprocs: 16 + 3},
		{name: "auto with more workers than cores pools", topo: smt, in: PlanInput{Workers: 12},
			workers: 12, strategy: "pooled", gomaxprocs: 16 + 12},
		{name: "auto pools when the workers take every CPU", topo: small, in: PlanInput{},
			workers: 2, strategy: "pooled", gomaxprocs: 2 + 2},
		{name: "auto on 16 cores without siblings pins 15", topo: flat, in: PlanInput{},
			workers: 15, strategy: "pinned", pinnedN: 15, gomaxprocs: 16 + 15},
		{name: "auto on 9 cores without siblings pins 8", topo: flat9, in: PlanInput{},
			workers: 8, strategy: "pinned", pinnedN: 8, gomaxprocs: 9 + 8},
		{name: "auto on 8 cores without siblings floats 8", topo: flat8, in: PlanInput{},
			workers: 8, strategy: "pooled", gomaxprocs: 8 + 8},
		{name: "auto workers with pooled strategy keep every core", topo: flat, in: PlanInput{Strategy: "pooled"},
			workers: 16, strategy: "pooled", gomaxprocs: 16 + 16},
		{name: "auto workers in shared mode keep every core", topo: flat, in: PlanInput{Isolation: Shared},
			workers: 16, strategy: "pooled", gomaxprocs: 16 + 16},
		{name: "auto in shared mode pools", topo: smt, in: PlanInput{Isolation: Shared},
			workers: 8, strategy: "pooled", gomaxprocs: 16 + 8},
		{name: "explicit pinned beyond the cores fails", topo: smt, in: PlanInput{Workers: 9, Strategy: "pinned"},
			err: "9 pinned workers need 9 physical cores"},
		{name: "explicit pooled", topo: smt, in: PlanInput{Workers: 2, Strategy: "pooled"},
			workers: 2, strategy: "pooled", gomaxprocs: 16 + 2},
		{name: "a CPU quota limits workers and pools", topo: container, in: PlanInput{},
			workers: 1, strategy: "pooled", gomaxprocs: 3 + 1},
		{name: "unknown strategy", topo: smt, in: PlanInput{Strategy: "spread"}, err: `unknown strategy "spread"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := MakePlan(c.topo, c.in)
			if c.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), c.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.workers, p.Workers)
			assert.Equal(t, c.strategy, p.Strategy)
			assert.Len(t, p.CPUs, c.pinnedN)
			assert.Equal(t, c.gomaxprocs, p.GOMAXPROCS)
			assert.NotEmpty(t, p.Reasons)
		})
	}
}

func TestMakePlanGOMAXPROCSFromEnvironment(t *testing.T) {
	t.Setenv("GOMAXPROCS", "3")
	p, err := MakePlan(recorded(t, "intel-2socket-smt", nil), PlanInput{})
	require.NoError(t, err)
	assert.Equal(t, 3, p.GOMAXPROCS)
	assert.Contains(t, p.Reasons[len(p.Reasons)-1], "environment")
}
