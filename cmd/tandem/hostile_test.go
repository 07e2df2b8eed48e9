package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The HTTP hostility tests send, over raw TCP to the real binary, what a
// careless or hostile client sends: bodies over the limit, headers and
// bodies a byte at a time, broken request lines, floods of headers,
// parameters that do not convert, and paths and Host headers meant to
// reach a route or tenant they should not. Each case asserts exactly what
// the server answers and that it keeps serving; docs/reliability.md ("HTTP
// hostility") says the same in prose.

const hostilePolicy = `version: 1
server:
  max_body: 1KiB
  timeouts: {read_header: 1s, read: 2s}
python:
  path: [app]
  workers: 2
  strategy: pooled
tenants:
  a: {hosts: [a.localhost], trust: trusted}
  b: {hosts: [b.localhost], trust: trusted}
  c: {hosts: [c.localhost], trust: trusted}
routes:
  - {path: /ok, handler: {python: svc:ok}}
  - {path: /upload, methods: [POST], handler: {python: svc:upload}}
  - {path: /headers, handler: {python: svc:headers}}
  - {path: "/items/:id", handler: {python: svc:item}}
  - {path: "/names/:name", handler: {python: svc:name}}
  - {path: /q, handler: {python: svc:query}}
  - {path: /json, methods: [POST], handler: {python: svc:parse}}
  - {path: /checked, methods: [POST], handler: {python: svc:parse}, body_schema: item.json}
  - {path: /b, handler: {python: svc:where}}
  - {path: "/a/*", handler: {python: svc:where}}
  # The same handler on the same path in two tenants.
  - {path: /x, tenant: a, handler: {python: svc:where}}
  - {path: /x, tenant: b, handler: {python: svc:where}}
  - {path: /secret, tenant: b, handler: {python: svc:secret}}
  - {path: "/guarded/*", tenant: c, handler: {python: svc:guarded}}
  - {path: "/*", tenant: c, handler: {python: svc:where}}
`

const hostileApp = `def ok(request):
    return "ok"

def upload(request):
    return {"size": len(request.body)}

def headers(request):
    return {"x_a": len(request.headers.getall("X-A")), "x_big": len(request.headers.get("X-Big", ""))}

def item(request, id: int):
    return {"id": id}

def name(request, name: str):
    return {"name": name}

def query(request, n: int = 0, f: float = 0.0, b: bool = False, s: str = ""):
    return {"n": n, "f": f, "b": b, "s": s}

def parse(request):
    return {"json": request.json()}

def where(request):
    return {"route": request.route, "path": request.path, "host": request.host}

def secret(request):
    return {"route": request.route, "tenant": "b", "host": request.host}

def guarded(request):
    return {"route": request.route, "guarded": True, "path": request.path}
`

// hostileReply is one response read off a raw connection.
type hostileReply struct {
	status int
	line   string // "400 Bad Request: missing required Host header"
	body   string
	// connClose: the response said Connection: close; closed: the server
	// then ended the connection at once (checked only after connClose).
	connClose, closed bool
}

// json decodes the body as a JSON object (nil when it is not one).
func (r hostileReply) json() map[string]any {
	var m map[string]any
	_ = json.Unmarshal([]byte(r.body), &m)
	return m
}

// errorText is the "error" of tandem's JSON error body.
func (r hostileReply) errorText() string {
	s, _ := r.json()["error"].(string)
	return s
}

// hostileDial opens a raw connection to the server, closed when the test
// ends.
func hostileDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// readHostileReply reads one response from br (c's reader) within 5s.
func readHostileReply(c net.Conn, br *bufio.Reader) (hostileReply, error) {
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return hostileReply{}, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return hostileReply{}, err
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return hostileReply{}, err
	}
	r := hostileReply{status: resp.StatusCode, line: resp.Status, body: string(b), connClose: resp.Close}
	if resp.Close {
		// At once: a second is the slack for a loaded machine, and less
		// than the read timeout a server draining the body would wait.
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		_, err := br.ReadByte()
		r.closed = errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
	}
	return r, nil
}

// hostileExchange sends req on a new connection and reads the one response. The
// request is written from another goroutine: the server may answer and
// hang up before it has read all of it.
func hostileExchange(t *testing.T, addr string, req string) hostileReply {
	t.Helper()
	c := hostileDial(t, addr)
	go func() { _, _ = io.WriteString(c, req) }()
	r, err := readHostileReply(c, bufio.NewReader(c))
	require.NoError(t, err, "request %.80q", req)
	return r
}

// hostileGet sends a GET for target with the Host host and extra header lines.
func hostileGet(t *testing.T, addr, target, host string, extra ...string) hostileReply {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\n", target, host)
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return hostileExchange(t, addr, b.String())
}

// hostilePost sends body to target with its Content-Length.
func hostilePost(t *testing.T, addr, target, body string) hostileReply {
	t.Helper()
	return hostileExchange(t, addr, fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", target, len(body), body))
}

// stillServing asserts that a normal request is answered, and returns how
// long it took.
func stillServing(t *testing.T, addr string) time.Duration {
	t.Helper()
	start := time.Now()
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + "/ok")
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "ok", string(b))
	return time.Since(start)
}

// dripResult is what a client sending a byte at a time got.
type dripResult struct {
	// closedAfter runs from just before the dial to the server's close;
	// dialed is how long the dial took. The server's clock starts in
	// between, when it accepts the connection.
	closedAfter, dialed time.Duration
	answer              []byte // everything the server sent
	sent                int    // bytes of the dripped part written
}

// drip dials, writes prefix at once, then rest one byte every interval
// until the server closes the connection (or 10s pass).
func drip(addr, prefix, rest string, interval time.Duration) (dripResult, error) {
	// Before the dial: the server's clock starts when it accepts.
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return dripResult{}, err
	}
	defer c.Close()
	_ = c.SetReadDeadline(start.Add(10 * time.Second))
	res := dripResult{dialed: time.Since(start)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		res.answer, _ = io.ReadAll(c) // until EOF, a reset or the deadline
		res.closedAfter = time.Since(start)
	}()
	_, err = io.WriteString(c, prefix)
write:
	for i := 0; err == nil && i < len(rest); i++ {
		select {
		case <-done:
			break write
		case <-time.After(interval):
		}
		if _, err = c.Write([]byte{rest[i]}); err == nil {
			res.sent++
		}
	}
	<-done
	return res, nil
}

// dripSpec is n clients that each write prefix at once and then rest a
// byte per 100ms.
type dripSpec struct {
	n            int
	prefix, rest string
}

// dripMany runs the drips of every spec at once while a normal client
// keeps asking for /ok, and returns each spec's results, the slowest
// normal request and how many were served.
func dripMany(t *testing.T, addr string, specs ...dripSpec) ([][]dripResult, time.Duration, int) {
	t.Helper()
	results := make([][]dripResult, len(specs))
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, s := range specs {
		results[i] = make([]dripResult, s.n)
		for j := range s.n {
			wg.Go(func() {
				r, err := drip(addr, s.prefix, s.rest, 100*time.Millisecond)
				results[i][j] = r
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	var worst time.Duration
	served := 0
	for loop := true; loop; {
		select {
		case <-finished:
			loop = false
		case <-time.After(50 * time.Millisecond):
			worst = max(worst, stillServing(t, addr))
			served++
		}
	}
	require.NoError(t, errors.Join(errs...))
	return results, worst, served
}

func TestHostileHTTP(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"tandem.yaml": hostilePolicy,
		"app/svc.py":  hostileApp,
		"item.json":   `{"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}`,
	})
	srv := startServe(t, "--policy", filepath.Join(dir, "tandem.yaml"))
	addr := srv.addr
	// Every case ends with a normal request, which must succeed.
	hostileCase := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			f(t)
			stillServing(t, addr)
		})
	}

	hostileCase("oversized bodies", func(t *testing.T) {
		const tooLarge = "request body larger than 1KiB"
		// A declared length over max_body is answered before a byte of
		// the body is sent, with Connection: close, and the connection
		// ends at once: the server neither reads nor drains the body.
		for _, extra := range []string{"", "Expect: 100-continue\r\n"} {
			r := hostileExchange(t, addr, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n"+extra+"\r\n")
			// With Expect, the first response is the 413, not a 100.
			assert.Equal(t, 413, r.status, "%q", extra)
			assert.Equal(t, tooLarge, r.errorText())
			assert.True(t, r.connClose)
			assert.True(t, r.closed, "the connection stays open after the 413 (%q)", extra)
		}
		// Under 256 KiB too, where net/http would otherwise wait to read
		// and discard the body before closing.
		r := hostileExchange(t, addr, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
		assert.Equal(t, 413, r.status)
		assert.True(t, r.closed, "the connection stays open after the 413")
		// The same with the first 4 KiB of the body sent.
		r = hostileExchange(t, addr, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n"+strings.Repeat("x", 4096))
		assert.Equal(t, 413, r.status)
		assert.True(t, r.closed)
		// A route that does not exist reads no body either: net/http
		// closes the connection rather than drain 10 GB.
		r = hostileExchange(t, addr, "POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n")
		assert.Equal(t, 404, r.status)
		assert.True(t, r.closed)
		// At the limit, the body is served whole.
		r = hostilePost(t, addr, "/upload", strings.Repeat("x", 1024))
		assert.Equal(t, 200, r.status)
		assert.JSONEq(t, `{"size":1024}`, r.body)

		// A chunked body has no declared length: it is read up to the
		// limit and answered 413 as soon as it passes it. At the limit
		// (four chunks of 256 bytes) the server waits for more; one more
		// chunk, and the 413 comes, with the body unfinished, then the
		// close: it read at most the 1,280 bytes sent.
		c := hostileDial(t, addr)
		chunk := "100\r\n" + strings.Repeat("x", 256) + "\r\n"
		_, err := io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"+strings.Repeat(chunk, 4))
		require.NoError(t, err)
		type answer struct {
			r   hostileReply
			err error
		}
		answered := make(chan answer, 1)
		go func() {
			r, err := readHostileReply(c, bufio.NewReader(c))
			answered <- answer{r, err}
		}()
		select {
		case a := <-answered:
			t.Fatalf("answered a chunked body at its limit: %+v", a)
		case <-time.After(300 * time.Millisecond):
		}
		_, err = io.WriteString(c, chunk)
		require.NoError(t, err)
		a := <-answered
		require.NoError(t, a.err)
		assert.Equal(t, 413, a.r.status)
		assert.Equal(t, tooLarge, a.r.errorText())
		assert.True(t, a.r.closed, "the connection stays open after the 413")
	})

	hostileCase("slow headers", func(t *testing.T) {
		// 30 clients each send their request line a byte per 100ms, 30
		// more send the line at once and then a header slowly, and 10
		// connect and say nothing. Every connection is closed when
		// server.timeouts.read_header (1s) passes; meanwhile a normal
		// client is served as fast as ever.
		line := "GET /ok HTTP/1.1\r\nHost: x\r\n"
		slowHeader := "X-Slow: " + strings.Repeat("a", 100) + "\r\n\r\n"
		rs, worst, served := dripMany(t, addr,
			dripSpec{30, "", line + slowHeader},
			dripSpec{30, line, slowHeader},
			dripSpec{10, "", ""})
		check := func(kind string, rs []dripResult, answer string) {
			for _, r := range rs {
				assert.GreaterOrEqual(t, r.closedAfter, 900*time.Millisecond, kind)
				assert.Less(t, r.closedAfter-r.dialed, 2*time.Second, kind)
				assert.Equal(t, answer, string(r.answer), kind)
			}
		}
		// Cut off inside the request line, net/http answers 400; inside
		// the headers, or before a byte, it closes without a word.
		check("request line", rs[0], "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request")
		check("header", rs[1], "")
		check("silent", rs[2], "")
		t.Logf("during the slowloris: %d normal requests, the slowest %s", served, worst)
		assert.GreaterOrEqual(t, served, 10)
		assert.Less(t, worst, 500*time.Millisecond, "a normal request took %s during the slowloris", worst)
	})

	hostileCase("slow body", func(t *testing.T) {
		// The headers arrive at once, the body a byte per 100ms: when
		// server.timeouts.read (2s from the request's first byte) passes,
		// the body read fails and the answer is a 408, then the close.
		headers := "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
		rs, worst, served := dripMany(t, addr, dripSpec{20, headers, strings.Repeat("x", 100)})
		for _, r := range rs[0] {
			assert.GreaterOrEqual(t, r.closedAfter, 1900*time.Millisecond)
			assert.Less(t, r.closedAfter-r.dialed, 3*time.Second)
			assert.Less(t, r.sent, 100)
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(r.answer)), nil)
			require.NoError(t, err, "%q", r.answer)
			b, _ := io.ReadAll(resp.Body)
			assert.Equal(t, 408, resp.StatusCode)
			assert.True(t, resp.Close)
			assert.Contains(t, string(b), `"error":"the request body did not arrive within the read timeout","status":408`)
		}
		t.Logf("during the slow bodies: %d normal requests, the slowest %s", served, worst)
		assert.GreaterOrEqual(t, served, 10)
		assert.Less(t, worst, 500*time.Millisecond, "a normal request took %s during the slow bodies", worst)
	})

	hostileCase("malformed requests", func(t *testing.T) {
		for _, c := range []struct {
			name, req string
			line      string // the status line net/http writes; "" for tandem's own answer
			status    int
		}{
			{"garbage", "hello\r\n\r\n", "400 Bad Request", 400},
			{"no version", "GET /ok\r\n\r\n", "400 Bad Request", 400},
			{"HTTP/9.9", "GET /ok HTTP/9.9\r\nHost: x\r\n\r\n", "505 HTTP Version Not Supported: unsupported protocol version", 505},
			{"HTTP/2.0 on HTTP/1", "GET /ok HTTP/2.0\r\nHost: x\r\n\r\n", "505 HTTP Version Not Supported: unsupported protocol version", 505},
			{"method not a token", "G@T /ok HTTP/1.1\r\nHost: x\r\n\r\n", "400 Bad Request", 400},
			{"NUL in the target", "GET /o\x00k HTTP/1.1\r\nHost: x\r\n\r\n", "400 Bad Request", 400},
			{"space in the target", "GET /o k HTTP/1.1\r\nHost: x\r\n\r\n", "400 Bad Request", 400},
			{"relative target", "GET ok HTTP/1.1\r\nHost: x\r\n\r\n", "400 Bad Request", 400},
			{"NUL in a header", "GET /ok HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", "400 Bad Request", 400},
			{"space in a header name", "GET /ok HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", "400 Bad Request: invalid header name", 400},
			{"obsolete line folding", "GET /ok HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", "400 Bad Request: malformed Host header", 400},
			{"no Host", "GET /ok HTTP/1.1\r\n\r\n", "400 Bad Request: missing required Host header", 400},
			{"two Hosts", "GET /ok HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400 Bad Request", 400},
			{"URI over 64 KiB", "GET /" + strings.Repeat("a", 100<<10) + " HTTP/1.1\r\nHost: x\r\n\r\n", "431 Request Header Fields Too Large", 431},
			// Request smuggling's raw material.
			{"two Content-Lengths", "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "400 Bad Request", 400},
			{"negative Content-Length", "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", "400 Bad Request", 400},
			{"Transfer-Encoding not chunked", "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "501 Not Implemented", 501},
		} {
			r := hostileExchange(t, addr, c.req)
			assert.Equal(t, c.status, r.status, c.name)
			assert.Equal(t, c.line, r.line, c.name)
			assert.True(t, r.closed, "%s: the connection stays open", c.name)
			stillServing(t, addr)
		}
		// A method that is a valid token but that no route serves reaches
		// the router: tandem's JSON 405.
		r := hostileExchange(t, addr, "FROBNICATE /ok HTTP/1.1\r\nHost: x\r\n\r\n")
		assert.Equal(t, 405, r.status)
		assert.Equal(t, "method not allowed", r.errorText())
		// HTTP/1.0 needs no Host.
		r = hostileExchange(t, addr, "GET /ok HTTP/1.0\r\n\r\n")
		assert.Equal(t, 200, r.status)
		assert.Equal(t, "ok", r.body)
		// Content-Length and chunked together: net/http drops the length
		// and reads the chunks (RFC 9112 §6.3).
		r = hostileExchange(t, addr, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
		assert.Equal(t, 200, r.status)
		assert.JSONEq(t, `{"size":3}`, r.body)
	})

	hostileCase("header floods", func(t *testing.T) {
		// tandem's limit on the request line and headers is 64 KiB (net/
		// http's default is 1 MiB): under it, everything reaches Python.
		r := hostileGet(t, addr, "/headers", "x", "X-Big: "+strings.Repeat("b", 60<<10))
		assert.Equal(t, 200, r.status)
		assert.JSONEq(t, `{"x_a": 0, "x_big": 61440}`, r.body)
		r = hostileGet(t, addr, "/headers", "x", strings.Repeat("X-A: b\r\n", 5000)+"X-Big: c")
		assert.Equal(t, 200, r.status)
		assert.JSONEq(t, `{"x_a": 5000, "x_big": 1}`, r.body)
		// Over it, one huge header or many small ones: 431 and the close.
		for name, extra := range map[string]string{
			"one 100 KiB header":  "X-Big: " + strings.Repeat("b", 100<<10),
			"20000 small headers": strings.Repeat("X-A: b\r\n", 20000) + "X-Big: c",
		} {
			r := hostileGet(t, addr, "/headers", "x", extra)
			assert.Equal(t, 431, r.status, name)
			assert.Equal(t, "431 Request Header Fields Too Large", r.line, name)
			assert.True(t, r.closed, name)
		}
	})

	hostileCase("typed parameters", func(t *testing.T) {
		for _, c := range []struct {
			target string
			status int
			body   string // the whole body, or the start of the error text
		}{
			{"/items/12", 200, `{"id":12}`},
			{"/items/abc", 400, `path parameter "id": expected int, got "abc"`},
			// Invalid UTF-8, percent-encoded or raw: the value reaches
			// Python surrogate-escaped and is named in the error.
			{"/items/%ff", 400, `path parameter "id": expected int, got "`},
			{"/items/\xff", 400, `path parameter "id": expected int, got "`},
			{"/items/1%2F2", 400, `path parameter "id": expected int, got "1/2"`},
			// Over CPython's 4300-digit limit for int(); the value is cut
			// at 100 characters in the message.
			{"/items/" + strings.Repeat("9", 5000), 400, `path parameter "id": expected int, got "` + strings.Repeat("9", 100) + `..."`},
			// Python ints do not overflow.
			{"/items/99999999999999999999999999", 200, `{"id":99999999999999999999999999}`},
			{"/names/%ff", 200, `{"name":"\udcff"}`},
			{"/names/a%2Fb", 200, `{"name":"a/b"}`},
			{"/q?n=abc", 400, `query parameter "n": expected int, got "abc"`},
			// Percent-decoded query text that is not UTF-8 becomes U+FFFD.
			{"/q?n=%ff", 400, "query parameter \"n\": expected int, got \"\ufffd\""},
			{"/q?n=" + strings.Repeat("9", 5000), 400, `query parameter "n": expected int, got "`},
			{"/q?f=abc", 400, `query parameter "f": expected float, got "abc"`},
			{"/q?b=maybe", 400, `query parameter "b": expected bool (true/false/1/0/yes/no/on/off), got "maybe"`},
			{"/q?n=7&f=0.5&b=YES&s=%ff", 200, "{\"n\":7,\"f\":0.5,\"b\":true,\"s\":\"\ufffd\"}"},
		} {
			r := hostileGet(t, addr, c.target, "x")
			assert.Equal(t, c.status, r.status, "%.40q: %s", c.target, r.body)
			if c.status == 200 {
				assert.Equal(t, c.body, r.body, "%.40q", c.target)
				continue
			}
			assert.Equal(t, float64(c.status), r.json()["status"], "%.40q", c.target)
			assert.True(t, strings.HasPrefix(r.errorText(), c.body), "%.40q: %q", c.target, r.errorText())
		}

		// request.json() on a body that is not JSON: 400 with the
		// decoder's reason.
		for body, message := range map[string]string{
			"{bad":             "request body is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
			"{\"a\":\"\xff\"}": "request body is not valid JSON: 'utf-8' codec can't decode byte 0xff in position 6: invalid start byte",
			"":                 "request body is not valid JSON: Expecting value: line 1 column 1 (char 0)",
		} {
			r := hostilePost(t, addr, "/json", body)
			assert.Equal(t, 400, r.status, "%q", body)
			assert.Equal(t, message, r.errorText(), "%q", body)
		}
		// A body_schema answers 422 in Go, naming the field.
		for body, errs := range map[string]string{
			"{bad":                     `[{"path": "", "message": "the body is not valid JSON: invalid character 'b' looking for beginning of object key string"}]`,
			"{\"n\":1,\"s\":\"\xff\"}": `[{"path": "", "message": "the body is not valid JSON: it is not UTF-8"}]`,
			`{"n":"x"}`:                `[{"path": "/n", "message": "got string, want integer"}]`,
			`{"n":1,"n":"x"}`:          `[{"path": "/n", "message": "got string, want integer"}]`,
			`{"n":NaN}`:                `[{"path": "", "message": "the body is not valid JSON: invalid character 'N' looking for beginning of value"}]`,
		} {
			r := hostilePost(t, addr, "/checked", body)
			assert.Equal(t, 422, r.status, "%q", body)
			assert.Equal(t, "the request body does not match the route's schema", r.errorText(), "%q", body)
			got, _ := json.Marshal(r.json()["errors"])
			assert.JSONEq(t, errs, string(got), "%q", body)
		}
		r := hostilePost(t, addr, "/checked", `{"n":1}`)
		assert.Equal(t, 200, r.status)
		assert.JSONEq(t, `{"json":{"n":1}}`, r.body)
	})

	hostileCase("path tricks", func(t *testing.T) {
		// Routing is on the path as sent: no dot segments are removed,
		// an encoded slash is not a separator, and an encoded letter is
		// not that letter. A trick never lands on a route whose pattern
		// the literal path does not match.
		for _, c := range []struct {
			target, route, path string // route "" for a 404
		}{
			{"/b", "/b", "/b"},
			{"/a/../b", "/a/*", "/a/../b"},
			{"/a/%2e%2e/b", "/a/*", "/a/../b"},
			{"/a/x/..%2f..%2fb", "/a/*", "/a/x/../../b"},
			{"/a%2Fb", "", ""},
			{"/a%2fb", "", ""},
			{"//b", "", ""},
			{"/./b", "", ""},
			{"/b/", "", ""},
			{"/B", "", ""},
			{"/%62", "", ""},
			{"/b;x", "", ""},
			{"/b?", "/b", "/b"},
		} {
			r := hostileGet(t, addr, c.target, "x")
			if c.route == "" {
				assert.Equal(t, 404, r.status, "%s: %s", c.target, r.body)
				continue
			}
			assert.Equal(t, 200, r.status, c.target)
			assert.Equal(t, c.route, r.json()["route"], c.target)
			assert.Equal(t, c.path, r.json()["path"], c.target)
		}
		// The handler behind a catch-all gets the decoded path: an
		// encoded slash or a dot segment that missed /guarded/* still
		// reads like it. Handlers must not route again on request.path.
		r := hostileGet(t, addr, "/guarded/x", "c.localhost")
		assert.Equal(t, "/guarded/*", r.json()["route"])
		for target, path := range map[string]string{
			"/guarded%2Fx":         "/guarded/x",
			"/public/../guarded/x": "/public/../guarded/x",
		} {
			r := hostileGet(t, addr, target, "c.localhost")
			assert.Equal(t, 200, r.status, target)
			assert.Equal(t, "/*", r.json()["route"], target)
			assert.Equal(t, path, r.json()["path"], target)
		}
	})

	hostileCase("tenant tricks", func(t *testing.T) {
		// b's /secret from a's Host: a's router has no such route, and
		// no path reaches another router.
		for _, target := range []string{"/secret", "/x/../secret", "/x%2F..%2Fsecret", "//b.localhost/secret", "/ok"} {
			r := hostileGet(t, addr, target, "a.localhost")
			assert.Equal(t, 404, r.status, target)
		}
		// The same path in two tenants is each tenant's own.
		assert.Equal(t, "a.localhost", hostileGet(t, addr, "/x", "a.localhost").json()["host"])
		assert.Equal(t, "b.localhost", hostileGet(t, addr, "/x", "b.localhost").json()["host"])
		// Headers that proxies use to name the host do not choose the
		// tenant: only Host does.
		for _, h := range []string{"X-Forwarded-Host: b.localhost", "Forwarded: host=b.localhost", "X-Host: b.localhost",
			"X-Original-URL: /secret", "X-Rewrite-URL: /secret"} {
			assert.Equal(t, 404, hostileGet(t, addr, "/secret", "a.localhost", h).status, h)
			r := hostileGet(t, addr, "/x", "a.localhost", h)
			assert.Equal(t, "a.localhost", r.json()["host"], h)
		}
		// Spellings of b's host: any case, a port, a final dot, brackets
		// and surrounding spaces are b; anything else is not.
		for host, status := range map[string]int{
			"b.localhost":              200,
			"b.localhost.":             200,
			"B.LOCALHOST:80":           200,
			"b.localhost:99999":        200,
			"[b.localhost]":            200,
			" b.localhost ":            200,
			"b.localhost..":            404,
			"b.localhost:80:80":        404,
			"b%2elocalhost":            404,
			"xb.localhost":             404,
			"b.localhost, a.localhost": 400,
			"a.localhost@b.localhost":  400,
			"b.localhost\tx":           400,
		} {
			r := hostileGet(t, addr, "/secret", host)
			assert.Equal(t, status, r.status, "Host %q: %s", host, r.body)
			if status == 200 {
				assert.Equal(t, "b", r.json()["tenant"], "Host %q", host)
			}
		}
		// The absolute form: the target's authority is the request's host
		// and the Host header is ignored (RFC 9112 §3.2.2). net/http sets
		// r.Host from it; tandem routes by r.Host and the handler sees
		// the same host, so the tenant that serves it is the one the
		// handler is told about.
		r := hostileGet(t, addr, "http://b.localhost/secret", "a.localhost")
		assert.Equal(t, 200, r.status)
		assert.Equal(t, "b", r.json()["tenant"])
		assert.Equal(t, "b.localhost", r.json()["host"])
		r = hostileGet(t, addr, "http://user@B.LOCALHOST:1/x", "a.localhost")
		assert.Equal(t, "B.LOCALHOST:1", r.json()["host"])
		assert.Equal(t, 404, hostileGet(t, addr, "http://a.localhost/secret", "b.localhost").status)
		r = hostileExchange(t, addr, "GET http://b.localhost/secret HTTP/1.0\r\n\r\n")
		assert.Equal(t, 200, r.status)
		assert.Equal(t, "b", r.json()["tenant"])
		// Neither CONNECT nor OPTIONS * reaches a route.
		r = hostileExchange(t, addr, "CONNECT b.localhost:80 HTTP/1.1\r\nHost: b.localhost:80\r\n\r\n")
		assert.Equal(t, 404, r.status)
		r = hostileExchange(t, addr, "OPTIONS * HTTP/1.1\r\nHost: b.localhost\r\n\r\n")
		assert.Equal(t, 200, r.status)
		assert.Empty(t, r.body)
	})

	// None of it is the server's fault: nothing is logged as an error.
	assert.NotContains(t, srv.logs(), "level=ERROR")
}
