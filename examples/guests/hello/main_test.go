package main

import (
	"testing"

	"github.com/tandemhost/tandem/sandbox/guest/guesttest"
)

func TestHello(t *testing.T) {
	tests := []struct {
		method, uri string
		status      int
		body        string
	}{
		{"GET", "/hello?name=gopher", 200, `{"hello":"gopher"}`},
		{"GET", "/hello", 200, `{"hello":"world"}`},
		{"GET", "/hello?name=", 200, `{"hello":"world"}`},
		{"GET", "/hello?name=%22%3Cb%3E%22", 200, `{"hello":"\"\u003cb\u003e\""}`},
		{"HEAD", "/hello?name=x", 200, `{"hello":"x"}`},
		{"POST", "/hello", 405, `{"error":"method not allowed","status":405}`},
	}
	for _, tt := range tests {
		h := guesttest.NewRequest(tt.method, tt.uri, nil)
		if h.Serve() {
			t.Errorf("%s %s: passed on; a handler must answer", tt.method, tt.uri)
		}
		if h.Response.StatusCode != tt.status || string(h.Response.Body) != tt.body ||
			h.Response.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: got %d %v %s", tt.method, tt.uri, h.Response.StatusCode, h.Response.Header, h.Response.Body)
		}
	}
}
