package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// Options adjust the checks to where the policy is being checked.
type Options struct {
	// UsableCPUs is how many CPUs the server may run on, after affinity and
	// cgroup limits; more python.workers than this is refused unless
	// python.strategy is pooled. 0 means unknown, and skips that check.
	UsableCPUs int
	// UsableCores is how many physical cores those CPUs belong to; with
	// python.strategy: pinned every worker needs a core of its own, so more
	// workers than this is refused. 0 means unknown, and skips that check.
	UsableCores int
	// SkipFileChecks skips every check that reads the file system (modules,
	// body schemas, python.runtime, python.path), for checking a policy on
	// a machine other than the one that serves it. Paths are still
	// resolved.
	SkipFileChecks bool
}

// Load reads and checks the policy file at path; see Parse. An error
// reading the file is returned as it is (errors.Is(err, fs.ErrNotExist)
// works); a file that reads but is not a valid policy gives *Problems.
func Load(path string, opts Options) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	return Parse(path, data, opts)
}

// Parse checks the policy in data and compiles it. file names the policy in
// problems and in the result; relative paths in the policy are resolved
// against its directory. When anything is wrong the error is *Problems,
// holding every problem found, not only the first. Load and Parse may be
// called concurrently.
func Parse(file string, data []byte, opts Options) (*Policy, error) {
	dir, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		return nil, fmt.Errorf("parse policy %s: %w", file, err)
	}
	// Layer by layer: YAML syntax and shape, then the schema, then the
	// values and cross-checks in Go. Each layer marks the nodes it refused
	// so that later layers stay quiet about them.
	doc := readDocument(file, data)
	p := newPolicy()
	if doc.root != nil {
		if err := validateSchema(doc); err != nil {
			return nil, err
		}
		d := &decoder{
			doc:             doc,
			dir:             dir,
			opts:            opts,
			declaredPlugins: map[string]bool{},
			declaredTenants: map[string]bool{},
			sectionRefused:  map[string]bool{},
		}
		d.policy(doc.root, p)
		if !opts.SkipFileChecks {
			d.checkFiles()
		}
		d.crossCheck(p)
	}
	if len(doc.problems) > 0 {
		doc.problems.sort()
		return nil, &doc.problems
	}
	sum := sha256.Sum256(data)
	p.File, p.Dir, p.Digest = file, dir, hex.EncodeToString(sum[:])
	return p, nil
}
