package abi

import "unsafe"

// platform is the http_handler module the host links into the guest.
var platform Host = imports{}

// imports implements Host with the module's functions. Go passes a pointer
// argument of a wasmimport as an i32 offset into linear memory, and its
// garbage collector does not move objects, so a slice or string can be
// handed to the host as it is for the duration of the call.
type imports struct{}

func ptr(b []byte) unsafe.Pointer        { return unsafe.Pointer(unsafe.SliceData(b)) }
func sptr(s string) unsafe.Pointer       { return unsafe.Pointer(unsafe.StringData(s)) }
func size[T []byte | string](v T) uint32 { return uint32(len(v)) }

func (imports) EnableFeatures(features uint32) uint32 { return enableFeatures(features) }
func (imports) GetConfig(buf []byte) uint32           { return getConfig(ptr(buf), size(buf)) }
func (imports) LogEnabled(level int32) uint32         { return logEnabled(level) }
func (imports) Log(level int32, message string)       { log(level, sptr(message), size(message)) }
func (imports) GetMethod(buf []byte) uint32           { return getMethod(ptr(buf), size(buf)) }
func (imports) SetMethod(method string)               { setMethod(sptr(method), size(method)) }
func (imports) GetURI(buf []byte) uint32              { return getURI(ptr(buf), size(buf)) }
func (imports) SetURI(uri string)                     { setURI(sptr(uri), size(uri)) }
func (imports) GetProtocolVersion(buf []byte) uint32 {
	return getProtocolVersion(ptr(buf), size(buf))
}
func (imports) GetHeaderNames(kind uint32, buf []byte) uint64 {
	return getHeaderNames(kind, ptr(buf), size(buf))
}
func (imports) GetHeaderValues(kind uint32, name string, buf []byte) uint64 {
	return getHeaderValues(kind, sptr(name), size(name), ptr(buf), size(buf))
}
func (imports) SetHeaderValue(kind uint32, name, value string) {
	setHeaderValue(kind, sptr(name), size(name), sptr(value), size(value))
}
func (imports) AddHeaderValue(kind uint32, name, value string) {
	addHeaderValue(kind, sptr(name), size(name), sptr(value), size(value))
}
func (imports) RemoveHeader(kind uint32, name string) { removeHeader(kind, sptr(name), size(name)) }
func (imports) ReadBody(kind uint32, buf []byte) uint64 {
	return readBody(kind, ptr(buf), size(buf))
}
func (imports) WriteBody(kind uint32, body []byte) { writeBody(kind, ptr(body), size(body)) }
func (imports) GetStatusCode() uint32              { return getStatusCode() }
func (imports) SetStatusCode(code uint32)          { setStatusCode(code) }
func (imports) GetSourceAddr(buf []byte) uint32    { return getSourceAddr(ptr(buf), size(buf)) }

//go:wasmimport http_handler enable_features
func enableFeatures(features uint32) uint32

//go:wasmimport http_handler get_config
func getConfig(buf unsafe.Pointer, bufLimit uint32) uint32

//go:wasmimport http_handler log_enabled
func logEnabled(level int32) uint32

//go:wasmimport http_handler log
func log(level int32, message unsafe.Pointer, messageLen uint32)

//go:wasmimport http_handler get_method
func getMethod(buf unsafe.Pointer, bufLimit uint32) uint32

//go:wasmimport http_handler set_method
func setMethod(method unsafe.Pointer, methodLen uint32)

//go:wasmimport http_handler get_uri
func getURI(buf unsafe.Pointer, bufLimit uint32) uint32

//go:wasmimport http_handler set_uri
func setURI(uri unsafe.Pointer, uriLen uint32)

//go:wasmimport http_handler get_protocol_version
func getProtocolVersion(buf unsafe.Pointer, bufLimit uint32) uint32

//go:wasmimport http_handler get_header_names
func getHeaderNames(kind uint32, buf unsafe.Pointer, bufLimit uint32) uint64

//go:wasmimport http_handler get_header_values
func getHeaderValues(kind uint32, name unsafe.Pointer, nameLen uint32, buf unsafe.Pointer, bufLimit uint32) uint64

//go:wasmimport http_handler set_header_value
func setHeaderValue(kind uint32, name unsafe.Pointer, nameLen uint32, value unsafe.Pointer, valueLen uint32)

//go:wasmimport http_handler add_header_value
func addHeaderValue(kind uint32, name unsafe.Pointer, nameLen uint32, value unsafe.Pointer, valueLen uint32)

//go:wasmimport http_handler remove_header
func removeHeader(kind uint32, name unsafe.Pointer, nameLen uint32)

//go:wasmimport http_handler read_body
func readBody(kind uint32, buf unsafe.Pointer, bufLimit uint32) uint64

//go:wasmimport http_handler write_body
func writeBody(kind uint32, body unsafe.Pointer, bodyLen uint32)

//go:wasmimport http_handler get_status_code
func getStatusCode() uint32

//go:wasmimport http_handler set_status_code
func setStatusCode(code uint32)

//go:wasmimport http_handler get_source_addr
func getSourceAddr(buf unsafe.Pointer, bufLimit uint32) uint32
