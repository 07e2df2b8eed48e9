//go:build !linux

package filepages

// Release does nothing where the process's mappings cannot be listed.
func Release(files ...string) (Released, error) { return Released{}, nil }
