package guest_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/tandemhost/tandem/sandbox/guest"
	"github.com/tandemhost/tandem/sandbox/guest/guesttest"
)

// A guest registers its handler in init. Here, guesttest plays the host
// so that the example runs with go test; in a wasm guest, the host calls
// the handler for each request.
func Example() {
	guest.HandleRequest(func(req guest.Request, resp guest.Response) (next bool, reqCtx uint32) {
		if req.Header().Get("X-Api-Key") != "s3cret" {
			resp.Header().Set("Content-Type", "text/plain")
			resp.SetStatusCode(401)
			resp.Body().WriteString("who are you?")
			return false, 0
		}
		req.Header().Set("X-Authenticated", "yes")
		return true, 0
	})

	h := guesttest.NewRequest("GET", "/private", nil)
	fmt.Println(h.Serve(), h.Response.StatusCode, string(h.Response.Body))

	h = guesttest.NewRequest("GET", "/private", nil)
	h.Request.Header.Set("X-Api-Key", "s3cret")
	fmt.Println(h.Serve(), h.Request.Header.Get("X-Authenticated"))
	// Output:
	// false 401 who are you?
	// true yes
}

// A guest that never passes the request on is a handler.
func ExampleHandleRequest() {
	guest.HandleRequest(func(req guest.Request, resp guest.Response) (bool, uint32) {
		resp.Header().Set("Content-Type", "text/plain")
		resp.Body().WriteString("you asked for " + req.URI())
		return false, 0
	})

	h := guesttest.NewRequest("GET", "/hello?lang=go", nil)
	h.Serve()
	fmt.Println(h.Response.StatusCode, string(h.Response.Body))
	// Output: 200 you asked for /hello?lang=go
}

// Config holds the plugin's configuration from the policy; a guest reads
// it once, in init, in a function that tests can call too.
func ExampleConfig() {
	setup := func() {
		greeting := string(guest.Config())
		if greeting == "" {
			greeting = "hello"
		}
		guest.HandleRequest(func(_ guest.Request, resp guest.Response) (bool, uint32) {
			resp.Body().WriteString(greeting)
			return false, 0
		})
	}

	h := guesttest.NewRequest("GET", "/", nil)
	h.Config = []byte("bonjour")
	h.Init(setup)
	h.Serve()
	fmt.Println(string(h.Response.Body))
	// Output: bonjour
}

func ExampleLog() {
	h := guesttest.NewRequest("GET", "/", nil)
	h.Init(func() {
		guest.Log(guest.LevelWarn, "no keys configured")
	})
	fmt.Println(h.Logs)
	// Output: [{1 no keys configured}]
}

// LogEnabled saves building a message the host would drop.
func ExampleLogEnabled() {
	guest.HandleRequest(func(req guest.Request, _ guest.Response) (bool, uint32) {
		if guest.LogEnabled(guest.LevelDebug) {
			guest.Log(guest.LevelDebug, "headers: "+strings.Join(req.Header().Names(), ", "))
		}
		return true, 0
	})

	h := guesttest.NewRequest("GET", "/", nil)
	h.LogLevel = guest.LevelDebug
	h.Request.Header.Set("Accept", "*/*")
	h.Serve()
	fmt.Println(h.Logs[0].Message)
	// Output: headers: Accept
}

// Middleware can change the request before passing it on.
func ExampleRequest_SetURI() {
	guest.HandleRequest(func(req guest.Request, _ guest.Response) (bool, uint32) {
		if uri := req.URI(); strings.HasPrefix(uri, "/v1/") {
			req.SetURI("/v2/" + uri[len("/v1/"):])
		}
		return true, 0
	})

	h := guesttest.NewRequest("GET", "/v1/items?page=2", nil)
	h.Serve()
	fmt.Println(h.Request.URI)
	// Output: /v2/items?page=2
}

func ExampleRequest_SourceAddr() {
	guest.HandleRequest(func(req guest.Request, resp guest.Response) (bool, uint32) {
		resp.Body().WriteString(req.Method() + " " + req.URI() + " " + req.Protocol() + " from " + req.SourceAddr())
		return false, 0
	})

	h := guesttest.NewRequest("GET", "/", nil)
	h.Serve()
	fmt.Println(string(h.Response.Body))
	// Output: GET / HTTP/1.1 from 192.0.2.1:54321
}

// Headers go before the status: a host may send them together.
func ExampleResponse_SetStatusCode() {
	guest.HandleRequest(func(_ guest.Request, resp guest.Response) (bool, uint32) {
		resp.Header().Set("Location", "/new")
		resp.SetStatusCode(http.StatusMovedPermanently)
		return false, 0
	})

	h := guesttest.NewRequest("GET", "/old", nil)
	h.Serve()
	fmt.Println(h.Response.StatusCode, h.Response.Header.Get("Location"))
	// Output: 301 /new
}

func ExampleHeader() {
	guest.HandleRequest(func(req guest.Request, resp guest.Response) (bool, uint32) {
		req.Header().Del("Cookie")
		req.Header().Add("Via", "1.1 tandem")
		resp.Header().Set("X-Frame-Options", "DENY")
		return true, 0
	})

	h := guesttest.NewRequest("GET", "/", nil)
	h.Request.Header.Set("Cookie", "session=1")
	h.Request.Header.Set("Via", "1.1 cdn")
	h.Serve()
	fmt.Println(h.Request.Header.Values("Via"), h.Request.Header.Get("Cookie") == "", h.Response.Header.Get("X-Frame-Options"))
	// Output: [1.1 cdn 1.1 tandem] true DENY
}

func ExampleHeader_Values() {
	guest.HandleRequest(func(req guest.Request, resp guest.Response) (bool, uint32) {
		for _, v := range req.Header().Values("Accept") {
			resp.Body().WriteString(v + ";")
		}
		return false, 0
	})

	h := guesttest.NewRequest("GET", "/", nil)
	h.Request.Header["Accept"] = []string{"text/html", "application/json"}
	h.Serve()
	fmt.Println(string(h.Response.Body))
	// Output: text/html;application/json;
}

func ExampleHeader_Names() {
	guest.HandleRequest(func(req guest.Request, resp guest.Response) (bool, uint32) {
		for _, name := range req.Header().Names() {
			resp.Body().WriteString(name + ": " + req.Header().Get(name) + "\n")
		}
		return false, 0
	})

	h := guesttest.NewRequest("GET", "/", nil)
	h.Request.Header.Set("user-agent", "curl/8")
	h.Request.Header.Set("Accept", "*/*")
	h.Serve()
	fmt.Print(string(h.Response.Body))
	// Output:
	// Accept: */*
	// User-Agent: curl/8
}

func ExampleBody_ReadAll() {
	guest.HandleRequest(func(req guest.Request, resp guest.Response) (bool, uint32) {
		body := req.Body().ReadAll()
		resp.Body().WriteString(strings.ToUpper(string(body)))
		return false, 0
	})

	h := guesttest.NewRequest("POST", "/echo", []byte("shout"))
	h.Serve()
	fmt.Println(string(h.Response.Body))
	// Output: SHOUT
}

// Body is an io.Reader and an io.Writer, so the standard library's helpers
// work on it.
func ExampleBody_Read() {
	guest.HandleRequest(func(req guest.Request, resp guest.Response) (bool, uint32) {
		n, _ := io.Copy(io.Discard, io.LimitReader(req.Body(), 4))
		fmt.Fprintf(resp.Body(), "read %d bytes", n)
		return false, 0
	})

	h := guesttest.NewRequest("POST", "/", []byte("0123456789"))
	h.Serve()
	fmt.Println(string(h.Response.Body))
	// Output: read 4 bytes
}

// The first write replaces the body; later ones append.
func ExampleBody_Write() {
	guest.HandleRequest(func(req guest.Request, _ guest.Response) (bool, uint32) {
		req.Body().Write([]byte(`{"wrapped":`))
		req.Body().WriteString(`true}`)
		return true, 0
	})

	h := guesttest.NewRequest("POST", "/", []byte("original"))
	h.Serve()
	fmt.Println(string(h.Request.Body))
	// Output: {"wrapped":true}
}

// The examples below register response handlers; they come last, so that
// the ones above, which pass requests on, run without one.

// Middleware that sees the response: the request handler passes the
// request on with a context value, and the response handler gets it back.
func ExampleHandleResponse() {
	guest.HandleRequest(func(req guest.Request, _ guest.Response) (bool, uint32) {
		if req.Method() == "HEAD" {
			return true, 1
		}
		return true, 0
	})
	guest.HandleResponse(func(reqCtx uint32, _ guest.Request, resp guest.Response, isError bool) {
		if !isError && reqCtx == 1 {
			resp.Header().Set("X-Was-Head", "1")
		}
	})

	h := guesttest.NewRequest("HEAD", "/", nil)
	h.Serve()
	fmt.Println(h.Response.Header.Get("X-Was-Head"))
	// Output: 1
}

// A guest that rewrites response bodies needs them buffered; it asks in
// init, and refuses to load on a host that cannot.
func ExampleEnableFeatures() {
	setup := func() {
		if guest.EnableFeatures(guest.FeatureBufferResponse)&guest.FeatureBufferResponse == 0 {
			panic("this plugin needs buffered responses")
		}
		guest.HandleRequest(nil)
		guest.HandleResponse(func(_ uint32, _ guest.Request, resp guest.Response, _ bool) {
			body := resp.Body().ReadAll()
			resp.Body().WriteString(strings.ToUpper(string(body)))
		})
	}

	h := guesttest.NewRequest("GET", "/", nil)
	h.Next = func(h *guesttest.Host) { h.Response.Body = []byte("quiet") }
	h.Init(setup)
	h.Serve()
	fmt.Println(string(h.Response.Body))
	// Output: QUIET
}
