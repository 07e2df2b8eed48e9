package sandbox

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/tandemhost/tandem/internal/logbuf"
)

// logBuffer is a slog destination tests can read while servers write.
type logBuffer = logbuf.Buffer

// testEngine returns an engine with its own cache directory and a logger
// that writes, at debug level, to the returned buffer.
func testEngine(t testing.TB) (*Engine, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	e, err := NewEngine(context.Background(), EngineConfig{
		CacheDir: t.TempDir(),
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	return e, logs
}

// testdata reads a file under testdata/.
func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func compile(t testing.TB, e *Engine, name string, wasm []byte, limits Limits) *Plugin {
	t.Helper()
	p, err := e.Compile(context.Background(), PluginConfig{Name: name, Wasm: wasm, Limits: limits, Config: []byte("cfg")})
	require.NoError(t, err)
	return p
}

var goGuests sync.Map // source dir -> goGuest

type goGuest struct {
	once sync.Once
	wasm []byte
	err  error
}

// buildGoGuest builds the Go guest in testdata/<dir> with the upstream Go
// toolchain, once per test binary, or skips the test when it cannot.
func buildGoGuest(t testing.TB, dir string) []byte {
	t.Helper()
	v, _ := goGuests.LoadOrStore(dir, &goGuest{})
	g := v.(*goGuest)
	g.once.Do(func() {
		out := filepath.Join(os.TempDir(), "tandem-sandbox-"+dir+"-"+strings.ReplaceAll(t.Name(), "/", "_")+".wasm")
		defer os.Remove(out)
		src, err := filepath.Abs(filepath.Join("testdata", dir, "main.go"))
		if err != nil {
			g.err = err
			return
		}
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, src)
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		cmd.Dir = os.TempDir() // outside the module: the guest needs no dependency
		if msg, err := cmd.CombinedOutput(); err != nil {
			g.err = &buildError{msg: string(msg), err: err}
			return
		}
		g.wasm, g.err = os.ReadFile(out)
	})
	if g.err != nil {
		t.Skipf("cannot build the Go guest testdata/%s with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared: %v", dir, g.err)
	}
	return g.wasm
}

type buildError struct {
	msg string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.msg }

// echoServer serves e over HTTP for the duration of the test.
func echoServer(t testing.TB, e *echo.Echo) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv
}

// newEcho returns an Echo without its banner and with errors a test can
// see in the response.
func newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	return e
}

// backend is a next handler that echoes what it received.
func backend() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Backend-Method", r.Method)
		w.Header().Set("X-Backend-URI", r.RequestURI)
		w.Header().Set("X-Backend-Body", string(body))
		w.Header().Set("X-Backend-A", strings.Join(r.Header.Values("X-A"), ","))
		w.Header().Set("X-Backend-Remove", r.Header.Get("X-Remove"))
		w.Header().Set("X-Backend-Guest-Read", r.Header.Get("X-Guest-Read"))
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "backend body")
	})
}

type response struct {
	status int
	header http.Header
	body   string
}

// get sends a request built by the options and returns what came back.
func do(t testing.TB, client *http.Client, method, url string, body string, header ...string) response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	h := resp.Header.Clone()
	for k, v := range resp.Trailer {
		h["Trailer-"+k] = v
	}
	return response{status: resp.StatusCode, header: h, body: string(b)}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
