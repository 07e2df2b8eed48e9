package topology_test

import (
	"fmt"
	"os"

	"github.com/tandemhost/tandem/native/topology"
)

// A two-socket server: pinned workers alternate between sockets and never
// share a core's SMT siblings (cpuN and cpuN+8).
func ExampleTopology_Place() {
	topo, err := topology.FromSysfs(os.DirFS("testdata/intel-2socket-smt"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	slots, err := topo.Place(4, true)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range slots {
		fmt.Printf("worker %d: cpu %d, package %d core %d\n", s.Index, s.CPU, s.Core.Package, s.Core.ID)
	}
	_, err = topo.Place(9, true)
	fmt.Println(err)
	// Output:
	// worker 0: cpu 0, package 0 core 0
	// worker 1: cpu 4, package 1 core 0
	// worker 2: cpu 1, package 0 core 1
	// worker 3: cpu 5, package 1 core 1
	// topology: 9 pinned workers need 9 physical cores, but this process may use only 8 (logical CPUs 0-15); lower workers to 8 or use `strategy: pooled`
}

func ExampleParseCPUList() {
	cpus, err := topology.ParseCPUList("0-3,8-11\n")
	fmt.Println(cpus, err, topology.FormatCPUList(cpus))
	// Output: [0 1 2 3 8 9 10 11] <nil> 0-3,8-11
}
