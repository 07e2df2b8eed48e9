//go:build wasip1

// Command probe is a Go guest that exercises the host functions one way
// per request, chosen by the request's X-Probe header, for the ABI tests
// in abi_test.go. It calls the ABI directly, without the guest SDK, so
// that the host is tested against the specification alone.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

//go:wasmimport http_handler enable_features
func enableFeatures(features uint32) uint32

//go:wasmimport http_handler get_config
func getConfig(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport http_handler log_enabled
func logEnabled(level int32) uint32

//go:wasmimport http_handler log
func hostLog(level int32, msg unsafe.Pointer, msgLen uint32)

//go:wasmimport http_handler get_method
func getMethod(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport http_handler set_method
func setMethod(method unsafe.Pointer, methodLen uint32)

//go:wasmimport http_handler get_uri
func getURI(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport http_handler set_uri
func setURI(uri unsafe.Pointer, uriLen uint32)

//go:wasmimport http_handler get_protocol_version
func getProtocolVersion(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport http_handler get_header_names
func getHeaderNames(kind uint32, buf unsafe.Pointer, limit uint32) uint64

//go:wasmimport http_handler get_header_values
func getHeaderValues(kind uint32, name unsafe.Pointer, nameLen uint32, buf unsafe.Pointer, limit uint32) uint64

//go:wasmimport http_handler set_header_value
func setHeaderValue(kind uint32, name unsafe.Pointer, nameLen uint32, value unsafe.Pointer, valueLen uint32)

//go:wasmimport http_handler add_header_value
func addHeaderValue(kind uint32, name unsafe.Pointer, nameLen uint32, value unsafe.Pointer, valueLen uint32)

//go:wasmimport http_handler remove_header
func removeHeader(kind uint32, name unsafe.Pointer, nameLen uint32)

//go:wasmimport http_handler read_body
func readBody(kind uint32, buf unsafe.Pointer, limit uint32) uint64

//go:wasmimport http_handler write_body
func writeBody(kind uint32, buf unsafe.Pointer, bufLen uint32)

//go:wasmimport http_handler get_status_code
func getStatusCode() uint32

//go:wasmimport http_handler set_status_code
func setStatusCode(code uint32)

//go:wasmimport http_handler get_source_addr
func getSourceAddr(buf unsafe.Pointer, limit uint32) uint32

const (
	request, response, requestTrailers, responseTrailers = 0, 1, 2, 3
	bufferRequest, bufferResponse, trailers              = 1, 2, 4
)

func str(s string) (unsafe.Pointer, uint32) {
	return unsafe.Pointer(unsafe.StringData(s)), uint32(len(s))
}

func bytesOf(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// get reads a value the way the ABI suggests: ask its length, then fetch.
func get(f func(unsafe.Pointer, uint32) uint32) string {
	n := f(nil, 0)
	if n == 0 {
		return ""
	}
	b := make([]byte, n)
	f(bytesOf(b), n)
	return string(b)
}

func split(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

func values(kind uint32, name string) []string {
	p, n := str(name)
	size := uint32(getHeaderValues(kind, p, n, nil, 0))
	if size == 0 {
		return nil
	}
	b := make([]byte, size)
	getHeaderValues(kind, p, n, bytesOf(b), size)
	return split(b)
}

func names(kind uint32) []string {
	size := uint32(getHeaderNames(kind, nil, 0))
	if size == 0 {
		return nil
	}
	b := make([]byte, size)
	getHeaderNames(kind, bytesOf(b), size)
	return split(b)
}

func set(kind uint32, name, value string) {
	np, nn := str(name)
	vp, vn := str(value)
	setHeaderValue(kind, np, nn, vp, vn)
}

func add(kind uint32, name, value string) {
	np, nn := str(name)
	vp, vn := str(value)
	addHeaderValue(kind, np, nn, vp, vn)
}

func remove(kind uint32, name string) {
	p, n := str(name)
	removeHeader(kind, p, n)
}

func write(kind uint32, s string) {
	p, n := str(s)
	writeBody(kind, p, n)
}

func readAll(kind uint32) string {
	var out []byte
	buf := make([]byte, 7) // small, to exercise many reads
	for {
		eofLen := readBody(kind, bytesOf(buf), uint32(len(buf)))
		out = append(out, buf[:uint32(eofLen)]...)
		if eofLen>>32 == 1 {
			return string(out)
		}
	}
}

func logAt(level int32, s string) {
	p, n := str(s)
	hostLog(level, p, n)
}

// probe is this request's X-Probe, kept for handle_response.
var probe string

//go:wasmexport handle_request
func handleRequest() uint64 {
	probe = ""
	if v := values(request, "X-Probe"); len(v) > 0 {
		probe = v[0]
	}
	switch probe {
	case "headers":
		set(request, "X-A", "1")
		add(request, "x-a", "2")
		remove(request, "X-Remove")
		set(response, "X-Guest", "yes")
		set(response, "X-Names", strings.Join(names(request), ","))
		set(response, "X-Host", strings.Join(values(request, "host"), ","))
		set(response, "X-Method", get(getMethod))
		set(response, "X-URI", get(getURI))
	case "rewrite":
		enableFeatures(bufferResponse)
	case "late-status":
		// no feature_buffer_response: this host buffers anyway
	case "handler":
		setStatusCode(418)
		set(response, "Content-Type", "text/plain")
		write(response, "short and ")
		write(response, "stout")
		return 0
	case "config":
		write(response, get(getConfig))
		return 0
	case "log":
		set(response, "X-Debug-Enabled", strconv.Itoa(int(logEnabled(-1))))
		set(response, "X-Info-Enabled", strconv.Itoa(int(logEnabled(0))))
		logAt(0, "hello from the guest")
		logAt(2, "an error from the guest")
		for i := 0; i < 100; i++ {
			logAt(0, "noise")
		}
		return 0
	case "buffered-body":
		enableFeatures(bufferRequest)
		set(request, "X-Guest-Read", readAll(request))
	case "consume-body":
		buf := make([]byte, 3)
		n := uint32(readBody(request, bytesOf(buf), 3))
		set(request, "X-Guest-Read", string(buf[:n]))
	case "replace-body":
		write(request, "replaced ")
		write(request, "body")
	case "ctx":
		return 42<<32 | 1
	case "trailers":
		if enableFeatures(trailers)&trailers == 0 {
			panic("no trailers")
		}
	case "panic":
		panic("secret guest panic text")
	case "print":
		fmt.Println("to stdout")
		fmt.Fprintln(os.Stderr, "to stderr")
		fmt.Fprint(os.Stderr, strings.Repeat("x", 10000))
		return 0
	case "method-uri":
		m, n := str("PUT")
		setMethod(m, n)
		u, un := str("/rewritten?q=a%20b")
		setURI(u, un)
	case "isolation":
		_, fileErr := os.ReadFile("/etc/hostname")
		wd, _ := os.Getwd()
		b, _ := json.Marshal(map[string]any{
			"env":  len(os.Environ()),
			"args": len(os.Args),
			"file": fmt.Sprint(fileErr),
			"wd":   wd,
			"year": time.Now().Year(),
		})
		set(response, "Content-Type", "application/json")
		write(response, string(b))
		return 0
	case "source":
		write(response, get(getSourceAddr)+" "+get(getProtocolVersion))
		return 0
	case "write-then-next":
		write(response, "guest;")
	case "status-before-next":
		setStatusCode(201)
		set(response, "X-Status-Seen", strconv.Itoa(int(getStatusCode())))
	case "answer":
		return 0
	}
	return 1
}

//go:wasmexport handle_response
func handleResponse(reqCtx, isError uint32) {
	switch probe {
	case "headers":
		set(response, "X-Status", strconv.Itoa(int(getStatusCode())))
		set(response, "X-After", "1")
		set(response, "X-Response-Names", strings.Join(names(response), ","))
	case "rewrite":
		body := readAll(response)
		write(response, strings.ToUpper(body))
		setStatusCode(201)
		set(response, "X-Rewritten", "1")
		remove(response, "X-Backend-Remove")
	case "late-status":
		setStatusCode(202)
	case "ctx":
		set(response, "X-Req-Ctx", strconv.Itoa(int(reqCtx)))
		set(response, "X-Is-Error", strconv.Itoa(int(isError)))
	case "trailers":
		got := values(responseTrailers, "X-Backend-Trailer")
		set(responseTrailers, "X-Guest-Trailer", strings.Join(got, ",")+"!")
		set(response, "X-Trailer-Names", strings.Join(names(responseTrailers), ","))
	case "write-then-next":
		set(response, "X-Body-Seen", readAll(response))
	}
}

func main() {}
