package host

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tandemhost/tandem/native"
	"github.com/tandemhost/tandem/policy"
)

// Reload reads the policy file again and serves it. The new policy is
// built beside the running one (plugins compiled, Python workers started
// or switched to the new routes) and swapped in at once; requests already
// running finish on the old one, whose pool and plugins are closed when
// they are done unless the new policy kept them. A policy that does not
// load or build is refused, with every problem in the error, and the
// running one keeps serving. Reloads run one at a time.
func (s *Server) Reload(ctx context.Context) error {
	file := s.Policy().File
	load := s.opts.Load
	if load == nil {
		load = func(file string) (*policy.Policy, error) { return policy.Load(file, policy.Options{}) }
	}
	pol, err := load(file)
	if err == nil {
		err = s.Replace(ctx, pol)
		if err == nil {
			return nil
		}
	}
	s.metrics.reloadsFailed.Add(1)
	msg := err.Error()
	s.lastReloadError.Store(&msg)
	return err
}

// Replace serves pol in place of the running policy, as Reload does.
func (s *Server) Replace(ctx context.Context, pol *policy.Policy) error {
	began := time.Now()
	s.mu.Lock()
	old := s.cur.Load()
	if err := s.checkReplace(old.pol, pol); err != nil {
		s.mu.Unlock()
		return err
	}
	g, err := s.build(ctx, pol, native.Plan{})
	if err != nil {
		s.mu.Unlock()
		return err
	}
	s.live = append(s.live, g)
	s.cur.Store(g)
	s.metrics.reloads.Add(1)
	s.retiring.Add(1)
	s.mu.Unlock()

	s.log.Info("policy reloaded", "policy", pol.File, "digest", short(pol.Digest), "routes", len(pol.Routes),
		"python", pythonChange(old, g), "plugins", len(g.plugins), "took", time.Since(began).Round(time.Microsecond))
	go s.retire(old)
	s.releaseStartupPages("reload")
	return nil
}

// checkReplace refuses changes that only a restart can make.
func (s *Server) checkReplace(old, pol *policy.Policy) error {
	if pol.Server.Listen != old.Server.Listen && s.opts.Listen == "" {
		return fmt.Errorf("%s: server.listen: the listen address cannot change while tandem runs (it is %s, the new policy says %s): restart tandem to move it",
			pol.File, old.Server.Listen, pol.Server.Listen)
	}
	if pol.Server.Admin != old.Server.Admin {
		return fmt.Errorf("%s: server.admin: the admin listener cannot change while tandem runs (it is %q, the new policy says %q): restart tandem to change it",
			pol.File, old.Server.Admin, pol.Server.Admin)
	}
	if pol.Server.Timeouts != old.Server.Timeouts {
		s.log.Warn("server.timeouts changed: routes' deadlines follow at once, the listener's connection timeouts after a restart",
			"policy", pol.File)
	}
	return nil
}

// pythonChange says in the reload's log line what happened to the Python
// workers.
func pythonChange(old, g *generation) string {
	switch {
	case g.py == nil:
		return "none"
	case old.py == g.py:
		return "kept"
	default:
		return "new workers"
	}
}

// short is a digest's first 12 characters.
func short(digest string) string {
	if len(digest) > 12 {
		return digest[:12]
	}
	return digest
}

// retiredPoolClose bounds how long the workers of a replaced policy may
// take to stop once its last request has ended.
const retiredPoolClose = time.Minute

// retire waits for old's requests to end, then releases what old alone
// held.
func (s *Server) retire(old *generation) {
	defer s.retiring.Done()
	old.retire()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live = slices.DeleteFunc(s.live, func(g *generation) bool { return g == old })
	if s.closed {
		return
	}
	s.releaseLocked(old)
}

// releaseLocked drops g's references: a pool or plugin no other live
// generation holds is closed, and a pool still held serves only the
// routes of those that hold it. s.mu is held; g is not in s.live.
func (s *Server) releaseLocked(g *generation) {
	var errs []error
	if p := g.py; p != nil {
		g.py = nil
		if p.refs--; p.refs == 0 {
			s.py = slices.DeleteFunc(s.py, func(q *pyPool) bool { return q == p })
			pool := p.pool
			s.retiring.Add(1)
			go func() {
				defer s.retiring.Done()
				// Bounded: a worker stuck in C code for good would hold
				// the close (and a shutdown waiting on it) forever.
				ctx, cancel := context.WithTimeout(context.Background(), retiredPoolClose)
				defer cancel()
				if err := pool.Close(ctx); err != nil {
					s.log.Warn("closing the Python workers of a replaced policy", "error", err)
				}
			}()
		} else if err := s.syncRoutes(p, nil); err != nil {
			errs = append(errs, fmt.Errorf("dropping the replaced policy's Python routes: %w", err))
		}
	}
	for _, sp := range g.plugins {
		if sp.refs--; sp.refs == 0 {
			delete(s.plugins, sp.key)
			_ = sp.plugin.Close(context.Background())
		}
	}
	g.plugins = nil
	if err := errors.Join(errs...); err != nil {
		s.log.Warn("releasing a replaced policy", "error", err)
	}
}
