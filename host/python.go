package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/tandemhost/tandem/native"
	"github.com/tandemhost/tandem/policy"
)

// pythonTarget serves a route with Python: one call into the worker pool
// runs the route's Python middleware and its handler or WSGI application.
type pythonTarget struct {
	pool  *native.Pool
	id    int // the native.Route ID
	route *policy.Route
	log   *slog.Logger
	// dropped remembers which dropped headers were already logged.
	dropped sync.Map
}

func (t *pythonTarget) String() string {
	return fmt.Sprintf("%s %s", t.route.Handler.Kind, t.route.Handler.Ref)
}

func (t *pythonTarget) serve(c echo.Context) error {
	r := c.Request()
	req := &native.Request{
		Route:      t.id,
		Method:     r.Method,
		Path:       r.URL.Path,
		Query:      r.URL.RawQuery,
		RequestID:  requestID(c),
		RemoteAddr: r.RemoteAddr,
		Scheme:     scheme(r),
		Proto:      r.Proto,
		Host:       r.Host,
		Header:     r.Header,
		Params:     params(c),
		Body:       body(c),
	}
	req.ServerName, req.ServerPort = serverAddr(r, req.Scheme)
	resp, err := t.pool.Do(r.Context(), req)
	switch {
	case err == nil:
	case errors.Is(err, context.DeadlineExceeded):
		return err // withDeadline answers the route's timeout
	case errors.Is(err, context.Canceled):
		// The client went away: no one reads the answer, and it is no
		// server error to log.
		return errStatus(http.StatusServiceUnavailable, "the request was canceled")
	case errors.Is(err, native.ErrClosed):
		// Shutting down: another instance (or this one, restarted) will
		// serve a retry.
		return &httpError{status: http.StatusServiceUnavailable, message: "the server is shutting down",
			header: http.Header{"Retry-After": {"1"}}}
	default:
		return fmt.Errorf("%s: %w", t, err)
	}
	defer resp.Release()
	if x := exchangeOf(c); x != nil {
		x.worker = resp.Worker
	}
	if resp.Log != "" {
		// A traceback or a WSGI app's error stream: the client got only
		// a status and the request id, so this is where the detail is.
		t.log.Error("python error", "request_id", req.RequestID, "route", t.route.Path,
			"worker", resp.Worker, "detail", resp.Log)
	}
	h := c.Response().Header()
	for _, kv := range resp.Header {
		if connectionHeader(kv.Name) {
			// Framing belongs to the server: a wrong Content-Length or a
			// Transfer-Encoding from a handler would corrupt the response.
			// A Content-Length that is right (as PEP 3333 applications
			// often send) is dropped without a word: the server sets the
			// same value.
			if !(strings.EqualFold(kv.Name, echo.HeaderContentLength) && kv.Value == strconv.Itoa(len(resp.Body))) {
				t.warnOnce(kv.Name)
			}
			continue
		}
		h.Add(kv.Name, kv.Value)
	}
	if bodyAllowed(resp.Status) {
		// Without it net/http chunks any body over its buffer size.
		h.Set(echo.HeaderContentLength, strconv.Itoa(len(resp.Body)))
	}
	c.Response().WriteHeader(resp.Status)
	if len(resp.Body) > 0 && bodyAllowed(resp.Status) {
		if _, err := c.Response().Write(resp.Body); err != nil {
			// The client went away; nothing more can be told to it.
			t.log.Debug("writing the response failed", "request_id", req.RequestID, "error", err)
		}
	}
	return nil
}

// connectionHeader reports whether name is a header the server sets for the
// connection and the message framing (RFC 9110 §7.6.1, §8.6), never one a
// handler may pass through.
func connectionHeader(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Proxy-Connection",
		"Te", "Trailer", "Upgrade":
		return true
	}
	return false
}

// warnOnce logs, once per route and header, that a handler's header was
// dropped: every request would repeat it.
func (t *pythonTarget) warnOnce(name string) {
	if _, seen := t.dropped.LoadOrStore(http.CanonicalHeaderKey(name), true); !seen {
		t.log.Warn("python handler set a header the server controls; it is dropped (the server sets framing headers itself)",
			"route", t.route.Path, "target", t.String(), "header", name)
	}
}

// bodyAllowed reports whether a response with status may carry a body
// (RFC 9110: not 1xx, 204 or 304).
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// params are the route's path parameters in path order. Echo leaves a value
// percent-encoded when the path held an escape that decoding would change
// (like %2F); handlers get it decoded, as they get Path.
func params(c echo.Context) []native.Param {
	names := c.ParamNames()
	if len(names) == 0 {
		return nil
	}
	values := c.ParamValues()
	raw := c.Request().URL.RawPath != ""
	ps := make([]native.Param, len(names))
	for i, n := range names {
		v := ""
		if i < len(values) {
			v = values[i]
		}
		if raw {
			if d, err := url.PathUnescape(v); err == nil {
				v = d
			}
		}
		ps[i] = native.Param{Name: n, Value: v}
	}
	return ps
}

// scheme is "https" for a TLS connection. X-Forwarded-Proto is not
// trusted: any client can send it, and there is no trusted-proxy setting
// yet.
func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// localNames holds serverAddr's answer for each local address a
// connection was accepted on (a few per listener): formatting it costs two
// allocations, on every request otherwise.
var localNames sync.Map // netip.AddrPort → [2]string{host, port}

// serverAddr is the host and port of the listener that accepted the
// request (WSGI's SERVER_NAME and SERVER_PORT). Without one, as in tests
// that call the handler directly, it falls back to the Host header.
func serverAddr(r *http.Request, scheme string) (host, port string) {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		t, tcp := a.(*net.TCPAddr)
		if tcp {
			if hp, ok := localNames.Load(t.AddrPort()); ok {
				return hp.([2]string)[0], hp.([2]string)[1]
			}
		}
		if h, p, err := net.SplitHostPort(a.String()); err == nil {
			if tcp {
				localNames.Store(t.AddrPort(), [2]string{h, p})
			}
			return h, p
		}
	}
	if h, p, err := net.SplitHostPort(r.Host); err == nil {
		return h, p
	}
	if scheme == "https" {
		return r.Host, "443"
	}
	return r.Host, "80"
}

// Isolation is the isolation the Python pool runs with: the policy's,
// except that a runtime without own-GIL sub-interpreters (below 3.12) runs
// shared. downgraded reports that case, which serve warns about.
func Isolation(pol *policy.Policy, rt *native.Runtime) (iso native.Isolation, downgraded bool) {
	iso = native.Isolation(pol.Python.Isolation)
	if iso == "" {
		iso = native.OwnGIL
	}
	if iso == native.OwnGIL && rt != nil && !rt.OwnGIL() {
		return native.Shared, true
	}
	return iso, false
}
