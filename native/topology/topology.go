// Package topology finds out which logical CPUs form which physical cores on
// this Linux machine, which of them this process may use, and plans where
// Python worker threads go.
//
// cpuid alone cannot name sibling CPUs and misreports inside VMs, so the core
// layout comes from sysfs (/sys/devices/system/cpu/cpuN/topology), intersected
// with sched_getaffinity so that cpusets and taskset are honoured. cpuid only
// contributes what sysfs does not say: vendor, brand, hypervisor, hybrid flag
// and cache sizes.
//
// A core is keyed by (package, die, core_id): core_id repeats across packages,
// and on multi-die parts across dies of one package.
//
// Hybrid machines are told apart from sysfs in this order:
//   - the perf PMU device lists /sys/devices/cpu_core/cpus (performance),
//     /sys/devices/cpu_atom/cpus and /sys/devices/cpu_lowpower/cpus
//     (efficiency), which Intel hybrid parts have had since Linux 5.13;
//   - per-CPU cpu_capacity (Arm big.LITTLE and others), where the highest
//     capacity is performance and anything lower is efficiency.
//
// The /sys/devices/system/cpu/types interface proposed for Intel hybrid parts
// never reached mainline Linux, so it is not read.
package topology

import "slices"

// Topology is what this process can know about the machine's CPUs.
//
// Everything except Vendor, Model, VM, Hypervisor and the cache sizes comes
// from sysfs, so a Topology built by FromSysfs from a recorded tree is
// complete apart from those fields.
type Topology struct {
	// Vendor is the cpuid vendor string, e.g. "GenuineIntel"; empty when
	// unknown (non-x86, or built from a recorded tree).
	Vendor string `json:"vendor"`
	// Model is the cpuid brand string, e.g. "AMD EPYC 7B13".
	Model string `json:"model"`
	// VM is true when cpuid says a hypervisor is present. Inside a VM the
	// "physical" cores are whatever the hypervisor chose to present, and
	// pinning cannot keep a worker off a host core shared with other guests.
	VM bool `json:"vm"`
	// Hypervisor is the hypervisor's cpuid vendor string, e.g. "KVMKVMKVM".
	Hypervisor string `json:"hypervisor,omitempty"`
	// Hybrid is true when cpuid sets its hybrid flag or sysfs shows cores of
	// different classes (see the package comment for the files read).
	Hybrid bool `json:"hybrid"`
	// L1DBytes, L2Bytes and L3Bytes are cache sizes from cpuid; 0 when
	// unknown. cpuid reports them per core or per shared domain as the
	// vendor defines it, so they describe one cache, not the machine total.
	L1DBytes int `json:"l1d_bytes"`
	L2Bytes  int `json:"l2_bytes"`
	L3Bytes  int `json:"l3_bytes"`
	// Packages are the sockets that have at least one online CPU, by ID.
	Packages []Package `json:"packages"`
	// Cores is every physical core with an online CPU, sorted by package,
	// die and core ID.
	Cores []Core `json:"cores"`
	// Online is the set of online logical CPUs.
	Online []int `json:"online"`
	// Usable is the set of online logical CPUs this process may run on:
	// sched_getaffinity intersected with Online.
	Usable []int `json:"usable"`
	// CPUQuota is the cgroup CPU bandwidth limit in CPUs (quota/period,
	// e.g. 1.5); 0 means no limit. A quota caps CPU time, not which CPUs
	// are used, so it does not shrink Usable, but more busy threads than
	// the quota only queue behind each other.
	CPUQuota float64 `json:"cpu_quota"`
	// CPUQuotaFile is the cgroup file CPUQuota came from; empty when there
	// is no limit.
	CPUQuotaFile string `json:"cpu_quota_file,omitempty"`
	// Notes are things the detection could not determine or had to assume,
	// in words for the operator.
	Notes []string `json:"notes,omitempty"`
}

// Package is one socket.
type Package struct {
	// ID is the physical_package_id.
	ID int `json:"id"`
	// Dies are the die IDs seen in this package.
	Dies []int `json:"dies"`
	// Cores is the number of physical cores with an online CPU.
	Cores int `json:"cores"`
	// CPUs are the package's online logical CPUs.
	CPUs []int `json:"cpus"`
	// Usable are the CPUs in CPUs this process may run on.
	Usable []int `json:"usable"`
}

// CoreClass says what kind of core a hybrid machine's core is.
type CoreClass string

// The classes a core can have; a core of a machine that is not hybrid, or
// whose classes sysfs does not reveal, has the empty class.
const (
	ClassPerformance CoreClass = "performance"
	ClassEfficiency  CoreClass = "efficiency"
)

// Core is one physical core.
type Core struct {
	// Package is the physical_package_id.
	Package int `json:"package"`
	// Die is the die_id; 0 on kernels and machines without one.
	Die int `json:"die"`
	// ID is the core_id, unique only within (Package, Die).
	ID int `json:"id"`
	// CPUs are the core's online logical CPUs (its SMT siblings), from
	// topology/core_cpus_list or, on older kernels, thread_siblings_list.
	CPUs []int `json:"cpus"`
	// Usable are the CPUs in CPUs this process may run on.
	Usable []int `json:"usable"`
	// Class is the core's class on a hybrid machine; empty when unknown.
	Class CoreClass `json:"class,omitempty"`
	// Capacity is the kernel's cpu_capacity for the core (1024 for the
	// biggest core); 0 when sysfs does not expose it.
	Capacity int `json:"capacity,omitempty"`
}

// PhysicalUsable returns the cores that have at least one logical CPU this
// process may run on, in the order of Cores.
func (t *Topology) PhysicalUsable() []Core {
	var cores []Core
	for _, c := range t.Cores {
		if len(c.Usable) > 0 {
			cores = append(cores, c)
		}
	}
	return cores
}

// intersect returns the members of a that are also in b; both are sorted.
// The result is never nil, so that JSON shows a core with no usable CPU as
// "usable": [] rather than null.
func intersect(a, b []int) []int {
	out := []int{}
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); ok {
			out = append(out, x)
		}
	}
	return out
}
