//go:build wasip1

// Command goguest is the smallest Go guest: middleware that passes every
// request on. The benchmarks build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared
//
// to measure what a Go guest costs to start and to keep.
package main

//go:wasmexport handle_request
func handleRequest() uint64 { return 1 }

//go:wasmexport handle_response
func handleResponse(reqCtx, isError uint32) {}

func main() {}
