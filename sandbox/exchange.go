package sandbox

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// phase is where a guest is in its life: starting (no request), in
// handle_request, or in handle_response (the request was passed on).
type phase uint8

const (
	phaseStart phase = iota
	phaseRequest
	phaseResponse
)

// exchange is one request as a guest sees it through the host functions:
// the request (changed in place, then passed on to the next handler) and
// the response, which stays in memory until the guest is done with it. It
// belongs to one goroutine: the request's, which also runs the guest.
type exchange struct {
	inst  *instance
	fn    string // the host function or export being served, for errors
	phase phase
	feats features

	r *http.Request
	w http.ResponseWriter

	// The request body. Without feature_buffer_request the guest reads the
	// client's stream and the next handler gets what it left; with it,
	// what the guest read (reqTee) is given back in front of the rest.
	reqTee      []byte
	reqEOF      bool
	reqOut      []byte // the body the guest wrote, when reqReplaced
	reqReplaced bool

	// The response. header starts as a copy of the writer's, so that the
	// writer stays untouched until the response is final and a failure can
	// still answer a clean error.
	status  int
	header  http.Header
	trailer http.Header
	in      []byte // the next handler's body (after the guest's, if it wrote before next)
	inOff   int    // how much of in read_body has returned
	out     []byte // what the guest wrote in the current phase
	// outPhase: the guest has written in this phase, so its next write
	// appends; outReplaced: out, not in, is the response body.
	outPhase, outReplaced bool
	guestWroteBody        bool

	rec recorder

	// Bounds on what one guest can make the host hold or log.
	headerBytes                 int
	logs, logBytes, logsDropped int
}

// begin readies x for a request served by inst.
func (x *exchange) begin(inst *instance, w http.ResponseWriter, r *http.Request) {
	x.inst, x.r, x.w = inst, r, w
	x.phase = phaseRequest
	x.feats = inst.feats
	x.status = http.StatusOK
	x.header = w.Header().Clone()
	if x.header == nil {
		x.header = make(http.Header)
	}
}

// requestID is the request's X-Request-Id, as the client or the host's
// request-id middleware (which sets it on the response) gave it.
func (x *exchange) requestID() string {
	if x.r == nil {
		return ""
	}
	if id := x.r.Header.Get("X-Request-Id"); id != "" {
		return id
	}
	if x.w != nil {
		return x.w.Header().Get("X-Request-Id")
	}
	return ""
}

// passOn prepares the request for the next handler once handle_request
// returned next=1: the body the guest wrote or the one it read, and from
// now on the request is read-only to the guest.
func (x *exchange) passOn() {
	r := x.r
	switch {
	case x.reqReplaced:
		r.Body = io.NopCloser(bytes.NewReader(x.reqOut))
		r.ContentLength = int64(len(x.reqOut))
		r.Header.Set("Content-Length", strconv.Itoa(len(x.reqOut)))
		r.TransferEncoding = nil
	case len(x.reqTee) > 0:
		r.Body = &prefixedBody{Reader: io.MultiReader(bytes.NewReader(x.reqTee), r.Body), Closer: r.Body}
	}
	x.phase = phaseResponse
	// What the guest wrote before next is the start of the response body;
	// the next handler's writes follow it, and a write in handle_response
	// starts it over.
	if x.outReplaced {
		x.in = x.out
		x.out = nil
	}
	x.outPhase, x.outReplaced = false, false
	x.rec = recorder{x: x}
}

// runNext serves the request with next, recording its response in x. A
// panic in next is recovered and returned with its stack: the guest sees
// handle_response with is_error=1, and then the request fails.
func (x *exchange) runNext(next http.Handler) (p *nextPanic) {
	defer func() {
		if v := recover(); v != nil {
			p = &nextPanic{value: v, stack: debug.Stack()}
		}
		x.rec.finish()
	}()
	next.ServeHTTP(&x.rec, x.r)
	return nil
}

// nextPanic is a panic of the next handler.
type nextPanic struct {
	value any
	stack []byte
}

// writeResponse writes the response the guest and the next handler made.
func (x *exchange) writeResponse(w http.ResponseWriter) {
	body := x.in
	if x.outReplaced {
		body = x.out
	}
	dst := w.Header()
	for k := range dst {
		if _, ok := x.header[k]; !ok {
			delete(dst, k)
		}
	}
	for k, v := range x.header {
		dst[k] = v
	}
	if x.guestWroteBody {
		// The length the next handler declared no longer holds.
		if len(x.trailer) == 0 && bodyAllowed(x.status) {
			dst["Content-Length"] = []string{strconv.Itoa(len(body))}
		} else {
			delete(dst, "Content-Length")
		}
	}
	if len(x.trailer) > 0 {
		// Announced through net/http's prefix before the header is
		// written, so that the response is chunked and they follow the
		// body, whether or not the next handler declared them.
		delete(dst, "Trailer")
		for k, v := range x.trailer {
			if len(v) > 0 {
				dst[http.TrailerPrefix+k] = v
			}
		}
	}
	w.WriteHeader(x.status)
	if len(body) > 0 && bodyAllowed(x.status) {
		_, _ = w.Write(body)
	}
	x.rec.forwardTo(w)
}

// bodyAllowed reports whether a response with status may have a body.
func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified && status >= 200
}

// prefixedBody gives the next handler the bytes the guest read with
// feature_buffer_request, then the rest of the client's body.
type prefixedBody struct {
	io.Reader
	io.Closer
}

// recorder is the ResponseWriter the next handler writes to: everything
// stays in the exchange until handle_response has run. It does not unwrap
// to the real writer (http.ResponseController finds nothing to flush or
// hijack), because anything that reached the client early could no longer
// be replaced by an error when the guest fails.
//
// Once the response is written, the recorder passes everything on to the
// real writer: Echo's WrapMiddleware leaves the context's response
// pointing at the recorder, and what is written through it later must
// not vanish.
type recorder struct {
	x           *exchange
	wroteHeader bool
	declared    []string            // trailer names the Trailer header announced at WriteHeader
	w           http.ResponseWriter // set once the response is written: pass through
}

func (rec *recorder) forwardTo(w http.ResponseWriter) { rec.w = w }

func (rec *recorder) Header() http.Header {
	if rec.w != nil {
		return rec.w.Header()
	}
	return rec.x.header
}

func (rec *recorder) WriteHeader(code int) {
	if rec.w != nil {
		rec.w.WriteHeader(code)
		return
	}
	if rec.wroteHeader {
		return
	}
	if code >= 100 && code < 200 {
		// Informational: not the final status, and nothing to forward
		// while the response is held back.
		return
	}
	rec.wroteHeader = true
	rec.x.status = code
	for _, v := range rec.x.header["Trailer"] {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				rec.declared = append(rec.declared, http.CanonicalHeaderKey(name))
			}
		}
	}
}

func (rec *recorder) Write(b []byte) (int, error) {
	if rec.w != nil {
		return rec.w.Write(b)
	}
	if !rec.wroteHeader {
		rec.WriteHeader(http.StatusOK)
	}
	rec.x.in = append(rec.x.in, b...)
	return len(b), nil
}

// Flush does nothing while the response is held until the guest is done.
func (rec *recorder) Flush() {
	if f, ok := rec.w.(http.Flusher); ok {
		f.Flush()
	}
}

// finish moves the trailers the next handler set (declared ones, set after
// the body, and http.TrailerPrefix ones) out of the header.
func (rec *recorder) finish() {
	x := rec.x
	for _, name := range rec.declared {
		if v, ok := x.header[name]; ok {
			x.setTrailer(name, v)
			delete(x.header, name)
		}
	}
	for k, v := range x.header {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			x.setTrailer(http.CanonicalHeaderKey(strings.TrimPrefix(k, http.TrailerPrefix)), v)
			delete(x.header, k)
		}
	}
	if len(rec.declared) > 0 {
		delete(x.header, "Trailer")
	}
}

func (x *exchange) setTrailer(name string, v []string) {
	if x.trailer == nil {
		x.trailer = make(http.Header)
	}
	x.trailer[name] = v
}

// callCtx is the context of the calls into one instance: the deadline of
// the call in progress, and its exchange, which host functions find with
// a type assertion instead of a context lookup.
//
// It lives as long as its instance and is not derived from the request's
// context, on purpose: a context.WithTimeout per call costs a timer, a
// channel and a registration with the parent, this costs nothing per
// call. wazero's WithCloseOnContextDone watches Done (from a goroutine it
// starts per call) and, once the instance's timer closes it, stops the
// guest as it would for any context. A closed Done is never reopened: an
// instance that timed out is thrown away. A client that goes away does
// not stop a call; the call's own deadline does.
type callCtx struct {
	x        *exchange    // read only by the goroutine that runs the call
	deadline atomic.Int64 // of the call in progress, Unix ns; 0 between calls
	done     chan struct{}
	expired  atomic.Bool
}

func (c *callCtx) Deadline() (time.Time, bool) {
	d := c.deadline.Load()
	return time.Unix(0, d), d != 0
}

func (c *callCtx) Done() <-chan struct{} { return c.done }

func (c *callCtx) Err() error {
	if c.expired.Load() {
		return context.DeadlineExceeded
	}
	return nil
}

type exchangeKey struct{}

func (c *callCtx) Value(key any) any {
	if key == (exchangeKey{}) {
		return c.x
	}
	return nil
}

func (c *callCtx) expire() {
	if c.expired.CompareAndSwap(false, true) {
		close(c.done)
	}
}

// startCtx is the context of an instance's start functions: the
// instantiation's deadline, and an exchange with no request.
type startCtx struct {
	context.Context
	x *exchange
}

func (c *startCtx) Value(key any) any {
	if key == (exchangeKey{}) {
		return c.x
	}
	return c.Context.Value(key)
}

func exchangeFrom(ctx context.Context) *exchange {
	switch c := ctx.(type) {
	case *callCtx:
		return c.x
	case *startCtx:
		return c.x
	}
	x, _ := ctx.Value(exchangeKey{}).(*exchange)
	return x
}
