package host

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"net/http"
	"time"
)

// The dashboard is one self-contained page: its only <style> and <script>
// are inline, and it reads the document at the relative URL "status".
//
//go:embed dashboard
var dashboardFiles embed.FS

// dashboardPage is the page and dashboardCSP the Content-Security-Policy it
// is served with: nothing may load but the page's own inline style and
// script (allowed by hash, not by 'unsafe-inline') and fetches from its own
// origin; Trusted Types are required, so an HTML sink given a string throws.
var dashboardPage, dashboardCSP, dashboardETag = loadDashboard()

func loadDashboard() (page []byte, csp, etag string) {
	page, err := dashboardFiles.ReadFile("dashboard/index.html")
	if err != nil {
		panic(err)
	}
	style := inlineHash(page, "<style>", "</style>")
	script := inlineHash(page, "<script>", "</script>")
	csp = "default-src 'none'; " +
		"style-src '" + style + "'; " +
		"script-src '" + script + "'; " +
		"connect-src 'self'; " +
		"base-uri 'none'; form-action 'none'; frame-ancestors 'none'; " +
		"require-trusted-types-for 'script'; trusted-types 'none'"
	sum := sha256.Sum256(page)
	etag = fmt.Sprintf(`"%x"`, sum[:12])
	return page, csp, etag
}

// inlineHash is the CSP source ('sha256-…', without quotes) of the text
// between the only open and close tag in page.
func inlineHash(page []byte, open, end string) string {
	i := bytes.Index(page, []byte(open))
	j := bytes.Index(page, []byte(end))
	if i < 0 || j < i || bytes.Count(page, []byte(open)) != 1 || bytes.Count(page, []byte(end)) != 1 {
		panic("host: the dashboard page must have exactly one " + open + " element")
	}
	sum := sha256.Sum256(page[i+len(open) : j])
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// dashboardHandler serves the dashboard page at "/" (GET and HEAD); the
// admin listener mounts it next to /status.
func dashboardHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", dashboardCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("ETag", dashboardETag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(dashboardPage))
	})
}
