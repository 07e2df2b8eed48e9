package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDashboardHandler(t *testing.T) {
	h := dashboardHandler()

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	hdr := rec.Header()
	assert.Equal(t, "text/html; charset=utf-8", hdr.Get("Content-Type"))
	assert.Equal(t, "nosniff", hdr.Get("X-Content-Type-Options"))
	assert.Equal(t, "no-cache", hdr.Get("Cache-Control"))
	body := rec.Body.Bytes()
	assert.Equal(t, dashboardPage, body)
	assert.Contains(t, string(body), "<title>tandem</title>")

	// The policy allows the page's own inline style and script by hash and
	// nothing else: no 'unsafe-inline', no eval, no other origin.
	csp := hdr.Get("Content-Security-Policy")
	for _, want := range []string{
		"default-src 'none'",
		"script-src '" + hashBetween(t, body, "<script>", "</script>") + "'",
		"style-src '" + hashBetween(t, body, "<style>", "</style>") + "'",
		"connect-src 'self'",
		"frame-ancestors 'none'",
		"require-trusted-types-for 'script'",
	} {
		assert.Contains(t, csp, want)
	}
	for _, bad := range []string{"unsafe", "http:", "https:", "*", "data:"} {
		assert.NotContains(t, csp, bad)
	}

	// HEAD: the headers, no body.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/", nil))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, csp, rec.Header().Get("Content-Security-Policy"))
	assert.Equal(t, fmt.Sprint(len(dashboardPage)), rec.Header().Get("Content-Length"))
	assert.Zero(t, rec.Body.Len())

	// no-cache revalidates: the ETag answers 304.
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("If-None-Match", hdr.Get("ETag"))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusNotModified, rec.Code)

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	assert.Equal(t, "GET, HEAD", rec.Header().Get("Allow"))

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/index.html", nil))
	assert.Equal(t, http.StatusNotFound, rec.Code)
}

// TestDashboardPageSelfContained checks the page loads nothing from
// anywhere and never turns a string into markup.
func TestDashboardPageSelfContained(t *testing.T) {
	page := string(dashboardPage)
	for _, bad := range []string{
		"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
		"src=", "href=", "url(", "@import", "http://", "https://",
	} {
		assert.NotContains(t, page, bad)
	}
	assert.Contains(t, page, `fetch("status"`, "the page must read status relative to itself")
	assert.Contains(t, page, "prefers-color-scheme: dark")
}

func hashBetween(t *testing.T, page []byte, open, end string) string {
	t.Helper()
	i, j := bytes.Index(page, []byte(open)), bytes.Index(page, []byte(end))
	require.True(t, i >= 0 && j > i, "no %s element", open)
	sum := sha256.Sum256(page[i+len(open) : j])
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// The browser test: the page, served by dashboardHandler with its CSP, in
// headless Chromium against a /status that serves the sample document with
// counters that grow on every call.

const hostilePath = `/<img src=x onerror=alert(1)>`

func TestDashboardChromium(t *testing.T) {
	bin := chromiumBinary(t)
	sample := loadSampleStatus(t)
	t.Parallel()

	t.Run("sample", func(t *testing.T) {
		t.Parallel()
		// The docs' screenshot is of the sample as it is; TANDEM_UPDATE_SCREENSHOT=1
		// writes it to docs/img/dashboard.png.
		srv := dashboardServer(t, sample, func(int) bool { return false })
		shot := filepath.Join(t.TempDir(), "dashboard.png")
		dom := chromium(t, bin, srv.URL+"/", 5000, "--screenshot="+shot)
		checkSampleDOM(t, dom, sample)

		f, err := os.Open(shot)
		require.NoError(t, err, "chromium wrote no screenshot")
		img, err := png.Decode(f)
		f.Close()
		require.NoError(t, err)
		assert.Equal(t, 1400, img.Bounds().Dx())
		assert.Equal(t, 1000, img.Bounds().Dy())
		if os.Getenv("TANDEM_UPDATE_SCREENSHOT") != "" {
			data, err := os.ReadFile(shot)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join("..", "docs", "img", "dashboard.png"), data, 0o644))
			t.Log("wrote docs/img/dashboard.png")
		}
	})

	t.Run("hostile strings and a failed poll", func(t *testing.T) {
		t.Parallel()
		st := cloneStatus(t, sample)
		st.Routes = append(st.Routes, StatusRoute{
			Path: hostilePath, Tenant: "<b>evil</b>", Target: "python",
			Handler: "<script>alert(2)</script>", Middleware: []string{"<i>mw</i>"},
			Timeout: 1, MaxBody: 1024, Requests: 7,
		})
		st.Tenants = append(st.Tenants, StatusTenant{
			Name: "<b>evil</b>", Hosts: []string{"<svg onload=alert(3)>"}, Trust: "untrusted",
		})
		st.Policy.LastError = `tandem.yaml:1:1: <img src=y onerror=alert(4)>`
		st.Plugins[0].Pools = append(st.Plugins[0].Pools, StatusPool{Tenant: "<b>evil</b>"})

		// The first poll fails: the banner shows, and goes once one succeeds.
		srv := dashboardServer(t, st, func(n int) bool { return n == 1 })
		dom := chromium(t, bin, srv.URL+"/", 7000)
		checkSampleDOM(t, dom, st)

		for _, s := range []string{hostilePath, "<b>evil</b>", "<script>alert(2)</script>", "<i>mw</i>",
			"<svg onload=alert(3)>", "<img src=y onerror=alert(4)>"} {
			escaped := html.EscapeString(s)
			escaped = strings.NewReplacer("&#39;", "'", "&#34;", `"`).Replace(escaped)
			assert.Contains(t, dom, escaped, "%s is not shown as text", s)
		}
		for _, s := range []string{"<img", "<svg", "<i>", "<script>alert", "<b>evil"} {
			assert.NotContains(t, dom, s, "a string from the status document became markup")
		}
		assert.Contains(t, text(element(t, dom, `data-route="5"`)), hostilePath)
		assert.Contains(t, text(element(t, dom, `id="footer"`)), "1 failed")
		assert.Regexp(t, `<div id="banner"[^>]*hidden`, dom, "the banner stays after a poll succeeded")
	})

	t.Run("status unavailable", func(t *testing.T) {
		t.Parallel()
		srv := dashboardServer(t, sample, func(int) bool { return true })
		dom := chromium(t, bin, srv.URL+"/", 1500)
		banner := element(t, dom, `id="banner"`)
		assert.NotRegexp(t, `^<div[^>]*hidden`, banner)
		assert.Contains(t, text(banner), "Status unavailable: HTTP 503")
	})
}

// checkSampleDOM checks what the page shows of st after a few polls of
// dashboardServer.
func checkSampleDOM(t *testing.T, dom string, st *Status) {
	t.Helper()
	header := text(element(t, dom, "<header"))
	for _, s := range []string{st.Version, "Python " + st.Python, "Go " + st.Go, "wazero " + st.Wazero,
		"isolation " + st.Isolation, "ready"} {
		assert.Contains(t, header, s)
	}
	policy := text(element(t, dom, `id="policy"`))
	for _, s := range []string{st.Policy.File, st.Policy.Digest[:12], "2026-11-26 00:30:12 UTC", "3 applied", "1 refused",
		st.Policy.LastError} {
		assert.Contains(t, policy, s)
	}

	// Each core shows its CPUs and the worker pinned to it, with the rates
	// and busy share the server's counters grow by (see dashboardServer).
	require.Len(t, st.Topology.Cores, 4)
	for i, c := range st.Topology.Cores {
		core := element(t, dom, fmt.Sprintf(`data-core="%d"`, i))
		w := st.Workers[i]
		require.Equal(t, c.CPUs[0], w.CPU)
		worker := text(element(t, core, fmt.Sprintf(`data-worker="%d"`, w.Index)))
		tile := text(core)
		assert.Contains(t, tile, fmt.Sprintf("core %d", i))
		for _, cpu := range c.CPUs {
			assert.Contains(t, tile, fmt.Sprintf("cpu %d", cpu))
		}
		assert.Contains(t, core, fmt.Sprintf(`<span class="chip pin" title="logical CPU %d, a worker is pinned here">`, w.CPU))
		assert.Contains(t, worker, fmt.Sprintf("worker %d cpu %d · tid %d", w.Index, w.CPU, w.ThreadID))
		assert.Contains(t, worker, fmt.Sprintf("%d req/s", 150+50*i))
		assert.Contains(t, worker, fmt.Sprintf("busy %d%%", 30+15*i))
		assert.Regexp(t, `served [\d,]+`, worker)
	}
	assert.Contains(t, text(element(t, dom, `id="cores-sum"`)), "4 workers on 4 of 4 cores queue depth 2 900 req/s")

	for i, r := range st.Routes {
		row := text(element(t, dom, fmt.Sprintf(`data-route="%d"`, i)))
		assert.True(t, strings.HasPrefix(row, r.Path+" "), "route %d: %q", i, row)
		assert.Contains(t, row, r.Handler)
		for _, m := range r.Middleware {
			assert.Contains(t, row, m)
		}
	}
	hello := text(element(t, dom, `data-route="0"`))
	assert.Contains(t, hello, "/hello/:name GET operator python app:hello auth › python:app.mw:timing 2 s 64 KiB —")
	assert.Contains(t, text(element(t, dom, `data-route="1"`)), "✓ schema")
	assert.Contains(t, text(element(t, dom, `data-route="3"`)), "/hello any acme plugin hello acme-auth 50 ms")

	for i, tn := range st.Tenants {
		row := text(element(t, dom, fmt.Sprintf(`data-tenant="%d"`, i)))
		assert.True(t, strings.HasPrefix(row, tn.Name+" "), "tenant %d: %q", i, row)
		for _, h := range tn.Hosts {
			assert.Contains(t, row, h)
		}
	}
	assert.Contains(t, text(element(t, dom, `data-tenant="0"`)), "acme acme.localhost untrusted 100/s burst 20")

	assert.Equal(t, []string{"auth 8 MiB · 20 ms · max 16", "operator", "4 / 3 / 1", "2 4 ms", "0", "5", "1", "0", "0", "0"},
		cells(element(t, dom, `data-pool="0.0"`)))
	assert.Equal(t, []string{"hello 16 MiB · 100 ms · max 16", "acme", "2 / 2 / 0", "0", "0", "2", "0", "3", "0", "8"},
		cells(element(t, dom, `data-pool="1.0"`)))
	assert.Contains(t, text(element(t, dom, `data-pool="2.0"`)), "wasm:tenants/globex.wasm")
}

// dashboardServer serves the dashboard at "/" and st at "/status": call n
// (from 1) fails with 503 when fail(n), and otherwise serves st with
// uptime 2n seconds on and counters grown as if worker i served 150+50i
// requests a second and was busy (30+15i)% of the time.
func dashboardServer(t *testing.T, st *Status, fail func(n int) bool) *httptest.Server {
	t.Helper()
	var calls atomic.Int64
	mux := http.NewServeMux()
	mux.Handle("/", dashboardHandler())
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		n := int(calls.Add(1))
		if fail(n) {
			http.Error(w, "not now", http.StatusServiceUnavailable)
			return
		}
		s := cloneStatus(t, st)
		dt := 2 * float64(n)
		s.Uptime += dt
		for i := range s.Workers {
			s.Workers[i].Served += uint64(dt * float64(150+50*i))
			s.Workers[i].Busy += dt * (0.30 + 0.15*float64(i))
		}
		for i := range s.Routes {
			s.Routes[i].Requests += uint64(dt * float64(10*(i+1)))
		}
		for i := range s.Tenants {
			s.Tenants[i].Requests += uint64(dt * 5)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func loadSampleStatus(t *testing.T) *Status {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "status", "sample.json"))
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var st Status
	require.NoError(t, dec.Decode(&st), "the sample does not match the Status contract")
	return &st
}

func cloneStatus(t *testing.T, st *Status) *Status {
	data, err := json.Marshal(st)
	if err != nil {
		t.Error(err)
		return st
	}
	var c Status
	if err := json.Unmarshal(data, &c); err != nil {
		t.Error(err)
		return st
	}
	return &c
}

// chromiumBinary finds headless Chromium ($TANDEM_CHROMIUM, or chromium,
// chromium-browser, google-chrome on $PATH) or skips the test.
func chromiumBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TANDEM_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium, chromium-browser or google-chrome on $PATH (Debian: apt-get install chromium; or set TANDEM_CHROMIUM): " +
		"the dashboard's browser test does not run")
	return ""
}

// chromium loads url in headless Chromium, lets the page run budgetMS of
// virtual time (timers run at once; polls happen every 2 s of it) and
// returns the DOM it ends with. The page's console must show no uncaught
// error and no Content-Security-Policy violation.
func chromium(t *testing.T, bin, url string, budgetMS int, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append([]string{
		"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir(),
		"--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
		"--disable-background-networking", "--disable-component-update", "--mute-audio",
		"--hide-scrollbars", "--force-device-scale-factor=1", "--window-size=1400,1000",
		"--enable-logging=stderr", "--v=0",
		fmt.Sprintf("--virtual-time-budget=%d", budgetMS),
		"--dump-dom",
	}, extra...)
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	require.NoError(t, err, "chromium: %s", stderr.String())
	dom := stdout.String()
	require.Contains(t, dom, "</html>", "chromium dumped no DOM: %s", stderr.String())
	for _, line := range strings.Split(stderr.String(), "\n") {
		if !strings.Contains(line, ":CONSOLE") {
			continue
		}
		t.Log(line)
		for _, bad := range []string{"Uncaught", "Content Security Policy", "Refused to", "Trusted Type"} {
			assert.NotContains(t, line, bad, "the page's console")
		}
	}
	return dom
}

// element returns the markup of the first element in dom whose start tag
// contains attr (or, when attr starts with "<", that starts with it).
func element(t *testing.T, dom, attr string) string {
	t.Helper()
	i := strings.Index(dom, attr)
	require.True(t, i >= 0, "no element with %s in the page", attr)
	start := i
	if !strings.HasPrefix(attr, "<") {
		start = strings.LastIndex(dom[:i], "<")
	}
	name := regexp.MustCompile(`^<([a-z0-9]+)`).FindStringSubmatch(dom[start:])[1]
	tags := regexp.MustCompile(`<(/?)` + name + `[\s>]`)
	depth := 0
	for _, m := range tags.FindAllStringSubmatchIndex(dom[start:], -1) {
		if m[3] > m[2] { // a close tag
			depth--
		} else {
			depth++
		}
		if depth == 0 {
			end := start + m[1] + strings.Index(dom[start+m[1]-1:], ">")
			return dom[start:end]
		}
	}
	t.Fatalf("element with %s is not closed", attr)
	return ""
}

var (
	tagRE   = regexp.MustCompile(`<[^>]*>`)
	spaceRE = regexp.MustCompile(`\s+`)
)

// text is the text of an element's markup, its whitespace collapsed.
func text(markup string) string {
	s := tagRE.ReplaceAllString(markup, " ")
	s = strings.ReplaceAll(html.UnescapeString(s), "\u00a0", " ")
	return strings.TrimSpace(spaceRE.ReplaceAllString(s, " "))
}

// cells is the text of each <td> of a table row's markup.
func cells(row string) []string {
	var out []string
	for _, td := range strings.Split(row, "<td")[1:] {
		out = append(out, text("<td"+td))
	}
	return out
}
