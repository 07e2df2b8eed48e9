// Package embedded carries tandem's default CPython (3.14, from
// github.com/kluctl/go-embed-python) inside the binary and extracts it once
// into the user cache directory.
//
// The runtime adds about 40 MB to any binary that links this package, so
// only the CLI imports it. Tests find the extracted runtime through
// internal/pytest instead of embedding their own copy.
package embedded

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/kluctl/go-embed-python/python"
	"golang.org/x/sys/unix"
)

// module is the Go module that holds the runtime.
const module = "github.com/kluctl/go-embed-python"

// fallbackVersion is used when the binary carries no module information.
const fallbackVersion = "3.14.6"

// completeMarker is written last, so a directory that has it was fully
// extracted (a crash half-way leaves no marker and the next start redoes it).
const completeMarker = ".tandem-complete"

// Version is the CPython version of the embedded runtime, from the module
// version (v0.0.0-3.14.6-20260610-1 carries 3.14.6).
func Version() string {
	v, _ := moduleInfo()
	return v
}

// moduleInfo returns the Python version and a content key of the embedded
// module: its go.sum hash, which changes whenever the embedded files do.
func moduleInfo() (version, key string) {
	version, key = fallbackVersion, "dev"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	for _, d := range bi.Deps {
		if d.Path != module {
			continue
		}
		if d.Replace != nil {
			d = d.Replace
		}
		// v0.0.0-3.14.6-20260610-1
		if parts := strings.Split(d.Version, "-"); len(parts) >= 2 && strings.Count(parts[1], ".") == 2 {
			version = parts[1]
		}
		if d.Sum != "" {
			h := sha256.Sum256([]byte(d.Sum))
			key = hex.EncodeToString(h[:8])
		}
	}
	return
}

// CacheDir is where tandem keeps extracted runtimes: $TANDEM_CACHE_DIR, or
// tandem/ under the user cache directory.
func CacheDir() (string, error) {
	if d := os.Getenv("TANDEM_CACHE_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding the user cache directory (set TANDEM_CACHE_DIR): %w", err)
	}
	return filepath.Join(d, "tandem"), nil
}

// Home returns the extracted runtime's prefix (it has bin/ and lib/),
// extracting it first if this version is not in the cache yet. notify, if
// not nil, receives one line when extraction starts. Concurrent callers, in
// this or other processes, wait for one extraction.
func Home(notify func(string)) (string, error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	version, key := moduleInfo()
	dir := filepath.Join(cache, fmt.Sprintf("python-%s-%s", version, key))
	if fileExists(filepath.Join(dir, completeMarker)) {
		return dir, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", fmt.Errorf("creating the runtime cache %s: %w", cache, err)
	}
	// Not dir+".lock": the library locks that file itself while it copies.
	lock, err := os.OpenFile(dir+".tandem-lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("locking the runtime cache: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return "", fmt.Errorf("locking %s: %w", lock.Name(), err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)
	if fileExists(filepath.Join(dir, completeMarker)) {
		return dir, nil // another process extracted it while we waited
	}
	if notify != nil {
		notify(fmt.Sprintf("extracting the embedded Python %s into %s (first run only)", version, dir))
	}
	if _, err := python.NewEmbeddedPythonWithTmpDir(dir, false); err != nil {
		return "", fmt.Errorf("extracting the embedded Python into %s: %w", dir, err)
	}
	if !fileExists(filepath.Join(dir, "lib")) {
		return "", errors.New("the embedded Python has no lib directory for this platform")
	}
	precompile(dir, notify)
	if err := os.WriteFile(filepath.Join(dir, completeMarker), []byte(version+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("marking %s complete: %w", dir, err)
	}
	return dir, nil
}

// precompile writes the standard library's bytecode once. The embedded
// files carry no __pycache__, and where PYTHONDONTWRITEBYTECODE is set every
// worker would compile what it imports from source again: that tripled
// worker start-up (90 ms → 260 ms per interpreter) when measured.
func precompile(dir string, notify func(string)) {
	exe := filepath.Join(dir, "bin", "python3")
	matches, _ := filepath.Glob(filepath.Join(dir, "lib", "python3.*"))
	if len(matches) != 1 || !fileExists(exe) {
		return
	}
	// -E: ignore PYTHON* variables of this environment; -s: no user site.
	cmd := exec.Command(exe, "-E", "-s", "-m", "compileall", "-q", "-j0",
		"-x", `/(test|tests|idlelib|tkinter|turtledemo)/`, matches[0])
	if out, err := cmd.CombinedOutput(); err != nil && notify != nil {
		notify(fmt.Sprintf("precompiling the standard library failed (workers will start slower): %v %s", err, out))
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
