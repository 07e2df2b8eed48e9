package native

import (
	"encoding/binary"
	"errors"
	"net/http"
	"strings"
	"sync"
)

// Request is one HTTP request for a Python route, as the pool passes it to
// the worker. Strings are passed to Python as they are (bytes that are not
// UTF-8 survive as surrogate escapes).
type Request struct {
	// Route is the Route.ID the router matched.
	Route int
	// Method, Path (percent-decoded) and Query (raw, without '?').
	Method, Path, Query string
	// RequestID is the X-Request-Id given to the handler and its logs.
	RequestID string
	// RemoteAddr is the client's ip:port.
	RemoteAddr string
	// Scheme is "http" or "https"; Proto is like "HTTP/1.1".
	Scheme, Proto string
	// Host is the request's Host header; ServerName and ServerPort are the
	// listener's, for WSGI's SERVER_NAME and SERVER_PORT.
	Host, ServerName, ServerPort string
	// Header holds the request headers (without Host).
	Header http.Header
	// Params are the router's path parameters in path order.
	Params []Param
	// Body is the whole request body, already limited by the host.
	Body []byte
}

// Param is one path parameter.
type Param struct{ Name, Value string }

// Header is one response header as the handler set it.
type Header struct{ Name, Value string }

// Response is what a Python route produced. Call Release when the body has
// been written, so its buffer serves another request.
type Response struct {
	Status int
	Header []Header
	Body   []byte
	// Log is text the handler side wants logged at error level (a
	// traceback, a WSGI app's errors stream), or "".
	Log string
	// Worker is the index of the worker that ran the request.
	Worker int

	buf *[]byte
}

// Release returns the response's buffer to the pool. The response must not
// be used afterwards.
func (r *Response) Release() {
	if r.buf != nil {
		outBufs.Put(r.buf)
		r.buf = nil
	}
	r.Body = nil
}

// outBufSize is the output buffer a call gets; larger outputs take a second
// copy through the worker's overflow buffer.
const outBufSize = 16 << 10

var outBufs = sync.Pool{New: func() any { b := make([]byte, outBufSize); return &b }}

// metaFields is the number of strings in the meta tuple given to Python:
// (method, path, query, request_id, remote_addr, scheme, protocol,
// server_name, server_port).
const metaFields = 9

// appendMeta packs everything but the body for shim.c's reader:
// u32 route, u32 n, n strings, u32 nheaders, pairs, u32 nparams, pairs;
// each string is a u32 length and its bytes.
func appendMeta(b []byte, r *Request) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(r.Route))
	b = binary.LittleEndian.AppendUint32(b, metaFields)
	for _, s := range [metaFields]string{r.Method, r.Path, r.Query, r.RequestID, r.RemoteAddr,
		r.Scheme, r.Proto, r.ServerName, r.ServerPort} {
		b = appendStr(b, s)
	}
	n := 0
	for _, vs := range r.Header {
		n += len(vs)
	}
	if r.Host != "" {
		n++
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	if r.Host != "" {
		b = appendStr(b, "Host")
		b = appendStr(b, r.Host)
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			b = appendStr(b, k)
			b = appendStr(b, v)
		}
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(r.Params)))
	for _, p := range r.Params {
		b = appendStr(b, p.Name)
		b = appendStr(b, p.Value)
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

var errMalformedOutput = errors.New("malformed output from the worker")

// decodeOutput turns a call's output into a Response. The body is copied
// only when the output lies in the worker's overflow buffer.
func decodeOutput(r callResult, buf *[]byte, resp *Response) error {
	resp.Status = r.status
	d := r.data
	if r.nheaders > 0 {
		resp.Header = make([]Header, 0, r.nheaders)
	}
	hdr := d[:r.hdrLen]
	for i := 0; i < r.nheaders; i++ {
		var k, v string
		var ok bool
		if k, hdr, ok = takeStr(hdr); !ok {
			return errMalformedOutput
		}
		if v, hdr, ok = takeStr(hdr); !ok {
			return errMalformedOutput
		}
		resp.Header = append(resp.Header, Header{k, v})
	}
	if r.logLen > 0 {
		resp.Log = strings.Clone(string(d[r.hdrLen : r.hdrLen+r.logLen]))
	}
	body := d[r.hdrLen+r.logLen:]
	if buf != nil && len(*buf) > 0 && len(d) > 0 && &d[0] == &(*buf)[0] {
		resp.Body = body
		resp.buf = buf
	} else {
		// The output is in C memory that the worker's next call reuses.
		resp.Body = append([]byte(nil), body...)
		outBufs.Put(buf)
	}
	return nil
}

func takeStr(b []byte) (string, []byte, bool) {
	if len(b) < 4 {
		return "", nil, false
	}
	n := binary.LittleEndian.Uint32(b)
	b = b[4:]
	if uint64(len(b)) < uint64(n) {
		return "", nil, false
	}
	return string(b[:n]), b[n:], true
}
