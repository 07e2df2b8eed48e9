package main

import (
	"strings"
	"testing"

	"github.com/tandemhost/tandem/sandbox/guest/guesttest"
)

func TestAuth(t *testing.T) {
	const config = `{"header": "Authorization-Key", "keys": ["k1", "k2"]}`
	tests := []struct {
		name, key string
		next      bool
		body      string
	}{
		{"missing", "", false, `{"error":"missing API key in Authorization-Key","status":401}`},
		{"invalid", "k3", false, `{"error":"invalid API key","status":401}`},
		{"prefix of a key", "k", false, `{"error":"invalid API key","status":401}`},
		{"first key", "k1", true, ""},
		{"second key", "k2", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := guesttest.NewRequest("GET", "/private", nil)
			h.Config = []byte(config)
			h.Init(setup)
			if tt.key != "" {
				h.Request.Header.Set("Authorization-Key", tt.key)
			}
			next := h.Serve()
			if next != tt.next {
				t.Fatalf("next = %v, want %v", next, tt.next)
			}
			if next {
				if h.Response.StatusCode != 200 || len(h.Response.Body) != 0 {
					t.Errorf("passed on, yet answered %d %q", h.Response.StatusCode, h.Response.Body)
				}
				return
			}
			if h.Response.StatusCode != 401 || string(h.Response.Body) != tt.body ||
				h.Response.Header.Get("Content-Type") != "application/json" {
				t.Errorf("got %d %v %s", h.Response.StatusCode, h.Response.Header, h.Response.Body)
			}
		})
	}
}

func TestAuthConfig(t *testing.T) {
	for config, wantPanic := range map[string]string{
		`{"keys": ["k"]}`:               "",
		``:                              "",
		`{"kyes": ["k"]}`:               `unknown field "kyes"`,
		`{"header": "", "keys": ["k"]}`: `"header" is empty`,
		`[1]`:                           "cannot unmarshal",
	} {
		h := guesttest.NewRequest("GET", "/", nil)
		h.Config = []byte(config)
		got := func() (msg string) {
			defer func() { msg, _ = recover().(string) }()
			h.Init(setup)
			return ""
		}()
		if wantPanic == "" && got != "" || !strings.Contains(got, wantPanic) {
			t.Errorf("config %s: panic %q, want %q", config, got, wantPanic)
		}
	}

	// Without keys the guest loads, warns, and refuses everything.
	h := guesttest.NewRequest("GET", "/", nil)
	h.Init(setup)
	h.Request.Header.Set("X-Api-Key", "")
	if h.Serve() || len(h.Logs) != 1 || !strings.Contains(h.Logs[0].Message, "no keys") {
		t.Errorf("without keys: logs %v", h.Logs)
	}
}
