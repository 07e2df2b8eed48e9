package guest_test

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tandemhost/tandem/sandbox/guest"
	"github.com/tandemhost/tandem/sandbox/guest/guesttest"
	"github.com/tandemhost/tandem/sandbox/guest/internal/abi"
)

// serve registers fn as the request handler (and no response handler) and
// serves h with it.
func serve(t *testing.T, h *guesttest.Host, fn func(req guest.Request, resp guest.Response)) {
	t.Helper()
	guest.HandleRequest(func(req guest.Request, resp guest.Response) (bool, uint32) {
		fn(req, resp)
		return false, 0
	})
	guest.HandleResponse(nil)
	t.Cleanup(func() { guest.HandleRequest(nil) })
	h.Serve()
}

// panicOf runs fn and returns what it panicked with, as a string.
func panicOf(fn func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg, _ = r.(string)
			if msg == "" {
				msg = "non-string panic"
			}
		}
	}()
	fn()
	return ""
}

func TestRequestLine(t *testing.T) {
	h := guesttest.NewRequest("PATCH", "/items/7?x=1", nil)
	h.Request.Protocol = "HTTP/2.0"
	h.Request.SourceAddr = "[2001:db8::1]:443"
	var got []string
	serve(t, h, func(req guest.Request, _ guest.Response) {
		got = []string{req.Method(), req.URI(), req.Protocol(), req.SourceAddr()}
		req.SetMethod("PUT")
		req.SetURI("/v2/items/7")
	})
	want := []string{"PATCH", "/items/7?x=1", "HTTP/2.0", "[2001:db8::1]:443"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if h.Request.Method != "PUT" || h.Request.URI != "/v2/items/7" {
		t.Errorf("after SetMethod and SetURI: %s %s", h.Request.Method, h.Request.URI)
	}
}

func TestHeader(t *testing.T) {
	long := strings.Repeat("v", 5000)    // more than the first buffer
	huge := strings.Repeat("w", 100<<10) // more than the buffer that is kept
	tests := []struct {
		name   string
		header http.Header
		do     func(h guest.Header) any
		want   any
		after  http.Header // the request headers afterwards, if checked
	}{
		{"get", http.Header{"Accept": {"a/b", "c/d"}}, func(h guest.Header) any { return h.Get("accept") }, "a/b", nil},
		{"get missing", http.Header{}, func(h guest.Header) any { return h.Get("X-None") }, "", nil},
		{"get empty value", http.Header{"X-E": {""}}, func(h guest.Header) any { return h.Values("X-E") }, []string{""}, nil},
		{"values", http.Header{"Accept": {"a/b", "", "c/d"}}, func(h guest.Header) any { return h.Values("Accept") }, []string{"a/b", "", "c/d"}, nil},
		{"values missing", http.Header{}, func(h guest.Header) any { return h.Values("Accept") }, []string(nil), nil},
		{"long value", http.Header{"X-Long": {long}}, func(h guest.Header) any { return h.Get("X-Long") }, long, nil},
		{"huge values", http.Header{"X-Huge": {huge, "b"}}, func(h guest.Header) any { return h.Values("X-Huge") }, []string{huge, "b"}, nil},
		{"names", http.Header{"B": {"1"}, "A": {"2", "3"}}, func(h guest.Header) any { return h.Names() }, []string{"A", "B"}, nil},
		{"no names", http.Header{}, func(h guest.Header) any { return h.Names() }, []string(nil), nil},
		{"set", http.Header{"X-A": {"1", "2"}}, func(h guest.Header) any { h.Set("x-a", "3"); return nil }, nil, http.Header{"X-A": {"3"}}},
		{"add", http.Header{"X-A": {"1"}}, func(h guest.Header) any { h.Add("X-A", "2"); return nil }, nil, http.Header{"X-A": {"1", "2"}}},
		{"del", http.Header{"X-A": {"1"}, "X-B": {"2"}}, func(h guest.Header) any { h.Del("X-A"); return nil }, nil, http.Header{"X-B": {"2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := guesttest.NewRequest("GET", "/", nil)
			h.Request.Header = tt.header
			var got any
			serve(t, h, func(req guest.Request, _ guest.Response) { got = tt.do(req.Header()) })
			if !equal(got, tt.want) {
				t.Errorf("got %.80q, want %.80q", got, tt.want)
			}
			if tt.after != nil && !equal(h.Request.Header, tt.after) {
				t.Errorf("headers afterwards %q, want %q", h.Request.Header, tt.after)
			}
		})
	}
}

func equal(a, b any) bool {
	switch a := a.(type) {
	case []string:
		b, ok := b.([]string)
		return ok && slices.Equal(a, b) && (a == nil) == (b == nil)
	case http.Header:
		b, ok := b.(http.Header)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			if !slices.Equal(v, b[k]) {
				return false
			}
		}
		return true
	}
	return a == b
}

// listHost answers get_header_values with a fixed count<<32|length result
// and bytes, as a host with unusual encodings might.
type listHost struct {
	abi.Host
	count uint32
	data  string
}

func (l listHost) GetHeaderValues(_ uint32, _ string, buf []byte) uint64 {
	if len(l.data) <= len(buf) {
		copy(buf, l.data)
	}
	return uint64(l.count)<<32 | uint64(len(l.data))
}

func TestHeaderEncoding(t *testing.T) {
	tests := []struct {
		name      string
		count     uint32
		data      string
		want      []string
		wantFirst string
	}{
		{"empty", 0, "", nil, ""},
		{"one", 1, "a\x00", []string{"a"}, "a"},
		{"empty values", 3, "\x00\x00\x00", []string{"", "", ""}, ""},
		{"no final NUL", 2, "a\x00b", []string{"a", "b"}, "a"},
		{"count too high", 1000000, "a\x00", []string{"a"}, "a"},
		{"count too low", 1, "a\x00b\x00", []string{"a", "b"}, "a"},
		{"count zero wins", 0, "a\x00", nil, ""},
	}
	old := abi.Current
	defer func() { abi.Current = old }()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			abi.Current = listHost{count: tt.count, data: tt.data}
			h := guest.Request{}.Header()
			if got := h.Values("X"); !equal(got, tt.want) {
				t.Errorf("Values = %q, want %q", got, tt.want)
			}
			if got := h.Get("X"); got != tt.wantFirst {
				t.Errorf("Get = %q, want %q", got, tt.wantFirst)
			}
		})
	}
}

func TestBody(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789"), 1000) // several reads
	for _, size := range []int{0, 1, 1023, 1024, 1025, len(big)} {
		h := guesttest.NewRequest("POST", "/", big[:size])
		var all, viaReader []byte
		serve(t, h, func(req guest.Request, _ guest.Response) {
			all = req.Body().ReadAll()
		})
		h = guesttest.NewRequest("POST", "/", big[:size])
		serve(t, h, func(req guest.Request, _ guest.Response) {
			viaReader, _ = io.ReadAll(req.Body())
		})
		if !bytes.Equal(all, big[:size]) || !bytes.Equal(viaReader, big[:size]) {
			t.Errorf("%d bytes: ReadAll read %d, io.ReadAll %d", size, len(all), len(viaReader))
		}
	}

	h := guesttest.NewRequest("POST", "/", []byte("old"))
	serve(t, h, func(req guest.Request, resp guest.Response) {
		if n, err := req.Body().Read(nil); n != 0 || err != nil {
			t.Errorf("Read(nil) = %d, %v", n, err)
		}
		req.Body().Write([]byte("new "))
		req.Body().WriteString("body")
		resp.Body().WriteString("hello, ")
		resp.Body().Write([]byte("world"))
	})
	if got := string(h.Request.Body); got != "new body" {
		t.Errorf("request body %q, want the first write to replace it", got)
	}
	if got := string(h.Response.Body); got != "hello, world" {
		t.Errorf("response body %q", got)
	}
}

func TestNextAndRequestContext(t *testing.T) {
	defer guest.HandleRequest(nil)
	defer guest.HandleResponse(nil)
	var gotCtx uint32
	var responses int
	guest.HandleResponse(func(reqCtx uint32, _ guest.Request, resp guest.Response, isError bool) {
		responses++
		gotCtx = reqCtx
		if isError {
			t.Error("isError with a response")
		}
		resp.Header().Set("X-Seen", "yes")
	})

	guest.HandleRequest(func(guest.Request, guest.Response) (bool, uint32) { return true, 42 })
	if got := abi.Guest.HandleRequest(); got != 42<<32|1 {
		t.Errorf("ctx_next = %#x, want 42<<32|1", got)
	}
	h := guesttest.NewRequest("GET", "/", nil)
	next := false
	h.Next = func(*guesttest.Host) { next = true }
	if !h.Serve() || !next || responses != 1 || gotCtx != 42 || h.Response.Header.Get("X-Seen") != "yes" {
		t.Errorf("next: next ran %v, %d responses with ctx %d", next, responses, gotCtx)
	}

	guest.HandleRequest(func(guest.Request, guest.Response) (bool, uint32) { return false, 7 })
	if got := abi.Guest.HandleRequest(); got != 7<<32 {
		t.Errorf("ctx_next = %#x, want 7<<32", got)
	}
	responses = 0
	if guesttest.NewRequest("GET", "/", nil).Serve() || responses != 0 {
		t.Errorf("no next: %d responses, want none", responses)
	}

	guest.HandleRequest(nil)
	if got := abi.Guest.HandleRequest(); got != 1 {
		t.Errorf("without a handler ctx_next = %#x, want 1 (next)", got)
	}
}

func TestIsError(t *testing.T) {
	defer guest.HandleResponse(nil)
	var gotCtx uint32
	var got bool
	guest.HandleResponse(func(reqCtx uint32, _ guest.Request, _ guest.Response, isError bool) {
		gotCtx, got = reqCtx, isError
	})
	abi.Guest.HandleResponse(5, 1)
	if gotCtx != 5 || !got {
		t.Errorf("handle_response(5, 1) gave reqCtx %d, isError %v", gotCtx, got)
	}
}

func TestBufferedResponse(t *testing.T) {
	defer guest.HandleResponse(nil)
	guest.HandleRequest(nil)
	guest.HandleResponse(func(_ uint32, _ guest.Request, resp guest.Response, _ bool) {
		body := resp.Body().ReadAll()
		resp.Body().Write(bytes.ToUpper(body))
		resp.SetStatusCode(resp.StatusCode() + 1)
	})
	h := guesttest.NewRequest("GET", "/", nil)
	h.Next = func(h *guesttest.Host) {
		h.Response.StatusCode = 201
		h.Response.Body = []byte("made")
	}
	h.Init(func() { guest.EnableFeatures(guest.FeatureBufferResponse) })
	h.Serve()
	if h.Response.StatusCode != 202 || string(h.Response.Body) != "MADE" {
		t.Errorf("got %d %q, want 202 MADE", h.Response.StatusCode, h.Response.Body)
	}

	// Without the feature the host refuses, and so does guesttest.
	h = guesttest.NewRequest("GET", "/", nil)
	if msg := panicOf(func() { h.Serve() }); !strings.Contains(msg, "FeatureBufferResponse") {
		t.Errorf("reading an unbuffered response: panic %q", msg)
	}
}

func TestTrailers(t *testing.T) {
	h := guesttest.NewRequest("GET", "/", nil)
	h.Request.Trailer = http.Header{"Grpc-Status": {"0"}}
	h.Init(func() {
		if got := guest.EnableFeatures(guest.FeatureTrailers); got&guest.FeatureTrailers == 0 {
			t.Errorf("EnableFeatures = %b", got)
		}
	})
	var got string
	serve(t, h, func(req guest.Request, resp guest.Response) {
		got = req.Trailer().Get("grpc-status")
		resp.Trailer().Set("X-T", "1")
	})
	if got != "0" || h.Response.Trailer.Get("X-T") != "1" {
		t.Errorf("trailers: got %q, response %v", got, h.Response.Trailer)
	}
	h = guesttest.NewRequest("GET", "/", nil)
	msg := panicOf(func() { serve(t, h, func(req guest.Request, _ guest.Response) { req.Trailer().Names() }) })
	if !strings.Contains(msg, "FeatureTrailers") {
		t.Errorf("trailers without the feature: panic %q", msg)
	}
}

func TestRequestIsFrozenAfterNext(t *testing.T) {
	defer guest.HandleResponse(nil)
	guest.HandleRequest(nil)
	guest.HandleResponse(func(_ uint32, req guest.Request, _ guest.Response, _ bool) {
		req.Header().Set("X-Late", "1")
	})
	msg := panicOf(func() { guesttest.NewRequest("GET", "/", nil).Serve() })
	if !strings.Contains(msg, "after the request was passed on") {
		t.Errorf("panic %q", msg)
	}
}

func TestConfigAndLog(t *testing.T) {
	h := guesttest.NewRequest("GET", "/", nil)
	var empty []byte
	h.Init(func() { empty = guest.Config() })
	if empty != nil {
		t.Errorf("Config() = %q without a config, want nil", empty)
	}

	h.Config = bytes.Repeat([]byte("c"), 70<<10)
	h.LogLevel = guest.LevelWarn
	var cfg []byte
	var debug, warn bool
	h.Init(func() {
		cfg = guest.Config()
		cfg[0] = 'x' // a copy: changing it changes nothing else
		debug, warn = guest.LogEnabled(guest.LevelDebug), guest.LogEnabled(guest.LevelWarn)
		guest.Log(guest.LevelInfo, "dropped")
		guest.Log(guest.LevelError, "kept")
	})
	if len(cfg) != len(h.Config) || h.Config[0] != 'c' {
		t.Errorf("Config() returned %d bytes of %d, or not a copy", len(cfg), len(h.Config))
	}
	if debug || !warn {
		t.Errorf("LogEnabled at warn: debug %v, warn %v", debug, warn)
	}
	if len(h.Logs) != 1 || h.Logs[0] != (guesttest.Log{Level: guest.LevelError, Message: "kept"}) {
		t.Errorf("logs %v", h.Logs)
	}
}

// Outside a wasm guest and guesttest there is no request: setup code runs,
// request code panics and says why.
func TestOutsideAGuest(t *testing.T) {
	if guest.Config() != nil || guest.EnableFeatures(guest.FeatureBufferResponse) != 0 || guest.LogEnabled(guest.LevelError) {
		t.Error("outside a guest: want no config, no features, no logging")
	}
	guest.Log(guest.LevelError, "goes nowhere")
	msg := panicOf(func() { guest.Request{}.Method() })
	if !strings.Contains(msg, "GOOS=wasip1") || !strings.Contains(msg, "guesttest") {
		t.Errorf("panic %q should say where the calls work", msg)
	}
}
