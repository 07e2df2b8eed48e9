package native

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/tandemhost/tandem/native/topology"
)

// PlanInput is the python section of a policy, as far as placement goes.
type PlanInput struct {
	// Workers is the requested number of workers; 0 means auto.
	Workers int
	// Strategy is "auto", "pinned" or "pooled" ("" means auto).
	Strategy string
	// Isolation is the requested isolation.
	Isolation Isolation
}

// Plan is where a pool's workers go and how the Go scheduler is sized.
type Plan struct {
	// Workers is the number of workers to start.
	Workers int `json:"workers"`
	// Strategy is the resolved strategy: "pinned" or "pooled".
	Strategy string `json:"strategy"`
	// CPUs gives each worker's logical CPU when pinned, else nil.
	CPUs []int `json:"cpus,omitempty"`
	// Slots is the placement as the topology package describes it.
	Slots []topology.Slot `json:"slots"`
	// GOMAXPROCS is the value serve sets.
	GOMAXPROCS int `json:"gomaxprocs"`
	// Reasons say why auto chose what it chose.
	Reasons []string `json:"reasons,omitempty"`
}

// maxFloating is the most workers auto lets float when it could pin one
// fewer instead. Floating workers take the main interpreter's GIL for a
// moment after each call (the re-anchoring, float.go), a cost that grows
// with their number, while pinning costs one core of N. Measured on a
// 16-CPU VM, each worker count's best strategy (docs/rationale.md): on 2
// and 4 CPUs N floating beat N-1 pinned (trivial handler 1.12x and 1.17x,
// CPU-bound 1.48x and 1.02x); on 8 it was even (0.89x, 1.11x); on 16, 15
// pinned beat 16 floating (1.92x, 1.09x).
const maxFloating = 8

// MakePlan resolves workers, pinning and GOMAXPROCS for a topology.
//
// The rules, and the measurements behind them, are in docs/rationale.md:
//   - auto workers = usable physical cores (shared isolation: still one per
//     core, so a blocking handler does not stall the rest, but they share a
//     GIL); beyond maxFloating cores with no SMT sibling left over, one
//     fewer, so that auto can pin them;
//   - auto pins when every worker gets a core of its own, a CPU is left over
//     for the HTTP side, no CPU quota applies and the workers own their GIL,
//     and pools otherwise. Pinned workers are locked OS threads that poll
//     for work: on 16 CPUs they served the trivial handler 2.3x (1 worker)
//     to 1.1x (8) faster than pooled ones and the CPU-bound one 1.16-1.36x. Pooled
//     workers float on Go's threads (Config.Float), so a request needs no
//     thread switch: when the workers take every CPU (a 2-vCPU VM) there is
//     none to poll on, and pooled served the trivial handler 1.2x faster;
//   - GOMAXPROCS = usable logical CPUs + workers: a worker's goroutine holds
//     a P whenever it is in Go code (between requests, while it polls the
//     queue), so without the extra Ps the HTTP side would starve.
func MakePlan(t *topology.Topology, in PlanInput) (Plan, error) {
	cores := t.PhysicalUsable()
	if len(cores) == 0 {
		return Plan{}, fmt.Errorf("no usable CPU cores found")
	}
	strategy := in.Strategy
	if strategy == "" {
		strategy = "auto"
	}
	var p Plan
	p.Workers = in.Workers
	if p.Workers <= 0 {
		p.Workers = len(cores)
		if t.CPUQuota > 0 && int(t.CPUQuota) < p.Workers {
			p.Workers = max(1, int(t.CPUQuota))
			p.Reasons = append(p.Reasons, fmt.Sprintf("cgroup CPU quota %.2f limits workers to %d", t.CPUQuota, p.Workers))
		} else if strategy == "auto" && in.Isolation != Shared && t.CPUQuota <= 0 &&
			len(cores) > maxFloating && len(cores) >= len(t.Usable) {
			p.Workers = len(cores) - 1
			p.Reasons = append(p.Reasons, fmt.Sprintf("%d usable physical cores: %d workers, so that a core is left to the HTTP side and they can be pinned (more than %d floating workers lose more to contention than a core gives)",
				len(cores), p.Workers, maxFloating))
		} else {
			p.Reasons = append(p.Reasons, fmt.Sprintf("one worker per usable physical core (%d)", len(cores)))
		}
	}
	switch strategy {
	case "pinned":
		p.Strategy = "pinned"
	case "pooled":
		p.Strategy = "pooled"
	case "auto":
		switch {
		case p.Workers > len(cores):
			p.Strategy = "pooled"
			p.Reasons = append(p.Reasons, fmt.Sprintf("%d workers for %d cores: not pinned", p.Workers, len(cores)))
		case p.Workers >= len(t.Usable):
			p.Strategy = "pooled"
			p.Reasons = append(p.Reasons, fmt.Sprintf("%d workers for %d usable CPUs: no CPU left for a pinned worker to poll on, so they float on Go's threads", p.Workers, len(t.Usable)))
		case t.CPUQuota > 0:
			p.Strategy = "pooled"
			p.Reasons = append(p.Reasons, "a CPU quota applies: pinning would not give a core to each worker")
		case in.Isolation == Shared:
			p.Strategy = "pooled"
			p.Reasons = append(p.Reasons, "shared isolation: the workers take turns on one GIL, and pinning them to different cores only makes each hand-off cross cores")
		default:
			p.Strategy = "pinned"
			p.Reasons = append(p.Reasons, "each worker gets a physical core of its own")
		}
	default:
		return Plan{}, fmt.Errorf("unknown strategy %q (want auto, pinned or pooled)", in.Strategy)
	}
	slots, err := t.Place(p.Workers, p.Strategy == "pinned")
	if err != nil {
		return Plan{}, err
	}
	p.Slots = slots
	if p.Strategy == "pinned" {
		p.CPUs = make([]int, len(slots))
		for i, s := range slots {
			p.CPUs[i] = s.CPU
		}
	}
	p.GOMAXPROCS = len(t.Usable) + p.Workers
	p.Reasons = append(p.Reasons, fmt.Sprintf("GOMAXPROCS %d = %d usable CPUs + one per worker", p.GOMAXPROCS, len(t.Usable)))
	if v := os.Getenv("GOMAXPROCS"); v != "" {
		// The operator's setting wins, as it does for any Go program.
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			p.GOMAXPROCS = n
			p.Reasons = append(p.Reasons, fmt.Sprintf("GOMAXPROCS %d from the environment", n))
		}
	}
	return p, nil
}

// String is a one-line summary for logs.
func (p Plan) String() string {
	var b strings.Builder
	noun := "workers"
	if p.Workers == 1 {
		noun = "worker"
	}
	fmt.Fprintf(&b, "%d %s, %s", p.Workers, noun, p.Strategy)
	if p.CPUs != nil {
		fmt.Fprintf(&b, " on CPUs %s", topology.FormatCPUList(p.CPUs))
	}
	fmt.Fprintf(&b, ", GOMAXPROCS %d", p.GOMAXPROCS)
	return b.String()
}

// usableCPUs is the number of logical CPUs this process may run on.
func usableCPUs() int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err == nil && set.Count() > 0 {
		return set.Count()
	}
	return runtime.NumCPU()
}
