package topology

import (
	"runtime"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestDetectLive checks what must hold on any machine, since the machine
// running the tests is not known in advance.
func TestDetectLive(t *testing.T) {
	topo, err := Detect()
	require.NoError(t, err)
	t.Logf("%s (%s), vm=%v hybrid=%v, %d cores, online %s, usable %s, quota %v, notes %q",
		topo.Model, topo.Vendor, topo.VM, topo.Hybrid, len(topo.Cores),
		FormatCPUList(topo.Online), FormatCPUList(topo.Usable), topo.CPUQuota, topo.Notes)

	require.NotEmpty(t, topo.Cores)
	require.NotEmpty(t, topo.Usable)
	require.NotEmpty(t, topo.Packages)
	assert.Subset(t, topo.Online, topo.Usable, "usable ⊆ online")
	assert.True(t, slices.IsSorted(topo.Online) && slices.IsSorted(topo.Usable))
	assert.GreaterOrEqual(t, topo.CPUQuota, 0.0)
	if runtime.GOARCH == "amd64" {
		assert.NotEmpty(t, topo.Vendor, "cpuid vendor")
	}

	owner := map[int]int{}
	var inCores []int
	for i, c := range topo.Cores {
		require.NotEmpty(t, c.CPUs)
		assert.Subset(t, c.CPUs, c.Usable)
		assert.Equal(t, intersect(c.CPUs, topo.Usable), c.Usable)
		for _, cpu := range c.CPUs {
			_, dup := owner[cpu]
			assert.False(t, dup, "cpu%d is on two cores", cpu)
			owner[cpu] = i
		}
		inCores = append(inCores, c.CPUs...)
		if i > 0 {
			assert.Negative(t, compareCores(topo.Cores[i-1], c), "cores sorted and unique")
		}
	}
	slices.Sort(inCores)
	assert.Equal(t, topo.Online, inCores, "every online CPU is on exactly one core")

	usable := topo.PhysicalUsable()
	slots, err := topo.Place(len(usable), true)
	require.NoError(t, err)
	assertDistinctCores(t, slots)
	for _, s := range slots {
		assert.Contains(t, topo.Usable, s.CPU)
	}
	_, err = topo.Place(len(usable)+1, true)
	assert.ErrorContains(t, err, "strategy: pooled")
}

func TestPinCurrentThread(t *testing.T) {
	type observed struct {
		allowed, before, pinned, after []int
		cpu                            int
		err                            error
	}
	result := make(chan observed)
	go func() {
		// The thread is discarded when the goroutine exits locked, so even a
		// failed restore cannot leak a pinned thread into other tests.
		runtime.LockOSThread()
		var o observed
		defer func() { result <- o }()

		var original unix.CPUSet
		if o.err = unix.SchedGetaffinity(0, &original); o.err != nil {
			return
		}
		o.allowed = cpusOf(&original)
		tid := CurrentThreadID()
		if o.before, o.err = ThreadAllowedCPUs(tid); o.err != nil {
			return
		}
		o.cpu = o.allowed[len(o.allowed)-1]
		if o.err = PinCurrentThread(o.cpu); o.err != nil {
			return
		}
		if o.pinned, o.err = ThreadAllowedCPUs(tid); o.err != nil {
			return
		}
		if o.err = unix.SchedSetaffinity(0, &original); o.err != nil {
			return
		}
		o.after, o.err = ThreadAllowedCPUs(tid)
	}()
	o := <-result
	require.NoError(t, o.err)
	assert.Equal(t, o.allowed, o.before, "ThreadAllowedCPUs agrees with sched_getaffinity")
	assert.Equal(t, []int{o.cpu}, o.pinned, "pinned to one CPU")
	assert.Equal(t, o.allowed, o.after, "original mask restored")

	assert.ErrorContains(t, PinCurrentThread(-1), "outside")
	_, err := ThreadAllowedCPUs(-5)
	assert.ErrorContains(t, err, "/proc/self/task/-5/status")
}
