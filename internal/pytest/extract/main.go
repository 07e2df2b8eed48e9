// Command extract extracts tandem's embedded CPython into the cache
// directory (once) and prints its prefix. Tests and the Makefile use it.
package main

import (
	"fmt"
	"os"

	"github.com/tandemhost/tandem/native/embedded"
)

func main() {
	home, err := embedded.Home(func(msg string) { fmt.Fprintln(os.Stderr, msg) })
	if err != nil {
		fmt.Fprintln(os.Stderr, "extract:", err)
		os.Exit(1)
	}
	fmt.Println(home)
}
