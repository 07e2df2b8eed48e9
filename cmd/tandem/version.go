package main

import (
	"fmt"
	"io"
	"runtime"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tandemhost/tandem/native/embedded"
	"github.com/tandemhost/tandem/sandbox"
)

func newVersion(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the versions of tandem, Go, wazero and the embedded CPython",
		Args:  cobra.NoArgs,
		RunE: work(func(cmd *cobra.Command, args []string) error {
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "tandem\t%s\n", version)
			fmt.Fprintf(tw, "go\t%s\n", runtime.Version())
			wazero := sandbox.WazeroVersion()
			if wazero == "" {
				wazero = "unknown" // a binary built without module information
			}
			fmt.Fprintf(tw, "wazero\t%s\n", wazero)
			fmt.Fprintf(tw, "cpython\t%s (embedded)\n", embedded.Version())
			return tw.Flush()
		}),
	}
}
