package guest

import "github.com/tandemhost/tandem/sandbox/guest/internal/abi"

var (
	onRequest  func(req Request, resp Response) (next bool, reqCtx uint32)
	onResponse func(reqCtx uint32, req Request, resp Response, isError bool)
)

// HandleRequest registers fn as the guest's request handler; call it once,
// from init. The host calls fn for every request.
//
// fn returns next = true to pass the request on to the next middleware or
// the route's handler (the guest is then middleware), or next = false when
// it has answered with resp itself (the guest is a handler, and the
// response handler is not called). reqCtx is handed back to the response
// handler, to tie the response to its request; most guests return 0.
//
// Without a request handler (or after HandleRequest(nil)) every request is
// passed on unchanged.
func HandleRequest(fn func(req Request, resp Response) (next bool, reqCtx uint32)) {
	onRequest = fn
}

// HandleResponse registers fn as the guest's response handler; call it
// once, from init. The host calls fn after the rest of the chain has
// answered a request the request handler passed on, with the reqCtx that
// the request handler returned. isError reports that the host failed to
// produce a response; fn should then only release what it holds for the
// request.
//
// Without FeatureBufferResponse the response may already be on its way to
// the client, and only what is still unsent (headers, when nothing was
// written yet) can change. HandleResponse(nil) removes the handler.
func HandleResponse(fn func(reqCtx uint32, req Request, resp Response, isError bool)) {
	onResponse = fn
}

// handleRequest is the guest's handle_request: it packs the handler's
// answer as ctx_next, reqCtx<<32 | next.
func handleRequest() uint64 {
	if onRequest == nil {
		return 1
	}
	next, reqCtx := onRequest(Request{}, Response{})
	ctxNext := uint64(reqCtx) << 32
	if next {
		ctxNext |= 1
	}
	return ctxNext
}

// handleResponse is the guest's handle_response.
func handleResponse(reqCtx, isError uint32) {
	if onResponse != nil {
		onResponse(reqCtx, Request{}, Response{}, isError != 0)
	}
}

func init() {
	abi.Guest = abi.Exports{HandleRequest: handleRequest, HandleResponse: handleResponse}
}
