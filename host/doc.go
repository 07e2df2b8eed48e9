// Package host is tandem's HTTP server: it turns a policy into Echo
// routers, Python worker pools and sandboxed plugins, and serves it.
//
// A policy is served as a generation: a router per tenant with hosts (the
// request's Host picks it) and one for everything else, each route's chain
// of stages, and counted references to the Python pool and the compiled
// plugins it uses. A route's stages, outermost first: a request id and
// panic recovery (every request, 404s included), the tenant's rate limit
// (429), the body limit (413, the body read whole in Go), the route's
// deadline (504), the plugin middleware in the order the policy lists
// them, the body schema (422), and the target: Python (one call into the
// worker pool runs the route's Python middleware and handler, or its WSGI
// application) or a sandboxed guest.
//
// Reload builds the new generation beside the running one, sharing what
// did not change (the workers, switched to a table holding both
// generations' routes; plugins with the same bytes, config and limits),
// and swaps it in atomically. Each request holds the generation it
// started on until its response is written; when the last request of a
// replaced generation ends, what only it used is closed.
//
// Errors that Go answers look like the Python side's:
// {"error": "...", "status": N, "request_id": "..."}, and every response,
// errors included, carries X-Request-Id.
//
// The admin listener (server.admin) is the one part of the policy this
// version cannot serve: New refuses a policy that sets it, naming its
// file, line and column, instead of serving it with a part missing.
package host
