package host

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// errorBody is the JSON every error answered in Go carries. Its fields and
// their order are the Python side's (tandem.HTTPError), so a client sees one
// error format whichever side answered.
type errorBody struct {
	Error     string `json:"error"`
	Status    int    `json:"status"`
	RequestID string `json:"request_id"`
	// Errors lists what failed, for a 422 from a body schema.
	Errors []fieldError `json:"errors,omitempty"`
}

// httpError is an error that is answered with its own status and message.
// Built-ins and targets return it; handleError writes it.
type httpError struct {
	status  int
	message string
	header  http.Header // extra response headers, like Retry-After
	fields  []fieldError
}

func (e *httpError) Error() string { return strconv.Itoa(e.status) + " " + e.message }

func errStatus(status int, message string) *httpError {
	return &httpError{status: status, message: message}
}

// statusMessage is a status's standard reason in the lower case the Python
// side uses ("not found", "method not allowed").
func statusMessage(status int) string {
	if t := http.StatusText(status); t != "" {
		return strings.ToLower(t)
	}
	return "error " + strconv.Itoa(status)
}

// handleError is the Echo error handler: it answers every error that
// reaches Echo, from the router's 404 and 405 to a target's failure, with
// the JSON error body. Errors that are not HTTP errors are the server's
// fault: they are logged with the request id and the client gets a plain
// 500, never the error text.
func (s *Server) handleError(err error, c echo.Context) {
	status, message := http.StatusInternalServerError, "internal server error"
	var extra http.Header
	var fields []fieldError
	var he *httpError
	var ee *echo.HTTPError
	switch {
	case errors.As(err, &he):
		status, message, extra, fields = he.status, he.message, he.header, he.fields
	case errors.As(err, &ee):
		// The router's 404 and 405, or Echo's own errors.
		status = ee.Code
		message = statusMessage(status)
		if m, ok := ee.Message.(string); ok && m != http.StatusText(status) {
			message = m
		}
	default:
		s.log.Error("request failed", "request_id", requestID(c), "route", c.Path(),
			"method", c.Request().Method, "path", c.Request().URL.Path, "error", err)
	}
	if c.Response().Committed {
		// Part of the response is on its way; the status cannot change.
		s.log.Debug("error after the response started", "request_id", requestID(c), "error", err)
		return
	}
	for k, vs := range extra {
		for _, v := range vs {
			c.Response().Header().Add(k, v)
		}
	}
	writeError(c, status, message, fields...)
}

// writeError writes the JSON error body. It encodes by hand into a buffer
// rather than through c.JSON so that '<', '>' and '&' stay as written, as
// Python's encoder leaves them.
func writeError(c echo.Context, status int, message string, fields ...fieldError) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(errorBody{Error: message, Status: status, RequestID: requestID(c), Errors: fields})
	body := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.Blob(status, echo.MIMEApplicationJSON, body)
}
