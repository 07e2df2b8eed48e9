package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tandemhost/tandem/native/embedded"
)

// wazeroModule is the WebAssembly runtime's module path in the build info.
const wazeroModule = "github.com/tetratelabs/wazero"

func newVersion(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the versions of tandem, Go, wazero and the embedded CPython",
		Args:  cobra.NoArgs,
		RunE: work(func(cmd *cobra.Command, args []string) error {
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "tandem\t%s\n", version)
			fmt.Fprintf(tw, "go\t%s\n", runtime.Version())
			fmt.Fprintf(tw, "wazero\t%s\n", moduleVersion(wazeroModule))
			fmt.Fprintf(tw, "cpython\t%s (embedded)\n", embedded.Version())
			return tw.Flush()
		}),
	}
}

// moduleVersion is the version of a module linked into this binary, or
// "not linked".
func moduleVersion(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, d := range bi.Deps {
		if d.Path == path {
			if d.Replace != nil {
				return d.Replace.Version
			}
			return d.Version
		}
	}
	return "not linked"
}
