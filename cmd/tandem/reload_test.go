package main_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests in this file run `tandem serve` under a steady load of
// keep-alive clients while the policy is reloaded or the server stopped,
// and count every request: the contract is that a valid reload and a
// SIGTERM fail or drop none.

// reloadApp is the Python app of the reload and shutdown tests.
const reloadApp = `import os
import time

# Each request that carries an id leaves a file named after it here when
# its handler starts, so the shutdown test can tell a request the server
# took and then lost from one it never took.
SEEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "seen")


def hello(request, name: str):
    return {"hello": name}


def gated(request):
    return {"gate": request.headers.get("X-Gate")}


def where(request):
    return {"path": request.path}


def work(request, id: str = "", seconds: float = 0.0):
    if id:
        open(os.path.join(SEEN, id), "w").close()
    if seconds:
        time.sleep(seconds)
    return {"id": id}
`

// reloadFiles is a directory with the app, the gate and hello guests of
// the host tests and the policy content: gate passes requests that carry
// X-Pass and marks them X-Gate: passed; hello answers "hello from wasm".
func reloadFiles(t *testing.T, policy string) string {
	t.Helper()
	files := map[string]string{"tandem.yaml": policy, "app/svc.py": reloadApp, "seen/.keep": ""}
	for _, g := range []string{"gate.wasm", "hello.wasm"} {
		b, err := os.ReadFile(filepath.Join(repoRoot, "host", "testdata", "guests", g))
		require.NoError(t, err)
		files["guests/"+g] = string(b)
	}
	return writeFiles(t, files)
}

// reloadPolicyText is one version of the reload test's policy: every
// version has the routes the load uses, plus /vN, which only version N
// has. workers and helloLimits are the parts the steps change.
func reloadPolicyText(version int, workers, helloLimits string) string {
	return fmt.Sprintf(`version: 1
server:
  timeouts: {shutdown: 10s}
python:
  path: [app]
  workers: %s
  strategy: pooled
plugins:
  gate: {wasm: guests/gate.wasm}
  hello: {wasm: guests/hello.wasm%s}
routes:
  - path: /py/:name
    handler: {python: svc:hello}
  - path: /gated
    middleware: [gate]
    handler: {python: svc:gated}
  - path: /wasm
    handler: {plugin: hello}
  - path: /v%d
    handler: {python: svc:where}
`, workers, helloLimits, version)
}

// loadRoute is a route the load sends requests to and the answer it must
// give.
type loadRoute struct {
	path   string
	header []string // name, value, ...
	body   string
	check  func(*http.Response) error
}

// loadRoutes are the routes every policy of these tests has: Python,
// Python behind a plugin, and a Wasm handler.
func loadRoutes(name string) []loadRoute {
	return []loadRoute{
		{path: "/py/" + name, body: `{"hello":"` + name + `"}`},
		{path: "/gated", header: []string{"X-Pass", "1"}, body: `{"gate":"passed"}`,
			check: func(r *http.Response) error {
				if g := r.Header.Get("X-Gate"); g != "passed" {
					return fmt.Errorf("X-Gate: %q", g)
				}
				return nil
			}},
		{path: "/wasm", body: "hello from wasm"},
	}
}

// loadRun is clients sending requests back to back over keep-alive
// connections until stopped, each request counted.
type loadRun struct {
	clients                int
	stop                   chan struct{}
	wg                     sync.WaitGroup
	sent, failed, newConns atomic.Int64
	mu                     sync.Mutex
	failures               []string
}

// startLoad starts clients goroutines, each with a client of its own,
// cycling through routes.
func startLoad(t *testing.T, addr string, clients int, routes func(client int) []loadRoute) *loadRun {
	t.Helper()
	l := &loadRun{clients: clients, stop: make(chan struct{})}
	for c := range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			rs := routes(c)
			// writes counts how often the request now being sent was
			// written: more than once means the transport retried it.
			var writes int
			trace := &httptrace.ClientTrace{
				GotConn: func(i httptrace.GotConnInfo) {
					if !i.Reused {
						l.newConns.Add(1)
					}
				},
				WroteRequest: func(httptrace.WroteRequestInfo) { writes++ },
			}
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				r := rs[i%len(rs)]
				req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
					"GET", "http://"+addr+r.path, nil)
				if err != nil {
					panic(err)
				}
				for h := 0; h+1 < len(r.header); h += 2 {
					req.Header.Set(r.header[h], r.header[h+1])
				}
				writes = 0
				err = func() error {
					resp, err := client.Do(req)
					if writes > 1 {
						return fmt.Errorf("written %d times: the transport retried it after its connection closed", writes)
					}
					if err != nil {
						return err
					}
					defer resp.Body.Close()
					b, err := io.ReadAll(resp.Body)
					switch {
					case err != nil:
						return fmt.Errorf("%d, reading the body: %w", resp.StatusCode, err)
					case resp.StatusCode != 200 || string(b) != r.body:
						return fmt.Errorf("%d %q", resp.StatusCode, b)
					case r.check != nil:
						return r.check(resp)
					}
					return nil
				}()
				l.sent.Add(1)
				if err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					l.failures = append(l.failures, fmt.Sprintf("%s %s: %v", time.Now().Format("15:04:05.000"), r.path, err))
					l.mu.Unlock()
				}
			}
		}()
	}
	return l
}

// finish stops the clients and asserts that no request failed. A request
// the transport sent twice (it retries a GET on another connection when
// the server closes a keep-alive one under it, which would hide that the
// server did) counts as failed. A client may still open more than one
// connection without any being closed: when it sends its next request
// before the last response's connection is back in its idle pool, it
// dials another.
func (l *loadRun) finish(t *testing.T, atLeast int64) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	for _, f := range l.failures {
		t.Log("failed:", f)
	}
	t.Logf("load: %d requests, %d failed, over %d connections", l.sent.Load(), l.failed.Load(), l.newConns.Load())
	assert.Zero(t, l.failed.Load(), "failed requests out of %d", l.sent.Load())
	assert.GreaterOrEqual(t, l.sent.Load(), atLeast, "requests sent")
}

// getStatus GETs path and returns the status, 0 after a transport error.
func getStatus(addr, path string) int {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// logCount is how many times sub is in s's log.
func logCount(s *server, sub string) int { return strings.Count(s.logs(), sub) }

const reloadedLine = `msg="policy reloaded"`

// TestServeReloadUnderLoad replaces the policy of a running tandem five times
// while clients keep sending requests to routes every version has:
// routes changed, a plugin's limits changed, the python section changed,
// an invalid policy, and a valid one again. The triggers alternate: the
// file rewritten in place, a file renamed over it (as editors and
// Kubernetes do), and SIGHUP. No request may fail, each valid version's
// own route must answer, and each valid reload is logged once.
func TestServeReloadUnderLoad(t *testing.T) {
	dir := reloadFiles(t, reloadPolicyText(0, "1", ""))
	file := filepath.Join(dir, "tandem.yaml")
	srv := startServe(t, "--policy", file)
	require.Equal(t, 200, getStatus(srv.addr, "/v0"))

	l := startLoad(t, srv.addr, 4, func(c int) []loadRoute { return loadRoutes(fmt.Sprintf("c%d", c)) })
	time.Sleep(300 * time.Millisecond)

	inPlace := func(content string) { require.NoError(t, os.WriteFile(file, []byte(content), 0o644)) }
	renameOver := func(content string) {
		tmp := file + ".tmp"
		require.NoError(t, os.WriteFile(tmp, []byte(content), 0o644))
		require.NoError(t, os.Rename(tmp, file))
	}
	// The SIGHUP step writes the file through a hard link in another
	// directory: the watcher, which watches the policy's directory, does
	// not see it, so the reload is the signal's alone.
	sighup := func(content string) {
		link := filepath.Join(t.TempDir(), "tandem.yaml")
		require.NoError(t, os.Link(file, link))
		require.NoError(t, os.WriteFile(link, []byte(content), 0o644))
		require.NoError(t, os.Remove(link))
		require.NoError(t, srv.cmd.Process.Signal(syscall.SIGHUP))
	}

	invalid := reloadPolicyText(4, "two", "")
	line, col := findLineCol(t, invalid, "workers: two", "two")
	steps := []struct {
		name    string
		content string
		trigger func(string)
		route   string // the route only this version has; "" for the invalid one
		python  string // the reload line's python=
	}{
		{"routes changed", reloadPolicyText(1, "1", ""), inPlace, "/v1", "python=kept"},
		{"plugin limits changed", reloadPolicyText(2, "1", ", limits: {instances: 3, timeout: 2s}"), renameOver, "/v2", "python=kept"},
		{"python section changed", reloadPolicyText(3, "2", ", limits: {instances: 3, timeout: 2s}"), sighup, "/v3", `python="new workers"`},
		{"invalid", invalid, inPlace, "", ""},
		{"valid again", reloadPolicyText(5, "2", ""), renameOver, "/v5", "python=kept"},
	}
	valid, prev := 0, "/v0"
	for _, st := range steps {
		time.Sleep(100 * time.Millisecond) // load on each version for a while
		logged := len(srv.logs())
		began := time.Now()
		st.trigger(st.content)
		if st.route == "" {
			// Refused, with the problem at its place in the file; the
			// running policy keeps serving.
			require.Eventually(t, func() bool {
				return strings.Contains(srv.logs()[logged:], "the running one keeps serving")
			}, 10*time.Second, 10*time.Millisecond, "%s:\n%s", st.name, srv.logs())
			news := srv.logs()[logged:]
			assert.Regexp(t, `level=ERROR msg="policy problem" problem="`+regexp.QuoteMeta(fmt.Sprintf("%s:%d:%d: python.workers: ", file, line, col)), news)
			assert.Regexp(t, `level=ERROR msg="the new policy is refused; the running one keeps serving" reason="file changed" policy=`+regexp.QuoteMeta(file)+` problems=1`, news)
			assert.NotContains(t, news, reloadedLine)
			assert.Equal(t, 200, getStatus(srv.addr, prev), "%s: the running policy's route still answers", st.name)
			assert.Equal(t, 404, getStatus(srv.addr, "/v4"))
			t.Logf("%s: refused after %s", st.name, time.Since(began).Round(time.Millisecond))
			continue
		}
		valid++
		require.Eventually(t, func() bool { return getStatus(srv.addr, st.route) == 200 },
			10*time.Second, 10*time.Millisecond, "%s: %s does not answer:\n%s", st.name, st.route, srv.logs())
		t.Logf("%s: %s answers after %s", st.name, st.route, time.Since(began).Round(time.Millisecond))
		require.Eventually(t, func() bool { return logCount(srv, reloadedLine) >= valid }, 5*time.Second, 10*time.Millisecond)
		assert.Equal(t, valid, logCount(srv, reloadedLine), "%s: one reload per valid policy", st.name)
		assert.Equal(t, 404, getStatus(srv.addr, prev), "%s: the previous version's route is gone", st.name)
		reloaded := regexp.MustCompile(`.*` + reloadedLine + `.*`).FindString(srv.logs()[logged:])
		assert.Contains(t, reloaded, st.python, st.name)
		prev = st.route
	}

	// Longer than the watcher's settle time: no reload comes late.
	time.Sleep(400 * time.Millisecond)
	l.finish(t, 200)
	logs := srv.logs()
	assert.Equal(t, 4, strings.Count(logs, reloadedLine), logs)
	assert.Equal(t, 4, strings.Count(logs, `msg="the policy file changed; reloading"`), "the watcher reloaded the file steps only")
	assert.Equal(t, 1, strings.Count(logs, `msg="reloading the policy" signal=hangup`))
	// The workers the python change replaced have stopped once drained.
	assert.Equal(t, 1, strings.Count(logs, `msg="python workers stopped" workers=1`))
	assert.Equal(t, 0, srv.stop(t, syscall.SIGTERM), logs)
	assert.Contains(t, srv.logs(), `msg="tandem stopped"`)
}

// findLineCol is the 1-based line and column of within in the first line of
// content that contains line.
func findLineCol(t *testing.T, content, line, within string) (int, int) {
	t.Helper()
	for i, l := range strings.Split(content, "\n") {
		if j := strings.Index(l, line); j >= 0 {
			return i + 1, j + strings.Index(line, within) + 1
		}
	}
	t.Fatalf("no %q in the policy", line)
	return 0, 0
}

// TestServeReloadPythonFileChange changes a Python file and sends SIGHUP, under
// load: new workers start and answer with the new code, and no request
// fails.
func TestServeReloadPythonFileChange(t *testing.T) {
	dir := reloadFiles(t, reloadPolicyText(0, "1", ""))
	srv := startServe(t, "--policy", filepath.Join(dir, "tandem.yaml"))
	l := startLoad(t, srv.addr, 3, func(c int) []loadRoute { return loadRoutes(fmt.Sprintf("c%d", c)) })
	time.Sleep(300 * time.Millisecond)

	src := filepath.Join(dir, "app", "svc.py")
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	changed := strings.Replace(string(b), `return {"path": request.path}`, `return {"path": request.path, "code": "new"}`, 1)
	require.NotEqual(t, string(b), changed)
	require.NoError(t, os.WriteFile(src, []byte(changed), 0o644))
	require.NoError(t, srv.cmd.Process.Signal(syscall.SIGHUP))

	get := func() string {
		resp, err := http.Get("http://" + srv.addr + "/v0")
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	require.Eventually(t, func() bool { return get() == `{"path":"/v0","code":"new"}` },
		10*time.Second, 10*time.Millisecond, "the new code does not answer:\n%s", srv.logs())
	require.Eventually(t, func() bool { return logCount(srv, reloadedLine) == 1 }, 5*time.Second, 10*time.Millisecond)
	assert.Contains(t, srv.logs(), `python="new workers"`)
	time.Sleep(200 * time.Millisecond)
	l.finish(t, 50)
	assert.Equal(t, 0, srv.stop(t, syscall.SIGTERM), srv.logs())
}

// sendOutcome is what became of one request of the shutdown test.
type sendOutcome int

const (
	gotAnswer   sendOutcome = iota // 200 with the whole expected body
	gotRefused                     // never written: the connection was refused or closed first
	gotUnserved                    // written, then the connection closed with no response and the handler never ran
	gotDropped                     // written and taken (its handler ran) or partly answered, then lost
	gotWrong                       // answered, but not 200 with the expected body
)

func (o sendOutcome) String() string {
	return [...]string{"answered", "refused", "unserved", "dropped", "wrong"}[o]
}

// sendAttempt is what the client trace saw of a request's last attempt on a
// connection.
type sendAttempt struct {
	mu                  sync.Mutex
	wrote, gotFirstByte bool
	reused              bool
}

func (a *sendAttempt) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		// A new attempt: the transport may retry a request it could not
		// write on another connection.
		GetConn: func(string) { a.mu.Lock(); a.wrote, a.gotFirstByte, a.reused = false, false, false; a.mu.Unlock() },
		GotConn: func(i httptrace.GotConnInfo) { a.mu.Lock(); a.reused = i.Reused; a.mu.Unlock() },
		WroteRequest: func(w httptrace.WroteRequestInfo) {
			a.mu.Lock()
			a.wrote = w.Err == nil
			a.mu.Unlock()
		},
		GotFirstResponseByte: func() { a.mu.Lock(); a.gotFirstByte = true; a.mu.Unlock() },
	}
}

const shutdownPolicy = `version: 1
server:
  timeouts: {shutdown: 10s}
python:
  path: [app]
  workers: 3
  strategy: pooled
plugins:
  gate: {wasm: guests/gate.wasm}
  hello: {wasm: guests/hello.wasm}
routes:
  - path: /work
    handler: {python: svc:work}
  - path: /gated
    middleware: [gate]
    handler: {python: svc:work}
  - path: /wasm
    handler: {plugin: hello}
`

// TestServeShutdownUnderLoad sends SIGTERM while clients send
// requests back to back, slow ones (a 300 ms handler) among them. Every
// request the server took must get its whole 200; once the listener is
// closed, new connections are refused; tandem exits 0.
//
// A request can also meet the shutdown on a keep-alive connection the
// server closes as idle, or reads just after the shutdown began, and so
// never serves: HTTP/1.1 lets a client retry such a request (Go's does,
// for idempotent ones). The test tells it from a dropped one: requests are
// POSTs, which Go's client never resends once written, the client trace
// says whether the request was written and whether any response came, and
// each Python request's handler leaves a file named after the request's id
// when it starts. Written, no response and no file: unserved, allowed
// after SIGTERM. Written and the file there, or a response cut short:
// dropped, a failure.
func TestServeShutdownUnderLoad(t *testing.T) {
	dir := reloadFiles(t, shutdownPolicy)
	srv := startServe(t, "--policy", filepath.Join(dir, "tandem.yaml"))
	seen := func(id string) bool { _, err := os.Stat(filepath.Join(dir, "seen", id)); return err == nil }

	type route struct {
		path, body string
		python     bool // its handler leaves a file per request
	}
	fast := []route{{"/work?id=%s", `{"id":"%s"}`, true}, {"/gated?id=%s", `{"id":"%s"}`, true}, {"/wasm", "hello from wasm", false}}
	slow := []route{{"/work?seconds=0.3&id=%s", `{"id":"%s"}`, true}}
	const nfast, nslow = 3, 2

	var (
		sigterm  atomic.Int64 // UnixNano of the SIGTERM, once sent
		mu       sync.Mutex
		counts   = map[sendOutcome]int{}
		problems []string
		across   int // slow requests written before SIGTERM and answered after it
		// Python requests found unserved, checked again once tandem has
		// exited: a handler may not start after its connection closed.
		unservedIDs   []string
		unservedNotes []string
		current       [nslow]atomic.Pointer[string]
		stopAfter     = make(chan struct{})
		wg            sync.WaitGroup
	)
	// record counts an outcome. A refused or unserved request is a
	// failure unless it ended after the SIGTERM was sent; a slow request
	// sent before it and answered is one the shutdown waited for.
	record := func(o sendOutcome, what string, sentAt time.Time, slowReq bool) {
		ended := time.Now().UnixNano()
		mu.Lock()
		defer mu.Unlock()
		counts[o]++
		term := sigterm.Load()
		after := term != 0 && ended >= term
		switch {
		case o == gotAnswer:
			if slowReq && after && sentAt.UnixNano() < term {
				across++
			}
		case o == gotUnserved && after:
			unservedNotes = append(unservedNotes, what)
		case o == gotRefused && after:
		default:
			problems = append(problems, fmt.Sprintf("%s, ended %s SIGTERM: %s", o, map[bool]string{true: "after", false: "before"}[after], what))
		}
	}
	client := func(c int, routes []route, slowIndex int) {
		defer wg.Done()
		tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
		defer tr.CloseIdleConnections()
		hc := &http.Client{Transport: tr, Timeout: 15 * time.Second}
		for i := 0; ; i++ {
			select {
			case <-stopAfter:
				return
			default:
			}
			r := routes[i%len(routes)]
			id := fmt.Sprintf("c%d-%d", c, i)
			path, want := r.path, r.body
			if r.python {
				path, want = fmt.Sprintf(r.path, id), fmt.Sprintf(r.body, id)
			}
			slowReq := slowIndex >= 0
			if slowReq {
				current[slowIndex].Store(&id)
			}
			var a sendAttempt
			req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), a.trace()),
				"POST", "http://"+srv.addr+path, nil)
			if err != nil {
				panic(err)
			}
			req.Header.Set("X-Pass", "1")
			sentAt := time.Now()
			resp, err := hc.Do(req)
			a.mu.Lock()
			wrote, gotFirstByte, reused := a.wrote, a.gotFirstByte, a.reused
			a.mu.Unlock()
			what := fmt.Sprintf("%s %s (reused connection: %t)", time.Now().Format("15:04:05.000"), path, reused)
			if err != nil {
				switch {
				case !wrote:
					record(gotRefused, what+": "+err.Error(), sentAt, slowReq)
					if errors.Is(err, syscall.ECONNREFUSED) {
						return // the listener is closed
					}
				case gotFirstByte || (r.python && seen(id)):
					record(gotDropped, what+": "+err.Error(), sentAt, slowReq)
				default:
					record(gotUnserved, what+": "+err.Error(), sentAt, slowReq)
					if r.python {
						mu.Lock()
						unservedIDs = append(unservedIDs, id)
						mu.Unlock()
					}
				}
				continue
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case err != nil:
				record(gotDropped, fmt.Sprintf("%s: %d, the body cut short: %v", what, resp.StatusCode, err), sentAt, slowReq)
			case resp.StatusCode != 200 || string(b) != want:
				record(gotWrong, fmt.Sprintf("%s: %d %q", what, resp.StatusCode, b), sentAt, slowReq)
			default:
				record(gotAnswer, what, sentAt, slowReq)
			}
		}
	}
	for c := range nfast {
		wg.Add(1)
		go client(c, append(slices.Clone(fast[c:]), fast[:c]...), -1)
	}
	for s := range nslow {
		wg.Add(1)
		go client(nfast+s, slow, s)
	}
	wgDone := make(chan struct{})
	go func() { wg.Wait(); close(wgDone) }()

	// Let the load run, then send SIGTERM while each slow client's
	// request is in its handler.
	time.Sleep(time.Second)
	require.Eventually(t, func() bool {
		for s := range nslow {
			id := current[s].Load()
			if id == nil || !seen(*id) {
				return false
			}
		}
		return true
	}, 10*time.Second, 2*time.Millisecond, "the slow requests do not run")
	mu.Lock()
	before := counts[gotAnswer]
	sigterm.Store(time.Now().UnixNano())
	mu.Unlock()
	require.NoError(t, srv.cmd.Process.Signal(syscall.SIGTERM))

	select {
	case <-srv.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("tandem did not exit after SIGTERM:\n%s", srv.logs())
	}
	err := srv.cmd.Wait()
	assert.NoError(t, err, "exit status")
	select {
	case <-wgDone:
	case <-time.After(10 * time.Second):
		close(stopAfter)
		<-wgDone
		t.Error("a client was never refused after the exit")
	}

	// The listener is gone: a new connection is refused.
	_, err = net.DialTimeout("tcp", srv.addr, 2*time.Second)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)

	logs := srv.logs()
	assert.Contains(t, logs, `msg="shutting down" signal=terminated`)
	assert.Contains(t, logs, `msg="tandem stopped"`)
	for _, id := range unservedIDs {
		assert.False(t, seen(id), "request %s ran after its connection closed unanswered", id)
	}
	for _, n := range unservedNotes {
		t.Log("unserved:", n)
	}
	for _, p := range problems {
		t.Error(p)
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	t.Logf("shutdown: %d requests: %d answered (%d before SIGTERM), %d refused, %d unserved, %d dropped, %d wrong; %d slow requests in flight across SIGTERM",
		total, counts[gotAnswer], before, counts[gotRefused], counts[gotUnserved], counts[gotDropped], counts[gotWrong], across)
	assert.Zero(t, counts[gotDropped]+counts[gotWrong], "requests dropped or answered wrong")
	assert.GreaterOrEqual(t, counts[gotRefused], nfast+nslow, "each client is refused in the end")
	assert.GreaterOrEqual(t, across, 1, "slow requests in flight across SIGTERM")
	assert.Greater(t, before, 50, "requests answered before SIGTERM")
}
