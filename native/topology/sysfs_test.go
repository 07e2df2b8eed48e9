package topology

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// core builds an expected Core; usable nil means every CPU is usable.
func core(pkg, die, id int, cpus, usable []int) Core {
	if usable == nil {
		usable = cpus
	}
	return Core{Package: pkg, Die: die, ID: id, CPUs: cpus, Usable: usable}
}

func classed(c Core, class CoreClass, capacity int) Core {
	c.Class, c.Capacity = class, capacity
	return c
}

func seq(lo, hi int) []int {
	var s []int
	for i := lo; i <= hi; i++ {
		s = append(s, i)
	}
	return s
}

func TestFromSysfsRecordedTrees(t *testing.T) {
	hybridCores := []Core{
		classed(core(0, 0, 0, []int{0, 1}, nil), ClassPerformance, 0),
		classed(core(0, 0, 4, []int{2, 3}, nil), ClassPerformance, 0),
		classed(core(0, 0, 8, []int{4, 5}, nil), ClassPerformance, 0),
		classed(core(0, 0, 12, []int{6, 7}, nil), ClassPerformance, 0),
	}
	for i := range 8 {
		hybridCores = append(hybridCores, classed(core(0, 0, 16+i, []int{8 + i}, nil), ClassEfficiency, 0))
	}
	var containerCores []Core
	for i := range 8 {
		c := core(0, 0, i, []int{i, i + 8}, nil)
		switch i {
		case 2:
		case 3:
			c.Usable = []int{3}
		default:
			c.Usable = []int{}
		}
		containerCores = append(containerCores, c)
	}
	var armCores []Core
	for i := range 8 {
		if i < 4 {
			armCores = append(armCores, classed(core(0, 0, i, []int{i}, nil), ClassEfficiency, 446))
		} else {
			armCores = append(armCores, classed(core(0, 0, i, []int{i}, nil), ClassPerformance, 1024))
		}
	}

	tests := []struct {
		name      string
		tree      string
		affinity  []int
		online    []int
		usable    []int
		cores     []Core
		packages  []Package // checked only when set
		hybrid    bool
		quota     float64
		quotaFile string
		// pinned are the CPUs Place picks, one per worker, for as many
		// workers as there are usable physical cores.
		pinned []int
	}{
		{
			name:   "two-socket Intel server with SMT",
			tree:   "intel-2socket-smt",
			online: seq(0, 15),
			usable: seq(0, 15),
			cores: []Core{
				core(0, 0, 0, []int{0, 8}, nil), core(0, 0, 1, []int{1, 9}, nil),
				core(0, 0, 8, []int{2, 10}, nil), core(0, 0, 9, []int{3, 11}, nil),
				core(1, 0, 0, []int{4, 12}, nil), core(1, 0, 1, []int{5, 13}, nil),
				core(1, 0, 8, []int{6, 14}, nil), core(1, 0, 9, []int{7, 15}, nil),
			},
			packages: []Package{
				{ID: 0, Dies: []int{0}, Cores: 4, CPUs: []int{0, 1, 2, 3, 8, 9, 10, 11}, Usable: []int{0, 1, 2, 3, 8, 9, 10, 11}},
				{ID: 1, Dies: []int{0}, Cores: 4, CPUs: []int{4, 5, 6, 7, 12, 13, 14, 15}, Usable: []int{4, 5, 6, 7, 12, 13, 14, 15}},
			},
			pinned: []int{0, 4, 1, 5, 2, 6, 3, 7},
		},
		{
			name:   "Intel hybrid laptop, P-cores before E-cores",
			tree:   "intel-hybrid-laptop",
			online: seq(0, 15),
			usable: seq(0, 15),
			cores:  hybridCores,
			hybrid: true,
			pinned: []int{0, 2, 4, 6, 8, 9, 10, 11, 12, 13, 14, 15},
		},
		{
			name:      "container with a cpuset and a v2 quota",
			tree:      "container-cpuset",
			affinity:  []int{10, 2, 3},
			online:    seq(0, 15),
			usable:    []int{2, 3, 10},
			cores:     containerCores,
			packages:  []Package{{ID: 0, Dies: []int{0}, Cores: 8, CPUs: seq(0, 15), Usable: []int{2, 3, 10}}},
			quota:     1.5,
			quotaFile: "fs/cgroup/cpu.max",
			pinned:    []int{2, 3},
		},
		{
			name:   "AMD with two dies per package and a v1 quota",
			tree:   "amd-dies",
			online: seq(0, 15),
			usable: seq(0, 15),
			cores: []Core{
				core(0, 0, 0, []int{0, 8}, nil), core(0, 0, 1, []int{1, 9}, nil),
				core(0, 1, 0, []int{2, 10}, nil), core(0, 1, 1, []int{3, 11}, nil),
				core(1, 0, 0, []int{4, 12}, nil), core(1, 0, 1, []int{5, 13}, nil),
				core(1, 1, 0, []int{6, 14}, nil), core(1, 1, 1, []int{7, 15}, nil),
			},
			packages: []Package{
				{ID: 0, Dies: []int{0, 1}, Cores: 4, CPUs: []int{0, 1, 2, 3, 8, 9, 10, 11}, Usable: []int{0, 1, 2, 3, 8, 9, 10, 11}},
				{ID: 1, Dies: []int{0, 1}, Cores: 4, CPUs: []int{4, 5, 6, 7, 12, 13, 14, 15}, Usable: []int{4, 5, 6, 7, 12, 13, 14, 15}},
			},
			quota:     4,
			quotaFile: "fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us",
			pinned:    []int{0, 4, 1, 5, 2, 6, 3, 7},
		},
		{
			name:   "one CPU offline",
			tree:   "offline-cpu",
			online: []int{0, 1, 2, 3, 4, 6, 7},
			usable: []int{0, 1, 2, 3, 4, 6, 7},
			cores: []Core{
				core(0, 0, 0, []int{0, 4}, nil), core(0, 0, 1, []int{1}, nil),
				core(0, 0, 2, []int{2, 6}, nil), core(0, 0, 3, []int{3, 7}, nil),
			},
			pinned: []int{0, 1, 2, 3},
		},
		{
			name:   "Arm big.LITTLE told apart by cpu_capacity",
			tree:   "arm-biglittle",
			online: seq(0, 7),
			usable: seq(0, 7),
			cores:  armCores,
			hybrid: true,
			pinned: []int{4, 5, 6, 7, 0, 1, 2, 3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topo, err := FromSysfs(os.DirFS(filepath.Join("testdata", tt.tree)), tt.affinity)
			require.NoError(t, err)

			assert.Equal(t, tt.online, topo.Online, "online")
			assert.Equal(t, tt.usable, topo.Usable, "usable")
			assert.Equal(t, tt.cores, topo.Cores, "cores")
			if tt.packages != nil {
				assert.Equal(t, tt.packages, topo.Packages, "packages")
			}
			assert.Equal(t, tt.hybrid, topo.Hybrid, "hybrid")
			assert.Equal(t, tt.quota, topo.CPUQuota, "quota")
			assert.Equal(t, tt.quotaFile, topo.CPUQuotaFile, "quota file")
			assert.Empty(t, topo.Notes)

			slots, err := topo.Place(len(tt.pinned), true)
			require.NoError(t, err)
			var cpus []int
			for i, s := range slots {
				assert.Equal(t, i, s.Index)
				require.NotNil(t, s.Core)
				assert.Contains(t, coreAt(t, topo, s.Core).Usable, s.CPU, "slot %d's CPU is on its core", i)
				cpus = append(cpus, s.CPU)
			}
			assert.Equal(t, tt.pinned, cpus, "pinned placement")
			assertDistinctCores(t, slots)

			_, err = topo.Place(len(tt.pinned)+1, true)
			require.Error(t, err)
			assert.ErrorContains(t, err, "strategy: pooled")
			assert.ErrorContains(t, err, "may use only "+itoa(len(tt.pinned)))

			slots, err = topo.Place(len(tt.pinned)+3, false)
			require.NoError(t, err)
			require.Len(t, slots, len(tt.pinned)+3)
			for i, s := range slots {
				assert.Equal(t, Slot{Index: i, CPU: -1}, s)
			}
		})
	}
}

func coreAt(t *testing.T, topo *Topology, ref *CoreRef) Core {
	t.Helper()
	for _, c := range topo.Cores {
		if c.Package == ref.Package && c.Die == ref.Die && c.ID == ref.ID {
			assert.Equal(t, c.Class, ref.Class)
			return c
		}
	}
	t.Fatalf("slot names core %+v, which the topology lacks", *ref)
	return Core{}
}

func assertDistinctCores(t *testing.T, slots []Slot) {
	t.Helper()
	seen := map[CoreRef]bool{}
	for _, s := range slots {
		key := CoreRef{Package: s.Core.Package, Die: s.Core.Die, ID: s.Core.ID}
		assert.False(t, seen[key], "core %+v used twice", key)
		seen[key] = true
	}
}

func itoa(n int) string { return FormatCPUList([]int{n}) }

// cpuFiles returns the files sysfs has for one online CPU.
func cpuFiles(cpu, pkg, die, id int, siblings string) fstest.MapFS {
	dir := "devices/system/cpu/cpu" + itoa(cpu) + "/topology/"
	return fstest.MapFS{
		dir + "physical_package_id": {Data: []byte(itoa(pkg) + "\n")},
		dir + "die_id":              {Data: []byte(itoa(die) + "\n")},
		dir + "core_id":             {Data: []byte(itoa(id) + "\n")},
		dir + "core_cpus_list":      {Data: []byte(siblings + "\n")},
	}
}

func merge(trees ...fstest.MapFS) fstest.MapFS {
	out := fstest.MapFS{}
	for _, tr := range trees {
		for k, v := range tr {
			out[k] = v
		}
	}
	return out
}

func TestFromSysfsErrors(t *testing.T) {
	twoCPUs := func() fstest.MapFS {
		return merge(
			fstest.MapFS{"devices/system/cpu/online": {Data: []byte("0-1\n")}},
			cpuFiles(0, 0, 0, 0, "0"),
			cpuFiles(1, 0, 0, 1, "1"),
		)
	}
	with := func(path, content string) fstest.MapFS {
		m := twoCPUs()
		m[path] = &fstest.MapFile{Data: []byte(content)}
		return m
	}
	without := func(path string) fstest.MapFS {
		m := twoCPUs()
		delete(m, path)
		return m
	}
	tests := []struct {
		name     string
		fsys     fs.FS
		affinity []int
		want     []string // substrings of the error
	}{
		{"core_id not a number", with("devices/system/cpu/cpu1/topology/core_id", "one\n"), nil,
			[]string{"devices/system/cpu/cpu1/topology/core_id", `want an integer, found "one"`}},
		{"core_id missing", without("devices/system/cpu/cpu1/topology/core_id"), nil,
			[]string{"reading devices/system/cpu/cpu1/topology/core_id", "not exist"}},
		{"online list malformed", with("devices/system/cpu/online", "0-x\n"), nil,
			[]string{"devices/system/cpu/online", `"x" is not a CPU number`}},
		{"sibling list backwards", with("devices/system/cpu/cpu0/topology/core_cpus_list", "3-1\n"), nil,
			[]string{"devices/system/cpu/cpu0/topology/core_cpus_list", "runs backwards"}},
		{"hybrid PMU list malformed", with("devices/cpu_atom/cpus", "8-\n"), nil,
			[]string{"devices/cpu_atom/cpus", "missing CPU number"}},
		{"cpu.max malformed", with("fs/cgroup/cpu.max", "lots\n"), nil,
			[]string{"fs/cgroup/cpu.max", `want "QUOTA PERIOD" or "max PERIOD"`, `found "lots"`}},
		{"cpu.max zero period", with("fs/cgroup/cpu.max", "100000 0\n"), nil,
			[]string{"fs/cgroup/cpu.max", `found "100000 0"`}},
		{"v1 quota zero", merge(with("fs/cgroup/cpu/cpu.cfs_quota_us", "0\n"),
			fstest.MapFS{"fs/cgroup/cpu/cpu.cfs_period_us": {Data: []byte("100000\n")}}), nil,
			[]string{"fs/cgroup/cpu/cpu.cfs_quota_us", "found 0"}},
		{"affinity disjoint from online", twoCPUs(), []int{5, 6},
			[]string{"none of the CPUs this process may run on (5-6) is online (0-1)"}},
		{"affinity negative", twoCPUs(), []int{-1},
			[]string{"affinity names CPU -1"}},
		{"no sysfs and no affinity", fstest.MapFS{}, nil,
			[]string{"no online CPU and no affinity"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromSysfs(tt.fsys, tt.affinity)
			require.Error(t, err)
			for _, w := range tt.want {
				assert.ErrorContains(t, err, w)
			}
		})
	}
}

func TestFromSysfsDegraded(t *testing.T) {
	t.Run("no sysfs: one core per usable CPU", func(t *testing.T) {
		topo, err := FromSysfs(fstest.MapFS{}, []int{3, 0, 1})
		require.NoError(t, err)
		assert.Equal(t, []int{0, 1, 3}, topo.Online)
		assert.Equal(t, []int{0, 1, 3}, topo.Usable)
		assert.Equal(t, []Core{
			core(0, 0, 0, []int{0}, nil), core(0, 0, 1, []int{1}, nil), core(0, 0, 3, []int{3}, nil),
		}, topo.Cores)
		require.Len(t, topo.Notes, 1)
		assert.Contains(t, topo.Notes[0], "assumed to be its own physical core")
		slots, err := topo.Place(3, true)
		require.NoError(t, err)
		assert.Equal(t, 3, slots[2].CPU)
	})
	t.Run("online file but no topology directories", func(t *testing.T) {
		topo, err := FromSysfs(fstest.MapFS{"devices/system/cpu/online": {Data: []byte("0-3\n")}}, []int{1, 2, 7})
		require.NoError(t, err)
		assert.Equal(t, []int{0, 1, 2, 3}, topo.Online)
		assert.Equal(t, []int{1, 2}, topo.Usable)
		assert.Len(t, topo.Cores, 2)
		require.Len(t, topo.Notes, 1)
	})
	t.Run("no online file: topology directories decide", func(t *testing.T) {
		fsys := merge(cpuFiles(0, 0, 0, 0, "0,2"), cpuFiles(2, 0, 0, 0, "0,2"), cpuFiles(10, 0, 0, 1, "10"),
			fstest.MapFS{"devices/system/cpu/cpu1/online": {Data: []byte("0\n")}})
		topo, err := FromSysfs(fsys, nil)
		require.NoError(t, err)
		assert.Equal(t, []int{0, 2, 10}, topo.Online)
		assert.Equal(t, []Core{core(0, 0, 0, []int{0, 2}, nil), core(0, 0, 1, []int{10}, nil)}, topo.Cores)
		assert.Empty(t, topo.Notes)
	})
	t.Run("online CPU without topology is noted", func(t *testing.T) {
		fsys := merge(cpuFiles(0, 0, 0, 0, "0"),
			fstest.MapFS{"devices/system/cpu/online": {Data: []byte("0-1\n")}})
		topo, err := FromSysfs(fsys, nil)
		require.NoError(t, err)
		assert.Equal(t, []int{0}, topo.Online)
		require.Len(t, topo.Notes, 1)
		assert.Contains(t, topo.Notes[0], "CPUs 1 are listed online but have no topology directory")
	})
	t.Run("old kernel: thread_siblings_list and no die_id", func(t *testing.T) {
		fsys := fstest.MapFS{
			"devices/system/cpu/online":                             {Data: []byte("0-1\n")},
			"devices/system/cpu/cpu0/topology/physical_package_id":  {Data: []byte("0\n")},
			"devices/system/cpu/cpu0/topology/core_id":              {Data: []byte("0\n")},
			"devices/system/cpu/cpu0/topology/thread_siblings_list": {Data: []byte("0-1\n")},
			"devices/system/cpu/cpu1/topology/physical_package_id":  {Data: []byte("0\n")},
			"devices/system/cpu/cpu1/topology/core_id":              {Data: []byte("0\n")},
			"devices/system/cpu/cpu1/topology/thread_siblings_list": {Data: []byte("0-1\n")},
		}
		topo, err := FromSysfs(fsys, nil)
		require.NoError(t, err)
		assert.Equal(t, []Core{core(0, 0, 0, []int{0, 1}, nil)}, topo.Cores)
		assert.Empty(t, topo.Notes)
	})
	t.Run("siblings that disagree with the ids are noted", func(t *testing.T) {
		fsys := merge(cpuFiles(0, 0, 0, 0, "0-1"), cpuFiles(1, 0, 0, 1, "0-1"),
			fstest.MapFS{"devices/system/cpu/online": {Data: []byte("0-1\n")}})
		topo, err := FromSysfs(fsys, nil)
		require.NoError(t, err)
		assert.Len(t, topo.Cores, 2)
		require.Len(t, topo.Notes, 1)
		assert.Contains(t, topo.Notes[0], "cpu0 and cpu1 are listed as siblings")
	})
	t.Run("equal capacities are not hybrid", func(t *testing.T) {
		fsys := merge(cpuFiles(0, 0, 0, 0, "0"), cpuFiles(1, 0, 0, 1, "1"), fstest.MapFS{
			"devices/system/cpu/online":            {Data: []byte("0-1\n")},
			"devices/system/cpu/cpu0/cpu_capacity": {Data: []byte("1024\n")},
			"devices/system/cpu/cpu1/cpu_capacity": {Data: []byte("1024\n")},
		})
		topo, err := FromSysfs(fsys, nil)
		require.NoError(t, err)
		assert.False(t, topo.Hybrid)
		assert.Empty(t, topo.Cores[0].Class)
		assert.Equal(t, 1024, topo.Cores[1].Capacity)
	})
}

func TestCPUQuotaHierarchy(t *testing.T) {
	cpus := merge(cpuFiles(0, 0, 0, 0, "0"), fstest.MapFS{"devices/system/cpu/online": {Data: []byte("0\n")}})
	tests := []struct {
		name  string
		files map[string]string
		cg    cgroupPaths
		quota float64
		file  string
	}{
		{"tightest ancestor wins", map[string]string{
			"fs/cgroup/a/b/cpu.max": "200000 100000\n",
			"fs/cgroup/a/cpu.max":   "50000 100000\n",
		}, cgroupPaths{unified: "/a/b", cpu: "/"}, 0.5, "/sys/fs/cgroup/a/cpu.max"},
		{"own cgroup tighter than parent", map[string]string{
			"fs/cgroup/a/b/cpu.max": "25000 100000\n",
			"fs/cgroup/a/cpu.max":   "max 100000\n",
		}, cgroupPaths{unified: "/a/b", cpu: "/"}, 0.25, "/sys/fs/cgroup/a/b/cpu.max"},
		{"cgroup path outside the mount falls back to the root", map[string]string{
			"fs/cgroup/cpu.max": "300000 100000\n",
		}, cgroupPaths{unified: "/docker/abc", cpu: "/"}, 3, "/sys/fs/cgroup/cpu.max"},
		{"v1 under the process's cpu cgroup", map[string]string{
			"fs/cgroup/cpu/job/cpu.cfs_quota_us":  "150000\n",
			"fs/cgroup/cpu/job/cpu.cfs_period_us": "100000\n",
			"fs/cgroup/cpu/cpu.cfs_quota_us":      "-1\n",
			"fs/cgroup/cpu/cpu.cfs_period_us":     "100000\n",
		}, cgroupPaths{unified: "/", cpu: "/job"}, 1.5, "/sys/fs/cgroup/cpu/job/cpu.cfs_quota_us"},
		{"cpu.max without a period", map[string]string{
			"fs/cgroup/cpu.max": "50000\n",
		}, rootCgroups, 0.5, "/sys/fs/cgroup/cpu.max"},
		{"no limit anywhere", map[string]string{
			"fs/cgroup/cpu.max":               "max 100000\n",
			"fs/cgroup/cpu/cpu.cfs_quota_us":  "-1\n",
			"fs/cgroup/cpu/cpu.cfs_period_us": "100000\n",
		}, rootCgroups, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := merge(cpus)
			for k, v := range tt.files {
				fsys[k] = &fstest.MapFile{Data: []byte(v)}
			}
			topo, err := fromSysfs(sysfs{fsys: fsys, root: "/sys"}, nil, tt.cg)
			require.NoError(t, err)
			assert.Equal(t, tt.quota, topo.CPUQuota)
			assert.Equal(t, tt.file, topo.CPUQuotaFile)
		})
	}
}

func TestParseProcCgroup(t *testing.T) {
	tests := []struct {
		name string
		text string
		want cgroupPaths
	}{
		{"v2 only", "0::/user.slice/session-1.scope\n", cgroupPaths{unified: "/user.slice/session-1.scope", cpu: "/"}},
		{"v1 with unified", "12:cpu,cpuacct:/job\n2:cpuset:/\n0::/\n", cgroupPaths{unified: "/", cpu: "/job"}},
		{"cpuacct alone is not cpu", "3:cpuacct:/x\n1:cpu:/y\n", cgroupPaths{unified: "/", cpu: "/y"}},
		{"empty", "", rootCgroups},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, parseProcCgroup(tt.text))
		})
	}
}
