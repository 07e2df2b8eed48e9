package main_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The end-to-end tests of examples/mixed and examples/multitenant. Like
// TestHelloReadme, each serves its example with the real binary and runs
// every command of the README's ```console blocks, comparing what it
// prints with the README, so the READMEs stay exact.
//
// The examples' policies name the Go guests of examples/guests as
// ../../bin/guests/NAME.wasm, where `make guests` puts them. The tests do
// not build into the checkout: they copy the examples into a temporary
// tree with the same layout (examples/NAME beside bin/guests) and build
// the guests there with examples/guests/build.sh, once per test binary.

// exampleTree is that tree, made once by examplesTree.
var exampleTree struct {
	once sync.Once
	dir  string
	err  error  // the tree could not be made
	skip string // why the guests did not build, if they did not
}

// examplesTree returns the root of a temporary tree that holds
// examples/mixed, examples/multitenant and bin/guests/*.wasm, the README
// commands' working directory. It skips the test, saying why, when the
// guests do not build for GOOS=wasip1 (Go older than 1.24).
func examplesTree(t *testing.T) string {
	t.Helper()
	x := &exampleTree
	x.once.Do(func() {
		// Beside the binary under test: TestMain removes that directory.
		x.dir = filepath.Join(filepath.Dir(tandem), "examples-tree")
		for _, name := range []string{"mixed", "multitenant"} {
			if x.err = copyExample(filepath.Join(repoRoot, "examples", name), filepath.Join(x.dir, "examples", name)); x.err != nil {
				return
			}
		}
		build := exec.Command("sh", filepath.Join(repoRoot, "examples", "guests", "build.sh"), filepath.Join(x.dir, "bin", "guests"))
		build.Dir = repoRoot
		if out, err := build.CombinedOutput(); err != nil {
			x.skip = fmt.Sprintf("%v\n%s", err, out)
		}
	})
	require.NoError(t, x.err)
	if x.skip != "" {
		t.Skipf("the example guests did not build with examples/guests/build.sh "+
			"(GOOS=wasip1 GOARCH=wasm -buildmode=c-shared needs Go 1.24 or later), so the examples cannot be served: %s", x.skip)
	}
	return x.dir
}

// copyExample copies the example directory src to dst, leaving out
// Python's byte-code caches.
func copyExample(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			if d.Name() == "__pycache__" {
				return filepath.SkipDir
			}
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}

// readmeRun serves an example and runs its README's commands.
type readmeRun struct {
	// example is the directory name under examples/.
	example string
	// pace is the pause between two commands: the README's reader types
	// them seconds apart, and a tenant's rate limit must see them so.
	pace time.Duration
}

// moduleSizes are the sizes of Wasm modules in `tandem check`'s summary,
// which depend on the Go that built the guests.
var moduleSizes = regexp.MustCompile(`\(\d+(\.\d+)?(B|KiB|MiB); `)

// run serves the example, runs every command of its README and returns
// the server, still running, for checks of its log.
func (rr readmeRun) run(t *testing.T) *server {
	t.Helper()
	tree := examplesTree(t)
	readme := filepath.Join(repoRoot, "examples", rr.example, "README.md")
	examples := readmeExamples(t, readme)
	require.NotEmpty(t, examples, "no ```console blocks in %s", readme)
	srv := startServe(t, "--policy", filepath.Join(tree, "examples", rr.example, "tandem.yaml"))
	curls := 0
	for i, ex := range examples {
		if i > 0 {
			time.Sleep(rr.pace)
		}
		t.Run(ex.command, func(t *testing.T) {
			script := parseShell(t, ex.command)
			if words := script.single(); len(words) > 0 && words[0] == "tandem" {
				r := run(t, tree, words[1:]...)
				assert.Equal(t, 0, r.code, r.stderr)
				assert.Equal(t, moduleSizes.ReplaceAllString(ex.output, "(<size>;"),
					moduleSizes.ReplaceAllString(strings.TrimRight(r.stdout, "\n"), "(<size>;"))
				return
			}
			sh := &shellRun{t: t, addr: srv.addr, dir: tree}
			got := sh.run(script)
			curls += sh.curls
			assertSameResponse(t, ex.output, strings.TrimRight(got, "\n"))
		})
	}
	assert.GreaterOrEqual(t, curls, 10, "the README should show at least 10 requests")
	return srv
}

// TestMixedReadme serves examples/mixed: Python handlers behind the auth
// plugin, Python middleware, a WSGI application, a body_schema route, a
// body limit and a route timeout.
func TestMixedReadme(t *testing.T) {
	logs := readmeRun{example: "mixed"}.run(t).logs()
	// Nothing failed on the server's side, and the WSGI application,
	// which leaves framing to the server, drew no warning.
	assert.NotContains(t, logs, "level=ERROR")
	assert.NotContains(t, logs, "level=WARN")
}

// TestMultitenantReadme serves examples/multitenant: tenants chosen by
// Host, Wasm handlers and middleware with each tenant's config and
// limits, a trusted tenant's Python.
func TestMultitenantReadme(t *testing.T) {
	// Four requests a second, slower than acme's 5/s, so that only the
	// README's burst meets acme's rate limit.
	srv := readmeRun{example: "multitenant", pace: 250 * time.Millisecond}.run(t)
	logs := srv.logs()
	// The guest that never returns was stopped, and the log names it and
	// its tenant.
	assert.Regexp(t, `msg="plugin call failed" .*tenant=globex .*reason=timeout`, logs)
}

// TestMultitenantWasmMatchesWat checks that each committed .wasm of
// examples/multitenant/wasm is what wat2wasm makes of the .wat beside it.
func TestMultitenantWasmMatchesWat(t *testing.T) {
	wat2wasm, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Skip("wat2wasm (wabt) is not installed")
	}
	wats, err := filepath.Glob(filepath.Join(repoRoot, "examples", "multitenant", "wasm", "*.wat"))
	require.NoError(t, err)
	require.NotEmpty(t, wats)
	for _, wat := range wats {
		out := filepath.Join(t.TempDir(), "out.wasm")
		log, err := exec.Command(wat2wasm, wat, "-o", out).CombinedOutput()
		require.NoError(t, err, "%s", log)
		want, err := os.ReadFile(out)
		require.NoError(t, err)
		committed := strings.TrimSuffix(wat, ".wat") + ".wasm"
		got, err := os.ReadFile(committed)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(want, got), "%s is missing or stale: run wat2wasm %s -o %s",
			committed, filepath.Base(wat), filepath.Base(committed))
	}
}

// A README command line is parsed into a small shell script: pipelines
// separated by ";" and `for VAR in WORDS; do ...; done` loops. That is all
// the READMEs use; anything else fails the test.
type shellScript []shellNode

type shellNode struct {
	pipeline [][]string // commands joined by |
	loop     int        // for a loop: how many times body runs
	body     shellScript
}

// single returns the words of a script that is one plain command.
func (s shellScript) single() []string {
	if len(s) == 1 && s[0].body == nil && len(s[0].pipeline) == 1 {
		return s[0].pipeline[0]
	}
	return nil
}

// shellTokens splits a command line into words, with '...' quoting, and
// the operators ";" and "|" as tokens of their own.
func shellTokens(t *testing.T, line string) []string {
	var toks []string
	var cur strings.Builder
	inWord, quoted := false, false
	flush := func() {
		if inWord {
			toks = append(toks, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	for _, r := range line {
		switch {
		case quoted && r == '\'':
			quoted = false
		case quoted:
			cur.WriteRune(r)
		case r == '\'':
			quoted, inWord = true, true
		case r == ' ':
			flush()
		case r == ';' || r == '|':
			flush()
			toks = append(toks, string(r))
		default:
			require.NotContains(t, `"$\&<>()`+"`", string(r), "the test cannot run %q", line)
			cur.WriteRune(r)
			inWord = true
		}
	}
	require.False(t, quoted, "unbalanced quote in %q", line)
	flush()
	return toks
}

func parseShell(t *testing.T, line string) shellScript {
	toks := shellTokens(t, line)
	script, rest := parseList(t, line, toks, false)
	require.Empty(t, rest, "cannot parse %q", line)
	return script
}

// parseList parses nodes up to the end, or up to "done" when inLoop.
func parseList(t *testing.T, line string, toks []string, inLoop bool) (shellScript, []string) {
	var script shellScript
	for len(toks) > 0 {
		switch toks[0] {
		case ";":
			toks = toks[1:]
		case "done":
			require.True(t, inLoop, "done outside a loop in %q", line)
			return script, toks
		case "for":
			// for VAR in WORDS ; do LIST done
			require.GreaterOrEqual(t, len(toks), 3, "bad loop in %q", line)
			require.Equal(t, "in", toks[2], "bad loop in %q", line)
			n := 0
			toks = toks[3:]
			for len(toks) > 0 && toks[0] != ";" {
				n++
				toks = toks[1:]
			}
			require.True(t, len(toks) >= 2 && toks[1] == "do", "bad loop in %q", line)
			body, rest := parseList(t, line, toks[2:], true)
			require.True(t, len(rest) > 0 && rest[0] == "done", "loop without done in %q", line)
			script = append(script, shellNode{loop: n, body: body})
			toks = rest[1:]
		default:
			var node shellNode
			var cmd []string
			for len(toks) > 0 && toks[0] != ";" && !(inLoop && toks[0] == "done") {
				if toks[0] == "|" {
					require.NotEmpty(t, cmd, "empty command in %q", line)
					node.pipeline = append(node.pipeline, cmd)
					cmd = nil
				} else {
					cmd = append(cmd, toks[0])
				}
				toks = toks[1:]
			}
			require.NotEmpty(t, cmd, "empty command in %q", line)
			node.pipeline = append(node.pipeline, cmd)
			script = append(script, node)
		}
	}
	return script, toks
}

// shellRun runs scripts whose commands are curl (against addr) and
// `head -c N /dev/zero`.
type shellRun struct {
	t     *testing.T
	addr  string
	dir   string
	curls int
}

func (sh *shellRun) run(script shellScript) string {
	var out strings.Builder
	for _, node := range script {
		if node.body != nil {
			for range node.loop {
				out.WriteString(sh.run(node.body))
			}
			continue
		}
		var stdin []byte
		for _, cmd := range node.pipeline {
			stdin = sh.command(cmd, stdin)
		}
		out.Write(stdin)
	}
	return out.String()
}

func (sh *shellRun) command(words []string, stdin []byte) []byte {
	t := sh.t
	switch words[0] {
	case "curl":
		sh.curls++
		return []byte(curlLike(t, sh.addr, sh.dir, words[1:], stdin))
	case "head":
		require.Len(t, words, 4, "the test runs only head -c N /dev/zero")
		require.Equal(t, []string{"-c", "/dev/zero"}, []string{words[1], words[3]}, "the test runs only head -c N /dev/zero")
		n, err := strconv.Atoi(words[2])
		require.NoError(t, err)
		return make([]byte, n)
	case "echo":
		return []byte(strings.Join(words[1:], " ") + "\n")
	}
	t.Fatalf("the test cannot run %q", words[0])
	return nil
}

// curlLike does what curl does with the READMEs' options (-s, -i, -X, -H,
// -d, --data-binary with @FILE or @- for stdin, -o /dev/null, -w with
// %{http_code}) and returns what it prints. It sends the request to addr
// whatever the URL's host, with the URL's host (and addr's port) as Host
// unless -H sets one, over a plain HTTP/1.1 connection so that the
// response headers are printed in the server's order.
func curlLike(t *testing.T, addr, dir string, args []string, stdin []byte) string {
	t.Helper()
	method, target, write := "", "", ""
	include, discard := false, false
	var body []byte
	hasBody := false
	var headers []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if i+1 < len(args) && (a == "-X" || a == "-H" || a == "-d" || a == "--data-binary" || a == "-o" || a == "-w") {
			i++
		}
		switch a {
		case "-s":
		case "-i", "-si":
			include = true
		case "-X":
			method = args[i]
		case "-H":
			headers = append(headers, args[i])
		case "-d", "--data-binary":
			hasBody = true
			data := args[i]
			switch {
			case data == "@-":
				body = stdin
			case strings.HasPrefix(data, "@"):
				require.Equal(t, "--data-binary", a, "-d @FILE strips newlines; the READMEs use --data-binary")
				b, err := os.ReadFile(filepath.Join(dir, data[1:]))
				require.NoError(t, err)
				body = b
			default:
				body = []byte(data)
			}
		case "-o":
			require.Equal(t, "/dev/null", args[i], "the test only writes to /dev/null")
			discard = true
		case "-w":
			write = args[i]
		default:
			require.False(t, strings.HasPrefix(a, "-"), "the test does not know curl's %s", a)
			target = a
		}
	}
	target = strings.TrimPrefix(target, "http://")
	urlHost, path, ok := strings.Cut(target, "/")
	require.True(t, ok, "no path in %q", target)
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	host := urlHost
	if h, _, err := net.SplitHostPort(urlHost); err == nil {
		host = net.JoinHostPort(h, port)
	}
	if method == "" {
		method = "GET"
		if hasBody {
			method = "POST"
		}
	}
	hasHeader := func(name string) bool {
		for _, h := range headers {
			if k, _, _ := strings.Cut(h, ":"); strings.EqualFold(k, name) {
				return true
			}
		}
		return false
	}
	var req strings.Builder
	fmt.Fprintf(&req, "%s /%s HTTP/1.1\r\n", method, path)
	if !hasHeader("Host") {
		fmt.Fprintf(&req, "Host: %s\r\n", host)
	}
	req.WriteString("User-Agent: curl/8\r\nAccept: */*\r\n")
	for _, h := range headers {
		fmt.Fprintf(&req, "%s\r\n", h)
	}
	if hasBody {
		fmt.Fprintf(&req, "Content-Length: %d\r\n", len(body))
		if !hasHeader("Content-Type") {
			req.WriteString("Content-Type: application/x-www-form-urlencoded\r\n")
		}
	}
	req.WriteString("\r\n")
	req.Write(body)

	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
	_, err = io.WriteString(conn, req.String())
	require.NoError(t, err)

	r := bufio.NewReader(conn)
	var head strings.Builder
	length, chunked, status := -1, false, 0
	for {
		line, err := r.ReadString('\n')
		require.NoError(t, err, "reading the response to %s /%s", method, path)
		line = strings.TrimRight(line, "\r\n")
		head.WriteString(line + "\n")
		if line == "" {
			break
		}
		if status == 0 {
			f := strings.Fields(line)
			require.GreaterOrEqual(t, len(f), 2, "bad status line %q", line)
			status, err = strconv.Atoi(f[1])
			require.NoError(t, err)
		}
		if v, ok := cutHeader(line, "Content-Length"); ok {
			length, err = strconv.Atoi(v)
			require.NoError(t, err)
		}
		if v, ok := cutHeader(line, "Transfer-Encoding"); ok && strings.EqualFold(v, "chunked") {
			chunked = true
		}
	}
	var respBody []byte
	switch {
	case method == "HEAD" || status == 204 || status == 304:
	case chunked:
		respBody, err = io.ReadAll(httputil.NewChunkedReader(r))
		require.NoError(t, err)
	default:
		require.GreaterOrEqual(t, length, 0, "neither Content-Length nor chunked in\n%s", head.String())
		respBody = make([]byte, length)
		_, err = io.ReadFull(r, respBody)
		require.NoError(t, err)
	}

	var out strings.Builder
	if !discard {
		if include {
			out.WriteString(head.String())
		}
		out.Write(respBody)
	}
	if write != "" {
		w := strings.ReplaceAll(write, `\n`, "\n")
		w = strings.ReplaceAll(w, "%{http_code}", strconv.Itoa(status))
		require.NotRegexp(t, regexp.MustCompile(`%\{`), w, "the test knows only %%{http_code} of -w")
		out.WriteString(w)
	}
	return out.String()
}
