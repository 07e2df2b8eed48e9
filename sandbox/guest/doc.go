// Package guest is the SDK for writing tandem plugins in Go: guests of the
// http-wasm handler ABI, built by upstream Go as WebAssembly reactors.
//
// A guest registers its handler once, when it initializes, and the host
// calls it for every request:
//
//	package main
//
//	import "github.com/tandemhost/tandem/sandbox/guest"
//
//	func init() {
//		guest.HandleRequest(func(req guest.Request, resp guest.Response) (next bool, reqCtx uint32) {
//			if req.Header().Get("X-Api-Key") == "" {
//				resp.SetStatusCode(401)
//				return false, 0 // answered here: the route's handler does not run
//			}
//			return true, 0 // go on to the next middleware or the handler
//		})
//	}
//
//	func main() {} // required by -buildmode=c-shared, never called
//
// Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// The result exports handle_request, handle_response, memory and
// _initialize (which runs the package initializers), and imports the
// http_handler functions it uses plus the few wasi_snapshot_preview1
// functions the Go runtime needs. The same guest runs unchanged on other
// http-wasm hosts.
//
// # Middleware and handlers
//
// A guest that returns next = true is middleware: the host passes the
// request on and, when the rest of the chain has answered, calls the
// function registered with HandleResponse. A guest that returns next =
// false has answered the request itself with its Response: it is a
// handler. To read or change what the rest of the chain answered (its
// status and body), enable FeatureBufferResponse first.
//
// # Calls, errors and panics
//
// Every method is a call to the host, made while the host is waiting on
// the guest, so none returns an error: a call the host refuses (say,
// changing the request after it was passed on) stops the guest with a
// trap, and the request fails with a 500. A panic does the same; its
// message goes to the host's log, never to the client.
//
// # Testing
//
// On the build machine there is no host, and anything that needs a
// request panics. Package guesttest serves a guest's handlers from an
// in-memory request, so a guest can be tested with go test.
package guest
