package guesttest_test

import (
	"fmt"

	"github.com/tandemhost/tandem/sandbox/guest"
	"github.com/tandemhost/tandem/sandbox/guest/guesttest"
)

// Serve runs the guest's handlers on one request; Next stands in for the
// rest of the chain.
func ExampleHost_Serve() {
	guest.HandleRequest(func(req guest.Request, _ guest.Response) (bool, uint32) {
		req.Header().Set("X-Tenant", "acme")
		return true, 0
	})

	h := guesttest.NewRequest("GET", "/orders", nil)
	h.Next = func(h *guesttest.Host) {
		h.Response.Body = []byte("orders of " + h.Request.Header.Get("X-Tenant"))
	}
	next := h.Serve()
	fmt.Println(next, string(h.Response.Body))
	// Output: true orders of acme
}

// Init runs a guest's setup with the test's configuration, as a host runs
// the guest's init with the plugin's.
func ExampleHost_Init() {
	// In the guest: func init() { setup() }
	setup := func() {
		limit := string(guest.Config())
		guest.HandleRequest(func(_ guest.Request, resp guest.Response) (bool, uint32) {
			resp.Header().Set("X-Limit", limit)
			return false, 0
		})
	}

	h := guesttest.NewRequest("GET", "/", nil)
	h.Config = []byte("100")
	h.Init(setup)
	h.Serve()
	fmt.Println(h.Response.Header.Get("X-Limit"))
	// Output: 100
}
