package topology

import (
	"cmp"
	"fmt"
	"slices"
)

// Strategy is how workers are put on CPUs, as the configuration names it.
type Strategy string

// The strategies a configuration may name.
const (
	// Pinned gives each worker a logical CPU of its own physical core, so
	// workers never share a core's execution units or its L1/L2 caches.
	Pinned Strategy = "pinned"
	// Pooled leaves workers unpinned and lets the kernel schedule them on
	// any usable CPU, which is the only choice when there are more workers
	// than physical cores.
	Pooled Strategy = "pooled"
	// Auto chooses workers, pinning and GOMAXPROCS from measurements made at
	// startup; the choice is not this package's.
	Auto Strategy = "auto"
)

// ParseStrategy returns the Strategy a configuration value names.
func ParseStrategy(s string) (Strategy, error) {
	switch st := Strategy(s); st {
	case Pinned, Pooled, Auto:
		return st, nil
	}
	return "", fmt.Errorf("topology: unknown strategy %q: use %q, %q or %q", s, Pinned, Pooled, Auto)
}

// Slot is where one worker runs.
type Slot struct {
	// Index is the worker's number, from 0.
	Index int `json:"index"`
	// CPU is the logical CPU the worker's thread is pinned to, or -1 when it
	// is not pinned.
	CPU int `json:"cpu"`
	// Core is the physical core CPU belongs to; nil when not pinned.
	Core *CoreRef `json:"core,omitempty"`
}

// CoreRef names a physical core by the key that makes it unique.
type CoreRef struct {
	Package int       `json:"package"`
	Die     int       `json:"die"`
	ID      int       `json:"id"`
	Class   CoreClass `json:"class,omitempty"`
}

// Place plans where workers go.
//
// Unpinned, every slot has CPU -1 and the kernel decides.
//
// Pinned, each worker gets a distinct physical core, so that no two Python
// interpreters share a core's SMT siblings. Cores are taken performance
// first, then unclassified, then efficiency (and by falling capacity), and
// within that order round-robin across packages, so that a two-socket
// machine uses both sockets' caches and memory bandwidth before doubling up
// on one. On each core the lowest-numbered usable sibling is chosen. It is an
// error to ask for more pinned workers than there are usable physical cores.
func (t *Topology) Place(workers int, pinned bool) ([]Slot, error) {
	if workers < 1 {
		return nil, fmt.Errorf("topology: workers must be at least 1, not %d", workers)
	}
	slots := make([]Slot, workers)
	if !pinned {
		for i := range slots {
			slots[i] = Slot{Index: i, CPU: -1}
		}
		return slots, nil
	}
	cores := pinOrder(t.PhysicalUsable())
	if workers > len(cores) {
		return nil, fmt.Errorf(
			"topology: %d pinned workers need %d physical cores, but this process may use only %d (logical CPUs %s); lower workers to %d or use `strategy: pooled`",
			workers, workers, len(cores), FormatCPUList(t.Usable), len(cores))
	}
	for i := range slots {
		c := cores[i]
		slots[i] = Slot{
			Index: i,
			CPU:   c.Usable[0],
			Core:  &CoreRef{Package: c.Package, Die: c.Die, ID: c.ID, Class: c.Class},
		}
	}
	return slots, nil
}

// classRank orders classes for pinning: a core of unknown class is assumed
// to be no worse than an efficiency core.
func classRank(c CoreClass) int {
	switch c {
	case ClassPerformance:
		return 0
	case ClassEfficiency:
		return 2
	}
	return 1
}

// pinOrder returns cores in the order Place hands them out. cores must be
// sorted by package, die and ID, as Topology.Cores is.
func pinOrder(cores []Core) []Core {
	byTier := func(a, b Core) int {
		return cmp.Or(cmp.Compare(classRank(a.Class), classRank(b.Class)), cmp.Compare(b.Capacity, a.Capacity))
	}
	sorted := slices.Clone(cores)
	slices.SortStableFunc(sorted, byTier)

	var order []Core
	for start := 0; start < len(sorted); {
		end := start
		for end < len(sorted) && byTier(sorted[end], sorted[start]) == 0 {
			end++
		}
		order = append(order, roundRobin(sorted[start:end])...)
		start = end
	}
	return order
}

// roundRobin interleaves cores by package, keeping each package's own order.
func roundRobin(cores []Core) []Core {
	var pkgs []int
	byPkg := map[int][]Core{}
	for _, c := range cores {
		if _, ok := byPkg[c.Package]; !ok {
			pkgs = append(pkgs, c.Package)
		}
		byPkg[c.Package] = append(byPkg[c.Package], c)
	}
	slices.Sort(pkgs)
	order := make([]Core, 0, len(cores))
	for len(order) < len(cores) {
		for _, p := range pkgs {
			if q := byPkg[p]; len(q) > 0 {
				order = append(order, q[0])
				byPkg[p] = q[1:]
			}
		}
	}
	return order
}
