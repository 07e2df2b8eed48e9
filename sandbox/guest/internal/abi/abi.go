// Package abi is the http_handler import module as the guest SDK sees it:
// one Go method per host function, with buffers passed as slices and the
// results left exactly as the ABI packs them. Turning those results into Go
// values is the guest package's job, so that it can be tested against any
// Host, not only the real one.
//
// In a wasm guest (GOOS=wasip1) Current is the module's imports. Elsewhere
// it is a host with no request, and guesttest swaps in an in-memory one.
package abi

// Host is the http_handler import module. A method that fills buf writes
// nothing when the value does not fit and still returns its full length
// (for get_header_names and get_header_values, count<<32|length), so the
// caller can grow the buffer and ask again.
type Host interface {
	EnableFeatures(features uint32) uint32
	GetConfig(buf []byte) uint32
	LogEnabled(level int32) uint32
	Log(level int32, message string)
	GetMethod(buf []byte) uint32
	SetMethod(method string)
	GetURI(buf []byte) uint32
	SetURI(uri string)
	GetProtocolVersion(buf []byte) uint32
	GetHeaderNames(kind uint32, buf []byte) uint64
	GetHeaderValues(kind uint32, name string, buf []byte) uint64
	SetHeaderValue(kind uint32, name, value string)
	AddHeaderValue(kind uint32, name, value string)
	RemoveHeader(kind uint32, name string)
	// ReadBody returns eof<<32|length; buf is never empty.
	ReadBody(kind uint32, buf []byte) uint64
	WriteBody(kind uint32, body []byte)
	GetStatusCode() uint32
	SetStatusCode(code uint32)
	GetSourceAddr(buf []byte) uint32
}

// The header_kind and body_kind values of the ABI.
const (
	KindRequest          uint32 = 0
	KindResponse         uint32 = 1
	KindRequestTrailers  uint32 = 2
	KindResponseTrailers uint32 = 3
)

// The feature bits of enable_features.
const (
	FeatureBufferRequest  uint32 = 1 << 0
	FeatureBufferResponse uint32 = 1 << 1
	FeatureTrailers       uint32 = 1 << 2
)

// Current is the host every guest call goes to. It is replaced only by
// guesttest, between requests.
var Current Host = platform

// Exports are the guest's two entry points, as the guest package defines
// them; the wasm exports and guesttest both call them.
type Exports struct {
	// HandleRequest returns ctx_next: reqCtx<<32 | next.
	HandleRequest func() uint64
	// HandleResponse gets the reqCtx that HandleRequest returned and
	// whether the host failed to produce a response (isError = 1).
	HandleResponse func(reqCtx, isError uint32)
}

// Guest is set by the guest package when it initializes.
var Guest Exports
