// Package host is tandem's HTTP server: it turns a compiled policy into an
// Echo router and serves it.
//
// Every route goes through the same stages. Echo's router picks the route;
// then Go built-ins that need no Python run for every request (a request id,
// panic recovery, the body limit, the route's deadline); then the route's
// target serves it. The only target this version has is Python: the body is
// read whole in Go, and one call into the native worker pool runs the
// route's Python middleware and handler (or its WSGI application) and comes
// back with status, headers and body.
//
// Errors that Go answers look like the Python side's:
// {"error": "...", "status": N, "request_id": "..."}, and every response,
// errors included, carries X-Request-Id.
//
// A policy may use features this version cannot serve yet (WebAssembly
// handlers and middleware, tenants, body schemas, the admin listener). New
// refuses such a policy with one problem per use, each naming its file,
// line and column, instead of serving it with parts silently missing.
package host
