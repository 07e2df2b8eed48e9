// Package discard is an http.ResponseWriter for benchmarks that keeps
// nothing but the status, so that they measure the server rather than a
// recorder.
package discard

import (
	"net/http"
	"time"
)

// ResponseWriter drops what is written to it and remembers the status.
// SetWriteDeadline lets http.ResponseController work on it, as it does on
// a connection.
type ResponseWriter struct {
	// Status is the last status written.
	Status int
	h      http.Header
}

// New returns a ResponseWriter with an empty header.
func New() *ResponseWriter { return &ResponseWriter{h: make(http.Header)} }

// Header returns the response header.
func (w *ResponseWriter) Header() http.Header { return w.h }

// Write drops b.
func (w *ResponseWriter) Write(b []byte) (int, error) { return len(b), nil }

// WriteHeader records status.
func (w *ResponseWriter) WriteHeader(status int) { w.Status = status }

// SetWriteDeadline does nothing.
func (w *ResponseWriter) SetWriteDeadline(time.Time) error { return nil }
