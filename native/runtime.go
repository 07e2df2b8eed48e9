package native

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Runtime is a CPython installation tandem can load: where its library and
// standard library are, and what it can do.
type Runtime struct {
	// Kind is how the runtime was chosen: "embedded", "library" or "virtualenv".
	Kind string `json:"kind"`
	// Spec is what the user asked for: "embedded" or the path they gave.
	Spec string `json:"spec"`
	// Version is the full version ("3.14.6"); after Load it is the version the
	// library itself reports.
	Version string `json:"version"`
	// Major and Minor are the version's first two numbers.
	Major int `json:"major"`
	Minor int `json:"minor"`
	// Home is the installation prefix given to Python as PYTHONHOME ("" lets
	// Python work it out).
	Home string `json:"home"`
	// Library is the libpython shared object that is loaded.
	Library string `json:"library"`
	// Executable is the runtime's python program, if it has one; handlers
	// see it as sys.executable.
	Executable string `json:"executable,omitempty"`
	// SitePackages are a virtualenv's package directories.
	SitePackages []string `json:"site_packages,omitempty"`
	// BuildInfo is the rest of Py_GetVersion() after the version, once loaded.
	BuildInfo string `json:"build,omitempty"`
}

// OwnGIL reports whether the runtime can run sub-interpreters that each own
// their GIL (PEP 684, CPython 3.12 and later).
func (r *Runtime) OwnGIL() bool { return r.Major > 3 || (r.Major == 3 && r.Minor >= 12) }

// MinVersion is the oldest CPython tandem loads; below 3.12 it runs in
// shared mode only.
const MinVersion = "3.11"

var libNameVersion = regexp.MustCompile(`^libpython(\d+)\.(\d+)[a-z]*\.so(\.[0-9.]+)?$`)

// Locate finds the runtime that spec names, without loading it. spec is
// "embedded" (then embeddedHome is the extracted embedded runtime), a path to
// a libpython3.X.so file, or a virtualenv directory. The error names what was
// tried.
func Locate(spec, embeddedHome string) (*Runtime, error) {
	switch {
	case spec == "" || spec == "embedded":
		if embeddedHome == "" {
			return nil, errors.New("the embedded Python runtime is not available in this program; give python.runtime a libpython path or a virtualenv")
		}
		rt, err := fromPrefix(embeddedHome)
		if err != nil {
			return nil, fmt.Errorf("embedded Python runtime at %s: %w", embeddedHome, err)
		}
		rt.Kind, rt.Spec = "embedded", "embedded"
		return rt, nil
	}
	st, err := os.Stat(spec)
	if err != nil {
		return nil, fmt.Errorf("python runtime %q: %w (expected \"embedded\", a libpython3.X.so file or a virtualenv directory)", spec, err)
	}
	if st.IsDir() {
		rt, err := fromVirtualenv(spec)
		if err != nil {
			return nil, fmt.Errorf("python runtime %q: %w", spec, err)
		}
		return rt, nil
	}
	rt, err := fromLibrary(spec)
	if err != nil {
		return nil, fmt.Errorf("python runtime %q: %w", spec, err)
	}
	return rt, nil
}

// fromPrefix finds the shared library under an installation prefix.
func fromPrefix(prefix string) (*Runtime, error) {
	matches, _ := filepath.Glob(filepath.Join(prefix, "lib", "libpython3*.so*"))
	var best string
	for _, m := range matches {
		base := filepath.Base(m)
		if base == "libpython3.so" || !libNameVersion.MatchString(base) {
			continue // the stable-ABI forwarder, or not a libpython
		}
		// Prefer the real file (libpython3.14.so.1.0) over a dev symlink.
		if best == "" || len(base) > len(filepath.Base(best)) {
			best = m
		}
	}
	if best == "" {
		return nil, fmt.Errorf("no libpython3.X.so under %s", filepath.Join(prefix, "lib"))
	}
	rt, err := fromLibrary(best)
	if err != nil {
		return nil, err
	}
	return rt, nil
}

// fromLibrary describes the runtime a libpython file belongs to.
func fromLibrary(lib string) (*Runtime, error) {
	abs, err := filepath.Abs(lib)
	if err != nil {
		return nil, err
	}
	m := libNameVersion.FindStringSubmatch(filepath.Base(abs))
	if m == nil {
		return nil, fmt.Errorf("%s is not a libpython3.X.so file", filepath.Base(abs))
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	rt := &Runtime{Kind: "library", Spec: lib, Library: abs, Major: major, Minor: minor,
		Version: fmt.Sprintf("%d.%d", major, minor)}
	// A standard layout is PREFIX/lib/libpython3.X.so with the standard
	// library in PREFIX/lib/python3.X; Debian's multiarch one puts the
	// library one level deeper (PREFIX/lib/x86_64-linux-gnu/).
	var tried []string
	for _, prefix := range []string{filepath.Dir(filepath.Dir(abs)), filepath.Dir(filepath.Dir(filepath.Dir(abs)))} {
		stdlib := filepath.Join(prefix, "lib", fmt.Sprintf("python%d.%d", major, minor))
		if fileExists(filepath.Join(stdlib, "os.py")) {
			rt.Home = prefix
			break
		}
		tried = append(tried, stdlib)
	}
	if rt.Home == "" {
		// CPython would end the process at start-up without it.
		return nil, fmt.Errorf("cannot find the standard library of %s (looked for os.py in %s); use a libpython from a complete installation, or a virtualenv",
			filepath.Base(abs), strings.Join(tried, " and "))
	}
	for _, name := range []string{fmt.Sprintf("python%d.%d", major, minor), "python3"} {
		exe := filepath.Join(rt.Home, "bin", name)
		if fileExists(exe) {
			rt.Executable = exe
			break
		}
	}
	if major < 3 || (major == 3 && minor < 11) {
		return nil, fmt.Errorf("CPython %d.%d is too old: tandem needs %s or later (3.12 or later for own-GIL workers)", major, minor, MinVersion)
	}
	return rt, nil
}

// fromVirtualenv reads pyvenv.cfg to find the base runtime and adds the
// environment's site-packages.
func fromVirtualenv(dir string) (*Runtime, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(abs, "pyvenv.cfg")
	f, err := os.Open(cfgPath)
	if err != nil {
		return nil, fmt.Errorf("not a virtualenv: %w", err)
	}
	defer f.Close()
	cfg := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok {
			cfg[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", cfgPath, err)
	}
	home := cfg["home"]
	if home == "" {
		return nil, fmt.Errorf("%s has no \"home\" line naming the base Python", cfgPath)
	}
	// home is the base interpreter's bin directory.
	base := filepath.Dir(home)
	rt, err := fromPrefix(base)
	if err != nil {
		return nil, fmt.Errorf("base Python of the virtualenv (%s from %s): %w", base, cfgPath, err)
	}
	rt.Kind, rt.Spec = "virtualenv", dir
	sp := filepath.Join(abs, "lib", fmt.Sprintf("python%d.%d", rt.Major, rt.Minor), "site-packages")
	if _, err := os.Stat(sp); err == nil {
		rt.SitePackages = []string{sp}
	}
	if exe := filepath.Join(abs, "bin", "python"); fileExists(exe) {
		rt.Executable = exe
	}
	return rt, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// The process's one CPython: it can be loaded and initialized once.
var proc struct {
	mu          sync.Mutex
	rt          *Runtime
	initialized bool
	finalized   bool
	// calls runs functions on the thread that initialized Python.
	calls chan func()
	done  chan struct{}
}

// Load dlopens the runtime's library and fills in the version it reports.
// A process loads at most one runtime; loading the same one again is a no-op.
func Load(rt *Runtime) (*Runtime, error) {
	proc.mu.Lock()
	defer proc.mu.Unlock()
	if proc.rt != nil {
		if proc.rt.Library != rt.Library {
			return nil, fmt.Errorf("this process already loaded %s; one process runs one Python runtime", proc.rt.Library)
		}
		return proc.rt, nil
	}
	if err := cLoad(rt.Library); err != nil {
		return nil, fmt.Errorf("loading %s: %w", rt.Library, err)
	}
	loaded := *rt
	full := cVersion()
	ver, build, _ := strings.Cut(full, " ")
	loaded.Version, loaded.BuildInfo = ver, strings.TrimSpace(build)
	parts := strings.SplitN(ver, ".", 3)
	if len(parts) >= 2 {
		loaded.Major, _ = strconv.Atoi(parts[0])
		loaded.Minor, _ = strconv.Atoi(strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	}
	if loaded.OwnGIL() && !cHasSubinterpreters() {
		return nil, fmt.Errorf("%s reports CPython %s but lacks Py_NewInterpreterFromConfig", rt.Library, ver)
	}
	proc.rt = &loaded
	return proc.rt, nil
}

// Initialize loads rt if needed and starts the interpreter runtime on a
// dedicated OS thread that stays for the process's life. It is idempotent.
func Initialize(rt *Runtime) (*Runtime, error) {
	loaded, err := Load(rt)
	if err != nil {
		return nil, err
	}
	proc.mu.Lock()
	defer proc.mu.Unlock()
	if proc.finalized {
		return nil, errors.New("the Python runtime was already finalized in this process")
	}
	if proc.initialized {
		return loaded, nil
	}
	proc.calls = make(chan func())
	proc.done = make(chan struct{})
	started := make(chan error, 1)
	go mainThread(loaded, started)
	if err := <-started; err != nil {
		return nil, err
	}
	proc.initialized = true
	return loaded, nil
}

// mainThread owns the main interpreter's thread state from initialization
// to finalization (CPython wants both on one thread).
func mainThread(rt *Runtime, started chan<- error) {
	runtime.LockOSThread() // never unlocked: this thread's state belongs to CPython
	prev, hadHome := os.LookupEnv("PYTHONHOME")
	if err := cInitialize(rt.Home, rt.Executable); err != nil {
		started <- fmt.Errorf("starting Python %s from %s: %w", rt.Version, rt.Library, err)
		return
	}
	// PYTHONHOME was only for finding the standard library; give handlers
	// (and their subprocesses) the environment tandem was started with.
	restore := "import os\nos.environ.pop('PYTHONHOME', None)\n"
	if hadHome {
		restore = fmt.Sprintf("import os\nos.environ['PYTHONHOME'] = %s\n", strconv.Quote(prev))
	}
	if rt.Home == "" {
		restore = ""
	}
	if restore != "" {
		if err := cExecMain(restore); err != nil {
			started <- err
			return
		}
	}
	started <- nil
	for f := range proc.calls {
		f()
	}
	cFinalize()
	close(proc.done)
}

// Finalize ends the runtime after every pool has been closed. Python cannot
// be started again in this process afterwards.
func Finalize() error {
	proc.mu.Lock()
	defer proc.mu.Unlock()
	if !proc.initialized || proc.finalized {
		return nil
	}
	if n := livePools.Load(); n > 0 {
		// Also a closed pool whose abandoned worker is still stuck in a
		// handler: finalizing would pull the runtime from under it.
		return fmt.Errorf("cannot finalize Python while %d worker pool(s) are open or have workers stuck in a handler", n)
	}
	proc.finalized = true
	close(proc.calls)
	<-proc.done
	return nil
}

// Loaded returns the runtime this process loaded, or nil.
func Loaded() *Runtime {
	proc.mu.Lock()
	defer proc.mu.Unlock()
	return proc.rt
}

// FindPyenv lists the pyenv-built shared libraries under root (usually
// ~/.pyenv/versions), newest first; used by tests for a version matrix.
func FindPyenv(root string) []string {
	libs, _ := filepath.Glob(filepath.Join(root, "*", "lib", "libpython3.*.so"))
	sort.Sort(sort.Reverse(sort.StringSlice(libs)))
	return libs
}
