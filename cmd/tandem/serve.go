package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tandemhost/tandem/host"
	"github.com/tandemhost/tandem/native"
	"github.com/tandemhost/tandem/native/topology"
	"github.com/tandemhost/tandem/policy"
)

func newServe(stderr io.Writer) *cobra.Command {
	var policyPath, listen string
	var noWatch, noAccessLog bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve a policy",
		Long: `Serve the policy file (default ./tandem.yaml) until SIGINT or SIGTERM, which
stop accepting connections, let requests in flight finish within
server.timeouts.shutdown and exit 0. One line with the listen address is
logged when the server is ready.

SIGHUP, or a change of the policy file, reloads it: a valid policy is
built beside the running one and replaces it at once, requests in flight
finishing on the old one; an invalid one is refused, its problems logged,
and the running policy keeps serving. Python workers are replaced only
when the python section or the files under python.path changed, plugins
only when their module, config or limits did.`,
		Args: cobra.NoArgs,
		RunE: work(func(cmd *cobra.Command, args []string) error {
			return serve(policyPath, listen, serveOptions{watch: !noWatch, accessLog: !noAccessLog}, stderr)
		}),
	}
	cmd.Flags().StringVar(&policyPath, "policy", defaultPolicy, "policy file")
	cmd.Flags().StringVar(&listen, "listen", "", "listen address, host:port (overrides server.listen; port 0 picks one)")
	cmd.Flags().BoolVar(&noWatch, "no-watch", false, "do not reload when the policy file changes (SIGHUP still reloads)")
	cmd.Flags().BoolVar(&noAccessLog, "no-access-log", false, "do not log a line per request (metrics still count them)")
	return cmd
}

// serveOptions are serve's switches.
type serveOptions struct {
	watch     bool // reload when the policy file changes
	accessLog bool // a log line per request
}

func serve(policyPath, listen string, so serveOptions, stderr io.Writer) error {
	log := slog.Default()
	topo, err := topology.Detect()
	if err != nil {
		return fmt.Errorf("detecting the CPU topology: %w", err)
	}
	pol, err := loadPolicy(policyPath, topo)
	if err != nil {
		return err
	}
	rt, err := locateRuntime(pol.Python.Runtime, stderr)
	if err != nil {
		return err
	}
	rt, err = native.Initialize(rt)
	if err != nil {
		return err
	}
	// From here Python runs: every way out finalizes it, unless workers are
	// still running (then the process exit ends them).
	iso, _ := host.Isolation(pol, rt)
	plan, err := native.MakePlan(topo, native.PlanInput{Workers: pol.Python.Workers,
		Strategy: pol.Python.Strategy, Isolation: iso})
	if err != nil {
		return finalize(fmt.Errorf("planning the Python workers: %w", err))
	}
	runtime.GOMAXPROCS(plan.GOMAXPROCS)
	log.Info("placement", "plan", plan.String())
	for _, r := range plan.Reasons {
		log.Debug("placement reason", "reason", r)
	}

	replan := func(pol *policy.Policy) (native.Plan, error) {
		iso, _ := host.Isolation(pol, rt)
		plan, err := native.MakePlan(topo, native.PlanInput{Workers: pol.Python.Workers,
			Strategy: pol.Python.Strategy, Isolation: iso})
		if err == nil && plan.GOMAXPROCS > runtime.GOMAXPROCS(0) {
			runtime.GOMAXPROCS(plan.GOMAXPROCS)
		}
		return plan, err
	}
	load := func(file string) (*policy.Policy, error) { return loadPolicy(file, topo) }
	srv, err := host.New(context.Background(), pol, host.Options{Logger: log, Runtime: rt, Plan: plan,
		Replan: replan, Load: load, Listen: listen, AccessLog: so.accessLog, Version: version,
		Topology: topo, Placement: plan.String()})
	if err != nil {
		return finalize(err)
	}
	watchCtx, stopWatching := context.WithCancel(context.Background())
	defer stopWatching()
	if so.watch {
		go func() {
			if err := srv.WatchPolicy(watchCtx); err != nil {
				log.Warn("the policy file is not watched; SIGHUP still reloads it", "error", err)
			}
		}()
	}

	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(signals)
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()

	var serveErr error
wait:
	for {
		select {
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				log.Info("reloading the policy", "signal", sig.String(), "policy", srv.Policy().File)
				_ = srv.ReloadAndLog(context.Background(), sig.String())
				continue
			}
			log.Info("shutting down", "signal", sig.String())
			break wait
		case serveErr = <-served:
			break wait
		}
	}

	stopWatching()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(context.Background()) }()
	var shutdownErr error
	for waiting := true; waiting; {
		select {
		case shutdownErr = <-done:
			waiting = false
		case sig := <-signals:
			if sig != syscall.SIGHUP {
				// A second interrupt: the operator does not want to wait.
				return fmt.Errorf("stopped by a second %s before requests in flight finished", sig)
			}
		}
	}
	if shutdownErr != nil {
		// Workers may still be running Python: finalizing would wait for
		// them, so leave them to the process exit.
		if serveErr != nil {
			return fmt.Errorf("%w; %w", serveErr, shutdownErr)
		}
		return shutdownErr
	}
	if serveErr != nil {
		return finalize(serveErr)
	}
	if err := native.Finalize(); err != nil {
		return err
	}
	log.Info("tandem stopped")
	return nil
}

// finalize ends Python after a failure and returns the failure.
func finalize(err error) error {
	if ferr := native.Finalize(); ferr != nil {
		slog.Warn("finalizing Python", "error", ferr)
	}
	return err
}
