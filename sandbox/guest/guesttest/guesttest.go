// Package guesttest serves a guest's handlers on the build machine: a Host
// holds one request in memory and answers the guest's http_handler calls
// from it, so a guest written with package guest can be tested with go
// test, without a wasm runtime.
//
// It keeps the ABI's rules that a guest is most likely to break, and
// panics, as a real host traps, when the guest breaks one: changing the
// request after passing it on, reading the response of the rest of the
// chain without FeatureBufferResponse, and touching trailers without
// FeatureTrailers.
//
// A Host serves one request; make a new one for each. Hosts must not be
// used in parallel, since a guest has one host at a time.
package guesttest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/tandemhost/tandem/sandbox/guest"
	"github.com/tandemhost/tandem/sandbox/guest/internal/abi"
)

// Host is an in-memory http_handler host with one request. Set its fields
// before Serve; read them after, to see what the guest did.
type Host struct {
	// Config is what guest.Config returns.
	Config []byte
	// Features is what the guest has enabled so far. Every feature is
	// supported.
	Features guest.Features
	// LogLevel is the lowest level the host keeps; the zero value is
	// guest.LevelInfo.
	LogLevel guest.LogLevel
	// Logs is what the guest logged, at LogLevel or above.
	Logs []Log

	// Request is the request, as the guest leaves it: after Serve it is
	// what the rest of the chain got.
	Request Request
	// Response is the response, as the client would get it.
	Response Response
	// Next plays the rest of the chain when the guest passes the request
	// on: it may read Request and set Response. When nil, the response is
	// left as it is (200, no body).
	Next func(h *Host)

	passed    bool // the request was passed on
	reqRead   int  // bytes of Request.Body the guest has read
	respRead  int
	reqWrote  bool // the guest has written the request body
	respWrote bool // ... the response body, in this handler
}

// Request is the request a Host serves. Its headers are net/http's, so
// guest.Header.Names returns them in canonical form ("Content-Type").
type Request struct {
	Method     string
	URI        string
	Protocol   string
	SourceAddr string
	Header     http.Header
	Trailer    http.Header
	Body       []byte
}

// Response is the response a Host collects.
type Response struct {
	StatusCode int
	Header     http.Header
	Trailer    http.Header
	Body       []byte
}

// Log is one message a guest logged.
type Log struct {
	Level   guest.LogLevel
	Message string
}

// NewRequest returns a Host serving method uri with body, over HTTP/1.1
// from 192.0.2.1:54321, with empty headers and a 200 response.
func NewRequest(method, uri string, body []byte) *Host {
	return &Host{
		Request: Request{
			Method: method, URI: uri, Protocol: "HTTP/1.1", SourceAddr: "192.0.2.1:54321",
			Header: http.Header{}, Trailer: http.Header{}, Body: body,
		},
		Response: Response{StatusCode: http.StatusOK, Header: http.Header{}, Trailer: http.Header{}},
	}
}

// Init runs fn with h as the guest's host, as a host runs the guest's
// initialization before its first request. Use it for the part of a
// guest's init that reads guest.Config or enables features: keep that in
// a function of its own, call it from init, and call it again in tests
// with h.Init.
func (h *Host) Init(fn func()) {
	defer h.use()()
	fn()
}

// Serve runs the guest on h's request as a host would: the request
// handler; then, if it passed the request on, Next and the response
// handler. It reports whether the request was passed on.
func (h *Host) Serve() (next bool) {
	defer h.use()()
	ctxNext := abi.Guest.HandleRequest()
	if ctxNext&1 == 0 {
		return false
	}
	if h.Features&guest.FeatureBufferRequest == 0 {
		h.Request.Body = h.Request.Body[h.reqRead:] // what the guest read is gone
	}
	h.passed = true
	if h.Next != nil {
		h.Next(h)
	}
	h.respWrote, h.respRead = false, 0
	abi.Guest.HandleResponse(uint32(ctxNext>>32), 0)
	return true
}

// use makes h the guest's host until restore is called. It fills in what
// a zero Host lacks, so that a Host{} serves like NewRequest's.
func (h *Host) use() (restore func()) {
	if h.Response.StatusCode == 0 {
		h.Response.StatusCode = http.StatusOK
	}
	for _, m := range []*http.Header{&h.Request.Header, &h.Request.Trailer, &h.Response.Header, &h.Response.Trailer} {
		if *m == nil {
			*m = http.Header{}
		}
	}
	old := abi.Current
	abi.Current = host{h}
	return func() { abi.Current = old }
}

// trap stops the guest as a host would, with why.
func trap(format string, args ...any) {
	panic("guesttest: " + fmt.Sprintf(format, args...))
}

// host answers the ABI from a Host; it keeps the ABI's methods out of
// Host's own.
type host struct{ h *Host }

// put writes v into buf when it fits and returns its length either way.
func put(buf []byte, v string) uint32 {
	if len(v) <= len(buf) {
		copy(buf, v)
	}
	return uint32(len(v))
}

// putList is put for NUL-terminated values, returning count<<32|length.
func putList(buf []byte, vs []string) uint64 {
	if len(vs) == 0 {
		return 0
	}
	n := put(buf, strings.Join(vs, "\x00")+"\x00")
	return uint64(len(vs))<<32 | uint64(n)
}

func (a host) changeRequest(what string) {
	if a.h.passed {
		trap("%s after the request was passed on", what)
	}
}

func (a host) header(kind uint32, write bool) http.Header {
	h := a.h
	switch kind {
	case abi.KindRequest:
		if write {
			a.changeRequest("changing a request header")
		}
		return h.Request.Header
	case abi.KindResponse:
		return h.Response.Header
	case abi.KindRequestTrailers, abi.KindResponseTrailers:
		if h.Features&guest.FeatureTrailers == 0 {
			trap("trailers without FeatureTrailers")
		}
		if kind == abi.KindRequestTrailers {
			if write {
				a.changeRequest("changing a request trailer")
			}
			return h.Request.Trailer
		}
		return h.Response.Trailer
	}
	trap("header kind %d", kind)
	return nil
}

func (a host) EnableFeatures(features uint32) uint32 {
	a.h.Features |= guest.Features(features)
	return uint32(a.h.Features)
}

func (a host) GetConfig(buf []byte) uint32 { return put(buf, string(a.h.Config)) }

func (a host) LogEnabled(level int32) uint32 {
	if guest.LogLevel(level) >= a.h.LogLevel {
		return 1
	}
	return 0
}

func (a host) Log(level int32, message string) {
	if a.LogEnabled(level) == 1 {
		a.h.Logs = append(a.h.Logs, Log{guest.LogLevel(level), message})
	}
}

func (a host) GetMethod(buf []byte) uint32 { return put(buf, a.h.Request.Method) }

func (a host) SetMethod(method string) {
	a.changeRequest("set_method")
	a.h.Request.Method = method
}

func (a host) GetURI(buf []byte) uint32 { return put(buf, a.h.Request.URI) }

func (a host) SetURI(uri string) {
	a.changeRequest("set_uri")
	a.h.Request.URI = uri
}

func (a host) GetProtocolVersion(buf []byte) uint32 { return put(buf, a.h.Request.Protocol) }

func (a host) GetSourceAddr(buf []byte) uint32 { return put(buf, a.h.Request.SourceAddr) }

func (a host) GetHeaderNames(kind uint32, buf []byte) uint64 {
	names := make([]string, 0, len(a.header(kind, false)))
	for name := range a.header(kind, false) {
		names = append(names, name)
	}
	slices.Sort(names)
	return putList(buf, names)
}

func (a host) GetHeaderValues(kind uint32, name string, buf []byte) uint64 {
	return putList(buf, a.header(kind, false).Values(name))
}

func (a host) SetHeaderValue(kind uint32, name, value string) {
	a.header(kind, true).Set(name, value)
}

func (a host) AddHeaderValue(kind uint32, name, value string) {
	a.header(kind, true).Add(name, value)
}

func (a host) RemoveHeader(kind uint32, name string) { a.header(kind, true).Del(name) }

func (a host) ReadBody(kind uint32, buf []byte) uint64 {
	if len(buf) == 0 {
		trap("read_body with a zero buf_limit")
	}
	h := a.h
	var body []byte
	var read *int
	switch kind {
	case abi.KindRequest:
		body, read = h.Request.Body, &h.reqRead
	case abi.KindResponse:
		if h.passed && h.Features&guest.FeatureBufferResponse == 0 {
			trap("reading the response body without FeatureBufferResponse")
		}
		body, read = h.Response.Body, &h.respRead
	default:
		trap("body kind %d", kind)
	}
	n := copy(buf, body[*read:])
	*read += n
	if *read == len(body) {
		return 1<<32 | uint64(n)
	}
	return uint64(n)
}

func (a host) WriteBody(kind uint32, body []byte) {
	h := a.h
	switch kind {
	case abi.KindRequest:
		a.changeRequest("writing the request body")
		if !h.reqWrote {
			h.Request.Body, h.reqRead, h.reqWrote = nil, 0, true
		}
		h.Request.Body = append(h.Request.Body, body...)
	case abi.KindResponse:
		if !h.respWrote {
			h.Response.Body, h.respRead, h.respWrote = nil, 0, true
		}
		h.Response.Body = append(h.Response.Body, body...)
	default:
		trap("body kind %d", kind)
	}
}

func (a host) GetStatusCode() uint32 {
	if a.h.passed && a.h.Features&guest.FeatureBufferResponse == 0 {
		trap("get_status_code after next without FeatureBufferResponse")
	}
	return uint32(a.h.Response.StatusCode)
}

func (a host) SetStatusCode(code uint32) {
	if a.h.passed && a.h.Features&guest.FeatureBufferResponse == 0 {
		trap("set_status_code after next without FeatureBufferResponse")
	}
	a.h.Response.StatusCode = int(code)
}
