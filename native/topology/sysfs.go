package topology

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// cpuDir is where sysfs describes logical CPUs, relative to the sysfs root.
const cpuDir = "devices/system/cpu"

// FromSysfs builds a Topology from a sysfs tree, so that machines nobody has
// at hand can be tested from recordings. Paths are relative to the sysfs
// root: devices/system/cpu/online, devices/system/cpu/cpu3/topology/core_id,
// fs/cgroup/cpu.max and so on.
//
// affinity is the set of logical CPUs the process may run on, as
// sched_getaffinity reports it; nil means no restriction. The fields only
// cpuid can fill (Vendor, Model, VM, Hypervisor, caches) are left empty.
//
// Offline CPUs, which have no topology directory, are left out. When the
// tree has no devices/system/cpu at all, as in some sandboxed containers,
// every usable CPU is taken to be its own physical core and Notes says so.
func FromSysfs(fsys fs.FS, affinity []int) (*Topology, error) {
	return fromSysfs(sysfs{fsys: fsys}, affinity, rootCgroups)
}

// sysfs reads a sysfs tree. root is only used to name files in errors, so
// that a live machine's errors show /sys/... paths.
type sysfs struct {
	fsys fs.FS
	root string
}

// name is what errors and notes call the file p.
func (s sysfs) name(p string) string {
	if s.root == "" {
		return p
	}
	return path.Join(s.root, p)
}

// read returns the content of p. A missing file gives an error that matches
// fs.ErrNotExist, for callers that treat the file as optional.
func (s sysfs) read(p string) (string, error) {
	b, err := fs.ReadFile(s.fsys, p)
	if err != nil {
		// The path error would repeat p relative to the root; name it once.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", fmt.Errorf("topology: reading %s: %w", s.name(p), err)
	}
	return string(b), nil
}

func (s sysfs) exists(p string) (bool, error) {
	_, err := fs.Stat(s.fsys, p)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("topology: %s: %w", s.name(p), err)
	}
}

// readInt reads a file holding one decimal integer. Negative values are
// allowed because physical_package_id is -1 on platforms that cannot tell.
func (s sysfs) readInt(p string) (int, error) {
	text, err := s.read(p)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(text))
	if err != nil {
		return 0, fmt.Errorf("topology: %s: want an integer, found %q", s.name(p), strings.TrimSpace(text))
	}
	return n, nil
}

// readOptionalInt is readInt that returns def when the file does not exist.
func (s sysfs) readOptionalInt(p string, def int) (int, error) {
	n, err := s.readInt(p)
	if errors.Is(err, fs.ErrNotExist) {
		return def, nil
	}
	return n, err
}

func (s sysfs) readCPUList(p string) ([]int, error) {
	text, err := s.read(p)
	if err != nil {
		return nil, err
	}
	cpus, err := ParseCPUList(text)
	if err != nil {
		return nil, fmt.Errorf("topology: %s: %w", s.name(p), err)
	}
	return cpus, nil
}

// logicalCPU is what sysfs says about one online logical CPU.
type logicalCPU struct {
	cpu      int
	key      coreKey
	siblings []int
	capacity int
}

// coreKey identifies a physical core: core_id alone repeats across
// packages, and on multi-die parts across the dies of one package.
type coreKey struct{ pkg, die, id int }

func fromSysfs(s sysfs, affinity []int, cg cgroupPaths) (*Topology, error) {
	allowed, err := normalizeAffinity(affinity)
	if err != nil {
		return nil, err
	}
	t := &Topology{}
	cpus, online, err := s.readLogicalCPUs(t)
	if err != nil {
		return nil, err
	}
	switch {
	case len(cpus) > 0:
		t.Online = make([]int, len(cpus))
		for i, c := range cpus {
			t.Online[i] = c.cpu
		}
	case online != nil:
		t.Online = online
	default:
		t.Online = allowed
	}
	t.Usable = slices.Clone(t.Online)
	if allowed != nil {
		t.Usable = intersect(t.Online, allowed)
	}
	switch {
	case len(t.Online) == 0:
		return nil, fmt.Errorf("topology: %s names no online CPU and no affinity was given, so the CPUs are unknown", s.name(cpuDir))
	case len(t.Usable) == 0:
		return nil, fmt.Errorf("topology: none of the CPUs this process may run on (%s) is online (%s)",
			FormatCPUList(allowed), FormatCPUList(t.Online))
	case len(cpus) == 0:
		assumeCorePerCPU(t, s.name(cpuDir))
	default:
		t.Cores = groupCores(t, cpus)
		if err := s.classify(t); err != nil {
			return nil, err
		}
	}
	t.Packages = groupPackages(t.Cores)
	if err := s.readCPUQuota(t, cg); err != nil {
		return nil, err
	}
	return t, nil
}

// normalizeAffinity sorts and deduplicates affinity, keeping nil as "no
// restriction".
func normalizeAffinity(affinity []int) ([]int, error) {
	if affinity == nil {
		return nil, nil
	}
	for _, c := range affinity {
		if c < 0 || c > maxCPU {
			return nil, fmt.Errorf("topology: affinity names CPU %d, outside 0-%d", c, maxCPU)
		}
	}
	out := slices.Clone(affinity)
	slices.Sort(out)
	return slices.Compact(out), nil
}

var cpuDirName = regexp.MustCompile(`^cpu([0-9]+)$`)

// readLogicalCPUs reads every online CPU's topology directory, sorted by CPU
// number, and returns the online list when sysfs has one. It returns no
// CPUs, without error, when the tree has no topology directories at all.
func (s sysfs) readLogicalCPUs(t *Topology) (cpus []logicalCPU, online []int, err error) {
	ok, err := s.exists(cpuDir)
	if err != nil || !ok {
		return nil, nil, err
	}
	// The online file is the kernel's own account; without it (very old
	// kernels), a CPU counts as online when it has a topology directory,
	// which the kernel removes when a CPU goes offline.
	online, err = s.readCPUList(cpuDir + "/online")
	candidates := online
	if errors.Is(err, fs.ErrNotExist) {
		candidates, err = s.listCPUDirs()
	}
	if err != nil {
		return nil, nil, err
	}
	var missing []int
	for _, cpu := range candidates {
		dir := fmt.Sprintf("%s/cpu%d/topology", cpuDir, cpu)
		ok, err := s.exists(dir)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			missing = append(missing, cpu)
			continue
		}
		c, err := s.readLogicalCPU(cpu, dir)
		if err != nil {
			return nil, nil, err
		}
		cpus = append(cpus, c)
	}
	if online != nil && len(missing) > 0 && len(cpus) > 0 {
		t.Notes = append(t.Notes, fmt.Sprintf(
			"CPUs %s are listed online but have no topology directory under %s; they are left out",
			FormatCPUList(missing), s.name(cpuDir)))
	}
	return cpus, online, nil
}

func (s sysfs) listCPUDirs() ([]int, error) {
	entries, err := fs.ReadDir(s.fsys, cpuDir)
	if err != nil {
		return nil, fmt.Errorf("topology: listing %s: %w", s.name(cpuDir), err)
	}
	var cpus []int
	for _, e := range entries {
		if m := cpuDirName.FindStringSubmatch(e.Name()); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil && n <= maxCPU {
				cpus = append(cpus, n)
			}
		}
	}
	slices.Sort(cpus)
	return cpus, nil
}

func (s sysfs) readLogicalCPU(cpu int, dir string) (logicalCPU, error) {
	c := logicalCPU{cpu: cpu}
	var err error
	if c.key.pkg, err = s.readInt(dir + "/physical_package_id"); err != nil {
		return c, err
	}
	// die_id appeared in Linux 5.2; before that every package had one die.
	if c.key.die, err = s.readOptionalInt(dir+"/die_id", 0); err != nil {
		return c, err
	}
	if c.key.id, err = s.readInt(dir + "/core_id"); err != nil {
		return c, err
	}
	// core_cpus_list replaced thread_siblings_list in Linux 5.4; both name
	// the CPUs sharing this core.
	c.siblings, err = s.readCPUList(dir + "/core_cpus_list")
	if errors.Is(err, fs.ErrNotExist) {
		c.siblings, err = s.readCPUList(dir + "/thread_siblings_list")
	}
	if errors.Is(err, fs.ErrNotExist) {
		c.siblings, err = []int{cpu}, nil
	}
	if err != nil {
		return c, err
	}
	c.capacity, err = s.readOptionalInt(fmt.Sprintf("%s/cpu%d/cpu_capacity", cpuDir, cpu), 0)
	return c, err
}

// groupCores gathers logical CPUs into physical cores by (package, die,
// core_id). The sibling lists are checked against the ids rather than
// trusted over them, because the ids are what the kernel derives the lists
// from; a mismatch means a confused firmware or hypervisor and is noted.
func groupCores(t *Topology, cpus []logicalCPU) []Core {
	byKey := map[coreKey]*Core{}
	keyOf := map[int]coreKey{}
	for _, c := range cpus {
		keyOf[c.cpu] = c.key
		core := byKey[c.key]
		if core == nil {
			core = &Core{Package: c.key.pkg, Die: c.key.die, ID: c.key.id}
			byKey[c.key] = core
		}
		core.CPUs = append(core.CPUs, c.cpu)
		core.Capacity = max(core.Capacity, c.capacity)
	}
	noted := map[[2]int]bool{}
	for _, c := range cpus {
		for _, sib := range c.siblings {
			pair := [2]int{min(c.cpu, sib), max(c.cpu, sib)}
			if k, ok := keyOf[sib]; ok && k != c.key && !noted[pair] {
				noted[pair] = true
				t.Notes = append(t.Notes, fmt.Sprintf(
					"cpu%d and cpu%d are listed as siblings, but their (package, die, core) ids differ; they are treated as separate cores",
					pair[0], pair[1]))
			}
		}
	}
	cores := make([]Core, 0, len(byKey))
	for _, core := range byKey {
		core.Usable = intersect(core.CPUs, t.Usable)
		cores = append(cores, *core)
	}
	slices.SortFunc(cores, compareCores)
	return cores
}

func compareCores(a, b Core) int {
	return cmp.Or(cmp.Compare(a.Package, b.Package), cmp.Compare(a.Die, b.Die), cmp.Compare(a.ID, b.ID))
}

// assumeCorePerCPU stands in for sysfs topology when it is missing.
// Treating every CPU as a core can put two pinned workers on SMT siblings,
// which is slower but still correct, and is the only assumption that needs
// no knowledge.
func assumeCorePerCPU(t *Topology, dir string) {
	for _, cpu := range t.Usable {
		t.Cores = append(t.Cores, Core{ID: cpu, CPUs: []int{cpu}, Usable: []int{cpu}})
	}
	t.Notes = append(t.Notes, fmt.Sprintf(
		"sysfs has no CPU topology under %s; each usable logical CPU is assumed to be its own physical core, so pinned workers may share SMT siblings",
		dir))
}

func groupPackages(cores []Core) []Package {
	var pkgs []Package
	for _, c := range cores {
		if len(pkgs) == 0 || pkgs[len(pkgs)-1].ID != c.Package {
			pkgs = append(pkgs, Package{ID: c.Package, Usable: []int{}})
		}
		p := &pkgs[len(pkgs)-1]
		if !slices.Contains(p.Dies, c.Die) {
			p.Dies = append(p.Dies, c.Die)
		}
		p.Cores++
		p.CPUs = append(p.CPUs, c.CPUs...)
		p.Usable = append(p.Usable, c.Usable...)
	}
	for i := range pkgs {
		slices.Sort(pkgs[i].CPUs)
		slices.Sort(pkgs[i].Usable)
	}
	return pkgs
}
