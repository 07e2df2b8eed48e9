package native_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tandemhost/tandem/internal/pytest"
)

// TestPythonModule runs the Python side's own unit tests (native/python/tests)
// with the embedded CPython's interpreter and with any pyenv CPython present.
func TestPythonModule(t *testing.T) {
	if os.Getenv(envChildLib) != "" {
		t.Skip("the version matrix child runs only the matrix test")
	}
	home, err := pytest.Home()
	require.NoError(t, err)
	pythons := map[string]string{"embedded": filepath.Join(home, "bin", "python3")}
	uhome, _ := os.UserHomeDir()
	for _, v := range []string{"3.13.0", "3.12.1", "3.11.7"} {
		pythons[v] = filepath.Join(uhome, ".pyenv", "versions", v, "bin", "python3")
	}
	for name, exe := range pythons {
		t.Run(name, func(t *testing.T) {
			if _, err := os.Stat(exe); err != nil {
				if name == "embedded" {
					t.Fatalf("the embedded runtime has no interpreter at %s", exe)
				}
				t.Skipf("CPython %s is not installed (%s)", name, exe)
			}
			cmd := exec.Command(exe, "-m", "unittest", "discover", "-s", "python/tests", "-t", "python")
			cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
		})
	}
}
