package sandbox

import (
	"testing"

	"github.com/http-wasm/http-wasm-host-go/tck"
	"github.com/labstack/echo/v4"
)

// TestTCK runs the http-wasm conformance kit: its guest as middleware
// through Echo, in front of its backend. Only the kit's guest and runner
// come from http-wasm-host-go; its host is not used.
func TestTCK(t *testing.T) {
	engine, _ := testEngine(t)
	plugin := compile(t, engine, "tck", tck.GuestWASM, Limits{})

	e := newEcho()
	e.Use(echo.WrapMiddleware(plugin.Pool("tck").Middleware))
	backend := echo.WrapHandler(tck.BackendHandler())
	e.Any("/", backend)
	e.Any("/*", backend)
	srv := echoServer(t, e)

	tck.Run(t, srv.Client(), srv.URL)
}
