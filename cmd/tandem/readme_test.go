package main_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHelloReadme serves examples/hello and sends every request its
// README documents, comparing each answer with the README's text, so the
// README stays exact. It also runs the README's tandem commands.
func TestHelloReadme(t *testing.T) {
	examples := readmeExamples(t, filepath.Join(repoRoot, "examples", "hello", "README.md"))
	require.NotEmpty(t, examples)
	srv := startServe(t, "--policy", "examples/hello/tandem.yaml")
	curls := 0
	for _, ex := range examples {
		t.Run(ex.command, func(t *testing.T) {
			args := parseShell(t, ex.command).single()
			require.NotEmpty(t, args, "not one simple command: %q", ex.command)
			switch args[0] {
			case "curl":
				curls++
				got := curl(t, srv.addr, args[1:])
				assertSameResponse(t, ex.output, got)
			case "tandem":
				r := run(t, "", args[1:]...)
				assert.Equal(t, 0, r.code, r.stderr)
				assert.Equal(t, ex.output, strings.TrimRight(r.stdout, "\n"))
			default:
				t.Fatalf("the test cannot run %q", args[0])
			}
		})
	}
	assert.GreaterOrEqual(t, curls, 10)

	// The 500 was logged with its traceback, request id, route and worker.
	logs := srv.logs()
	assert.Regexp(t, `level=ERROR msg="python error" request_id=[A-Z2-7]{26} route=/error worker=\d detail=".*Traceback.*this handler fails on purpose`, logs)

	// SIGHUP reloads the policy without stopping; SIGTERM stops, with 0.
	require.NoError(t, srv.cmd.Process.Signal(syscall.SIGHUP))
	require.Eventually(t, func() bool { return strings.Contains(srv.logs(), `msg="policy reloaded"`) },
		10*time.Second, 10*time.Millisecond)
	assert.Contains(t, srv.logs(), "python=kept")
	got := curl(t, srv.addr, []string{"-si", "localhost:8080/hello/again"})
	assert.Contains(t, got, `{"hello":"again"}`)
	assert.Equal(t, 0, srv.stop(t, syscall.SIGTERM), srv.logs())
	assert.Contains(t, srv.logs(), `msg="tandem stopped"`)
	assert.Equal(t, 1, strings.Count(srv.logs(), `msg="tandem serving"`), "one ready line")
}

// example is one command of a README and the output it documents.
type example struct{ command, output string }

// readmeExamples reads the ```console blocks of a README: a "$ " line and
// the output lines after it.
func readmeExamples(t *testing.T, path string) []example {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []example
	blocks := regexp.MustCompile("(?s)```console\n(.*?)```").FindAllStringSubmatch(string(data), -1)
	for _, b := range blocks {
		var cur *example
		for line := range strings.SplitSeq(strings.TrimRight(b[1], "\n"), "\n") {
			if cmd, ok := strings.CutPrefix(line, "$ "); ok {
				out = append(out, example{command: cmd})
				cur = &out[len(out)-1]
				continue
			}
			require.NotNil(t, cur, "output before a command in %s", path)
			if cur.output != "" || line != "" {
				cur.output += line + "\n"
			}
		}
		if cur != nil {
			cur.output = strings.TrimRight(cur.output, "\n")
		}
	}
	return out
}

// curl does what the README's curl command does (-s, -i, -X, -H, -d) and
// returns what curl -i prints: the status line, the headers as the server
// sent them, a blank line and the body. It speaks HTTP/1.1 over a plain
// connection so that the header order is the server's.
func curl(t *testing.T, addr string, args []string) string {
	t.Helper()
	method, target, body := "", "", ""
	var headers []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "-s", "-i", "-si":
		case "-X":
			i++
			method = args[i]
		case "-H":
			i++
			headers = append(headers, args[i])
		case "-d":
			i++
			body = args[i]
		default:
			require.False(t, strings.HasPrefix(a, "-"), "the test does not know curl's %s", a)
			target = a
		}
	}
	_, path, ok := strings.Cut(target, "/")
	require.True(t, ok, "no path in %q", target)
	if method == "" {
		method = "GET"
		if body != "" {
			method = "POST"
		}
	}
	var req strings.Builder
	fmt.Fprintf(&req, "%s /%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: curl/8\r\nAccept: */*\r\n", method, path, addr)
	for _, h := range headers {
		fmt.Fprintf(&req, "%s\r\n", h)
	}
	if body != "" {
		fmt.Fprintf(&req, "Content-Length: %d\r\n", len(body))
	}
	req.WriteString("\r\n" + body)

	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
	_, err = io.WriteString(conn, req.String())
	require.NoError(t, err)
	r := bufio.NewReader(conn)
	var out strings.Builder
	length := -1
	for {
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		line = strings.TrimRight(line, "\r\n")
		out.WriteString(line + "\n")
		if line == "" {
			break
		}
		if v, ok := cutHeader(line, "Content-Length"); ok {
			length, err = strconv.Atoi(v)
			require.NoError(t, err)
		}
	}
	require.GreaterOrEqual(t, length, 0, "no Content-Length in\n%s", out.String())
	b := make([]byte, length)
	_, err = io.ReadFull(r, b)
	require.NoError(t, err)
	out.Write(b)
	return out.String()
}

func cutHeader(line, name string) (string, bool) {
	k, v, ok := strings.Cut(line, ":")
	if !ok || !strings.EqualFold(k, name) {
		return "", false
	}
	return strings.TrimSpace(v), true
}

// varying are the headers whose values change from request to request,
// with the form their values must have.
var varying = map[string]*regexp.Regexp{
	"x-request-id": regexp.MustCompile(`^[A-Z2-7]{26}$`),
	"x-elapsed-ms": regexp.MustCompile(`^\d+\.\d{3}$`),
	"date":         regexp.MustCompile(`^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$`),
}

// assertSameResponse compares a response with the README's: everything
// exactly, except the values of the varying headers, which must have their
// form, and the request id repeated in error bodies.
func assertSameResponse(t *testing.T, want, got string) {
	t.Helper()
	normalize := func(text string) string {
		head, body, _ := strings.Cut(text, "\n\n")
		var lines []string
		id := ""
		for line := range strings.SplitSeq(head, "\n") {
			k, v, ok := strings.Cut(line, ": ")
			if re := varying[strings.ToLower(k)]; ok && re != nil {
				assert.Regexp(t, re, v, "%s in\n%s", k, text)
				if strings.EqualFold(k, "X-Request-Id") {
					id = v
				}
				line = k + ": <varies>"
			}
			lines = append(lines, line)
		}
		if id != "" {
			body = strings.ReplaceAll(body, id, "<request id>")
		}
		return strings.Join(lines, "\n") + "\n\n" + strings.TrimRight(body, "\n")
	}
	assert.Equal(t, normalize(want), normalize(got))
}
