// Package pytest finds the embedded CPython for tests without linking it
// into every test binary.
//
// The embedded runtime is 40 MB; a test binary that imported
// native/embedded would carry (and the go tool would link) a copy of it for
// every package. Instead, `make test` extracts it once and exports
// TANDEM_PYTHON_HOME; when that is unset (a plain `go test`), Home runs the
// small extract program once per test binary, which reuses the extraction
// in the user cache directory. Runtime starts it for a test binary.
package pytest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/tandemhost/tandem/native"
)

// EnvHome names the variable that points tests at an extracted runtime.
const EnvHome = "TANDEM_PYTHON_HOME"

var once struct {
	sync.Once
	home string
	err  error
}

// Home returns the prefix of the extracted embedded CPython.
func Home() (string, error) {
	once.Do(func() {
		if h := os.Getenv(EnvHome); h != "" {
			once.home = h
			return
		}
		once.home, once.err = extract()
		if once.err == nil {
			// Subprocesses started by tests (the tandem binary, version
			// matrix children) reuse it.
			os.Setenv(EnvHome, once.home)
		}
	})
	return once.home, once.err
}

// ModuleRoot is the repository root (the directory holding go.mod).
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

func extract() (string, error) {
	cmd := exec.Command("go", "run", "./internal/pytest/extract")
	cmd.Dir = ModuleRoot()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("extracting the embedded Python (go run ./internal/pytest/extract): %v\n%s", err, errb.String())
	}
	return strings.TrimSpace(out.String()), nil
}

// EnvLibpython points a test process at another libpython than the
// embedded one (the version matrix runs children with it).
const EnvLibpython = "TANDEM_TEST_LIBPYTHON"

// Runtime locates and initializes the CPython a test binary runs: the
// embedded one, or the library EnvLibpython names. Call it once, from
// TestMain, and native.Finalize after the tests.
func Runtime() (*native.Runtime, error) {
	if lib := os.Getenv(EnvLibpython); lib != "" {
		rt, err := native.Locate(lib, "")
		if err != nil {
			return nil, err
		}
		return native.Initialize(rt)
	}
	home, err := Home()
	if err != nil {
		return nil, err
	}
	rt, err := native.Locate("embedded", home)
	if err != nil {
		return nil, err
	}
	return native.Initialize(rt)
}
