package native_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tandemhost/tandem/native"
)

// TestStressCycles creates and ends own-GIL workers 50 times; each cycle
// imports json, re, hashlib, datetime, decimal, sqlite3 and zlib in every
// interpreter and serves requests from several goroutines. It guards the
// interpreter lifecycle (creation under the main GIL, Py_EndInterpreter on
// the worker's own thread) against crashes and leaks.
func TestStressCycles(t *testing.T) {
	cycles := 50
	if testing.Short() {
		cycles = 5
	}
	for c := 0; c < cycles; c++ {
		p, err := native.NewPool(native.Config{Workers: 2, Isolation: native.OwnGIL,
			Path: []string{appsDir(t)}, Init: "state:setup", Routes: testRoutes()})
		require.NoError(t, err, "cycle %d", c)
		var wg sync.WaitGroup
		errs := make(chan string, 8)
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 10; i++ {
					resp, err := p.Do(context.Background(), get(rStdlib, "/stdlib"))
					if err != nil {
						errs <- err.Error()
						return
					}
					if resp.Status != 200 {
						errs <- resp.Log
						return
					}
					resp.Release()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Fatalf("cycle %d: %s", c, e)
		}
		// However the requests were spread, every interpreter imports them.
		for i := range p.Workers() {
			require.NoError(t, p.Exec(i, "import json, re, hashlib, datetime, decimal, sqlite3, zlib"), "cycle %d", c)
		}
		require.NoError(t, p.Close(context.Background()), "cycle %d", c)
	}
}
