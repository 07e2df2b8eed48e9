package host

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tandemhost/tandem/policy"
)

// The Go built-ins every request passes before its target, in this order:
// around for every request (404s and 405s included: the request id, panic
// recovery, metrics and the access log; see observe.go), then, per route,
// limitBody and withDeadline. Each is an Echo
// middleware, so later issues slot tenant rate limits, schema checks and
// Wasm middleware into the same chain (see routeChain).

// headerRequestID is the header that carries the request id both ways.
const headerRequestID = echo.HeaderXRequestID

// maxRequestIDLen bounds a client-sent request id: it goes into every log
// line and error body of the request.
const maxRequestIDLen = 128

// assignRequestID keeps the client's X-Request-Id when it is sane and makes
// one otherwise, and sets it on the response before anything else runs, so
// that every response, errors and panics included, carries it. It returns
// the id.
func assignRequestID(c echo.Context) string {
	r := c.Request()
	id := r.Header.Get(headerRequestID)
	if !saneRequestID(id) {
		id = rand.Text()
		// Plugins read it from the request, as any http-wasm guest
		// reads a header.
		r.Header[headerRequestID] = []string{id}
	}
	c.Response().Header()[headerRequestID] = []string{id}
	return id
}

// saneRequestID accepts 1 to maxRequestIDLen printable ASCII characters
// without spaces: anything else (control characters, quotes, megabytes)
// would make logs ambiguous or large, so it is replaced rather than
// escaped.
func saneRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' || id[i] == '"' || id[i] == '\\' {
			return false
		}
	}
	return true
}

// requestID is the id assignRequestID gave the request.
func requestID(c echo.Context) string {
	if x := exchangeOf(c); x != nil {
		return x.id
	}
	return c.Response().Header().Get(headerRequestID)
}

// recovered runs next, turning a panic in Go code serving the request into
// a 500 with the request id; the stack goes to the log, never to the
// client. http.ErrAbortHandler is passed on: it is net/http's way to drop a
// connection on purpose.
func (s *Server) recovered(c echo.Context, next echo.HandlerFunc) (err error) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if r == http.ErrAbortHandler {
			panic(r)
		}
		s.log.Error("panic serving a request", "request_id", requestID(c), "route", c.Path(),
			"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		err = errStatus(http.StatusInternalServerError, "internal server error")
	}()
	return next(c)
}

// limitBody reads the whole request body, up to limit bytes, before the
// target runs: Python gets the body whole, and a body over the limit is
// answered 413 without reading more than the limit. A declared length
// over the limit is refused before reading anything.
func limitBody(limit policy.Size) echo.MiddlewareFunc {
	tooLarge := fmt.Sprintf("request body larger than %s", limit)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if r.ContentLength > int64(limit) {
				// Unread, the rest of the body would have to be drained to
				// keep the connection; closing it is cheaper and safer.
				c.Response().Header().Set(echo.HeaderConnection, "close")
				readNoMore(c.Response().Writer)
				return errStatus(http.StatusRequestEntityTooLarge, tooLarge)
			}
			body, err := readBody(c.Response().Writer, r, int64(limit))
			if err != nil {
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					readNoMore(c.Response().Writer)
					return errStatus(http.StatusRequestEntityTooLarge, tooLarge)
				}
				if errors.Is(err, os.ErrDeadlineExceeded) {
					// The listener's read timeout (server.timeouts.read)
					// passed with the body still arriving.
					return errStatus(http.StatusRequestTimeout, "the request body did not arrive within the read timeout")
				}
				return errStatus(http.StatusBadRequest, "reading the request body failed")
			}
			setBody(c, body)
			return next(c)
		}
	}
}

// readNoMore ends reading on the request's connection. After a 413
// net/http would still read and discard up to 256 KiB of the body before
// closing the connection (a declared length under that, or a chunked
// body), waiting for a slow client until the read timeout; with the read
// deadline passed it closes at once. Writing the response is unaffected.
func readNoMore(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}

// readBody reads at most limit bytes of r's body. The ResponseWriter is
// the server's own (not Echo's wrapper), so that MaxBytesReader can tell
// net/http to close the connection once the limit is hit.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, nil
	}
	rd := http.MaxBytesReader(w, r.Body, limit)
	if r.ContentLength > 0 {
		// net/http ends the body at the declared length, so this is the
		// whole body in one allocation.
		body := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(rd, body); err != nil {
			return nil, err
		}
		return body, nil
	}
	return io.ReadAll(rd)
}

// body is the request body limitBody read.
func body(c echo.Context) []byte {
	if x := exchangeOf(c); x != nil {
		return x.body
	}
	return nil
}

// writeGrace is how long after a route's timeout its answer (the 504, if
// nothing else) may still take to write.
const writeGrace = time.Second

// withDeadline bounds the rest of the chain by the route's timeout: the
// request's context carries the deadline (the Python pool gives up on the
// request when it passes), and a chain that fails because of it is
// answered 504. The connection's write deadline moves to the route timeout
// plus writeGrace: with the listener's write timeout alone (the default
// route timeout is that same value) the connection would be cut just as
// the 504 was due, and a route timeout above it would never be reached.
func withDeadline(timeout time.Duration, log *slog.Logger) echo.MiddlewareFunc {
	message := fmt.Sprintf("the request took longer than %s", policy.Duration(timeout))
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			// Not every ResponseWriter (httptest's) supports deadlines;
			// the listener's timeout then stands.
			_ = http.NewResponseController(c.Response().Writer).SetWriteDeadline(time.Now().Add(timeout + writeGrace))
			ctx, cancel := context.WithTimeout(r.Context(), timeout)
			defer cancel()
			c.SetRequest(r.WithContext(ctx))
			if x := exchangeOf(c); x != nil {
				x.timeout = message
			}
			err := deadlineError(c, next(c))
			if he, ok := err.(*httpError); ok && he.status == http.StatusGatewayTimeout {
				log.Info("request timed out", "request_id", requestID(c), "route", c.Path(),
					"method", r.Method, "timeout", policy.Duration(timeout))
			}
			return err
		}
	}
}

// deadlineError is err, unless err says the request's deadline passed and
// it did: then the route's 504. Plugins call it too, to answer inside the
// response they buffer.
func deadlineError(c echo.Context, err error) error {
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || c.Request().Context().Err() != context.DeadlineExceeded {
		return err
	}
	var message string
	if x := exchangeOf(c); x != nil {
		message = x.timeout
	}
	if message == "" {
		message = "the request took longer than its timeout"
	}
	return errStatus(http.StatusGatewayTimeout, message)
}
