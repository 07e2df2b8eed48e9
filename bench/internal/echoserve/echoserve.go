// Package echoserve runs the bench's Echo servers (bench/echoserver,
// bench/floorserver) until the bench stops them.
package echoserve

import (
	"context"
	"errors"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
)

// Serve serves e on addr until SIGINT or SIGTERM, then shuts it down,
// letting requests in flight finish for up to 5 s. It returns nil after
// such a shutdown, and the listener's error otherwise.
func Serve(e *echo.Echo, addr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Shutdown(sctx)
	}()
	if err := e.Start(addr); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
