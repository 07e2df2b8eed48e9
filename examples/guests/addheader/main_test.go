package main

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/tandemhost/tandem/sandbox/guest/guesttest"
)

func TestAddHeader(t *testing.T) {
	h := guesttest.NewRequest("GET", "/", nil)
	h.Config = []byte(`{"request": {"X-Forwarded-By": "tandem", "x-b": "2"},
		"response": {"X-Frame-Options": "DENY"}}`)
	h.Init(setup)
	h.Request.Header.Set("X-B", "old")
	var seen http.Header
	h.Next = func(h *guesttest.Host) {
		seen = h.Request.Header.Clone()
		h.Response.Header.Set("Content-Type", "text/plain")
	}
	if !h.Serve() {
		t.Fatal("the request was not passed on")
	}
	want := http.Header{"X-Forwarded-By": {"tandem"}, "X-B": {"2"}}
	if !reflect.DeepEqual(seen, want) {
		t.Errorf("the rest of the chain got %v, want %v", seen, want)
	}
	if got := h.Response.Header; got.Get("X-Frame-Options") != "DENY" || got.Get("Content-Type") != "text/plain" {
		t.Errorf("response headers %v", got)
	}
}

func TestAddHeaderWithoutConfig(t *testing.T) {
	h := guesttest.NewRequest("GET", "/", nil)
	h.Init(setup)
	if !h.Serve() || len(h.Request.Header) != 0 || len(h.Response.Header) != 0 {
		t.Errorf("with no config: headers %v %v", h.Request.Header, h.Response.Header)
	}
}
