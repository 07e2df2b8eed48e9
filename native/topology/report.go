package topology

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Report is the machine together with the plan made for it, in the shape
// the CLI prints as JSON, so that scripts read the same facts WriteText
// shows people.
type Report struct {
	Topology *Topology `json:"topology"`
	// Strategy is the strategy the plan was made with.
	Strategy Strategy `json:"strategy"`
	// Workers is the number of Python workers planned.
	Workers int `json:"workers"`
	// GOMAXPROCS is the Go scheduler's thread count the plan leaves for Go.
	GOMAXPROCS int `json:"gomaxprocs"`
	// Placement has one slot per worker.
	Placement []Slot `json:"placement"`
}

// WriteText writes the topology and, when slots is not empty, the planned
// placement as aligned tables for a person to read.
func (t *Topology) WriteText(w io.Writer, slots []Slot) error {
	ew := &errWriter{w: w}
	t.writeSummary(ew)
	t.writePackages(ew)
	t.writeCores(ew)
	t.writePlacement(ew, slots)
	if len(t.Notes) > 0 {
		ew.printf("\nNotes\n")
		for _, n := range t.Notes {
			ew.printf("  - %s\n", n)
		}
	}
	return ew.err
}

func (t *Topology) writeSummary(ew *errWriter) {
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	cpu := orUnknown(t.Model)
	if t.Vendor != "" {
		cpu += " (" + t.Vendor + ")"
	}
	machine := "not a VM"
	if t.VM {
		machine = "VM"
		if t.Hypervisor != "" {
			machine += " (" + t.Hypervisor + ")"
		}
	}
	if t.Hybrid {
		machine += ", hybrid"
	} else {
		machine += ", not hybrid"
	}
	quota := "none"
	if t.CPUQuota > 0 {
		quota = fmt.Sprintf("%s CPUs (%s)", strconv.FormatFloat(t.CPUQuota, 'f', -1, 64), t.CPUQuotaFile)
	}
	fmt.Fprintf(tw, "CPU\t%s\n", cpu)
	fmt.Fprintf(tw, "Machine\t%s\n", machine)
	fmt.Fprintf(tw, "Caches\tL1d %s, L2 %s, L3 %s\n", formatBytes(t.L1DBytes), formatBytes(t.L2Bytes), formatBytes(t.L3Bytes))
	fmt.Fprintf(tw, "Online\t%s\n", FormatCPUList(t.Online))
	fmt.Fprintf(tw, "Usable\t%s: %d logical CPUs on %d physical cores\n",
		FormatCPUList(t.Usable), len(t.Usable), len(t.PhysicalUsable()))
	fmt.Fprintf(tw, "CPU quota\t%s\n", quota)
	ew.flush(tw)
}

func (t *Topology) writePackages(ew *errWriter) {
	ew.printf("\nPackages\n")
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  PACKAGE\tDIES\tCORES\tCPUS\tUSABLE\n")
	for _, p := range t.Packages {
		fmt.Fprintf(tw, "  %d\t%s\t%d\t%s\t%s\n",
			p.ID, joinInts(p.Dies), p.Cores, FormatCPUList(p.CPUs), orDash(FormatCPUList(p.Usable)))
	}
	ew.flush(tw)
}

func (t *Topology) writeCores(ew *errWriter) {
	ew.printf("\nCores\n")
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  PACKAGE\tDIE\tCORE\tCLASS\tCPUS\tUSABLE\n")
	for _, c := range t.Cores {
		fmt.Fprintf(tw, "  %d\t%d\t%d\t%s\t%s\t%s\n",
			c.Package, c.Die, c.ID, orDash(string(c.Class)), FormatCPUList(c.CPUs), orDash(FormatCPUList(c.Usable)))
	}
	ew.flush(tw)
}

func (t *Topology) writePlacement(ew *errWriter, slots []Slot) {
	if len(slots) == 0 {
		return
	}
	pinned := false
	for _, s := range slots {
		pinned = pinned || s.CPU >= 0
	}
	if !pinned {
		ew.printf("\nPlacement: %s, not pinned; the kernel schedules them on CPUs %s\n",
			workersNoun(len(slots)), FormatCPUList(t.Usable))
		return
	}
	ew.printf("\nPlacement: %s, pinned\n", workersNoun(len(slots)))
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  WORKER\tCPU\tPACKAGE\tDIE\tCORE\tCLASS\n")
	for _, s := range slots {
		if s.CPU < 0 || s.Core == nil {
			fmt.Fprintf(tw, "  %d\t-\t-\t-\t-\t-\n", s.Index)
			continue
		}
		fmt.Fprintf(tw, "  %d\t%d\t%d\t%d\t%d\t%s\n",
			s.Index, s.CPU, s.Core.Package, s.Core.Die, s.Core.ID, orDash(string(s.Core.Class)))
	}
	ew.flush(tw)
}

// errWriter keeps the first write error so the table code can stay linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) {
	fmt.Fprintf(e, format, args...)
}

func (e *errWriter) flush(tw *tabwriter.Writer) {
	if err := tw.Flush(); err != nil && e.err == nil {
		e.err = err
	}
}

func formatBytes(n int) string {
	switch {
	case n <= 0:
		return "unknown"
	case n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// workersNoun is "1 worker" or "N workers".
func workersNoun(n int) string {
	if n == 1 {
		return "1 worker"
	}
	return fmt.Sprintf("%d workers", n)
}
