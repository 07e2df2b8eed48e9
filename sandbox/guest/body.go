package guest

import (
	"io"
	"unsafe"

	"github.com/tandemhost/tandem/sandbox/guest/internal/abi"
)

// Body is a request's or response's body: an io.Reader over what is left
// of it and an io.Writer that replaces it. Reading and writing are each
// one call to the host per slice, with no copy in between.
type Body struct{ kind uint32 }

var (
	_ io.Reader       = Body{}
	_ io.Writer       = Body{}
	_ io.StringWriter = Body{}
)

// Read reads up to len(p) bytes of what is left of the body. At the end it
// returns io.EOF, possibly together with the last bytes.
func (b Body) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil // read_body's buf_limit must not be zero
	}
	eofLen := abi.Current.ReadBody(b.kind, p)
	n := min(int(uint32(eofLen)), len(p))
	if eofLen>>32 != 0 {
		return n, io.EOF
	}
	return n, nil
}

// ReadAll reads what is left of the body, to its end.
func (b Body) ReadAll() []byte {
	buf := make([]byte, 0, 1024)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // let append pick the new capacity
		}
		n, err := b.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			return buf
		}
	}
}

// Write appends p to the body (the first write replaces the body; see
// Request.Body and Response.Body). It always writes all of p and returns
// a nil error; a write the host refuses stops the guest.
func (b Body) Write(p []byte) (int, error) {
	abi.Current.WriteBody(b.kind, p)
	return len(p), nil
}

// WriteString is Write for a string, without copying it.
func (b Body) WriteString(s string) (int, error) {
	// The host only reads the bytes, so the string's own are passed.
	abi.Current.WriteBody(b.kind, unsafe.Slice(unsafe.StringData(s), len(s)))
	return len(s), nil
}
