package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/tetratelabs/wazero/sys"
)

// abiError is a rule of the ABI a guest broke in a call to a host
// function. The host function panics with it; wazero unwinds the guest
// and returns it, wrapped, from the guest call.
type abiError struct {
	fn  string // the host function, or the export the host called
	msg string
}

func (e *abiError) Error() string { return e.fn + ": " + e.msg }

// violation stops the guest: x.fn broke the rule msg describes.
func (x *exchange) violation(format string, args ...any) {
	panic(&abiError{fn: x.fn, msg: fmt.Sprintf(format, args...)})
}

// hostError is a failure on the host's side of a host function: reading
// the request body failed because the client went away or sent more than
// the route allows. The guest is stopped like on a violation, but the
// request fails with the status the failure calls for, and no counter
// blames the guest.
type hostError struct {
	status int
	err    error
}

func (e *hostError) Error() string { return e.err.Error() }
func (e *hostError) Unwrap() error { return e.err }

// outcome is why a guest call failed, for the status, the counters and
// the log.
type outcome int

const (
	outcomeTrap      outcome = iota + 1 // the guest trapped, panicked or exited
	outcomeTimeout                      // the call overran its deadline or the request was canceled
	outcomeViolation                    // the guest broke a rule of the ABI
	outcomeClosed                       // the plugin was closed under the call
	outcomeHost                         // the request failed, not the guest: its body (hostError) or its deadline
)

func (o outcome) String() string {
	switch o {
	case outcomeTrap:
		return "trap"
	case outcomeTimeout:
		return "timeout"
	case outcomeViolation:
		return "abi violation"
	case outcomeClosed:
		return "closed"
	case outcomeHost:
		return "request error"
	}
	return "unknown"
}

// guestError is a failed call into a guest: where it failed, why, and the
// error wazero returned (with the guest's own text, for the log only).
type guestError struct {
	phase   string // "start", "handle_request" or "handle_response"
	outcome outcome
	status  int
	err     error
	// said is, for a failed start, the start of what the guest wrote as
	// it failed (see guestWords): its own account, for Compile's error.
	said string
}

func (e *guestError) Error() string {
	return e.phase + ": " + e.outcome.String() + ": " + e.err.Error()
}

func (e *guestError) Unwrap() error { return e.err }

// classify turns the error of a guest call into a guestError. ctx is the
// call's context; closed says whether the plugin was closed, which closes
// its instances with exit code 0, as a guest's own proc_exit(0) would.
func classify(ctx context.Context, phase string, err error, closed bool) *guestError {
	g := &guestError{phase: phase, err: err, outcome: outcomeTrap, status: http.StatusInternalServerError}
	var abi *abiError
	var host *hostError
	var exit *sys.ExitError
	switch {
	case errors.As(err, &host):
		g.outcome, g.status = outcomeHost, host.status
	case errors.As(err, &abi):
		g.outcome = outcomeViolation
	case errors.As(err, &exit):
		switch {
		case exit.ExitCode() == sys.ExitCodeDeadlineExceeded || exit.ExitCode() == sys.ExitCodeContextCanceled:
			g.outcome, g.status = outcomeTimeout, http.StatusGatewayTimeout
		case exit.ExitCode() == 0 && closed:
			g.outcome, g.status = outcomeClosed, http.StatusServiceUnavailable
		case ctx.Err() != nil:
			g.outcome, g.status = outcomeTimeout, http.StatusGatewayTimeout
		}
	}
	return g
}
