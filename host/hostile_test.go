package host

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemhost/tandem/native"
	"github.com/tandemhost/tandem/policy"
)

// The same Python handler on the same path in two tenants is one native
// route: the pool is given its ID once (the workers refuse a duplicate ID
// and the server would not start).
func TestSamePythonRouteInTwoTenants(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tandem.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`version: 1
python: {workers: 1, strategy: pooled}
tenants:
  a: {hosts: [a.localhost], trust: trusted}
  b: {hosts: [b.localhost], trust: trusted}
routes:
  - {path: /x, tenant: a, handler: {python: svc:where}}
  - {path: /x, tenant: b, handler: {python: svc:where}}
  - {path: /y, tenant: b, handler: {python: svc:where}}
`), 0o644))
	pol, err := policy.Load(file, policy.Options{})
	require.NoError(t, err)
	var got []native.Route
	stop := errors.New("stop here")
	_, err = New(context.Background(), pol, Options{Runtime: rt, NewPool: func(cfg native.Config) (*native.Pool, error) {
		got = cfg.Routes
		return nil, stop
	}})
	require.ErrorIs(t, err, stop)
	require.Len(t, got, 2)
	assert.Equal(t, "/x", got[0].Path)
	assert.Equal(t, "/y", got[1].Path)
	assert.NotEqual(t, got[0].ID, got[1].ID)
}

// A body that stops arriving until the listener's read timeout passes is
// a 408, not a 400: the client was too slow, the request was not bad.
func TestBodyReadTimeoutIs408(t *testing.T) {
	srv, _ := sharedServer(t)
	req := httptest.NewRequest("POST", "/echo", io.MultiReader(strings.NewReader("ab"), timeoutReader{}))
	req.ContentLength = 10
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	assert.Equal(t, 408, rec.Code)
	assert.Equal(t, "the request body did not arrive within the read timeout", errorOf(t, rec).Error)

	// Other read errors (a client that hung up) stay a 400.
	req = httptest.NewRequest("POST", "/echo", io.MultiReader(strings.NewReader("ab"), iotest.ErrReader(io.ErrUnexpectedEOF)))
	req.ContentLength = 10
	rec = httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	assert.Equal(t, 400, rec.Code)
}

// timeoutReader fails as a connection past its read deadline does.
type timeoutReader struct{}

func (timeoutReader) Read([]byte) (int, error) {
	return 0, &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
}

// A body_schema route refuses a body that is not UTF-8 with its 422, as it
// refuses any other body that is not JSON, instead of passing on a body
// that Go's decoder read with the bad bytes replaced.
func TestBodySchemaRefusesInvalidUTF8(t *testing.T) {
	file := filepath.Join(t.TempDir(), "item.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"type": "object", "properties": {"s": {"type": "string"}}}`), 0o644))
	s, err := compileBodySchema(file)
	require.NoError(t, err)
	assert.Nil(t, s.validate([]byte(`{"s": "caf\u00e9"}`)))
	assert.Equal(t, []fieldError{{Path: "", Message: "the body is not valid JSON: it is not UTF-8"}},
		s.validate([]byte("{\"s\": \"caf\xe9\"}")))
}

// After a 413 the server reads no more of the request and closes the
// connection at once, for a declared length net/http would otherwise
// drain (under 256 KiB) and for a chunked body past the limit.
func TestOversizedBodyClosesAtOnce(t *testing.T) {
	srv, _ := sharedServer(t)
	ts := httptest.NewServer(srv.Handler()) // no read timeout: a drain would wait for ever
	defer ts.Close()
	for name, req := range map[string]string{
		"declared": "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n",
		"chunked":  "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n" + strings.Repeat("x", 32) + "\r\n",
	} {
		c, err := net.Dial("tcp", ts.Listener.Addr().String())
		require.NoError(t, err)
		_, err = io.WriteString(c, req)
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err, name)
		_, _ = io.Copy(io.Discard, resp.Body)
		assert.Equal(t, 413, resp.StatusCode, name)
		start := time.Now()
		_, err = br.ReadByte()
		assert.ErrorIs(t, err, io.EOF, name)
		assert.Less(t, time.Since(start), time.Second, name)
		c.Close()
	}
}
