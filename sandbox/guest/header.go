package guest

import "github.com/tandemhost/tandem/sandbox/guest/internal/abi"

// Header is one set of header fields: a request's or response's headers
// or trailers. As in net/http, names are case-insensitive and a name may
// have several values. The host decides the case of the names that Names
// returns (some return "Content-Type", others "content-type"), so compare
// them with strings.EqualFold.
type Header struct{ kind uint32 }

// Get returns the first value of name, or "" if there is none.
func (h Header) Get(name string) string {
	return fetchFirst(func(buf []byte) uint64 {
		return abi.Current.GetHeaderValues(h.kind, name, buf)
	})
}

// Values returns every value of name, in order, or nil if there is none.
func (h Header) Values(name string) []string {
	return fetchList(func(buf []byte) uint64 {
		return abi.Current.GetHeaderValues(h.kind, name, buf)
	})
}

// Names returns the name of every field, once each.
func (h Header) Names() []string {
	return fetchList(func(buf []byte) uint64 {
		return abi.Current.GetHeaderNames(h.kind, buf)
	})
}

// Set replaces every value of name with value.
func (h Header) Set(name, value string) { abi.Current.SetHeaderValue(h.kind, name, value) }

// Add appends value to the values of name.
func (h Header) Add(name, value string) { abi.Current.AddHeaderValue(h.kind, name, value) }

// Del removes every value of name.
func (h Header) Del(name string) { abi.Current.RemoveHeader(h.kind, name) }
