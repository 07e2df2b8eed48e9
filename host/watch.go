package host

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/tandemhost/tandem/policy"
)

// watchSettle is how long the policy file must stay quiet after a change
// before it is reloaded: editors and deploy tools write a file in several
// steps (truncate, write, rename), and a reload per step would read it
// half written.
const watchSettle = 200 * time.Millisecond

// ReloadAndLog reloads the policy (see Reload) and logs the outcome: on
// failure each problem on a line of its own, and that the running policy
// keeps serving. why says what asked for it ("SIGHUP", "file changed").
func (s *Server) ReloadAndLog(ctx context.Context, why string) error {
	err := s.Reload(ctx)
	if err == nil {
		return nil
	}
	var ps *policy.Problems
	if errors.As(err, &ps) {
		for _, p := range *ps {
			s.log.Error("policy problem", "problem", p.String())
		}
		s.log.Error("the new policy is refused; the running one keeps serving", "reason", why,
			"policy", s.Policy().File, "problems", len(*ps))
		return err
	}
	s.log.Error("the new policy is refused; the running one keeps serving", "reason", why,
		"policy", s.Policy().File, "error", err)
	return err
}

// WatchPolicy reloads the policy whenever its file changes, until ctx
// ends. It watches the file's directory, so that a file replaced by a
// rename (as editors, `kubectl` ConfigMap updates and `mv` do) is seen,
// and, when the file is a symbolic link, the directory of the file it
// points to; it reloads once the file has been quiet for watchSettle.
func (s *Server) WatchPolicy(ctx context.Context) error {
	file, err := filepath.Abs(s.Policy().File)
	if err != nil {
		return err
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching %s: %w", file, err)
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(file)); err != nil {
		return fmt.Errorf("watching %s: %w", filepath.Dir(file), err)
	}
	// target is the file a symbolic link points to, watched in its own
	// directory and found again after each change (the link may move).
	target := ""
	follow := func() {
		t, err := filepath.EvalSymlinks(file)
		if err != nil || t == file || t == target {
			return
		}
		if target != "" && filepath.Dir(target) != filepath.Dir(file) {
			_ = w.Remove(filepath.Dir(target))
		}
		target = t
		if filepath.Dir(t) != filepath.Dir(file) {
			if err := w.Add(filepath.Dir(t)); err != nil {
				s.log.Warn("watching the file the policy links to", "policy", file, "target", t, "error", err)
			}
		}
	}
	follow()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if !relevant(ev, file) && (target == "" || filepath.Clean(ev.Name) != target) {
				continue
			}
			timer.Reset(watchSettle)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			s.log.Warn("watching the policy file", "policy", file, "error", err)
		case <-timer.C:
			s.log.Info("the policy file changed; reloading", "policy", file)
			_ = s.ReloadAndLog(ctx, "file changed")
			follow()
		}
	}
}

// relevant reports whether ev may have changed file. Kubernetes mounts a
// ConfigMap through symlinks it swaps in the same directory ("..data"),
// so a change to any entry whose name starts with ".." counts too.
func relevant(ev fsnotify.Event, file string) bool {
	if ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename|fsnotify.Remove) == 0 {
		return false
	}
	name := filepath.Clean(ev.Name)
	if name == file {
		return true
	}
	base := filepath.Base(name)
	return len(base) > 2 && base[:2] == ".." && filepath.Dir(name) == filepath.Dir(file)
}
