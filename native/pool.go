package native

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Isolation says where a pool's workers run Python.
type Isolation string

const (
	// OwnGIL gives each worker its own sub-interpreter with its own GIL, so
	// workers run Python in parallel (CPython >= 3.12).
	OwnGIL Isolation = "own_gil"
	// Shared runs every worker in the main interpreter under one GIL: the
	// fallback for extensions that refuse sub-interpreters, and for 3.11.
	Shared Isolation = "shared"
)

// Route is one Python target as the worker interpreters load it.
type Route struct {
	// ID is what Request.Route carries.
	ID int `json:"id"`
	// Kind is "python" (a tandem handler) or "wsgi" (a PEP 3333 app).
	Kind string `json:"kind"`
	// Target is "module:function".
	Target string `json:"target"`
	// Middleware are Python middleware "module:function", outermost first.
	Middleware []string `json:"middleware"`
	// Path is the route template in Echo syntax; Params its parameter names.
	Path   string   `json:"path"`
	Params []string `json:"params"`
}

// Config describes a pool.
type Config struct {
	// Workers is the number of workers (at least 1).
	Workers int
	// Isolation is OwnGIL or Shared.
	Isolation Isolation
	// CPUs, when not nil, gives each worker the logical CPU its thread is
	// pinned to; -1 leaves a worker unpinned.
	CPUs []int
	// Float runs the workers on the Go scheduler's threads instead of an
	// OS thread each (see float.go); CPUs must then be nil.
	Float bool
	// Path is prepended to sys.path in every interpreter.
	Path []string
	// Init is an optional "module:function" called once per interpreter.
	Init string
	// Routes are the Python routes every worker serves.
	Routes []Route
	// Spin is how long an idle worker keeps polling for work before it
	// sleeps; waking a sleeping locked thread costs several microseconds.
	// 0 means DefaultSpin; negative disables spinning.
	Spin time.Duration
	// SpinBudget caps how many threads may busy-poll at once (idle
	// workers and requesters together); 0 means one less than the usable
	// CPUs, at least 1. More pollers than spare CPUs makes the OS time-slice
	// them against the threads doing work, which costs milliseconds.
	SpinBudget int
	// CallerSpin is how long a requester polls for its response, yielding
	// its P between polls, before it sleeps. It applies only while a worker
	// is free and the route usually answers within that time: waking a
	// sleeping goroutine on an idle P costs tens of microseconds on a VM.
	// 0 means DefaultCallerSpin; negative disables it.
	CallerSpin time.Duration
	// Queue bounds the requests waiting for a worker; 0 means 64 per worker.
	Queue int
	// InterruptGrace bounds how long a handler still running at its
	// request's deadline may hold its worker. At the deadline the pool
	// raises tandem.HandlerTimeout in it (see deadline.go); a worker whose
	// handler has not returned InterruptGrace after the deadline (C code
	// holding the GIL, a blocking call, a handler that caught the
	// exception) is replaced by a fresh one and its thread abandoned.
	// (The grace is counted from when the pool saw the deadline pass,
	// which on a loaded machine can be a little after it.)
	// 0 means DefaultInterruptGrace; negative turns both off, leaving an
	// overrunning handler to finish on its own.
	InterruptGrace time.Duration
	// Logger receives lifecycle events; nil means slog.Default().
	Logger *slog.Logger
}

// FloatSupported says whether rt can run floating workers (Config.Float):
// CPython 3.14, the embedded default, which passes the pool's suite with
// every pool floating, under load. Older versions are best effort (3.12.1
// corrupts its heap in the pool's concurrency test even with a thread per
// worker) and keep a thread per worker.
func FloatSupported(rt *Runtime) bool {
	return rt != nil && (rt.Major > 3 || rt.Major == 3 && rt.Minor >= 14)
}

// floatAll makes every pool that pins no worker float. The package's tests
// set it (TANDEM_TEST_FLOAT=1) to run the suite with floating workers.
var floatAll bool

// DefaultSpin is how long an idle worker polls before sleeping.
const DefaultSpin = 50 * time.Microsecond

// DefaultCallerSpin is how long a requester polls for a fast response.
const DefaultCallerSpin = 50 * time.Microsecond

// DefaultInterruptGrace is how long after its deadline a handler may take
// to stop before its worker is replaced.
const DefaultInterruptGrace = time.Second

// ErrClosed is returned by Do once the pool is closing.
var ErrClosed = errors.New("the worker pool is closed")

var livePools atomic.Int64

// Pool runs Python requests on a fixed set of workers. Do may be called from
// any number of goroutines.
type Pool struct {
	cfg   Config
	rt    *Runtime
	log   *slog.Logger
	queue chan *job
	src   string
	// closed is set once by Close; closing is closed then, to release
	// requesters waiting for queue space. senders counts Do calls between
	// their check of closed and the end of their send: Close closes the
	// queue only once it is zero, so no send can hit a closed channel.
	closed    atomic.Bool
	closing   chan struct{}
	senders   atomic.Int32
	closeOnce sync.Once
	// stopped is closed when every worker has ended, abandoned ones too,
	// and the pool's resources are released.
	stopped chan struct{}
	// wmu guards workers, and cfg.Routes for the readers that do not hold
	// restartMu (Config): SetRoutes holds both to change it.
	wmu sync.Mutex
	// restartMu serializes Restart and SetRoutes.
	restartMu sync.Mutex
	workers   []*worker
	// wg counts the workers that are not abandoned; abandoned holds the
	// abandoned ones that have not ended yet (see deadline.go). amu guards
	// abandoned, drained and released, and every worker's switch between
	// the two (worker.accounted).
	wg        sync.WaitGroup
	amu       sync.Mutex
	abandoned map[*worker]abandonment
	drained   bool // shutdown saw every worker that is not abandoned end
	released  bool
	// slots counts, per worker index, what deadlines did to its workers.
	slots []slotStats
	// deadlines counts the same for the whole pool.
	deadlines struct{ overran, interrupted, replaced, drainFailed atomic.Uint64 }
	// startTime is how long creating every worker took.
	startTime time.Duration
	// pending counts queued requests, in C memory so idle workers can poll
	// it from C (see tdm_spin_wait).
	pending *int32
	// inflight counts requests between Do's enqueue and its return.
	inflight atomic.Int32
	// probes counts requests that woke a worker; see callerProbe.
	probes atomic.Uint32
	// stats counts what the hand-off did.
	stats struct{ wakes, slowReplies atomic.Uint64 }
	// running is a snapshot of workers for lock-free reads (freshWorkers);
	// it is replaced whenever workers is.
	running atomic.Pointer[[]*worker]
	// spinners counts threads busy-polling (idle workers waiting for work,
	// requesters waiting for a fast response); spinBudget caps it so that
	// polling never takes the CPUs the workers and the HTTP side need.
	spinners   atomic.Int32
	spinBudget int32
	// idle holds the parked workers; see handoff.go.
	idle idleWorkers
	// reaper wakes sleeping requesters; see reaper.go.
	reaper *reaper
	// service holds each route's recent service time, to decide whether a
	// requester should poll; SetRoutes replaces it.
	service atomic.Pointer[serviceTimes]
}

// NewPool starts cfg.Workers workers on the initialized runtime. It returns
// when every worker has imported its routes, or with the first error (then
// nothing is left running).
func NewPool(cfg Config) (*Pool, error) {
	rt := Loaded()
	if rt == nil || !proc.initialized {
		return nil, errors.New("the Python runtime is not initialized")
	}
	if cfg.Workers < 1 {
		return nil, fmt.Errorf("a pool needs at least one worker, got %d", cfg.Workers)
	}
	if cfg.Isolation == "" {
		cfg.Isolation = OwnGIL
	}
	if cfg.Isolation != OwnGIL && cfg.Isolation != Shared {
		return nil, fmt.Errorf("unknown isolation %q (want %q or %q)", cfg.Isolation, OwnGIL, Shared)
	}
	if cfg.Isolation == OwnGIL && !rt.OwnGIL() {
		return nil, fmt.Errorf("CPython %s cannot run own-GIL sub-interpreters (3.12 or later can); use isolation: shared", rt.Version)
	}
	if cfg.CPUs != nil && len(cfg.CPUs) != cfg.Workers {
		return nil, fmt.Errorf("%d CPUs given for %d workers", len(cfg.CPUs), cfg.Workers)
	}
	if floatAll && cfg.CPUs == nil {
		cfg.Float = true
	}
	if cfg.Float && !FloatSupported(rt) {
		cfg.Float = false
		log := cfg.Logger
		if log == nil {
			log = slog.Default()
		}
		log.Warn("python workers run on threads of their own, not floating: floating workers need CPython 3.14 or later",
			"python", rt.Version)
	}
	if cfg.Float {
		if cfg.CPUs != nil {
			return nil, errors.New("floating workers cannot be pinned to CPUs")
		}
		// Nothing to poll for: the hand-off needs no thread to wake.
		cfg.Spin, cfg.CallerSpin = -1, -1
	}
	if cfg.Spin == 0 {
		cfg.Spin = DefaultSpin
	}
	if cfg.CallerSpin == 0 {
		cfg.CallerSpin = DefaultCallerSpin
	}
	if cfg.SpinBudget <= 0 {
		cfg.SpinBudget = max(1, usableCPUs()-1)
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 64 * cfg.Workers
	}
	if cfg.InterruptGrace == 0 {
		cfg.InterruptGrace = DefaultInterruptGrace
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := checkRouteIDs(cfg.Routes); err != nil {
		return nil, err
	}
	cfg.Routes = cloneRoutes(cfg.Routes)
	p := &Pool{cfg: cfg, rt: rt, log: cfg.Logger, queue: make(chan *job, cfg.Queue), src: moduleSource,
		closing: make(chan struct{}), stopped: make(chan struct{}),
		pending: cAllocCounter(), spinBudget: int32(cfg.SpinBudget),
		abandoned: map[*worker]abandonment{}, slots: make([]slotStats, cfg.Workers)}
	p.service.Store(newServiceTimes(cfg.Routes, nil))
	r, err := newReaper()
	if err != nil {
		cFreeCounter(p.pending)
		return nil, fmt.Errorf("creating the pool's eventfd: %w", err)
	}
	p.reaper = r
	livePools.Add(1)
	// Own-GIL workers start at once: CPython creates the interpreters one
	// at a time under the main GIL, but each then imports the tandem module
	// and the application under its own GIL, in parallel with the others.
	// Shared-mode workers share one interpreter and so one copy of those
	// modules, which the first must finish importing before the next uses
	// them: they start one after the other.
	t0 := time.Now()
	p.workers = make([]*worker, cfg.Workers)
	p.running.Store(&[]*worker{})
	errs := make([]error, cfg.Workers)
	var wg sync.WaitGroup
	for i := range cfg.Workers {
		wg.Add(1)
		start := func() {
			defer wg.Done()
			p.workers[i], errs[i] = p.startWorker(i)
		}
		if cfg.Isolation == Shared {
			start()
		} else {
			go start()
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		var started []*worker
		for _, w := range p.workers {
			if w != nil {
				started = append(started, w)
			}
		}
		p.workers = started
		p.Close(context.Background())
		return nil, firstErr(errs)
	}
	p.publishWorkers()
	p.startTime = time.Since(t0)
	p.log.Info("python workers started", "workers", cfg.Workers, "isolation", string(cfg.Isolation),
		"python", rt.Version, "took", p.startTime.Round(time.Microsecond))
	return p, nil
}

// publishWorkers updates the lock-free snapshot of the workers.
func (p *Pool) publishWorkers() {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	p.publishWorkersLocked()
}

func (p *Pool) publishWorkersLocked() {
	ws := append([]*worker(nil), p.workers...)
	p.running.Store(&ws)
}

// firstErr returns the error of the lowest-numbered worker that failed: all
// workers load the same code, so the others usually say the same.
func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// StartTime is how long NewPool took to create every worker.
func (p *Pool) StartTime() time.Duration { return p.startTime }

// Config returns the configuration the pool runs; its Routes are the last
// ones SetRoutes gave, if it was called.
func (p *Pool) Config() Config {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	return p.cfg
}

func (p *Pool) cpu(i int) int {
	if p.cfg.CPUs == nil {
		return -1
	}
	return p.cfg.CPUs[i]
}

// setupJSON is the interpreter set-up tandem._setup_interpreter receives.
func (p *Pool) setupJSON(index, cpu int) string {
	var cpuVal any
	if cpu >= 0 {
		cpuVal = cpu
	}
	var init any
	if p.cfg.Init != "" {
		init = p.cfg.Init
	}
	var exe any
	if p.rt.Executable != "" {
		exe = p.rt.Executable
	}
	b, _ := json.Marshal(map[string]any{
		"path":          nonNil(p.cfg.Path),
		"site_packages": nonNil(p.rt.SitePackages),
		"executable":    exe,
		"init":          init,
		"worker":        map[string]any{"index": index, "cpu": cpuVal, "count": p.cfg.Workers},
		"isolation":     string(p.cfg.Isolation),
	})
	return string(b)
}

// routesJSON is the current routes' configuration for a starting worker;
// the caller is NewPool or holds restartMu, so cfg.Routes does not change.
func (p *Pool) routesJSON() string { return routesJSON(p.cfg.Routes) }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Do runs req on a free worker and waits for its response. If ctx ends
// first, Do returns ctx.Err(); a request still queued is then never run,
// and one already running is interrupted at ctx's deadline (see
// deadline.go) if it is still running then.
func (p *Pool) Do(ctx context.Context, req *Request) (*Response, error) {
	j := getJob()
	j.meta = appendMeta(j.meta[:0], req)
	j.body = req.Body
	j.route = req.Route
	j.requestID = req.RequestID
	p.senders.Add(1)
	if p.closed.Load() {
		p.senders.Add(-1)
		putJob(j)
		return nil, ErrClosed
	}
	// Announce the job before sending it, so a worker polling in C starts
	// looking at the queue as early as possible.
	atomic.AddInt32(p.pending, 1)
	j.queued = nanotime()
	select {
	case p.queue <- j:
		p.senders.Add(-1)
	default:
		// The queue is full: wait for room, the caller's deadline, or Close.
		select {
		case p.queue <- j:
			p.senders.Add(-1)
		case <-ctx.Done():
			atomic.AddInt32(p.pending, -1)
			p.senders.Add(-1)
			putJob(j)
			return nil, ctx.Err()
		case <-p.closing:
			atomic.AddInt32(p.pending, -1)
			p.senders.Add(-1)
			putJob(j)
			return nil, ErrClosed
		}
	}
	woke := p.wakeIfNeeded(req.Route)
	inflight := p.inflight.Add(1)
	defer p.inflight.Add(-1)
	// A requester does not poll for a worker it had to wake (that worker
	// may need the CPU the poll would hold), except as an occasional probe:
	// without it, a fast ping-pong that once slowed down (a sleeping worker
	// woken for a sleeping requester) would stay slow, each side seeing the
	// other come back too late to be worth waiting for.
	probe := woke && p.probes.Add(1)%callerProbe == 0
	if (!woke || probe) && p.shouldPoll(req.Route, inflight) && p.acquireSpin(func() bool { return j.state.Load() != jobPending }) {
		// A plain loop, not runtime.Gosched: each Gosched wakes an idle P's
		// thread (a futex wake, tens of µs on a VM) whenever one is idle.
		wait := p.cfg.CallerSpin
		if woke {
			wait += wakeCost
		}
		deadline := nanotime() + int64(wait)
		for i := 1; j.state.Load() == jobPending; i++ {
			if i%64 == 0 && nanotime() > deadline {
				break
			}
		}
		p.spinners.Add(-1)
	}
	if j.state.Load() != jobDone && j.state.CompareAndSwap(jobPending, jobParked) {
		select {
		case <-j.done:
		case <-ctx.Done():
			if j.state.CompareAndSwap(jobParked, jobAbandoned) {
				// A worker that took the job set runner before it looked
				// at the state, so it is seen here unless the worker saw
				// the job abandoned and will not run it. The job is not
				// recycled before both sides released it.
				if w := j.runner.Load(); w != nil {
					p.overran(ctx, w, j.seq.Load(), j.route, j.requestID)
				}
				if j.release() {
					putJob(j)
				}
				return nil, ctx.Err()
			}
			<-j.done
		}
	}
	resp, err := j.resp, j.err
	putJob(j)
	return resp, err
}

// shouldPoll says whether a requester should poll for its response rather
// than sleep: only when a worker is likely free (no more requests in flight
// than workers) and the route usually answers within CallerSpin. Polling
// when either is false would take CPU from the workers for nothing. (Do also
// never polls for a worker it had to wake: that worker may need the very CPU
// the poll would hold.)
func (p *Pool) shouldPoll(route int, inflight int32) bool {
	if p.cfg.CallerSpin <= 0 || int(inflight) > p.cfg.Workers {
		return false
	}
	s := p.service.Load().get(route)
	return s != nil && s.Load() < int64(p.cfg.CallerSpin)
}

// observe folds one service time into the route's moving average.
func (p *Pool) observe(route int, d time.Duration) {
	s := p.service.Load().get(route)
	if s == nil {
		return
	}
	old := s.Load()
	s.Store(old + (int64(d)-old)/8)
}

// Close stops taking requests, lets the workers finish every queued one,
// then ends every interpreter. It waits for that unless ctx ends first; the
// workers then still finish, and a later Close waits for them again. Workers
// abandoned in a handler that did not stop (see deadline.go) are waited for
// too, within ctx only: the error then names them. Until every one has
// ended, the pool counts as open and Finalize refuses to run.
func (p *Pool) Close(ctx context.Context) error {
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		close(p.closing)
		go p.shutdown()
	})
	select {
	case <-p.stopped:
		return nil
	case <-ctx.Done():
		if stuck := p.stuckWorkers(); stuck != "" {
			return fmt.Errorf("stopping python workers: %w; %s", ctx.Err(), stuck)
		}
		return fmt.Errorf("stopping python workers: %w", ctx.Err())
	}
}

// shutdown closes the queue once no Do is sending, waits for the workers to
// drain it and end, and releases the pool's resources.
func (p *Pool) shutdown() {
	for p.senders.Load() > 0 {
		time.Sleep(50 * time.Microsecond) // a send in flight, or leaving on p.closing
	}
	close(p.queue) // workers drain what is queued, then stop
	p.wakeAll()
	p.wg.Wait()
	p.amu.Lock()
	p.drained = true
	p.amu.Unlock()
	p.releaseIfDone()
}

// releaseIfDone releases the pool's resources once shutdown has seen the
// workers end and no abandoned worker is left. An abandoned worker touches
// none of them, but its interpreter must end before Finalize may run.
func (p *Pool) releaseIfDone() {
	p.amu.Lock()
	if !p.drained || len(p.abandoned) > 0 || p.released {
		p.amu.Unlock()
		return
	}
	p.released = true
	p.amu.Unlock()
	p.reaper.stop()
	cFreeCounter(p.pending)
	livePools.Add(-1)
	p.log.Info("python workers stopped", "workers", p.cfg.Workers)
	close(p.stopped)
}

// Restart replaces worker i with a fresh interpreter: the new worker starts
// first, then the old one finishes its current request and ends, so the pool
// never has fewer workers than configured. The new worker serves the routes
// the pool serves now, the last ones SetRoutes gave if it was called.
func (p *Pool) Restart(i int) error {
	p.restartMu.Lock() // one restart at a time
	defer p.restartMu.Unlock()
	if i < 0 || i >= len(p.workers) {
		return fmt.Errorf("no worker %d (the pool has %d)", i, len(p.workers))
	}
	if p.closed.Load() {
		return ErrClosed
	}
	nw, err := p.startWorker(i)
	if err != nil {
		return fmt.Errorf("restarting worker %d: %w", i, err)
	}
	p.wmu.Lock()
	old := p.workers[i]
	p.workers[i] = nw
	p.publishWorkersLocked()
	p.wmu.Unlock()
	old.retire()
	// It finishes the request it is running, if any, unless that request
	// overran its deadline and the worker was abandoned in it.
	select {
	case <-old.ended:
	case <-old.abandonedCh:
	}
	p.log.Info("python worker restarted", "worker", i, "interpreter", nw.interpID)
	return nil
}

// WorkerInfo describes one worker for status pages and tests.
type WorkerInfo struct {
	Index int `json:"index"`
	CPU   int `json:"cpu"`
	// ThreadID is the OS thread the worker runs on, or 0 when it floats.
	ThreadID    int           `json:"thread_id"`
	Interpreter int64         `json:"interpreter"`
	Served      uint64        `json:"served"`
	Busy        time.Duration `json:"busy_ns"`
	// Interrupted counts the handlers on this worker slot that overran
	// their deadline and stopped when tandem.HandlerTimeout was raised in
	// them; Replaced the workers of this slot replaced because a handler
	// did not stop. Both add up over the slot's workers.
	Interrupted uint64 `json:"interrupted"`
	Replaced    uint64 `json:"replaced"`
}

// Workers describes the current workers.
func (p *Pool) Workers() []WorkerInfo {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	out := make([]WorkerInfo, len(p.workers))
	for i, w := range p.workers {
		out[i] = WorkerInfo{Index: w.index, CPU: w.cpu, ThreadID: w.tid, Interpreter: w.interpID,
			Served: w.served.Load(), Busy: time.Duration(w.busy.Load()),
			Interrupted: p.slots[i].interrupted.Load(), Replaced: p.slots[i].replaced.Load()}
	}
	return out
}

// HandoffStats counts how requests crossed between requesters and workers.
type HandoffStats struct {
	// Wakes is how many times a requester (or a worker) woke a sleeping
	// worker: each costs a futex wake and a thread hand-off.
	Wakes uint64 `json:"wakes"`
	// SlowReplies is how many responses went to a sleeping requester
	// through the reaper rather than to one polling for it.
	SlowReplies uint64 `json:"slow_replies"`
}

// Handoff returns the pool's hand-off counters.
func (p *Pool) Handoff() HandoffStats {
	return HandoffStats{Wakes: p.stats.wakes.Load(), SlowReplies: p.stats.slowReplies.Load()}
}

// QueueDepth is the number of requests waiting for a worker.
func (p *Pool) QueueDepth() int { return len(p.queue) }

// Exec runs Python source in worker i's interpreter (for tests and
// diagnostics); it waits for the worker to be free.
func (p *Pool) Exec(i int, src string) error {
	p.wmu.Lock()
	if i < 0 || i >= len(p.workers) {
		p.wmu.Unlock()
		return fmt.Errorf("no worker %d", i)
	}
	w := p.workers[i]
	p.wmu.Unlock()
	var err error
	if !w.onThread(func() { err = cExec(w.c, src) }) {
		return fmt.Errorf("worker %d has stopped", i)
	}
	return err
}

// Job states. A requester polls while the job is pending; one that goes to
// sleep marks it parked so the worker knows to wake it; one that gives up
// marks it abandoned, and the worker then neither runs it nor hands its
// result to anyone, and recycles it.
const (
	jobPending int32 = iota
	jobDone
	jobParked
	jobAbandoned
)

type job struct {
	route     int
	requestID string
	queued    int64 // nanotime() when Do queued it
	meta      []byte
	body      []byte
	state     atomic.Int32
	done      chan struct{}
	resp      *Response
	err       error
	// runner is the worker that took the job and seq the number it gave
	// it, both set before the worker looks at state: a requester that
	// abandons the job reads them to interrupt it at its deadline.
	runner atomic.Pointer[worker]
	seq    atomic.Uint64
	// refs counts who still uses an abandoned job: the requester, which
	// reads runner after abandoning it, and the worker. The last one to
	// release it recycles it (a job that is not abandoned is recycled by
	// its requester alone).
	refs atomic.Int32
}

var jobs = sync.Pool{New: func() any { return &job{done: make(chan struct{}, 1), meta: make([]byte, 0, 512)} }}

func getJob() *job {
	j := jobs.Get().(*job)
	j.state.Store(jobPending)
	j.runner.Store(nil)
	j.refs.Store(2)
	return j
}

// release drops one user's reference to an abandoned job and reports
// whether it was the last, which then recycles the job.
func (j *job) release() bool { return j.refs.Add(-1) == 0 }

func putJob(j *job) {
	j.body, j.resp, j.err, j.requestID = nil, nil, nil, ""
	if cap(j.meta) > 64<<10 {
		j.meta = make([]byte, 0, 512)
	}
	jobs.Put(j)
}
