package main

import (
	"errors"
	"io"
	"io/fs"
	"log/slog"

	"github.com/tandemhost/tandem/native"
	"github.com/tandemhost/tandem/native/embedded"
	"github.com/tandemhost/tandem/native/topology"
	"github.com/tandemhost/tandem/policy"
)

// usableCPUs is how many CPUs the policy checker may count on; 0 (unknown)
// skips the worker check when the topology cannot be read.
func usableCPUs(topo *topology.Topology) int {
	if topo == nil {
		return 0
	}
	return len(topo.Usable)
}

// usableCores is how many physical cores those CPUs belong to, or 0.
func usableCores(topo *topology.Topology) int {
	if topo == nil {
		return 0
	}
	return len(topo.PhysicalUsable())
}

// loadPolicy loads path with the checks serve applies on this machine.
func loadPolicy(path string, topo *topology.Topology) (*policy.Policy, error) {
	return policy.Load(path, policy.Options{UsableCPUs: usableCPUs(topo), UsableCores: usableCores(topo)})
}

// optionalPolicy loads path when the user named it or, for the default
// name, when the file exists; (nil, nil) means "no policy: use defaults".
func optionalPolicy(path string, named bool, topo *topology.Topology) (*policy.Policy, error) {
	pol, err := loadPolicy(path, topo)
	if !named && errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return pol, err
}

// locateRuntime finds the CPython that spec names (policy python.runtime),
// extracting the embedded one into the cache if needed.
func locateRuntime(spec string, stderr io.Writer) (*native.Runtime, error) {
	var home string
	if spec == "" || spec == policy.RuntimeEmbedded {
		h, err := embedded.Home(notify(stderr))
		if err != nil {
			return nil, err
		}
		home = h
	}
	rt, err := native.Locate(spec, home)
	if err != nil {
		return nil, err
	}
	slog.Debug("python runtime", "kind", rt.Kind, "library", rt.Library, "home", rt.Home)
	return rt, nil
}
