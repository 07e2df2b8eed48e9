package guest

// The guest's side of the ABI. Go exports a function from whichever
// package defines it, so importing this package is all it takes to make a
// module an http-wasm guest.

//lint:ignore U1000 called by the host, through go:wasmexport
//go:wasmexport handle_request
func exportHandleRequest() uint64 { return handleRequest() }

//lint:ignore U1000 called by the host, through go:wasmexport
//go:wasmexport handle_response
func exportHandleResponse(reqCtx, isError uint32) { handleResponse(reqCtx, isError) }
