package main

import (
	"strconv"
	"testing"

	"github.com/tandemhost/tandem/sandbox/guest"
	"github.com/tandemhost/tandem/sandbox/guest/guesttest"
)

func TestRewrite(t *testing.T) {
	const config = `{"replace": [{"from": "Hello", "to": "Howdy"}, {"from": "world", "to": "y'all"}]}`
	tests := []struct {
		name, contentType, encoding, body, want string
	}{
		{"text", "text/plain; charset=utf-8", "", "Hello, world!", "Howdy, y'all!"},
		{"json", "application/json", "", `{"msg":"Hello"}`, `{"msg":"Howdy"}`},
		{"upper-case type", "Text/HTML", "", "<p>Hello</p>", "<p>Howdy</p>"},
		{"nothing to replace", "text/plain", "", "Bye", "Bye"},
		{"binary", "image/png", "", "Hello", "Hello"},
		{"no type", "", "", "Hello", "Hello"},
		{"compressed", "text/plain", "gzip", "Hello", "Hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := guesttest.NewRequest("GET", "/", nil)
			h.Config = []byte(config)
			h.Init(setup)
			if h.Features&guest.FeatureBufferResponse == 0 {
				t.Fatal("FeatureBufferResponse not enabled")
			}
			h.Next = func(h *guesttest.Host) {
				if tt.contentType != "" {
					h.Response.Header.Set("Content-Type", tt.contentType)
				}
				if tt.encoding != "" {
					h.Response.Header.Set("Content-Encoding", tt.encoding)
				}
				h.Response.Header.Set("Content-Length", strconv.Itoa(len(tt.body)))
				h.Response.Body = []byte(tt.body)
			}
			h.Serve()
			if got := string(h.Response.Body); got != tt.want {
				t.Errorf("body %q, want %q", got, tt.want)
			}
			if got := h.Response.Header.Get("Content-Length"); got != strconv.Itoa(len(tt.want)) {
				t.Errorf("Content-Length %s for %d bytes", got, len(tt.want))
			}
		})
	}
}

func TestRewriteWithoutReplacements(t *testing.T) {
	h := guesttest.NewRequest("GET", "/", nil)
	h.Init(setup)
	h.Next = func(h *guesttest.Host) { h.Response.Body = []byte("Hello") }
	if !h.Serve() || h.Features != 0 || string(h.Response.Body) != "Hello" {
		t.Errorf("features %b, body %q: want no buffering and the body untouched", h.Features, h.Response.Body)
	}
}
