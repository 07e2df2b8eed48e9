package guesttest_test

import (
	"strings"
	"testing"

	"github.com/tandemhost/tandem/sandbox/guest"
	"github.com/tandemhost/tandem/sandbox/guest/guesttest"
)

// A body the guest reads without FeatureBufferRequest is gone for the rest
// of the chain, as on a real host; with it, the rest of the chain gets all.
func TestRequestBodyConsumption(t *testing.T) {
	defer guest.HandleRequest(nil)
	guest.HandleRequest(func(req guest.Request, _ guest.Response) (bool, uint32) {
		req.Body().Read(make([]byte, 3))
		return true, 0
	})
	for _, buffered := range []bool{false, true} {
		h := guesttest.NewRequest("POST", "/", []byte("abcdef"))
		var got string
		h.Next = func(h *guesttest.Host) { got = string(h.Request.Body) }
		if buffered {
			h.Init(func() { guest.EnableFeatures(guest.FeatureBufferRequest) })
		}
		h.Serve()
		want := "def"
		if buffered {
			want = "abcdef"
		}
		if got != want {
			t.Errorf("buffered %v: the rest of the chain got %q, want %q", buffered, got, want)
		}
	}
}

func TestZeroHost(t *testing.T) {
	defer guest.HandleRequest(nil)
	guest.HandleRequest(func(req guest.Request, resp guest.Response) (bool, uint32) {
		req.Header().Set("A", "1")
		resp.Header().Set("B", "2")
		return false, 0
	})
	var h guesttest.Host // no NewRequest: the headers are made on first use
	h.Serve()
	if h.Request.Header.Get("A") != "1" || h.Response.Header.Get("B") != "2" || h.Response.StatusCode != 200 {
		t.Errorf("headers %v %v, status %d", h.Request.Header, h.Response.Header, h.Response.StatusCode)
	}
}

func TestChangingTheRequestAfterNextPanics(t *testing.T) {
	defer guest.HandleRequest(nil)
	defer guest.HandleResponse(nil)
	guest.HandleRequest(nil)
	changes := map[string]func(guest.Request){
		"method": func(r guest.Request) { r.SetMethod("POST") },
		"uri":    func(r guest.Request) { r.SetURI("/") },
		"header": func(r guest.Request) { r.Header().Add("A", "1") },
		"body":   func(r guest.Request) { r.Body().WriteString("x") },
	}
	for name, change := range changes {
		guest.HandleResponse(func(_ uint32, req guest.Request, _ guest.Response, _ bool) { change(req) })
		func() {
			defer func() {
				if msg, _ := recover().(string); !strings.Contains(msg, "after the request was passed on") {
					t.Errorf("%s: panic %q", name, msg)
				}
			}()
			guesttest.NewRequest("GET", "/", nil).Serve()
		}()
	}
}
