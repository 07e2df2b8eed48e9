package host

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWatchPolicy: a policy file replaced by a rename, and the file a
// symbolic link points to, changed in place, are each reloaded.
func TestWatchPolicy(t *testing.T) {
	dir := reloadDir(t)
	elsewhere := t.TempDir()
	real := filepath.Join(elsewhere, "real.yaml")
	// Paths in the policy are relative to the link's directory (where
	// the apps are), as policy.Load resolves them from the path given.
	require.NoError(t, os.WriteFile(real, []byte(reloadPolicy("  workers: 1\n", baseRoutes)), 0o644))
	link := filepath.Join(dir, "tandem.yaml")
	require.NoError(t, os.Symlink(real, link))
	logs := &logBuffer{}
	srv, err := newServer(link, logs)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, srv.Shutdown(context.Background())) })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.WatchPolicy(ctx) }()
	time.Sleep(100 * time.Millisecond) // the watcher is set up

	route := func(n string) string { return "  - path: /" + n + "\n    handler: {python: handlers:describe}\n" }
	// The link's target, changed in place.
	require.NoError(t, os.WriteFile(real, []byte(reloadPolicy("  workers: 1\n", baseRoutes+route("one"))), 0o644))
	require.Eventually(t, func() bool { return request(srv, "GET", "", "/one", "").Code == 200 }, 5*time.Second, 20*time.Millisecond)

	// The link replaced by a rename, pointing at another file.
	other := filepath.Join(elsewhere, "other.yaml")
	require.NoError(t, os.WriteFile(other, []byte(reloadPolicy("  workers: 1\n", baseRoutes+route("two"))), 0o644))
	tmp := filepath.Join(dir, ".tandem.yaml.new")
	require.NoError(t, os.Symlink(other, tmp))
	require.NoError(t, os.Rename(tmp, link))
	require.Eventually(t, func() bool { return request(srv, "GET", "", "/two", "").Code == 200 }, 5*time.Second, 20*time.Millisecond)

	// And the new target, changed in place.
	require.NoError(t, os.WriteFile(other, []byte(reloadPolicy("  workers: 1\n", baseRoutes+route("three"))), 0o644))
	require.Eventually(t, func() bool { return request(srv, "GET", "", "/three", "").Code == 200 }, 5*time.Second, 20*time.Millisecond)
	assert.Equal(t, 404, request(srv, "GET", "", "/one", "").Code)
}
