package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Middleware returns next wrapped by the guest: handle_request sees the
// request first and either answers it (next=0) or passes it on (next=1),
// in which case next serves it and handle_response sees the response
// before the client does. With Echo: e.Use(echo.WrapMiddleware(pool.Middleware)).
//
// The response next writes is held in memory until handle_response has
// run. An Echo handler after a Wasm middleware must therefore write its
// response rather than return an error for Echo's error handler to write
// later (by then the middleware has answered); render errors inside the
// wrapped chain.
func (p *Pool) Middleware(next http.Handler) http.Handler {
	return &server{pool: p, next: next}
}

// Handler returns the guest as the handler of a route: handle_request
// answers every request. A guest that returns next=1 anyway breaks the
// ABI (there is no next handler): the request fails with 500 and the log
// says so. With Echo: e.GET(path, echo.WrapHandler(pool.Handler())).
func (p *Pool) Handler() http.Handler { return p.handler }

// server serves requests with instances of one pool, as middleware (next
// set) or as a handler (next nil).
type server struct {
	pool *Pool
	next http.Handler
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := s.pool
	ctx := r.Context()
	inst, err := p.acquire(ctx)
	if err != nil {
		x := exchange{r: r, w: w}
		p.failed(w, &x, err)
		return
	}
	x := &exchange{}
	x.begin(inst, w, r)
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		// The request's time ran out while it waited: answer without
		// calling the guest, which would be stopped (and its instance
		// lost) at once.
		p.release(inst, true, false)
		p.failed(w, x, &guestError{phase: exportHandleRequest, outcome: outcomeHost,
			status: http.StatusGatewayTimeout, err: errors.New("the request's deadline passed before the call")})
		return
	}
	stack := inst.stack[:]

	if gerr := inst.call(ctx, x, exportHandleRequest, inst.handleRequest, stack[:1]); gerr != nil {
		p.release(inst, false, true)
		p.failed(w, x, gerr)
		return
	}
	ctxNext := stack[0]
	if ctxNext&1 == 0 {
		// The guest answered.
		p.release(inst, true, true)
		x.writeResponse(w)
		return
	}
	if s.next == nil {
		p.release(inst, false, true)
		p.failed(w, x, &guestError{
			phase: exportHandleRequest, outcome: outcomeViolation, status: http.StatusInternalServerError,
			err: &abiError{fn: exportHandleRequest, msg: "returned next=1, but the plugin serves this route as its handler: there is no next handler"},
		})
		return
	}

	x.passOn()
	panicked := x.runNext(s.next)
	isError := uint64(0)
	if panicked != nil {
		isError = 1
	}
	stack[0], stack[1] = uint64(uint32(ctxNext>>32)), isError
	respCtx := ctx
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		// The rest of the chain used up the request's time (it answered
		// 504, most likely). The guest still sees that response, within
		// its own timeout: a call begun with no time left would be
		// stopped at once, the plugin blamed and its instance lost.
		respCtx = context.WithoutCancel(ctx)
	}
	gerr := inst.call(respCtx, x, exportHandleResponse, inst.handleResponse, stack[:2])
	p.release(inst, gerr == nil, true)
	switch {
	case panicked != nil && panicked.value == http.ErrAbortHandler:
		// net/http's way to drop the connection on purpose: pass it on.
		panic(panicked.value)
	case panicked != nil:
		// Answered here rather than raised again: through Echo's
		// WrapMiddleware, a recovery outside would write its error to
		// the context's response, which is this plugin's recorder.
		p.log.LogAttrs(context.Background(), slog.LevelError, "panic in the handler after a plugin",
			slog.String("request_id", x.requestID()), slog.String("panic", fmt.Sprint(panicked.value)),
			slog.String("stack", string(panicked.stack)))
		x.rec.forwardTo(w)
		writeError(w, x.r, http.StatusInternalServerError, x.requestID())
	case gerr != nil:
		x.rec.forwardTo(w)
		p.failed(w, x, gerr)
	default:
		x.writeResponse(w)
	}
}

// failed answers a request that an instance could not serve, and logs
// why: the client gets a generic message, the log the details.
func (p *Pool) failed(w http.ResponseWriter, x *exchange, err error) {
	status := statusOf(err)
	id := x.requestID()
	var g *guestError
	switch {
	case errors.As(err, &g):
		p.count(g.outcome)
		level := slog.LevelError
		switch g.outcome {
		case outcomeTimeout, outcomeClosed:
			level = slog.LevelWarn
		case outcomeHost:
			level = slog.LevelInfo
		}
		p.log.LogAttrs(context.Background(), level, "plugin call failed",
			slog.String("request_id", id), slog.String("call", g.phase),
			slog.String("reason", g.outcome.String()), slog.Int("status", status),
			slog.String("error", truncate(g.err.Error(), maxErrorLog)))
	case errors.Is(err, errBusy):
		p.log.LogAttrs(context.Background(), slog.LevelWarn, "plugin busy",
			slog.String("request_id", id), slog.Int("instances", p.plugin.limits.Instances))
	default:
		p.log.LogAttrs(context.Background(), slog.LevelWarn, "plugin unavailable",
			slog.String("request_id", id), slog.String("error", err.Error()))
	}
	writeError(w, x.r, status, id)
}

// maxErrorLog bounds the error text (with wazero's guest stack trace)
// logged for one failed call.
const maxErrorLog = 4 << 10

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "... (truncated)"
}

// errorBody is the JSON of every error the sandbox answers, the same as
// the host's and the Python side's.
type errorBody struct {
	Error     string `json:"error"`
	Status    int    `json:"status"`
	RequestID string `json:"request_id"`
}

// writeError answers status with the JSON error body. The writer's header
// holds only what was there before the plugin ran (the guest and the next
// handler wrote to the exchange's copy), so nothing of the failed response
// leaks into it.
func writeError(w http.ResponseWriter, r *http.Request, status int, requestID string) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(errorBody{Error: strings.ToLower(http.StatusText(status)), Status: status, RequestID: requestID})
	body := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
