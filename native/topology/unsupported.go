//go:build !linux

package topology

import (
	"errors"
	"fmt"
)

// Detect reports errors.ErrUnsupported: the core layout comes from Linux
// sysfs. FromSysfs still works on recorded trees.
func Detect() (*Topology, error) {
	return nil, fmt.Errorf("topology: detecting the CPU topology: %w", errors.ErrUnsupported)
}

// PinCurrentThread reports errors.ErrUnsupported: pinning uses Linux
// sched_setaffinity.
func PinCurrentThread(cpu int) error {
	return fmt.Errorf("topology: pinning to CPU %d: %w", cpu, errors.ErrUnsupported)
}

// CurrentThreadID returns -1: only Linux thread ids are meaningful to
// ThreadAllowedCPUs.
func CurrentThreadID() int { return -1 }

// ThreadAllowedCPUs reports errors.ErrUnsupported: it reads Linux /proc.
func ThreadAllowedCPUs(tid int) ([]int, error) {
	return nil, fmt.Errorf("topology: CPUs of thread %d: %w", tid, errors.ErrUnsupported)
}
