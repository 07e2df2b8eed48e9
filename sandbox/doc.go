// Package sandbox runs untrusted HTTP middleware and handlers compiled to
// WebAssembly, on wazero, as guests of the http-wasm handler ABI
// (https://http-wasm.io/http-handler-abi/).
//
// An Engine compiles each plugin once (with a disk cache between runs); a
// Plugin is shared by every route that names it and hands out one bounded
// Pool of instances per tenant. A Pool serves requests as plain net/http
// middleware or as a handler, so Echo wraps it with echo.WrapMiddleware or
// echo.WrapHandler:
//
//	engine, err := sandbox.NewEngine(ctx, sandbox.EngineConfig{Logger: log})
//	plugin, err := engine.Compile(ctx, sandbox.PluginConfig{Name: "auth", Wasm: wasm})
//	e.Use(echo.WrapMiddleware(plugin.Pool("acme").Middleware))
//
// # What a guest gets
//
// Nothing it was not given: the http_handler functions of the ABI, and as
// much of WASI as Go and TinyGo runtimes need to start, with no preopened
// directories, no environment variables, no arguments, no sockets and a
// fake clock. Its linear memory is capped by Limits.Memory and every call
// into it is stopped at Limits.Timeout. Its stdout, stderr and log calls go
// to the host's log, bounded per call.
//
// # What a request gets when a guest misbehaves
//
// Compile starts one instance, so a guest that cannot start at all (a trap
// or a panic in its start functions, a config it refuses) is an error at
// load that names the plugin and quotes the guest. Later, a trap, an ABI
// violation (a pointer outside the guest's memory, a request header
// changed after next, a header too large) or a failed start answers 500;
// a call that overran its timeout 504; a pool whose instances are all busy
// past the request's deadline 503 with Retry-After. Each is a JSON body
// {"error", "status", "request_id"} with a generic message; the guest's
// own error text goes only to the log. The instance that failed is thrown
// away and never serves another request.
//
// # Buffering
//
// The response of the next handler is always buffered until the guest's
// handle_response has run, whether or not the guest enabled
// feature_buffer_response: that is what lets a guest that fails after next
// still answer its request with a clean 500 instead of half a response.
// docs/rationale.md has the trade-off.
package sandbox
