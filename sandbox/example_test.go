package sandbox_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/tandemhost/tandem/sandbox"
)

// One plugin serves a route as its handler; another wraps a Go handler as
// middleware. Each plugin is compiled once and gives each tenant its own
// pool of instances.
func Example() {
	ctx := context.Background()
	cacheDir, _ := os.MkdirTemp("", "tandem-example")
	defer os.RemoveAll(cacheDir)

	engine, err := sandbox.NewEngine(ctx, sandbox.EngineConfig{
		CacheDir: cacheDir,
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer engine.Close(ctx)

	hello, err := os.ReadFile("testdata/hello.wasm") // answers "hello from wasm"
	if err != nil {
		log.Fatal(err)
	}
	plugin, err := engine.Compile(ctx, sandbox.PluginConfig{
		Name:   "hello",
		Wasm:   hello,
		Limits: sandbox.Limits{Memory: 1 << 20, Timeout: 50 * time.Millisecond, Instances: 4},
	})
	if err != nil {
		log.Fatal(err)
	}

	noop, err := os.ReadFile("testdata/noop.wasm") // passes every request on
	if err != nil {
		log.Fatal(err)
	}
	middleware, err := engine.Compile(ctx, sandbox.PluginConfig{Name: "noop", Wasm: noop})
	if err != nil {
		log.Fatal(err)
	}

	e := echo.New()
	e.GET("/hello", echo.WrapHandler(plugin.Pool("acme").Handler()))
	e.GET("/api", func(c echo.Context) error { return c.String(http.StatusOK, "from Go") },
		echo.WrapMiddleware(middleware.Pool("acme").Middleware))

	for _, path := range []string{"/hello", "/api"} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		fmt.Println(path, rec.Code, rec.Body.String())
	}

	s := plugin.Pool("acme").Stats()
	fmt.Println("instances:", s.Size, "idle:", s.Idle)
	// Output:
	// /hello 200 hello from wasm
	// /api 200 from Go
	// instances: 1 idle: 1
}
