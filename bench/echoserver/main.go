// Command echoserver is the Go upper bound of `go run ./bench compare`: the
// trivial handler of bench/apps (GET /hello/:name answering {"hello": name})
// written in Go with Echo, the framework tandem serves HTTP with. No logger
// or other middleware, as tandem runs with --no-access-log.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "listen address")
	flag.Parse()
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.GET("/hello/:name", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"hello": c.Param("name")})
	})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Shutdown(sctx)
	}()
	if err := e.Start(*listen); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "echoserver:", err)
		os.Exit(1)
	}
}
