package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/tandemhost/tandem/host"
	"github.com/tandemhost/tandem/native/topology"
	"github.com/tandemhost/tandem/policy"
)

func newCheck(stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE...",
		Short: "Validate policy files without serving them",
		Long: `Check each policy file as serve would on this machine. A valid file gets a
one-line summary on stdout; an invalid one gets every problem on stderr as
FILE:LINE:COL: path.to.field: message. Exit 0 when every file is valid, 1
otherwise.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("check needs at least one policy file")
			}
			return nil
		},
		RunE: work(func(cmd *cobra.Command, files []string) error {
			return check(files, stdout, stderr)
		}),
	}
}

func check(files []string, stdout, stderr io.Writer) error {
	topo, err := topology.Detect()
	if err != nil {
		// The worker budget is then not checked; everything else is.
		slog.Warn("cannot detect the CPU topology; python.workers is not checked against it", "error", err)
		topo = nil
	}
	failed := false
	for _, file := range files {
		pol, err := loadPolicy(file, topo)
		if err == nil {
			if ps := host.Unsupported(pol); ps != nil {
				err = &ps
			}
		}
		var ps *policy.Problems
		switch {
		case err == nil:
			fmt.Fprintln(stdout, summary(pol))
		case errors.As(err, &ps):
			fmt.Fprintln(stderr, ps.Error())
			failed = true
		default:
			fmt.Fprintf(stderr, "%s: %v\n", file, err)
			failed = true
		}
	}
	if failed {
		return errReported
	}
	return nil
}

// summary is the line check prints for a valid policy.
func summary(pol *policy.Policy) string {
	targets := 0
	for _, r := range pol.Routes {
		if r.Handler.Native() {
			targets++
		}
	}
	workers := "auto"
	if pol.Python.Workers > 0 {
		workers = strconv.Itoa(pol.Python.Workers)
	}
	return fmt.Sprintf("%s: ok: %s, %s, workers %s", pol.File,
		plural(len(pol.Routes), "route"), plural(targets, "python target"), workers)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
