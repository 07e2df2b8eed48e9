package topology

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// cgroupPaths are the process's cgroup paths as /proc/self/cgroup gives
// them, relative to the cgroup mount.
type cgroupPaths struct {
	unified string // cgroup v2, from the "0::" line
	cpu     string // cgroup v1 cpu controller
}

// rootCgroups is what a process in a cgroup namespace sees: its own cgroup
// mounted as the root. Recorded trees are read as if that were the case.
var rootCgroups = cgroupPaths{unified: "/", cpu: "/"}

// parseProcCgroup reads /proc/self/cgroup's "ID:CONTROLLERS:PATH" lines.
// Missing entries stay at the root, which is right inside a cgroup
// namespace and harmless elsewhere.
func parseProcCgroup(text string) cgroupPaths {
	paths := rootCgroups
	for line := range strings.SplitSeq(text, "\n") {
		id, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		controllers, p, ok := strings.Cut(rest, ":")
		if !ok || p == "" {
			continue
		}
		switch {
		case id == "0" && controllers == "":
			paths.unified = p
		case slices.Contains(strings.Split(controllers, ","), "cpu"):
			paths.cpu = p
		}
	}
	return paths
}

// v1CPUMounts are where distributions mount the cgroup v1 cpu controller;
// the first that exists is used because the others are usually links to it.
var v1CPUMounts = []string{"fs/cgroup/cpu", "fs/cgroup/cpu,cpuacct", "fs/cgroup/cpuacct,cpu"}

// readCPUQuota sets CPUQuota to the tightest limit found in the process's
// cgroup and its ancestors, in v2 and v1 hierarchies alike: the kernel
// enforces every level, so the smallest one is the one that bites.
func (s sysfs) readCPUQuota(t *Topology, cg cgroupPaths) error {
	type limit struct {
		file string
		cpus float64
	}
	var limits []limit
	for _, dir := range ancestors(cg.unified) {
		file := path.Join("fs/cgroup", dir, "cpu.max")
		cpus, err := s.readCPUMax(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		limits = append(limits, limit{file, cpus})
	}
	for _, mount := range v1CPUMounts {
		ok, err := s.exists(mount)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		for _, dir := range ancestors(cg.cpu) {
			file := path.Join(mount, dir, "cpu.cfs_quota_us")
			cpus, err := s.readCFSQuota(file, path.Join(mount, dir, "cpu.cfs_period_us"))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			limits = append(limits, limit{file, cpus})
		}
		break
	}
	for _, l := range limits {
		if l.cpus > 0 && (t.CPUQuota == 0 || l.cpus < t.CPUQuota) {
			t.CPUQuota, t.CPUQuotaFile = l.cpus, s.name(l.file)
		}
	}
	return nil
}

// ancestors returns p and each directory above it, ending with "/".
func ancestors(p string) []string {
	p = path.Clean("/" + p)
	dirs := []string{p}
	for p != "/" {
		p = path.Dir(p)
		dirs = append(dirs, p)
	}
	return dirs
}

// readCPUMax parses cgroup v2's "QUOTA PERIOD" or "max PERIOD" into CPUs;
// 0 means no limit.
func (s sysfs) readCPUMax(file string) (float64, error) {
	text, err := s.read(file)
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(text)
	bad := fmt.Errorf(`topology: %s: want "QUOTA PERIOD" or "max PERIOD" in microseconds, found %q`,
		s.name(file), strings.TrimSpace(text))
	if len(fields) < 1 || len(fields) > 2 {
		return 0, bad
	}
	// The kernel always writes the period, but accepts writes without one
	// and then keeps the default of 100ms.
	period := uint64(100000)
	if len(fields) == 2 {
		if period, err = strconv.ParseUint(fields[1], 10, 64); err != nil || period == 0 {
			return 0, bad
		}
	}
	if fields[0] == "max" {
		return 0, nil
	}
	quota, err := strconv.ParseUint(fields[0], 10, 64)
	if err != nil || quota == 0 {
		return 0, bad
	}
	return float64(quota) / float64(period), nil
}

// readCFSQuota reads cgroup v1's quota and period files into CPUs; 0 means
// no limit, which v1 writes as a quota of -1.
func (s sysfs) readCFSQuota(quotaFile, periodFile string) (float64, error) {
	quota, err := s.readInt(quotaFile)
	if err != nil {
		return 0, err
	}
	if quota == -1 {
		return 0, nil
	}
	if quota <= 0 {
		return 0, fmt.Errorf("topology: %s: want -1 or a positive quota in microseconds, found %d", s.name(quotaFile), quota)
	}
	period, err := s.readInt(periodFile)
	if err != nil {
		return 0, err
	}
	if period <= 0 {
		return 0, fmt.Errorf("topology: %s: want a positive period in microseconds, found %d", s.name(periodFile), period)
	}
	return float64(quota) / float64(period), nil
}
