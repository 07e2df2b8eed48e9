package native_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemhost/tandem/internal/pytest"
	"github.com/tandemhost/tandem/native"
)

// TestVirtualenv serves a handler from a package installed only in a
// virtualenv's site-packages, with the virtualenv as the runtime (in a
// child process: one process loads one runtime).
func TestVirtualenv(t *testing.T) {
	home, err := pytest.Home()
	require.NoError(t, err)
	venv := filepath.Join(t.TempDir(), "venv")
	out, err := exec.Command(filepath.Join(home, "bin", "python3"), "-m", "venv", "--without-pip", venv).CombinedOutput()
	require.NoError(t, err, "%s", out)
	site, err := filepath.Glob(filepath.Join(venv, "lib", "python3.*", "site-packages"))
	require.NoError(t, err)
	require.Len(t, site, 1)
	require.NoError(t, os.WriteFile(filepath.Join(site[0], "venvonly.py"),
		[]byte("def hello(request):\n    import sys\n    return {'from': __file__, 'prefix': sys.prefix}\n"), 0o644))

	rt, err := native.Locate(venv, "")
	require.NoError(t, err)
	assert.Equal(t, "virtualenv", rt.Kind)
	assert.Equal(t, site, rt.SitePackages)
	assert.Equal(t, filepath.Join(venv, "bin", "python"), rt.Executable)

	cmd := exec.Command(os.Args[0], "-test.run", "^TestVirtualenvChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), envChildLib+"="+venv)
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "--- PASS: TestVirtualenvChild")
}

// TestVirtualenvChild runs in TestVirtualenv's child process.
func TestVirtualenvChild(t *testing.T) {
	if rt.Kind != "virtualenv" {
		t.Skip("runs as a child of TestVirtualenv")
	}
	p, err := native.NewPool(native.Config{Workers: 1, Isolation: native.OwnGIL,
		Routes: []native.Route{{ID: 0, Kind: "python", Target: "venvonly:hello", Path: "/"}}})
	require.NoError(t, err)
	defer p.Close(context.Background())
	resp, body := do(t, p, get(0, "/"))
	require.Equal(t, 200, resp.Status, resp.Log)
	assert.Contains(t, body["from"], rt.SitePackages[0])
	require.NoError(t, p.Exec(0, "import sys\nassert sys.executable == "+quote(rt.Executable)+", sys.executable"))
}

func quote(s string) string { return "'" + s + "'" }
