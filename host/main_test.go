package host

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tandemhost/tandem/internal/logbuf"
	"github.com/tandemhost/tandem/internal/pytest"
	"github.com/tandemhost/tandem/native"
	"github.com/tandemhost/tandem/policy"
)

// rt is the embedded CPython, started once for the test binary.
var rt *native.Runtime

func TestMain(m *testing.M) {
	var err error
	rt, err = pytest.Runtime()
	if err != nil {
		fmt.Fprintln(os.Stderr, "host tests: the Python runtime cannot start:", err)
		os.Exit(1)
	}
	code := m.Run()
	// Every pool must be closed before Python can be finalized.
	for _, srv := range []*Server{shared.srv, full.srv} {
		if srv == nil {
			continue
		}
		if err := srv.Shutdown(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "shutdown:", err)
			code = 1
		}
	}
	if err := native.Finalize(); err != nil {
		fmt.Fprintln(os.Stderr, "finalize:", err)
		code = 1
	}
	os.Exit(code)
}

// logBuffer collects a server's log lines; handlers log from many
// goroutines.
type logBuffer = logbuf.Buffer

// shared is the server most tests use: starting workers takes a while,
// so the tests that do not stop it share one.
var shared struct {
	once sync.Once
	srv  *Server
	log  *logBuffer
	err  error
}

func sharedServer(t *testing.T) (*Server, *logBuffer) {
	t.Helper()
	shared.once.Do(func() {
		shared.log = &logBuffer{}
		shared.srv, shared.err = newServer("testdata/server.yaml", shared.log)
	})
	require.NoError(t, shared.err)
	return shared.srv, shared.log
}

// newServer builds a server for the policy file, logging into log.
func newServer(file string, log *logBuffer) (*Server, error) {
	pol, err := policy.Load(file, policy.Options{})
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return New(context.Background(), pol, Options{Logger: logger, Runtime: rt})
}
