package topology

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// PinCurrentThread restricts the calling OS thread to exactly cpu. The
// caller must hold the thread with runtime.LockOSThread for as long as the
// pin matters: otherwise the goroutine may move to another thread, and the
// pinned thread may later run unrelated goroutines.
func PinCurrentThread(cpu int) error {
	var set unix.CPUSet
	if cpu < 0 || cpu >= len(set)*64 {
		return fmt.Errorf("topology: cannot pin to CPU %d: outside 0-%d", cpu, len(set)*64-1)
	}
	set.Set(cpu)
	// pid 0 is the calling thread, not the whole process.
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("topology: pinning thread %d to CPU %d: %w", unix.Gettid(), cpu, err)
	}
	return nil
}

// CurrentThreadID returns the kernel's id for the calling OS thread, as
// ThreadAllowedCPUs expects it.
func CurrentThreadID() int {
	return unix.Gettid()
}

// ThreadAllowedCPUs returns the CPUs thread tid of this process may run on,
// as the kernel reports them in /proc/self/task/TID/status. It reads another
// thread's affinity without disturbing it, which is how pinning is checked.
func ThreadAllowedCPUs(tid int) ([]int, error) {
	name := fmt.Sprintf("/proc/self/task/%d/status", tid)
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	defer f.Close()
	const field = "Cpus_allowed_list:"
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if value, ok := strings.CutPrefix(sc.Text(), field); ok {
			cpus, err := ParseCPUList(value)
			if err != nil {
				return nil, fmt.Errorf("topology: %s: %w", name, err)
			}
			return cpus, nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("topology: reading %s: %w", name, err)
	}
	return nil, fmt.Errorf("topology: %s has no %s line", name, field)
}
