package native_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemhost/tandem/native"
)

// TestVersionMatrix runs TestMatrixChild in a child process per pyenv
// CPython found on the machine (a process can load only one libpython):
// 3.12 and 3.13 must run own-GIL workers, 3.11 shared mode. Versions that
// are not installed are skipped with a message.
func TestVersionMatrix(t *testing.T) {
	runPyenvChildren(t, []string{"-test.run", "^TestMatrixChild$"}, "--- PASS: TestMatrixChild")
}

// runPyenvChildren runs this test binary with args once per pyenv CPython
// of the matrix, each child pointed at its libpython by envChildLib, and
// requires it to pass and to print wantPass. A version that is not
// installed with a shared library is skipped with how to install it.
func runPyenvChildren(t *testing.T, args []string, wantPass string) {
	home, _ := os.UserHomeDir()
	root := filepath.Join(home, ".pyenv", "versions")
	for _, v := range []string{"3.13.0", "3.12.1", "3.11.7"} {
		t.Run(v, func(t *testing.T) {
			minor := strings.Join(strings.Split(v, ".")[:2], ".")
			lib := filepath.Join(root, v, "lib", "libpython"+minor+".so")
			if _, err := os.Stat(lib); err != nil {
				t.Skipf("CPython %s is not installed with a shared library at %s (pyenv install %s with --enable-shared to test it)", v, lib, v)
			}
			cmd := exec.Command(os.Args[0], append(args, "-test.v", "-test.count=1")...)
			cmd.Env = append(os.Environ(), envChildLib+"="+lib)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "child for %s:\n%s", v, out)
			assert.Contains(t, string(out), wantPass)
			t.Logf("%s", out)
		})
	}
}

// TestMatrixChild is the version matrix's child: it runs only when the
// parent points it at a libpython.
func TestMatrixChild(t *testing.T) {
	if os.Getenv(envChildLib) == "" {
		t.Skip("runs as a child of TestVersionMatrix")
	}
	t.Logf("CPython %s (%s)", rt.Version, rt.Library)
	iso := native.OwnGIL
	if !rt.OwnGIL() {
		iso = native.Shared
		_, err := native.NewPool(native.Config{Workers: 1, Isolation: native.OwnGIL,
			Path: []string{appsDir(t)}, Routes: testRoutes()})
		require.Error(t, err, "own-GIL workers need 3.12")
		assert.Contains(t, err.Error(), "isolation: shared")
	}
	p := newPool(t, 2, iso)
	interps := map[int64]bool{}
	for _, w := range p.Workers() {
		interps[w.Interpreter] = true
	}
	if iso == native.OwnGIL {
		assert.Len(t, interps, 2, "each worker has its own interpreter")
	} else {
		assert.Equal(t, map[int64]bool{0: true}, interps)
	}
	for i := 0; i < 20; i++ {
		resp, body := do(t, p, get(rHello, "/hello/x", native.Param{Name: "name", Value: "x"}))
		require.Equal(t, 200, resp.Status, resp.Log)
		assert.Equal(t, "x", body["hello"])
	}
	resp, _ := do(t, p, get(rBoom, "/boom"))
	assert.Equal(t, 500, resp.Status)
	resp, _ = do(t, p, get(rWSGI, "/wsgi/a", native.Param{Name: "*", Value: "a"}))
	assert.Equal(t, 200, resp.Status, resp.Log)
	require.NoError(t, p.Close(context.Background()))
}
