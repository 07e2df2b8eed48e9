package sandbox

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// maxOutput bounds what one call's stdout and stderr each keep for the
// log; the rest is counted.
const maxOutput = 4 << 10

// instance is one instantiated guest. It serves one request at a time and
// is closed, never reused, after a call into it fails.
type instance struct {
	pool           *Pool
	mod            api.Module
	handleRequest  api.Function
	handleResponse api.Function
	feats          features // enabled while starting: on for every request
	uses           int
	stdout, stderr output
	stack          [2]uint64 // CallWithStack's params and results; no allocation per call

	// ctx is the context of every call into the instance, and timer, reset
	// for each call, ends the call that overruns its deadline. Both live as
	// long as the instance: a call costs no allocation and no new timer
	// (see callCtx).
	ctx   callCtx
	timer *time.Timer
}

// instantiate starts an instance: wazero runs the module's start section,
// then _initialize (Go c-shared, reactors) or _start (TinyGo), bounded by
// the plugin's timeout (at least minStartTimeout).
func (p *Pool) instantiate(ctx context.Context) (*instance, error) {
	pl := p.plugin
	inst := &instance{pool: p}
	cfg := pl.modCfg.WithStdout(&inst.stdout).WithStderr(&inst.stderr)
	x := &exchange{inst: inst, phase: phaseStart, fn: "start"}
	sctx, cancel := context.WithTimeout(ctx, pl.limits.startTimeout())
	defer cancel()

	p.instantiations.Add(1)
	mod, err := pl.runtime.InstantiateModule(&startCtx{Context: sctx, x: x}, pl.compiled, cfg)
	// What the guest said as it failed, before the log takes it: a Go
	// guest's panic message is on stderr, a TinyGo guest's on stdout.
	var said string
	if err != nil {
		said = guestWords(inst.stderr.buf)
		if said == "" {
			said = guestWords(inst.stdout.buf)
		}
	}
	inst.flushOutput(x)
	if err == nil && mod.IsClosed() {
		// wazero returns no error when a start function exits with 0, but
		// the module is gone: a WASI command (Go without c-shared) ran its
		// main and exited.
		err = errCommand
	}
	if err != nil {
		g := classify(sctx, "start", err, pl.isClosed())
		g.said = said
		return nil, g
	}
	inst.mod = mod
	inst.handleRequest = mod.ExportedFunction(exportHandleRequest)
	inst.handleResponse = mod.ExportedFunction(exportHandleResponse)
	inst.ctx.done = make(chan struct{})
	inst.timer = time.AfterFunc(time.Hour, inst.expire)
	inst.timer.Stop()
	return inst, nil
}

// call runs one guest export for x, bounded by the plugin's timeout and
// the request's own deadline, whichever comes first. stack holds the
// parameters and receives the results.
func (inst *instance) call(ctx context.Context, x *exchange, name string, fn api.Function, stack []uint64) *guestError {
	now := time.Now()
	deadline := now.Add(inst.pool.plugin.limits.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c := &inst.ctx
	c.x = x
	c.deadline.Store(deadline.UnixNano())
	inst.timer.Reset(deadline.Sub(now))
	x.fn = name
	x.logs, x.logBytes, x.logsDropped = 0, 0, 0
	err := fn.CallWithStack(c, stack)
	inst.timer.Stop()
	c.deadline.Store(0)
	c.x = nil // an idle instance keeps nothing of its last request alive
	x.fn = name
	inst.flushOutput(x)
	if err != nil {
		return classify(c, name, err, inst.pool.plugin.isClosed())
	}
	return nil
}

// expire ends the call in progress if it has overrun its deadline. The
// timer may fire late, after its call finished or while a later call
// runs: only the running call's own deadline counts.
func (inst *instance) expire() {
	d := inst.ctx.deadline.Load()
	if d == 0 {
		return
	}
	if left := time.Until(time.Unix(0, d)); left > 0 {
		inst.timer.Reset(left)
		return
	}
	inst.ctx.expire()
}

// healthy reports whether inst can serve another request. The timer can
// expire a call just as it finishes in time: its context is then done for
// good (and wazero may not have closed the module yet), so the instance
// would stop the next call at once.
func (inst *instance) healthy() bool { return !inst.ctx.expired.Load() && !inst.mod.IsClosed() }

func (inst *instance) close() {
	if inst.timer != nil {
		inst.timer.Stop()
	}
	if inst.mod != nil {
		_ = inst.mod.Close(context.Background())
	}
}

// flushOutput logs what the last call wrote to stdout and stderr, and how
// many log records it had dropped.
func (inst *instance) flushOutput(x *exchange) {
	if inst.stdout.empty() && inst.stderr.empty() && x.logsDropped == 0 {
		return
	}
	log := inst.pool.log
	id := x.requestID()
	for _, o := range []struct {
		stream string
		out    *output
		level  slog.Level
	}{{"stdout", &inst.stdout, slog.LevelInfo}, {"stderr", &inst.stderr, slog.LevelWarn}} {
		if o.out.empty() {
			continue
		}
		attrs := []slog.Attr{slog.String("stream", o.stream), slog.String("text", string(o.out.buf))}
		if id != "" {
			attrs = append(attrs, slog.String("request_id", id))
		}
		if o.out.dropped > 0 {
			attrs = append(attrs, slog.Int("dropped_bytes", o.out.dropped))
		}
		log.LogAttrs(context.Background(), o.level, "plugin output", attrs...)
		o.out.reset()
	}
	if x.logsDropped > 0 {
		log.Warn("plugin log records dropped", "request_id", id, "call", x.fn, "dropped", x.logsDropped,
			"limit_records", maxLogRecords, "limit_bytes", maxLogBytes)
		x.logsDropped = 0
	}
}

// output keeps the first maxOutput bytes a guest writes to a stream
// during one call, and counts the rest.
type output struct {
	buf     []byte
	dropped int
}

func (o *output) Write(p []byte) (int, error) {
	room := maxOutput - len(o.buf)
	take := min(max(room, 0), len(p))
	o.buf = append(o.buf, p[:take]...)
	o.dropped += len(p) - take
	return len(p), nil
}

func (o *output) empty() bool { return len(o.buf) == 0 && o.dropped == 0 }

func (o *output) reset() { o.buf, o.dropped = o.buf[:0], 0 }

// statusOf is the status a failed acquire answers.
func statusOf(err error) int {
	var g *guestError
	switch {
	case errors.As(err, &g):
		return g.status
	default: // errBusy, errClosed
		return http.StatusServiceUnavailable
	}
}
