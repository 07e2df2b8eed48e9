package native_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemhost/tandem/native"
)

// floatSuite names the tests that TestFloatingWorkersPassTheSuite runs
// again with every pool floating: all that do not pin workers or walk the
// Python version matrix.
const floatSuite = `^(TestHandlerBasics|TestErrorsAreResponses|TestWorkersHaveSeparateInterpreters|` +
	`TestSharedModeUsesMainInterpreter|TestRestartWorker|TestConcurrentCallers|TestContextCancelAbandonsRequest|` +
	`TestDoAfterClose|TestCloseDrainsQueue|TestDeadline[A-Za-z]*|TestSetRoutes[A-Za-z]*|TestStress[A-Za-z]*|TestPythonUnittests)$`

// The pool's behaviour does not depend on where its workers run: the core
// tests pass again with floating workers (Config.Float).
func TestFloatingWorkersPassTheSuite(t *testing.T) {
	if os.Getenv("TANDEM_TEST_FLOAT") != "" {
		t.Skip("this run already floats")
	}
	cmd := exec.Command(os.Args[0], "-test.run", floatSuite, "-test.skip", "TestVersionMatrix", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "TANDEM_TEST_FLOAT=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the suite with floating workers failed:\n%s", out)
	assert.Contains(t, string(out), "--- PASS: TestDeadlineInterruptsEndlessLoop")
	assert.Contains(t, string(out), "--- PASS: TestSetRoutesUnderLoad")
}

const whereMod = `
import threading, _interpreters

def where(request):
    return {"thread": threading.get_ident(), "interp": _interpreters.get_current()[0]}
`

// A floating worker's interpreter runs on whichever thread its goroutine
// is on, one call at a time, and ends cleanly however many threads it ran
// on (each had a thread state of its own in it).
func TestFloatingWorkerRunsOnManyThreads(t *testing.T) {
	if !native.FloatSupported(rt) {
		t.Skipf("CPython %s runs no floating workers", rt.Version)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	for _, iso := range []native.Isolation{native.OwnGIL, native.Shared} {
		t.Run(string(iso), func(t *testing.T) {
			mod := "float_where_" + string(iso)
			dir := writeModules(t, map[string]string{mod: whereMod})
			p, err := native.NewPool(native.Config{Workers: 2, Isolation: iso, Float: true,
				Path: []string{dir}, Routes: []native.Route{pyRoute(0, mod+":where")}})
			require.NoError(t, err)
			require.True(t, p.Floating())
			var mu sync.Mutex
			threads := map[int]map[float64]bool{}
			interps := map[int]map[float64]bool{}
			var wg sync.WaitGroup
			for g := 0; g < 8; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 200; i++ {
						resp, err := p.Do(context.Background(), get(0, "/r0"))
						if !assert.NoError(t, err) || !assert.Equal(t, 200, resp.Status, resp.Log) {
							return
						}
						var v map[string]float64
						assert.NoError(t, json.Unmarshal(resp.Body, &v))
						mu.Lock()
						if threads[resp.Worker] == nil {
							threads[resp.Worker], interps[resp.Worker] = map[float64]bool{}, map[float64]bool{}
						}
						threads[resp.Worker][v["thread"]] = true
						interps[resp.Worker][v["interp"]] = true
						mu.Unlock()
						resp.Release()
					}
				}()
			}
			wg.Wait()
			for w, ids := range interps {
				assert.Len(t, ids, 1, "worker %d ran in more than one interpreter", w)
				t.Logf("worker %d ran on %d threads", w, len(threads[w]))
			}
			// Ending a worker deletes the thread states it left on other
			// threads (Py_EndInterpreter aborts the process otherwise).
			require.NoError(t, p.Restart(0))
			resp, err := p.Do(context.Background(), get(0, "/r0"))
			require.NoError(t, err)
			assert.Equal(t, 200, resp.Status, resp.Log)
			resp.Release()
			require.NoError(t, p.Close(context.Background()))
		})
	}
}

// Runtimes older than 3.14 keep a thread per worker.
func TestFloatSupported(t *testing.T) {
	assert.False(t, native.FloatSupported(&native.Runtime{Major: 3, Minor: 12}))
	assert.False(t, native.FloatSupported(&native.Runtime{Major: 3, Minor: 13}))
	assert.True(t, native.FloatSupported(&native.Runtime{Major: 3, Minor: 14}))
	assert.False(t, native.FloatSupported(nil))
}

// Floating workers cannot be pinned.
func TestFloatingRefusesCPUs(t *testing.T) {
	_, err := native.NewPool(native.Config{Workers: 1, Float: true, CPUs: []int{0}, Routes: testRoutes()})
	require.ErrorContains(t, err, "cannot be pinned")
}
