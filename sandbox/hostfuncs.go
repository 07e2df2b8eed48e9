package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/tetratelabs/wazero/api"
)

// Bounds on what a guest can make the host hold, per request. A guest
// that goes past one breaks the ABI: its call traps and the request fails.
const (
	// maxHeaderField bounds one header or trailer field (name and value)
	// a guest sets; proxies commonly refuse lines over 8-16 KiB.
	maxHeaderField = 16 << 10
	// maxHeaderTotal bounds all header and trailer bytes a guest sets in
	// one request, as net/http's DefaultMaxHeaderBytes bounds a client's.
	maxHeaderTotal = 1 << 20
	maxMethod      = 64
	maxURI         = 16 << 10
	// maxBodyWrite bounds each body (request, response) a guest writes.
	maxBodyWrite = 16 << 20
	// maxReadChunk bounds one read_body of the request, which reads the
	// client's stream straight into guest memory.
	maxReadChunk = 64 << 10

	// Per call: guest log records past these are counted, not logged.
	maxLogRecords = 64
	maxLogBytes   = 16 << 10
	maxLogMessage = 4 << 10
)

// memory returns guest memory [ptr, ptr+n), or stops the guest when any of
// it is outside its linear memory. The slice aliases guest memory: it is
// valid only until the guest runs again.
func (x *exchange) memory(mem api.Memory, what string, ptr, n uint32) []byte {
	b, ok := mem.Read(ptr, n)
	if !ok {
		x.violation("%s [%d, %d) is outside the guest's %d bytes of memory",
			what, ptr, uint64(ptr)+uint64(n), mem.Size())
	}
	return b
}

// putValue writes v to guest memory at buf when it fits in limit, as the
// get_* functions do, and returns its length either way.
func putValue[T string | []byte](x *exchange, mem api.Memory, buf, limit uint32, v T) uint64 {
	n := uint32(len(v)) // values are bounded far below 4 GiB
	if n > 0 && n <= limit {
		copy(x.memory(mem, "buf", buf, n), v)
	}
	return uint64(n)
}

// needRequest stops a guest that calls a request function while it starts.
func (x *exchange) needRequest() {
	if x.r == nil {
		x.violation("called while the guest was starting, outside any request")
	}
}

// mutableRequest stops a guest that changes the request after passing it
// on: the next handler has already seen it.
func (x *exchange) mutableRequest() {
	x.needRequest()
	if x.phase == phaseResponse {
		x.violation("the request cannot change after handle_request returned next=1")
	}
}

func (x *exchange) enableFeatures(_ api.Memory, stack []uint64) {
	f := features(uint32(stack[0])) & supportedFeatures
	if x.phase == phaseStart {
		// Enabled at start: for every request this instance serves.
		x.inst.feats |= f
	} else {
		x.feats |= f
	}
	stack[0] = uint64(supportedFeatures)
}

func (x *exchange) getConfig(mem api.Memory, stack []uint64) {
	stack[0] = putValue(x, mem, uint32(stack[0]), uint32(stack[1]), x.inst.pool.plugin.config)
}

// slogLevel maps an ABI log level to slog's; false for none and unknown.
func slogLevel(level int32) (slog.Level, bool) {
	switch level {
	case logLevelDebug:
		return slog.LevelDebug, true
	case logLevelInfo:
		return slog.LevelInfo, true
	case logLevelWarn:
		return slog.LevelWarn, true
	case logLevelError:
		return slog.LevelError, true
	}
	return 0, false
}

func (x *exchange) logEnabled(_ api.Memory, stack []uint64) {
	lv, ok := slogLevel(int32(uint32(stack[0])))
	stack[0] = 0
	if ok && x.inst.pool.log.Enabled(context.Background(), lv) {
		stack[0] = 1
	}
}

func (x *exchange) log(mem api.Memory, stack []uint64) {
	msg := x.memory(mem, "message", uint32(stack[1]), uint32(stack[2]))
	lv, ok := slogLevel(int32(uint32(stack[0])))
	log := x.inst.pool.log
	if !ok || !log.Enabled(context.Background(), lv) {
		return
	}
	if x.logs >= maxLogRecords || x.logBytes >= maxLogBytes {
		x.logsDropped++
		return
	}
	truncated := len(msg) > maxLogMessage
	if truncated {
		msg = msg[:maxLogMessage]
	}
	x.logs++
	x.logBytes += len(msg)
	attrs := []slog.Attr{slog.String("message", string(msg))}
	if id := x.requestID(); id != "" {
		attrs = append(attrs, slog.String("request_id", id))
	}
	if truncated {
		attrs = append(attrs, slog.Bool("truncated", true))
	}
	log.LogAttrs(context.Background(), lv, "plugin log", attrs...)
}

func (x *exchange) getMethod(mem api.Memory, stack []uint64) {
	x.needRequest()
	stack[0] = putValue(x, mem, uint32(stack[0]), uint32(stack[1]), x.r.Method)
}

func (x *exchange) setMethod(mem api.Memory, stack []uint64) {
	b := x.memory(mem, "method", uint32(stack[0]), uint32(stack[1]))
	x.mutableRequest()
	if len(b) == 0 || len(b) > maxMethod || !isToken(b) {
		x.violation("%s is not an HTTP method", quote(b))
	}
	x.r.Method = string(b)
}

func (x *exchange) getURI(mem api.Memory, stack []uint64) {
	x.needRequest()
	stack[0] = putValue(x, mem, uint32(stack[0]), uint32(stack[1]), x.r.URL.RequestURI())
}

func (x *exchange) setURI(mem api.Memory, stack []uint64) {
	b := x.memory(mem, "uri", uint32(stack[0]), uint32(stack[1]))
	x.mutableRequest()
	if len(b) > maxURI {
		x.violation("URI of %d bytes is over the %d-byte limit", len(b), maxURI)
	}
	s := string(b)
	u, err := url.ParseRequestURI(s)
	if err != nil || !strings.HasPrefix(s, "/") || strings.ContainsAny(s, " \x7f") || hasCTL(b) {
		x.violation("%s is not an encoded origin-form URI (/path?query)", quote(b))
	}
	x.r.URL.Path, x.r.URL.RawPath = u.Path, u.RawPath
	x.r.URL.RawQuery, x.r.URL.ForceQuery = u.RawQuery, u.ForceQuery
	x.r.RequestURI = s
}

func (x *exchange) getProtocolVersion(mem api.Memory, stack []uint64) {
	x.needRequest()
	proto := x.r.Proto
	if proto == "" {
		proto = "HTTP/1.1"
	}
	stack[0] = putValue(x, mem, uint32(stack[0]), uint32(stack[1]), proto)
}

func (x *exchange) getSourceAddr(mem api.Memory, stack []uint64) {
	x.needRequest()
	stack[0] = putValue(x, mem, uint32(stack[0]), uint32(stack[1]), x.r.RemoteAddr)
}

// headers returns the fields of kind for reading (nil when there are
// none), or, with write, for changing; it stops the guest on an unknown
// kind, on a write to the request after next, and on a write to trailers
// it did not enable (the ABI says a set without feature_trailers traps).
func (x *exchange) headers(kind headerKind, write bool) http.Header {
	x.needRequest()
	switch kind {
	case headerRequest:
		if write {
			x.mutableRequest()
		}
		return x.r.Header
	case headerResponse:
		return x.header
	case headerRequestTrailers, headerResponseTrailers:
		if x.feats&featureTrailers == 0 {
			if write {
				x.violation("trailers are not enabled: call enable_features with feature_trailers (4) first")
			}
			return nil
		}
		if kind == headerRequestTrailers {
			if write {
				x.mutableRequest()
				if x.r.Trailer == nil {
					x.r.Trailer = make(http.Header)
				}
			}
			return x.r.Trailer
		}
		if write && x.trailer == nil {
			x.trailer = make(http.Header)
		}
		return x.trailer
	}
	x.violation("unknown header kind %d", kind)
	return nil
}

// isHost reports whether name is the request's Host, which net/http keeps
// in Request.Host rather than among the headers; guests see it as one.
func isHost(kind headerKind, name []byte) bool {
	return kind == headerRequest && strings.EqualFold(string(name), "host")
}

func (x *exchange) getHeaderNames(mem api.Memory, stack []uint64) {
	kind := headerKind(uint32(stack[0]))
	h := x.headers(kind, false)
	names := make([]string, 0, len(h)+1)
	for k, v := range h {
		if len(v) > 0 {
			names = append(names, k)
		}
	}
	if kind == headerRequest && x.r.Host != "" && len(h["Host"]) == 0 {
		names = append(names, "Host")
	}
	slices.Sort(names) // a stable order for guests; map order is random
	total := 0
	for _, n := range names {
		total += len(n) + 1
	}
	if total > 0 && uint64(total) <= uint64(uint32(stack[2])) {
		dst := x.memory(mem, "buf", uint32(stack[1]), uint32(total))
		i := 0
		for _, n := range names {
			// The ABI wants names in lower case; net/http keeps them
			// canonical ("Content-Type").
			for j := 0; j < len(n); j++ {
				c := n[j]
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				dst[i] = c
				i++
			}
			dst[i] = 0
			i++
		}
	}
	stack[0] = uint64(len(names))<<32 | uint64(total)
}

func (x *exchange) getHeaderValues(mem api.Memory, stack []uint64) {
	kind := headerKind(uint32(stack[0]))
	name := x.memory(mem, "name", uint32(stack[1]), uint32(stack[2]))
	h := x.headers(kind, false)
	var values []string
	if isHost(kind, name) {
		if x.r.Host != "" {
			values = []string{x.r.Host}
		}
	} else if len(h) > 0 {
		values = h[http.CanonicalHeaderKey(string(name))]
	}
	total := 0
	for _, v := range values {
		total += len(v) + 1
	}
	if total > 0 && uint64(total) <= uint64(uint32(stack[4])) {
		dst := x.memory(mem, "buf", uint32(stack[3]), uint32(total))
		i := 0
		for _, v := range values {
			i += copy(dst[i:], v)
			dst[i] = 0
			i++
		}
	}
	stack[0] = uint64(len(values))<<32 | uint64(total)
}

// field reads and checks the name and value of a header a guest sets.
func (x *exchange) field(mem api.Memory, stack []uint64) (name, value []byte) {
	name = x.memory(mem, "name", uint32(stack[1]), uint32(stack[2]))
	value = x.memory(mem, "value", uint32(stack[3]), uint32(stack[4]))
	switch {
	case len(name) == 0:
		x.violation("empty header name")
	case len(name)+len(value) > maxHeaderField:
		x.violation("header %s: %d bytes, over the %d-byte limit for one header field",
			quote(name), len(name)+len(value), maxHeaderField)
	case !isToken(name):
		x.violation("%s is not a header name", quote(name))
	case hasCTL(value):
		x.violation("header %s: the value has a control character", quote(name))
	case x.headerBytes+len(name)+len(value) > maxHeaderTotal:
		x.violation("header %s: the guest set over %d bytes of headers in one request",
			quote(name), maxHeaderTotal)
	}
	x.headerBytes += len(name) + len(value)
	return name, value
}

func (x *exchange) setHeaderValue(mem api.Memory, stack []uint64) {
	kind := headerKind(uint32(stack[0]))
	name, value := x.field(mem, stack)
	h := x.headers(kind, true)
	if isHost(kind, name) {
		x.r.Host = string(value)
		return
	}
	h[http.CanonicalHeaderKey(string(name))] = []string{string(value)}
}

func (x *exchange) addHeaderValue(mem api.Memory, stack []uint64) {
	kind := headerKind(uint32(stack[0]))
	name, value := x.field(mem, stack)
	h := x.headers(kind, true)
	if isHost(kind, name) {
		x.r.Host = string(value) // one Host only: adding replaces
		return
	}
	key := http.CanonicalHeaderKey(string(name))
	h[key] = append(h[key], string(value))
}

func (x *exchange) removeHeader(mem api.Memory, stack []uint64) {
	kind := headerKind(uint32(stack[0]))
	name := x.memory(mem, "name", uint32(stack[1]), uint32(stack[2]))
	h := x.headers(kind, true)
	if isHost(kind, name) {
		x.r.Host = ""
		return
	}
	delete(h, http.CanonicalHeaderKey(string(name)))
}

func (x *exchange) readBody(mem api.Memory, stack []uint64) {
	kind, buf, limit := bodyKind(uint32(stack[0])), uint32(stack[1]), uint32(stack[2])
	x.needRequest()
	if limit == 0 {
		x.violation("buf_limit is zero")
	}
	var n int
	var eof bool
	switch kind {
	case bodyRequest:
		n, eof = x.readRequestBody(mem, buf, limit)
	case bodyResponse:
		// What the next handler wrote (nothing before next). The host
		// buffers it whether or not feature_buffer_response is on.
		rest := x.in[x.inOff:]
		if len(rest) > 0 {
			dst := x.memory(mem, "buf", buf, min(limit, uint32(min(len(rest), 1<<31))))
			n = copy(dst, rest)
			x.inOff += n
		}
		eof = x.inOff == len(x.in)
	default:
		x.violation("unknown body kind %d", kind)
	}
	var e uint64
	if eof {
		e = 1
	}
	stack[0] = e<<32 | uint64(n)
}

// readRequestBody reads the client's body stream into guest memory: one
// Read, straight into the guest's buffer.
func (x *exchange) readRequestBody(mem api.Memory, buf, limit uint32) (int, bool) {
	body := x.r.Body
	if x.reqEOF || body == nil || body == http.NoBody {
		return 0, true
	}
	dst := x.memory(mem, "buf", buf, min(limit, maxReadChunk))
	n, err := body.Read(dst)
	if x.feats&featureBufferRequest != 0 && x.phase == phaseRequest {
		x.reqTee = append(x.reqTee, dst[:n]...)
	}
	if err == io.EOF {
		x.reqEOF = true
		return n, true
	}
	if err != nil {
		status := http.StatusBadRequest
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		panic(&hostError{status: status, err: fmt.Errorf("read_body: reading the request body: %w", err)})
	}
	return n, false
}

func (x *exchange) writeBody(mem api.Memory, stack []uint64) {
	kind := bodyKind(uint32(stack[0]))
	b := x.memory(mem, "body", uint32(stack[1]), uint32(stack[2]))
	x.needRequest()
	switch kind {
	case bodyRequest:
		x.mutableRequest()
		if !x.reqReplaced {
			// The first write replaces the client's body.
			x.reqReplaced, x.reqOut = true, x.reqOut[:0]
		}
		if len(x.reqOut)+len(b) > maxBodyWrite {
			x.violation("request body over the %d-byte limit", maxBodyWrite)
		}
		x.reqOut = append(x.reqOut, b...)
	case bodyResponse:
		if !x.outPhase {
			// The first write in each phase replaces the body so far.
			x.outPhase, x.outReplaced, x.out = true, true, x.out[:0]
		}
		if len(x.out)+len(b) > maxBodyWrite {
			x.violation("response body over the %d-byte limit", maxBodyWrite)
		}
		x.out = append(x.out, b...)
		x.guestWroteBody = true
	default:
		x.violation("unknown body kind %d", kind)
	}
}

func (x *exchange) getStatusCode(_ api.Memory, stack []uint64) {
	x.needRequest()
	stack[0] = uint64(x.status)
}

func (x *exchange) setStatusCode(_ api.Memory, stack []uint64) {
	x.needRequest()
	code := uint32(stack[0])
	if code < 200 || code > 599 {
		x.violation("%d is not a final HTTP status (200-599)", code)
	}
	x.status = int(code)
}

// isToken reports whether b is an RFC 9110 token (a method, a field name).
func isToken(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 || !tokenChars[c] {
			return false
		}
	}
	return len(b) > 0
}

var tokenChars = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// hasCTL reports whether b has a control character other than tab: a
// field value with one could split a header.
func hasCTL(b []byte) bool {
	for _, c := range b {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return true
		}
	}
	return false
}

// quote shows a guest's bytes in an error, cut short.
func quote(b []byte) string {
	const max = 64
	if len(b) > max {
		return fmt.Sprintf("%q... (%d bytes)", b[:max], len(b))
	}
	return fmt.Sprintf("%q", b)
}
