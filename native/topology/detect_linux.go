package topology

import (
	"fmt"
	"os"

	"github.com/klauspost/cpuid/v2"
	"golang.org/x/sys/unix"
)

// Detect describes the machine this process runs on: sysfs under /sys for
// the cores, sched_getaffinity for the usable CPUs, /proc/self/cgroup and
// the cgroup filesystem for a CPU quota, and cpuid for what sysfs does not
// say. Call it before any worker pins its thread: the usable set is the
// calling thread's affinity.
func Detect() (*Topology, error) {
	affinity, err := processAffinity()
	if err != nil {
		return nil, err
	}
	// Without /proc/self/cgroup the cgroup namespace root is the best guess,
	// and it is exactly right inside containers.
	cg := rootCgroups
	if text, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		cg = parseProcCgroup(string(text))
	}
	t, err := fromSysfs(sysfs{fsys: os.DirFS("/sys"), root: "/sys"}, affinity, cg)
	if err != nil {
		return nil, err
	}
	applyCPUID(t, &cpuid.CPU)
	return t, nil
}

// applyCPUID fills what only cpuid knows. Its hybrid flag is trusted even
// when sysfs shows one class, since a kernel too old for the hybrid PMUs
// still runs on a hybrid part; the note tells the operator why no core is
// preferred.
func applyCPUID(t *Topology, c *cpuid.CPUInfo) {
	t.Vendor = c.VendorString
	t.Model = c.BrandName
	t.VM = c.Supports(cpuid.HYPERVISOR)
	t.Hypervisor = c.HypervisorVendorString
	t.L1DBytes = max(c.Cache.L1D, 0)
	t.L2Bytes = max(c.Cache.L2, 0)
	t.L3Bytes = max(c.Cache.L3, 0)
	if c.Supports(cpuid.HYBRID_CPU) && !t.Hybrid {
		t.Hybrid = true
		t.Notes = append(t.Notes,
			"cpuid reports a hybrid CPU but sysfs does not say which cores are performance cores; all cores are treated alike")
	}
}

// processAffinity returns the CPUs the calling thread may run on. unix.CPUSet
// holds 1024 CPUs, which is as many as sched_getaffinity accepts without a
// larger buffer; machines beyond that get an error rather than a wrong set.
func processAffinity() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("topology: sched_getaffinity: %w", err)
	}
	return cpusOf(&set), nil
}

func cpusOf(set *unix.CPUSet) []int {
	cpus := []int{}
	for cpu := range len(set) * 64 {
		if set.IsSet(cpu) {
			cpus = append(cpus, cpu)
		}
	}
	return cpus
}
