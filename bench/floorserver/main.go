// Command floorserver is the floor of `go run ./bench compare` for a server
// built on Echo and CPython: Echo's router, then straight into tandem's
// Python worker pool (native.Pool) running bench/apps' benchapp:hello, and
// the handler's answer written back. Nothing else tandem does on a request
// runs: no request id, metrics, deadline, body limit, panic recovery, host
// routing or listener timeouts. The workers and GOMAXPROCS are those
// `tandem serve` plans for `workers: auto` on the same machine.
//
// tandem can only add to what this costs per request, so its requests/s
// bound what any server made of Echo and tandem's workers serves here.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/tandemhost/tandem/bench/internal/echoserve"
	"github.com/tandemhost/tandem/native"
	"github.com/tandemhost/tandem/native/embedded"
	"github.com/tandemhost/tandem/native/topology"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "listen address")
	apps := flag.String("apps", "bench/apps", "directory holding benchapp.py")
	flag.Parse()
	if err := run(*listen, *apps); err != nil {
		fmt.Fprintln(os.Stderr, "floorserver:", err)
		os.Exit(1)
	}
}

func run(listen, apps string) error {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("-listen %q: %w", listen, err)
	}
	home, err := embedded.Home(nil)
	if err != nil {
		return err
	}
	rt, err := native.Locate("embedded", home)
	if err != nil {
		return err
	}
	if _, err := native.Initialize(rt); err != nil {
		return err
	}
	topo, err := topology.Detect()
	if err != nil {
		return err
	}
	plan, err := native.MakePlan(topo, native.PlanInput{Isolation: native.OwnGIL})
	if err != nil {
		return err
	}
	runtime.GOMAXPROCS(plan.GOMAXPROCS)
	pool, err := native.NewPool(native.Config{
		Workers: plan.Workers, CPUs: plan.CPUs, Float: plan.Strategy == "pooled",
		Isolation: native.OwnGIL, Path: []string{apps},
		Routes: []native.Route{{ID: 0, Kind: "python", Target: "benchapp:hello", Path: "/hello/:name", Params: []string{"name"}}},
	})
	if err != nil {
		return err
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/hello/:name", func(c echo.Context) error {
		r := c.Request()
		resp, err := pool.Do(r.Context(), &native.Request{
			Route: 0, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			RemoteAddr: r.RemoteAddr, Scheme: "http", Proto: r.Proto, Host: r.Host,
			ServerName: host, ServerPort: port, Header: r.Header,
			Params: []native.Param{{Name: "name", Value: c.Param("name")}},
		})
		if err != nil {
			return err
		}
		defer resp.Release()
		h := c.Response().Header()
		for _, kv := range resp.Header {
			h.Add(kv.Name, kv.Value)
		}
		h.Set(echo.HeaderContentLength, strconv.Itoa(len(resp.Body)))
		c.Response().WriteHeader(resp.Status)
		_, err = c.Response().Write(resp.Body)
		return err
	})

	if err := echoserve.Serve(e, listen); err != nil {
		return err
	}
	return pool.Close(context.Background())
}
