// Command echoserver is the Go upper bound of `go run ./bench compare`: the
// trivial handler of bench/apps (GET /hello/:name answering {"hello": name})
// written in Go with Echo, the framework tandem serves HTTP with. No logger
// or other middleware, as tandem runs with --no-access-log.
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"

	"github.com/labstack/echo/v4"

	"github.com/tandemhost/tandem/bench/internal/echoserve"
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
	if err := echoserve.Serve(e, *listen); err != nil {
		fmt.Fprintln(os.Stderr, "echoserver:", err)
		os.Exit(1)
	}
}
