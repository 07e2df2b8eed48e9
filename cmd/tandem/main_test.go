// The end-to-end tests build the real tandem binary once and run it as a
// user would. They are an external test package on purpose: importing
// package main would link the 40 MB embedded runtime into the test binary
// too.
package main_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tandemhost/tandem/internal/pytest"
)

// tandem is the binary under test.
var tandem string

// repoRoot is the repository root, where the README's commands run.
var repoRoot = pytest.ModuleRoot()

func TestMain(m *testing.M) {
	// The binary extracts the embedded runtime into the same cache that
	// pytest.Home fills, so this extracts it at most once for everyone.
	if _, err := pytest.Home(); err != nil {
		fmt.Fprintln(os.Stderr, "cmd/tandem tests:", err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "tandem-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tandem = filepath.Join(dir, "tandem")
	build := exec.Command("go", "build", "-o", tandem, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building tandem:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what one run of the binary did.
type result struct {
	code           int
	stdout, stderr string
}

// textLogs makes the logs of the commands the tests run text, which they
// read: without a terminal, tandem logs JSON.
var textLogs = []string{"--log-format", "text"}

// run runs tandem with args in dir ("" for the repository root) and waits
// for it.
func run(t *testing.T, dir string, args ...string) result {
	t.Helper()
	cmd := exec.Command(tandem, append(slices.Clone(textLogs), args...)...)
	cmd.Dir = dir
	if dir == "" {
		cmd.Dir = repoRoot
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		require.True(t, ok, "running tandem: %v", err)
		code = ee.ExitCode()
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// server is a running `tandem serve`.
type server struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	log  bytes.Buffer
	done chan struct{}
}

// startServe runs `tandem serve` with args plus --listen 127.0.0.1:0 and
// waits for its ready line, which names the port it got.
func startServe(t *testing.T, args ...string) *server {
	t.Helper()
	s := &server{done: make(chan struct{})}
	s.cmd = exec.Command(tandem, append(append(slices.Clone(textLogs), "serve", "--listen", "127.0.0.1:0"), args...)...)
	s.cmd.Dir = repoRoot
	stderr, err := s.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, s.cmd.Start())
	ready := make(chan string, 1)
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.log.WriteString(line + "\n")
			s.mu.Unlock()
			if strings.Contains(line, `msg="tandem serving"`) {
				for f := range strings.FieldsSeq(line) {
					if a, ok := strings.CutPrefix(f, "addr="); ok {
						ready <- a
					}
				}
			}
		}
	}()
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Kill()
			_ = s.cmd.Wait()
		}
	})
	select {
	case s.addr = <-ready:
	case <-s.done:
		t.Fatalf("tandem serve exited before it was ready:\n%s", s.logs())
	case <-time.After(60 * time.Second):
		t.Fatalf("tandem serve was not ready after 60s:\n%s", s.logs())
	}
	return s
}

func (s *server) logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// stop sends sig and returns the exit code.
func (s *server) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	require.NoError(t, s.cmd.Process.Signal(sig))
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("tandem serve did not exit after %s:\n%s", sig, s.logs())
	}
	err := s.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	require.NoError(t, err)
	return 0
}
