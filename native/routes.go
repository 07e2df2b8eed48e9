package native

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// SetRoutes replaces the Python routes every worker serves, without
// restarting the workers: the hot reload of a policy whose routes changed but
// whose Python code and python settings did not. Each worker builds a
// dispatcher for routes on its own thread, between two requests, with the
// interpreter it already has: modules it imported before are taken from
// sys.modules as they are (not reloaded), modules it has not are imported.
//
// It is all or nothing. Every worker first builds its new dispatcher beside
// the one it serves; only when all of them succeeded does each switch to its
// new one and drop the old. If any failed, every new dispatcher is dropped,
// every worker keeps serving the routes it had, and the error is the one
// NewPool would give for routes (an import error, a missing function, a
// handler that cannot be bound...).
//
// A worker busy with a request finishes it first, so SetRoutes waits for the
// slowest request in progress. The workers switch one after the other: until
// SetRoutes returns, a request may be served by either set of routes, and a
// request queued before it returns is served by whichever set its worker has
// when it runs it. A route ID a worker does not know answers 500. To replace
// a route table without failing a request, call SetRoutes with the union of
// the old and new routes, send requests only to the new IDs, and once the
// requests for the old ones have finished, call it again with the new routes
// alone. Route IDs are any integers from 0 to math.MaxInt32, in any order and
// with gaps; an ID must always name the same route, and the service-time
// statistics of the IDs that stay are kept.
//
// Config().Routes and the workers Restart starts later get routes. SetRoutes
// and Restart run one at a time. On a closed pool it returns ErrClosed; if
// the pool closes while it runs, it returns ErrClosed and the workers that
// have not ended yet may serve either set.
func (p *Pool) SetRoutes(routes []Route) error {
	p.restartMu.Lock()
	defer p.restartMu.Unlock()
	if p.closed.Load() {
		return ErrClosed
	}
	if err := checkRouteIDs(routes); err != nil {
		return err
	}
	routes = cloneRoutes(routes)
	js := routesJSON(routes)
	p.wmu.Lock()
	ws := append([]*worker(nil), p.workers...)
	p.wmu.Unlock()
	t0 := time.Now()

	// Build. Shared-mode workers share one interpreter: the first imports
	// what is new, the next ones find it in sys.modules (as in NewPool).
	errs := make([]error, len(ws))
	// A worker abandoned in a handler that overran its deadline is skipped:
	// its successor starts after this returns, with the routes it leaves.
	eachWorker(ws, p.cfg.Isolation != Shared, func(i int, w *worker) {
		if !w.onThread(func() { errs[i] = cPrepareRoutes(w.c, js) }) {
			if !w.abandoned.Load() {
				errs[i] = ErrClosed
			}
		} else if errs[i] != nil {
			errs[i] = fmt.Errorf("worker %d: %w", w.index, errs[i])
		}
	})
	if err := firstErr(errs); err != nil {
		// A worker that has ended dropped its new dispatcher itself.
		eachWorker(ws, true, func(_ int, w *worker) { w.onThread(func() { cDiscardRoutes(w.c) }) })
		if p.closed.Load() {
			return ErrClosed
		}
		return err
	}

	// Switch.
	var ended atomic.Bool
	eachWorker(ws, true, func(_ int, w *worker) {
		if !w.onThread(func() { cCommitRoutes(w.c) }) && !w.abandoned.Load() {
			ended.Store(true)
		}
	})
	p.service.Store(newServiceTimes(routes, p.service.Load()))
	p.wmu.Lock()
	p.cfg.Routes = routes
	p.wmu.Unlock()
	if ended.Load() {
		return ErrClosed
	}
	p.log.Info("python routes replaced", "routes", len(routes), "workers", len(ws),
		"took", time.Since(t0).Round(time.Microsecond))
	return nil
}

// eachWorker calls f for every worker, all at once when parallel is set,
// else one after the other, and returns when every call has.
func eachWorker(ws []*worker, parallel bool, f func(i int, w *worker)) {
	if !parallel {
		for i, w := range ws {
			f(i, w)
		}
		return
	}
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Go(func() { f(i, w) })
	}
	wg.Wait()
}

// checkRouteIDs refuses IDs a request cannot carry to Python.
func checkRouteIDs(routes []Route) error {
	var errs []error
	for _, r := range routes {
		if r.ID < 0 || r.ID > math.MaxInt32 {
			errs = append(errs, fmt.Errorf("route %q: id %d is out of range (0 to %d)", r.Path, r.ID, math.MaxInt32))
		}
	}
	return errors.Join(errs...)
}

// cloneRoutes copies routes deeply enough that the caller may change its
// slices afterwards.
func cloneRoutes(routes []Route) []Route {
	out := slices.Clone(routes)
	for i := range out {
		out[i].Middleware = slices.Clone(out[i].Middleware)
		out[i].Params = slices.Clone(out[i].Params)
	}
	return out
}

// routesJSON is the configuration tandem._new_dispatcher receives.
func routesJSON(routes []Route) string {
	out := make([]Route, len(routes))
	for i, r := range routes {
		r.Middleware = nonNil(r.Middleware)
		r.Params = nonNil(r.Params)
		out[i] = r
	}
	b, _ := json.Marshal(map[string]any{"routes": out})
	return string(b)
}

// serviceTimes holds each route's recent service time in ns (an EWMA), by
// Route.ID. A table does not change once published, only its counters do:
// SetRoutes publishes a new table that shares the counters of the IDs that
// stay, so a time observed through the old table still counts.
type serviceTimes struct {
	// dense holds the counter of ID base+i at i, nil where no route has
	// that ID; sparse replaces it when the IDs are too spread out for a
	// slice.
	base   int
	dense  []*atomic.Int64
	sparse map[int]*atomic.Int64
}

// newServiceTimes returns the table for routes, with the counters of old
// (which may be nil) for the IDs both have.
func newServiceTimes(routes []Route, old *serviceTimes) *serviceTimes {
	s := &serviceTimes{}
	if len(routes) == 0 {
		return s
	}
	lo, hi := routes[0].ID, routes[0].ID
	for _, r := range routes {
		lo, hi = min(lo, r.ID), max(hi, r.ID)
	}
	counter := func(id int) *atomic.Int64 {
		if c := old.get(id); c != nil {
			return c
		}
		return new(atomic.Int64)
	}
	if span := hi - lo + 1; span <= 4*len(routes)+64 {
		s.base, s.dense = lo, make([]*atomic.Int64, span)
		for _, r := range routes {
			if s.dense[r.ID-lo] == nil {
				s.dense[r.ID-lo] = counter(r.ID)
			}
		}
		return s
	}
	s.sparse = make(map[int]*atomic.Int64, len(routes))
	for _, r := range routes {
		if s.sparse[r.ID] == nil {
			s.sparse[r.ID] = counter(r.ID)
		}
	}
	return s
}

// get returns the counter of route id, or nil when no route has that id.
func (s *serviceTimes) get(id int) *atomic.Int64 {
	if s == nil {
		return nil
	}
	if i := uint(id - s.base); i < uint(len(s.dense)) {
		return s.dense[i]
	}
	if s.sparse != nil {
		return s.sparse[id]
	}
	return nil
}
