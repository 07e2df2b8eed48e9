// Command tandem serves HTTP with Echo, running trusted Python handlers in
// CPython sub-interpreters as a policy file says.
//
// This package is the command line only: flags, output and exit codes. What
// the commands do lives in the packages they call (host, policy, native).
//
// Exit codes: 0 success, 1 failure (an invalid policy, a runtime that cannot
// be found or started, a server error), 2 a usage error (unknown command or
// flag, wrong arguments).
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/tandemhost/tandem/policy"
)

// version is tandem's version, set at build time by the Makefile with
// -ldflags "-X main.version=...".
var version = "dev"

const defaultPolicy = "tandem.yaml"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line in args and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	var f *failure
	if errors.As(err, &f) {
		printError(stderr, f.err)
		return 1
	}
	// Everything else comes from cobra or the flags: a usage error.
	fmt.Fprintf(stderr, "tandem: %v\nRun '%s --help' for usage.\n", err, cmd.CommandPath())
	return 2
}

// failure marks an error that a command returned while doing its work (exit
// 1), as opposed to one cobra returned while parsing the command line (exit
// 2).
type failure struct{ err error }

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// work adapts a command's function so its errors count as failures.
func work(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := f(cmd, args); err != nil {
			return &failure{err}
		}
		return nil
	}
}

// printError prints policy problems one per line, exactly as the checker
// gives them (FILE:LINE:COL: path: message), and any other error after
// "tandem: ".
func printError(w io.Writer, err error) {
	var ps *policy.Problems
	if errors.As(err, &ps) {
		fmt.Fprintln(w, ps.Error())
		return
	}
	if errors.Is(err, errReported) {
		return
	}
	fmt.Fprintf(w, "tandem: %v\n", err)
}

// errReported is returned by a command that has already printed what went
// wrong (check prints each file's problems as it goes).
var errReported = errors.New("reported")

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	var logLevel, logFormat string
	root := &cobra.Command{
		Use:   "tandem",
		Short: "Serve HTTP with Python handlers and WebAssembly plugins, as a policy file says",
		// Errors are printed once, by run, with the right exit code.
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SetOut(stderr)
			_ = cmd.Help()
			return errors.New("a command is required")
		},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)
			}
			h, err := logHandler(logFormat, stderr, &slog.HandlerOptions{Level: level})
			if err != nil {
				return err
			}
			slog.SetDefault(slog.New(h))
			return nil
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.CompletionOptions.DisableDefaultCmd = true
	root.PersistentFlags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.PersistentFlags().StringVar(&logFormat, "log-format", "auto", "log format: text, json, or auto (text on a terminal, JSON otherwise)")
	root.AddCommand(newServe(stderr), newCheck(stdout, stderr), newTopology(stdout, stderr),
		newRuntime(stdout, stderr), newVersion(stdout))
	return root
}

// logHandler makes the slog handler for --log-format: text for people
// (the default on a terminal), JSON lines for log collectors (the default
// otherwise: under systemd, in a container, redirected to a file).
func logHandler(format string, w io.Writer, opts *slog.HandlerOptions) (slog.Handler, error) {
	switch format {
	case "text":
		return slog.NewTextHandler(w, opts), nil
	case "json":
		return slog.NewJSONHandler(w, opts), nil
	case "auto":
		if f, ok := w.(*os.File); ok && isTerminal(f) {
			return slog.NewTextHandler(w, opts), nil
		}
		return slog.NewJSONHandler(w, opts), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text, json or auto", format)
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// notify prints the one line that says the embedded runtime is being
// extracted (it takes a few seconds, once).
func notify(stderr io.Writer) func(string) {
	return func(msg string) { fmt.Fprintln(stderr, "tandem:", strings.TrimSpace(msg)) }
}
