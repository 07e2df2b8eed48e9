package guest

import "github.com/tandemhost/tandem/sandbox/guest/internal/abi"

// Request is the request being served. It holds nothing itself: every
// method asks the host, so a Request is only valid during a call of the
// request or response handler. Changes are allowed only in the request
// handler, before the request is passed on.
type Request struct{}

// Method returns the request method, such as "GET".
func (Request) Method() string { return fetchString(abi.Current.GetMethod) }

// SetMethod changes the request method that the rest of the chain sees.
func (Request) SetMethod(method string) { abi.Current.SetMethod(method) }

// URI returns the request target as the client sent it: the path and any
// query, such as "/v1/items?limit=10" (parse it with net/url if needed).
func (Request) URI() string { return fetchString(abi.Current.GetURI) }

// SetURI changes the path and query that the rest of the chain sees.
func (Request) SetURI(uri string) { abi.Current.SetURI(uri) }

// Protocol returns the protocol version, such as "HTTP/1.1" or "HTTP/2.0".
func (Request) Protocol() string { return fetchString(abi.Current.GetProtocolVersion) }

// SourceAddr returns the client's address as "ip:port" ("[ip]:port" for
// IPv6): the peer of the connection, not a forwarded-for header.
func (Request) SourceAddr() string { return fetchString(abi.Current.GetSourceAddr) }

// Header returns the request headers.
func (Request) Header() Header { return Header{abi.KindRequest} }

// Trailer returns the request trailers, which need FeatureTrailers and
// exist only once the body has been read.
func (Request) Trailer() Header { return Header{abi.KindRequestTrailers} }

// Body returns the request body. Reading it consumes it: enable
// FeatureBufferRequest when the guest reads the body and then passes the
// request on. The first write replaces the body the rest of the chain gets.
func (Request) Body() Body { return Body{abi.KindRequest} }

// Response is the response to the request being served: the guest's own,
// when it answers in the request handler, or the rest of the chain's, in
// the response handler. Like Request it holds nothing itself.
type Response struct{}

// StatusCode returns the response status. After the request was passed on,
// reading it needs FeatureBufferResponse.
func (Response) StatusCode() int { return int(abi.Current.GetStatusCode()) }

// SetStatusCode sets the response status; 200 is the default. After the
// request was passed on it needs FeatureBufferResponse. Set the headers
// first: unless the response is buffered, a host may send them together
// with the status, and later changes are lost (net/http-based hosts do).
func (Response) SetStatusCode(code int) { abi.Current.SetStatusCode(uint32(code)) }

// Header returns the response headers.
func (Response) Header() Header { return Header{abi.KindResponse} }

// Trailer returns the response trailers; they need FeatureTrailers.
func (Response) Trailer() Header { return Header{abi.KindResponseTrailers} }

// Body returns the response body. Reading the rest of the chain's body
// needs FeatureBufferResponse. The first write in the request handler, or
// in the response handler, replaces the body; later ones append.
func (Response) Body() Body { return Body{abi.KindResponse} }
