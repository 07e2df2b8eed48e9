package topology

import (
	"errors"
	"io/fs"
)

// pmuClasses are the perf PMU devices that Intel hybrid parts register, one
// per core type, each with a cpus file listing that type's CPUs. They are the
// only mainline sysfs interface that names core types on x86; cpu_lowpower
// is the low-power E-core island of newer mobile parts.
var pmuClasses = []struct {
	dir   string
	class CoreClass
}{
	{"devices/cpu_core", ClassPerformance},
	{"devices/cpu_atom", ClassEfficiency},
	{"devices/cpu_lowpower", ClassEfficiency},
}

// classify sets each core's Class and the Topology's Hybrid flag from sysfs.
// The PMU lists win over cpu_capacity because they name the core type
// itself; capacities are the scheduler's estimate and are only used where
// nothing better exists (Arm big.LITTLE).
func (s sysfs) classify(t *Topology) error {
	classOf := map[int]CoreClass{}
	for _, p := range pmuClasses {
		cpus, err := s.readCPUList(p.dir + "/cpus")
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		for _, c := range cpus {
			classOf[c] = p.class
		}
	}
	if len(classOf) > 0 {
		for i := range t.Cores {
			t.Cores[i].Class = classOf[t.Cores[i].CPUs[0]]
		}
	} else {
		classifyByCapacity(t.Cores)
	}
	seen := map[CoreClass]bool{}
	for _, c := range t.Cores {
		if c.Class != "" {
			seen[c.Class] = true
		}
	}
	t.Hybrid = len(seen) > 1
	return nil
}

// classifyByCapacity calls the biggest cores performance and the rest
// efficiency, but only when capacities differ: equal capacities (every Arm
// server) say nothing about classes.
func classifyByCapacity(cores []Core) {
	lo, hi := 0, 0
	for _, c := range cores {
		if c.Capacity == 0 {
			continue
		}
		if lo == 0 || c.Capacity < lo {
			lo = c.Capacity
		}
		hi = max(hi, c.Capacity)
	}
	if lo == hi {
		return
	}
	for i := range cores {
		switch {
		case cores[i].Capacity == hi:
			cores[i].Class = ClassPerformance
		case cores[i].Capacity > 0:
			cores[i].Class = ClassEfficiency
		}
	}
}
