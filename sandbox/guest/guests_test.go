package guest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// abiImports are the http_handler functions of the http-wasm handler ABI
// with their signatures: a guest may import any of them, and nothing else
// from that module.
var abiImports = map[string]string{
	"enable_features":      "(i32)->(i32)",
	"get_config":           "(i32,i32)->(i32)",
	"log_enabled":          "(i32)->(i32)",
	"log":                  "(i32,i32,i32)->()",
	"get_method":           "(i32,i32)->(i32)",
	"set_method":           "(i32,i32)->()",
	"get_uri":              "(i32,i32)->(i32)",
	"set_uri":              "(i32,i32)->()",
	"get_protocol_version": "(i32,i32)->(i32)",
	"get_header_names":     "(i32,i32,i32)->(i64)",
	"get_header_values":    "(i32,i32,i32,i32,i32)->(i64)",
	"set_header_value":     "(i32,i32,i32,i32,i32)->()",
	"add_header_value":     "(i32,i32,i32,i32,i32)->()",
	"remove_header":        "(i32,i32,i32)->()",
	"read_body":            "(i32,i32,i32)->(i64)",
	"write_body":           "(i32,i32,i32)->()",
	"get_status_code":      "()->(i32)",
	"set_status_code":      "(i32)->()",
	"get_source_addr":      "(i32,i32)->(i32)",
}

// wasiImports are the WASI functions that Go's wasip1 runtime and the
// standard library (os, which fmt and encoding/json bring in) import. The
// host must provide each, and none reaches anything the host did not give
// the module: no preopened directories, arguments or environment. A Go
// release that imports more fails this test, which is the moment to review
// the host's WASI module.
var wasiImports = []string{
	"args_get", "args_sizes_get", "clock_time_get", "environ_get", "environ_sizes_get",
	"fd_close", "fd_fdstat_get", "fd_fdstat_set_flags", "fd_prestat_dir_name", "fd_prestat_get",
	"fd_read", "fd_write", "poll_oneoff", "proc_exit", "random_get", "sched_yield",
}

// guestExports are what a host requires of every guest.
var guestExports = map[string]string{
	"handle_request":  "()->(i64)",
	"handle_response": "(i32,i32)->()",
	"_initialize":     "()->()",
}

// TestExampleGuests builds every example guest with build.sh, as make
// does, and checks each binary's imports and exports against the ABI.
func TestExampleGuests(t *testing.T) {
	skipBuilds(t)
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh to run examples/guests/build.sh")
	}
	out := t.TempDir()
	log, err := exec.Command(sh, filepath.Join("..", "..", "examples", "guests", "build.sh"), out).CombinedOutput()
	if err != nil {
		t.Skipf("the example guests did not build, so their binaries are not checked "+
			"(the Go toolchain must build GOOS=wasip1 GOARCH=wasm -buildmode=c-shared): %v\n%s", err, log)
	}
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	if len(lines) < 4 {
		t.Fatalf("build.sh built %d guests, want at least 4:\n%s", len(lines), log)
	}
	for _, line := range lines {
		name, rest, _ := strings.Cut(line, " ")
		path, _, _ := strings.Cut(rest, " ")
		t.Run(name, func(t *testing.T) {
			m := readGuest(t, path)
			checkGuest(t, m)
		})
	}
}

// TestSDKImports builds a guest that makes every SDK call and checks that
// it imports every function of the ABI, each with its signature.
func TestSDKImports(t *testing.T) {
	skipBuilds(t)
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build a guest with")
	}
	path := filepath.Join(t.TempDir(), "allcalls.wasm")
	cmd := exec.Command(gocmd, "build", "-buildmode=c-shared", "-trimpath", "-o", path, "./testdata/allcalls")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if log, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("testdata/allcalls did not build for GOOS=wasip1 GOARCH=wasm, so the SDK's imports are not checked: %v\n%s", err, log)
	}
	m := readGuest(t, path)
	checkGuest(t, m)
	for name := range abiImports {
		if !slices.ContainsFunc(m.imports, func(im wasmImport) bool {
			return im.module == "http_handler" && im.name == name
		}) {
			t.Errorf("http_handler.%s is not imported: some SDK call does not reach it", name)
		}
	}
}

func skipBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("building guests takes a while; skipped in -short mode")
	}
}

func readGuest(t *testing.T, path string) *wasmModule {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d bytes", filepath.Base(path), len(b))
	m, err := parseWasm(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

func checkGuest(t *testing.T, m *wasmModule) {
	t.Helper()
	for name, want := range guestExports {
		ex, ok := m.exports[name]
		switch {
		case !ok:
			t.Errorf("export %s is missing", name)
		case ex.kind != 0 || ex.sig != want:
			t.Errorf("export %s: kind %d %s, want a function %s", name, ex.kind, ex.sig, want)
		}
	}
	if ex, ok := m.exports["memory"]; !ok || ex.kind != 2 {
		t.Errorf("export memory is missing or not a memory")
	}
	var wasi []string
	for _, im := range m.imports {
		if im.kind != 0 {
			t.Errorf("import %s.%s is not a function (kind %d)", im.module, im.name, im.kind)
			continue
		}
		switch im.module {
		case "http_handler":
			if want, ok := abiImports[im.name]; !ok {
				t.Errorf("import http_handler.%s is not a function of the ABI", im.name)
			} else if im.sig != want {
				t.Errorf("import http_handler.%s: %s, want %s", im.name, im.sig, want)
			}
		case "wasi_snapshot_preview1":
			wasi = append(wasi, im.name)
			if !slices.Contains(wasiImports, im.name) {
				t.Errorf("import wasi_snapshot_preview1.%s is new: review it for the host's WASI module, then add it to wasiImports", im.name)
			}
		default:
			t.Errorf("import %s.%s: only http_handler and wasi_snapshot_preview1 are provided", im.module, im.name)
		}
	}
	t.Logf("WASI imports: %s", strings.Join(wasi, " "))
}
