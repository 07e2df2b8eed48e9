package topology

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteText(t *testing.T) {
	topo, err := FromSysfs(os.DirFS("testdata/container-cpuset"), []int{2, 3, 10})
	require.NoError(t, err)
	topo.Vendor, topo.Model, topo.VM, topo.Hypervisor = "GenuineIntel", "Test CPU", true, "KVMKVMKVM"
	topo.L1DBytes, topo.L2Bytes, topo.L3Bytes = 48<<10, 1280<<10, 30<<20
	topo.Notes = []string{"a note"}

	tests := []struct {
		name    string
		workers int
		pinned  bool
		want    []string
	}{
		{"pinned", 2, true, []string{
			"Placement: 2 workers, pinned",
			"  WORKER  CPU  PACKAGE  DIE  CORE  CLASS\n  0       2    0        0    2     -\n  1       3    0        0    3     -\n",
		}},
		{"pooled", 4, false, []string{
			"Placement: 4 workers, not pinned; the kernel schedules them on CPUs 2-3,10\n",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			slots, err := topo.Place(tt.workers, tt.pinned)
			require.NoError(t, err)
			var b strings.Builder
			require.NoError(t, topo.WriteText(&b, slots))
			out := b.String()
			for _, w := range append([]string{
				"CPU        Test CPU (GenuineIntel)\n",
				"Machine    VM (KVMKVMKVM), not hybrid\n",
				"Caches     L1d 48 KiB, L2 1280 KiB, L3 30 MiB\n",
				"Online     0-15\n",
				"Usable     2-3,10: 3 logical CPUs on 2 physical cores\n",
				"CPU quota  1.5 CPUs (fs/cgroup/cpu.max)\n",
				"  0        0     8      0-15  2-3,10\n",
				"  0        0    2     -      2,10  2,10\n",
				"  0        0    3     -      3,11  3\n",
				"  0        0    4     -      4,12  -\n",
				"Notes\n  - a note\n",
			}, tt.want...) {
				assert.Contains(t, out, w)
			}
		})
	}

	t.Run("without a plan", func(t *testing.T) {
		var b strings.Builder
		require.NoError(t, topo.WriteText(&b, nil))
		assert.NotContains(t, b.String(), "Placement")
	})
	t.Run("write errors surface", func(t *testing.T) {
		boom := errors.New("boom")
		assert.ErrorIs(t, topo.WriteText(failingWriter{boom}, nil), boom)
	})
}

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }

func TestReportJSON(t *testing.T) {
	topo, err := FromSysfs(os.DirFS("testdata/intel-hybrid-laptop"), nil)
	require.NoError(t, err)
	slots, err := topo.Place(1, true)
	require.NoError(t, err)
	b, err := json.Marshal(Report{Topology: topo, Strategy: Pinned, Workers: 1, GOMAXPROCS: 4, Placement: slots})
	require.NoError(t, err)
	out := string(b)
	for _, w := range []string{
		`"strategy":"pinned"`, `"workers":1`, `"gomaxprocs":4`,
		`"placement":[{"index":0,"cpu":0,"core":{"package":0,"die":0,"id":0,"class":"performance"}}]`,
		`"hybrid":true`, `"l1d_bytes":0`, `"cpu_quota":0`, `"usable":[0,1,`,
		`{"package":0,"die":0,"id":16,"cpus":[8],"usable":[8],"class":"efficiency"}`,
	} {
		assert.Contains(t, out, w)
	}
	assert.NotContains(t, out, `"notes"`)

	unpinned, err := json.Marshal(Slot{Index: 3, CPU: -1})
	require.NoError(t, err)
	assert.JSONEq(t, `{"index":3,"cpu":-1}`, string(unpinned))
}
