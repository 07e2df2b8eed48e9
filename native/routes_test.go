package native_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemhost/tandem/native"
)

// writeModules writes Python modules (name → source) into a fresh folder
// and returns it. Shared-mode tests name their modules after the test: the
// main interpreter keeps every module a test imported.
func writeModules(t *testing.T, mods map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range mods {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name+".py"), []byte(src), 0o644))
	}
	return dir
}

func pyRoute(id int, target string) native.Route {
	return native.Route{ID: id, Kind: "python", Target: target, Path: fmt.Sprintf("/r%d", id)}
}

// reloadPool starts a pool on dir (and testdata/apps, for state:setup,
// which tells a module its worker) serving routes.
func reloadPool(t *testing.T, workers int, iso native.Isolation, dir string, routes ...native.Route) *native.Pool {
	t.Helper()
	return newPool(t, workers, iso, func(c *native.Config) {
		c.Path = append(c.Path, dir)
		c.Routes = routes
	})
}

// callOn runs route on worker i and returns its status and body (or log).
func callOn(t *testing.T, p *native.Pool, i, route int) (int, string) {
	t.Helper()
	resp, err := p.CallOn(i, get(route, "/x"))
	require.NoError(t, err)
	defer resp.Release()
	if resp.Status != 200 {
		return resp.Status, resp.Log
	}
	return resp.Status, string(resp.Body)
}

const reloadMods = `
def one(request):
    return {"v": "one"}

def two(request):
    return {"v": "two"}
`

// Requests from several goroutines never fail while the route table is
// replaced the way the host does it: the union of old and new routes first,
// then, once no request for an old route is running, the new ones alone.
func TestSetRoutesUnderLoad(t *testing.T) {
	dir := writeModules(t, map[string]string{
		"reload_a": reloadMods,
		"reload_b": "import time\n\ndef three(request):\n    time.sleep(0.0005)\n    return {\"v\": \"three\"}\n",
	})
	oldRoutes := []native.Route{pyRoute(0, "reload_a:one"), pyRoute(1, "reload_a:two")}
	newRoutes := []native.Route{pyRoute(2, "reload_a:one"), pyRoute(9, "reload_b:three")}
	p := reloadPool(t, 2, native.OwnGIL, dir, oldRoutes...)

	// gen is the route table the requesters use; inflight counts their
	// requests still running against it.
	type gen struct {
		want     map[int]string
		inflight atomic.Int32
	}
	var cur atomic.Pointer[gen]
	cur.Store(&gen{want: map[int]string{0: "one", 1: "two"}})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var served atomic.Int64
	for g := range 4 {
		wg.Go(func() {
			for i := g; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				gn := cur.Load()
				gn.inflight.Add(1)
				ids := make([]int, 0, 2)
				for id := range gn.want {
					ids = append(ids, id)
				}
				id := ids[i%len(ids)]
				resp, err := p.Do(context.Background(), get(id, "/x"))
				gn.inflight.Add(-1)
				if err != nil {
					t.Error(err)
					return
				}
				if resp.Status != 200 || !strings.Contains(string(resp.Body), gn.want[id]) {
					t.Errorf("route %d: status %d, body %s, log %s", id, resp.Status, resp.Body, resp.Log)
					return
				}
				resp.Release()
				served.Add(1)
			}
		})
	}
	drain := func(g *gen) {
		for g.inflight.Load() > 0 {
			time.Sleep(time.Millisecond)
		}
	}
	time.Sleep(50 * time.Millisecond)
	old := cur.Load()
	require.NoError(t, p.SetRoutes(append(append([]native.Route{}, oldRoutes...), newRoutes...)))
	cur.Store(&gen{want: map[int]string{2: "one", 9: "three"}})
	drain(old)
	require.NoError(t, p.SetRoutes(newRoutes))
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	assert.Positive(t, served.Load())
	assert.Equal(t, newRoutes, p.Config().Routes)

	// The old IDs are gone from every worker.
	for i := range 2 {
		status, log := callOn(t, p, i, 0)
		assert.Equal(t, 500, status)
		assert.Contains(t, log, "no Python route with id 0")
	}
}

// A route added by SetRoutes answers on every worker, its module imported
// then; IDs may be sparse and large.
func TestSetRoutesAddsRoute(t *testing.T) {
	dir := writeModules(t, map[string]string{
		"reload_a":   reloadMods,
		"reload_new": "def hi(request):\n    return {\"v\": \"new\"}\n",
	})
	p := reloadPool(t, 2, native.OwnGIL, dir, pyRoute(0, "reload_a:one"))
	status, log := callOn(t, p, 0, 1000000)
	require.Equal(t, 500, status)
	assert.Contains(t, log, "no Python route with id 1000000")

	require.NoError(t, p.SetRoutes([]native.Route{pyRoute(0, "reload_a:one"), pyRoute(1000000, "reload_new:hi"), pyRoute(7, "reload_a:two")}))
	for i := range 2 {
		for id, want := range map[int]string{0: "one", 1000000: "new", 7: "two"} {
			status, body := callOn(t, p, i, id)
			assert.Equal(t, 200, status, "worker %d route %d: %s", i, id, body)
			assert.Contains(t, body, want)
		}
	}
	resp, _ := do(t, p, get(1000000, "/x"))
	assert.Equal(t, 200, resp.Status)

	err := p.SetRoutes([]native.Route{pyRoute(-1, "reload_a:one")})
	assert.ErrorContains(t, err, "out of range")
}

// If one worker cannot build the new routes, none switches, and the error
// is the one NewPool gives for those routes.
func TestSetRoutesFailureKeepsOldRoutes(t *testing.T) {
	dir := writeModules(t, map[string]string{
		"reload_a": reloadMods,
		// Fails in worker 1 only: worker 0 has built its new dispatcher by
		// then, and must drop it.
		"reload_picky":  "import state\nif state.WORKER.index == 1:\n    raise RuntimeError('worker 1 refuses')\n\ndef hi(request):\n    return {}\n",
		"reload_broken": "raise RuntimeError('broken on purpose')\n",
	})
	oldRoutes := []native.Route{pyRoute(0, "reload_a:one")}
	p := reloadPool(t, 2, native.OwnGIL, dir, oldRoutes...)

	err := p.SetRoutes([]native.Route{pyRoute(0, "reload_a:one"), pyRoute(1, "reload_picky:hi"), pyRoute(2, "reload_a:two")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "worker 1:")
	assert.Contains(t, err.Error(), `cannot import module "reload_picky"`)
	assert.Contains(t, err.Error(), "worker 1 refuses")
	for i := range 2 {
		status, _ := callOn(t, p, i, 0)
		assert.Equal(t, 200, status, "worker %d", i)
		for _, id := range []int{1, 2} {
			status, log := callOn(t, p, i, id)
			assert.Equal(t, 500, status, "worker %d kept its old routes", i)
			assert.Contains(t, log, fmt.Sprintf("no Python route with id %d", id))
		}
	}
	assert.Equal(t, oldRoutes, p.Config().Routes)

	// Same text as NewPool's.
	for _, bad := range [][]native.Route{
		{pyRoute(0, "reload_a:one"), pyRoute(1, "reload_broken:hi")},
		{pyRoute(0, "reload_a:one"), pyRoute(1, "reload_a:nosuchfn")},
		{pyRoute(0, "reload_nosuchmodule:hi")},
	} {
		err := p.SetRoutes(bad)
		require.Error(t, err)
		_, want := native.NewPool(native.Config{Workers: 1, Path: []string{appsDir(t), dir}, Init: "state:setup", Routes: bad})
		require.Error(t, want)
		assert.Equal(t, want.Error(), err.Error())
	}

	// The pool still switches afterwards.
	require.NoError(t, p.SetRoutes([]native.Route{pyRoute(0, "reload_a:one"), pyRoute(2, "reload_a:two")}))
	for i := range 2 {
		status, body := callOn(t, p, i, 2)
		assert.Equal(t, 200, status)
		assert.Contains(t, body, "two")
	}
}

// A worker Restart starts after SetRoutes serves the new routes.
func TestSetRoutesThenRestart(t *testing.T) {
	dir := writeModules(t, map[string]string{"reload_a": reloadMods})
	p := reloadPool(t, 2, native.OwnGIL, dir, pyRoute(0, "reload_a:one"))
	routes := []native.Route{pyRoute(3, "reload_a:two")}
	require.NoError(t, p.SetRoutes(routes))
	before := p.Workers()[1].Interpreter
	require.NoError(t, p.Restart(1))
	require.NotEqual(t, before, p.Workers()[1].Interpreter)
	status, body := callOn(t, p, 1, 3)
	assert.Equal(t, 200, status, body)
	assert.Contains(t, body, "two")
	status, _ = callOn(t, p, 1, 0)
	assert.Equal(t, 500, status)
	assert.Equal(t, routes, p.Config().Routes)
}

// SetRoutes and Restart may be called at the same time.
func TestSetRoutesWithConcurrentRestart(t *testing.T) {
	dir := writeModules(t, map[string]string{"reload_a": reloadMods})
	p := reloadPool(t, 2, native.OwnGIL, dir, pyRoute(0, "reload_a:one"))
	var wg sync.WaitGroup
	wg.Go(func() { assert.NoError(t, p.Restart(0)) })
	wg.Go(func() {
		assert.NoError(t, p.SetRoutes([]native.Route{pyRoute(0, "reload_a:one"), pyRoute(1, "reload_a:two")}))
	})
	wg.Wait()
	for i := range 2 {
		status, body := callOn(t, p, i, 1)
		assert.Equal(t, 200, status, "worker %d: %s", i, body)
	}
}

// In shared mode every worker builds its dispatcher in the main interpreter.
func TestSetRoutesShared(t *testing.T) {
	dir := writeModules(t, map[string]string{
		"shared_reload_a":   reloadMods,
		"shared_reload_new": "def hi(request):\n    return {\"v\": \"new\"}\n",
	})
	p := reloadPool(t, 2, native.Shared, dir, pyRoute(0, "shared_reload_a:one"))
	err := p.SetRoutes([]native.Route{pyRoute(0, "shared_reload_a:one"), pyRoute(1, "shared_reload_a:nosuchfn")})
	assert.ErrorContains(t, err, "nosuchfn")
	require.NoError(t, p.SetRoutes([]native.Route{pyRoute(0, "shared_reload_a:one"), pyRoute(5, "shared_reload_new:hi")}))
	for i := range 2 {
		status, body := callOn(t, p, i, 5)
		assert.Equal(t, 200, status, "worker %d: %s", i, body)
		assert.Contains(t, body, "new")
		status, _ = callOn(t, p, i, 1)
		assert.Equal(t, 500, status)
	}
	require.NoError(t, p.SetRoutes([]native.Route{pyRoute(5, "shared_reload_new:hi")}))
	status, _ := callOn(t, p, 1, 0)
	assert.Equal(t, 500, status)
}

func TestSetRoutesClosedPool(t *testing.T) {
	p, err := native.NewPool(native.Config{Workers: 1, Path: []string{appsDir(t)}, Routes: testRoutes()})
	require.NoError(t, err)
	require.NoError(t, p.Close(context.Background()))
	assert.ErrorIs(t, p.SetRoutes(testRoutes()), native.ErrClosed)
}

// The service-time statistics of the routes that stay are kept.
func TestSetRoutesKeepsStatistics(t *testing.T) {
	p := newPool(t, 1, native.OwnGIL)
	for range 5 {
		do(t, p, get(rNoop, "/noop"))
	}
	c := p.ServiceCounter(rNoop)
	require.NotNil(t, c)
	require.Positive(t, c.Load())
	routes := append(testRoutes(), native.Route{ID: 500, Kind: "python", Target: "state:noop", Path: "/n2"})
	require.NoError(t, p.SetRoutes(routes))
	assert.Same(t, c, p.ServiceCounter(rNoop))
	require.NotNil(t, p.ServiceCounter(500))
	do(t, p, get(500, "/n2"))
	assert.Positive(t, p.ServiceCounter(500).Load())
	require.NoError(t, p.SetRoutes(routes[len(routes)-1:]))
	assert.Nil(t, p.ServiceCounter(rNoop))
}
