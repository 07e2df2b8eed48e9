// Command soak runs `tandem serve` for a few minutes under a mixed load
// with periodic reloads and checks that it levels off (make soak;
// docs/reliability.md, "Soak"):
//
//	go run ./bench/soak -bin bin/tandem -d 3m
//
// It serves a copy of bench/soak/ (policy, app, guests) on loopback with
// an admin listener, and sends an open-loop mix of Python, WSGI, Wasm
// handler and plugin-middleware requests, with slices that must fail: a
// raising Python handler (500), a Python handler past its route timeout
// (504), a looping Wasm plugin (504), a trapping plugin (500), a gate
// without its header (401) and an unknown path (404). Every -reload it
// changes the routes, a plugin or the Python code, in turn, and sends
// SIGHUP. Every -sample it records RSS, OS threads and open files (/proc)
// and goroutines, Python workers and sandbox instances (/metrics).
//
// It prints the samples as a table, writes them as CSV (-csv) and as an
// SVG chart (-svg), and exits 1 on any failed request (no answer), any
// status other than the one expected for its route, a reload that fails
// or starts workers when it should not (or not when it should), leftover
// busy instances or workers after the load, or growth: the median of the
// last third of the samples over the median of the middle third by more
// than the tolerance of each curve (see tolerances).
package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/tandemhost/tandem/bench/internal/tandemproc"
)

var (
	binary   = flag.String("bin", "bin/tandem", "the tandem binary")
	source   = flag.String("dir", "bench/soak", "the directory with the soak's policy (tandem.yaml), app/ and wasm/")
	duration = flag.Duration("d", 3*time.Minute, "how long the load runs")
	rate     = flag.Int("rate", 150, "requests per second, all kinds together (open loop)")
	conns    = flag.Int("conns", 16, "keep-alive connections")
	every    = flag.Duration("reload", 10*time.Second, "time between reloads")
	period   = flag.Duration("sample", 5*time.Second, "time between samples")
	csvPath  = flag.String("csv", "bin/soak.csv", "where to write the samples as CSV (empty: nowhere)")
	svgPath  = flag.String("svg", "docs/img/soak.svg", "where to write the chart (empty: nowhere)")
)

// kind is one kind of request of the mix: its weight in 100 and the status
// it must get.
type kind struct {
	name   string
	weight int
	method string
	host   string
	path   string
	pass   bool // send X-Pass (the gate lets it through)
	body   string
	want   int
	// late200 tolerates a 200 instead of want: a Python handler that
	// outlasts its route's timeout can still be answered 200 when the
	// request's goroutine only runs again after the handler has returned
	// (native.Pool.Do serves a response that is there), which a machine
	// busy enough to delay a goroutine by the handler's overrun does.
	// Seen before handlers were stopped at their deadline (commit
	// c87ecbb); counted and reported, not failed.
	late200 bool
}

var kinds = []kind{
	{name: "python", weight: 22, method: "GET", path: "/py/hello/soak", want: 200},
	{name: "python POST", weight: 10, method: "POST", path: "/py/echo", body: `{"n": 1}`, want: 200},
	{name: "wsgi", weight: 14, method: "GET", path: "/wsgi/a/b?x=1", want: 200},
	{name: "wasm", weight: 14, method: "GET", path: "/wasm/hello", want: 200},
	{name: "gate+python", weight: 10, method: "GET", path: "/gate/hello/soak", pass: true, want: 200},
	{name: "tenant gate+wasm", weight: 10, method: "GET", host: "acme.localhost", path: "/hello", pass: true, want: 200},
	{name: "gate refuses", weight: 3, method: "GET", path: "/gate/hello/soak", want: 401},
	{name: "not found", weight: 2, method: "GET", path: "/nope", want: 404},
	{name: "python raises", weight: 5, method: "GET", path: "/py/raise", want: 500},
	{name: "python timeout", weight: 2, method: "GET", path: "/py/slow", want: 504, late200: true},
	{name: "wasm timeout", weight: 4, method: "GET", path: "/wasm/spin", want: 504},
	{name: "plugin traps", weight: 4, method: "GET", path: "/trap/hello/soak", pass: true, want: 500},
}

// reload kinds, in turn, and what each must do to the Python workers.
var reloadKinds = []struct {
	name   string
	python string // the "python" attribute of "policy reloaded"
}{
	{"routes", "kept"},
	{"plugin", "kept"},
	{"python", "new workers"},
}

// tolerance bounds how much a curve may grow from the middle third of the
// run to the last: the median of the last third's samples may exceed the
// median of the middle third's by at most max(rel × that median, abs).
// Medians, so that a sample taken during a reload (new workers starting
// beside the old ones, a burst of goroutines) does not decide alone.
type tolerance struct {
	rel, abs float64
}

var tolerances = map[string]tolerance{
	"rss_mib":    {0.10, 8},
	"goroutines": {0.10, 10},
	"threads":    {0.10, 2},
	"fds":        {0.10, 10},
}

// sample is one row of the curve.
type sample struct {
	T          float64 // seconds since the load started
	RSSMiB     float64 // /proc VmRSS
	Threads    int
	FDs        int
	Goroutines float64 // go_goroutines
	HeapMiB    float64 // go_memstats_heap_inuse_bytes
	Workers    float64 // tandem_python_workers
	Instances  float64 // tandem_sandbox_instances, idle and busy, every pool
	Busy       float64 // tandem_sandbox_instances{state="busy"}
	CPU        float64 // the server's CPU use since the sample before, % of one CPU
	cpuTime    time.Duration
	at         time.Duration
	Requests   int64 // answered so far
	Reloads    int   // done so far
	After      bool  // taken after the load stopped
}

// setCPU sets s.CPU from the sample before it.
func (s *sample) setCPU(before []sample) {
	if len(before) == 0 {
		return
	}
	b := before[len(before)-1]
	if dt := s.at - b.at; dt > 0 {
		s.CPU = 100 * (s.cpuTime - b.cpuTime).Seconds() / dt.Seconds()
	}
}

func (s sample) get(name string) float64 {
	switch name {
	case "rss_mib":
		return s.RSSMiB
	case "goroutines":
		return s.Goroutines
	case "threads":
		return float64(s.Threads)
	case "fds":
		return float64(s.FDs)
	}
	panic(name)
}

// lastQuiet is the end of the run without reloads, so that the answers
// show what the last reload did.
const lastQuiet = 3 * time.Second

// reloadEvent is one reload the soak made.
type reloadEvent struct {
	T    float64
	Kind int
	Took string // the server's took=
}

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func run() error {
	dir, err := os.MkdirTemp("", "tandem-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	pol, err := prepare(*source, dir)
	if err != nil {
		return err
	}
	loadBefore := tandemproc.Loadavg()
	srv, err := tandemproc.Start(*binary, pol)
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			srv.Kill()
		}
	}()
	errLines := srv.Subscribe()
	errCounts := map[string]int{}
	var errMu sync.Mutex
	go func() {
		for l := range errLines {
			if l.Level == "ERROR" || strings.Contains(l.Text, "panic") {
				errMu.Lock()
				errCounts[l.Level+" "+l.Msg]++
				errMu.Unlock()
			}
		}
	}()

	fmt.Fprintf(os.Stderr, "soak: %s of load at %d req/s, a reload every %s, a sample every %s (server pid %d, %s)\n",
		*duration, *rate, *every, *period, srv.PID, srv.Addr)
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	ld := newLoad(srv.Addr)
	var wg sync.WaitGroup
	per := time.Duration(*conns) * time.Second / time.Duration(*rate)
	for c := range *conns {
		wg.Go(func() { ld.conn(ctx, c, t0.Add(time.Duration(c)*per/time.Duration(*conns)), per) })
	}

	// Samples and reloads, until the load ends.
	scrape := &http.Client{Timeout: 5 * time.Second}
	var samples []sample
	var reloads []reloadEvent
	var reloadErr error
	nextSample, nextReload := time.Duration(0), *every
	generation := 0
	pf, err := newPolicyFile(pol)
	if err != nil {
		return err
	}
	for ctx.Err() == nil && reloadErr == nil {
		now := time.Since(t0)
		if now >= nextSample {
			s, err := takeSample(scrape, srv, now, ld, len(reloads))
			if err != nil {
				return err
			}
			s.setCPU(samples)
			samples = append(samples, s)
			fmt.Fprintf(os.Stderr, "%6.0fs  RSS %6.1f MiB  threads %3d  fds %3d  goroutines %4.0f  workers %.0f  instances %2.0f  CPU %3.0f%%  requests %d\n",
				s.T, s.RSSMiB, s.Threads, s.FDs, s.Goroutines, s.Workers, s.Instances, s.CPU, s.Requests)
			nextSample += *period
		}
		if now >= nextReload && now+lastQuiet < *duration {
			k := len(reloads) % len(reloadKinds)
			if k == 2 {
				generation++
			}
			if err := pf.change(k, generation); err != nil {
				return err
			}
			at := time.Since(t0)
			l, err := srv.Reload()
			switch {
			case err != nil:
				reloadErr = fmt.Errorf("reload %d (%s): %w", len(reloads)+1, reloadKinds[k].name, err)
			case l.Attrs["python"] != reloadKinds[k].python:
				reloadErr = fmt.Errorf("reload %d (%s): python=%s, want %s", len(reloads)+1, reloadKinds[k].name,
					l.Attrs["python"], reloadKinds[k].python)
			}
			reloads = append(reloads, reloadEvent{T: at.Seconds(), Kind: k, Took: l.Attrs["took"]})
			nextReload += *every
		}
		wait := min(nextSample, nextReload) - time.Since(t0)
		select {
		case <-ctx.Done():
		case <-time.After(max(wait, 0)):
		}
	}
	cancel()
	wg.Wait()
	ran := time.Since(t0)
	// Requests in flight have ended, and the replaced policies with them:
	// what is left must be the current policy's and idle.
	time.Sleep(2 * time.Second)
	final, err := takeSample(scrape, srv, time.Since(t0), ld, len(reloads))
	if err != nil {
		return err
	}
	final.After = true
	final.setCPU(samples)
	samples = append(samples, final)
	status, err := getStatus(scrape, srv.Admin)
	if err != nil {
		return err
	}
	m, err := tandemproc.Scrape(scrape, srv.Admin)
	if err != nil {
		return err
	}
	stopErr := srv.Stop()
	stopped = true
	loadAfter := tandemproc.Loadavg()

	var problems []string
	if reloadErr != nil {
		problems = append(problems, reloadErr.Error())
	}
	if stopErr != nil {
		problems = append(problems, fmt.Sprintf("tandem serve exited with %v after SIGTERM", stopErr))
	}
	if n := m.Sum("tandem_policy_reloads_total", "result", "failed"); n > 0 {
		problems = append(problems, fmt.Sprintf("%.0f reloads failed (/metrics)", n))
	}
	problems = append(problems, ld.problems(generation)...)
	problems = append(problems, leftovers(final, status)...)
	problems = append(problems, levelling(samples)...)
	errMu.Lock()
	for msg, n := range errCounts {
		if !expectedError(msg) {
			problems = append(problems, fmt.Sprintf("the server logged %d× %q", n, msg))
		}
	}
	errMu.Unlock()

	if err := report(samples, reloads, ld, ran, loadBefore, loadAfter, m); err != nil {
		return err
	}
	if *csvPath != "" {
		if err := writeCSV(*csvPath, samples); err != nil {
			return err
		}
	}
	if *svgPath != "" {
		if err := os.MkdirAll(filepath.Dir(*svgPath), 0o755); err != nil {
			return err
		}
		svg := chart(samples, reloads, fmt.Sprintf("tandem soak: %s at %d req/s, a reload every %s (%s)",
			ran.Round(time.Second), *rate, *every, tandemproc.CPUModel()))
		if err := os.WriteFile(*svgPath, []byte(svg), 0o644); err != nil {
			return err
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("FAILED, %d problems:\n  %s", len(problems), strings.Join(problems, "\n  "))
	}
	fmt.Println("\nsoak: ok")
	return nil
}

// expectedError says whether an ERROR line is one the failing slices
// cause: a Python exception and a trapping guest.
func expectedError(msg string) bool {
	switch msg {
	case "ERROR python error", "ERROR plugin call failed":
		return true
	}
	return false
}

// prepare copies the soak's directory into dir, with the paths that lead
// out of it made absolute, and returns the policy's path.
func prepare(src, dir string) (string, error) {
	abs, err := filepath.Abs(src)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(abs, "tandem.yaml"))
	if err != nil {
		return "", err
	}
	// wasm: and path: values relative to the source directory.
	text := regexp.MustCompile(`(wasm: )((\.\./|wasm/)[^\s,}]+)`).ReplaceAllStringFunc(string(b), func(m string) string {
		rel := strings.TrimPrefix(m, "wasm: ")
		return "wasm: " + filepath.Join(abs, rel)
	})
	if err := os.MkdirAll(filepath.Join(dir, "app"), 0o755); err != nil {
		return "", err
	}
	app, err := os.ReadFile(filepath.Join(abs, "app", "soakapp.py"))
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "app", "soakapp.py"), app, 0o644); err != nil {
		return "", err
	}
	pol := filepath.Join(dir, "tandem.yaml")
	return pol, os.WriteFile(pol, []byte(text), 0o644)
}

// policyFile is the served copy, changed before each reload.
type policyFile struct {
	path, app string
	base      string
	extra     int  // the routes reload's count
	withExtra bool // whether the extra route is there now
	gate4     bool // gate's instances are 4 (else 3)
}

const gateLine = "limits: {instances: 4} # soak:"

func newPolicyFile(path string) (*policyFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(string(b), gateLine) {
		return nil, fmt.Errorf("%s: no %q to change", path, gateLine)
	}
	return &policyFile{path: path, app: filepath.Join(filepath.Dir(path), "app", "soakapp.py"), base: string(b), gate4: true}, nil
}

// change makes reload kind k's change: a route added or removed at the
// end of the file; gate's instances; the Python module's GENERATION.
func (p *policyFile) change(k, generation int) error {
	switch reloadKinds[k].name {
	case "routes":
		if p.withExtra = !p.withExtra; p.withExtra {
			p.extra++
		}
	case "plugin":
		p.gate4 = !p.gate4
	case "python":
		b, err := os.ReadFile(p.app)
		if err != nil {
			return err
		}
		re := regexp.MustCompile(`(?m)^GENERATION = \d+$`)
		if !re.Match(b) {
			return fmt.Errorf("%s: no GENERATION line", p.app)
		}
		b = re.ReplaceAll(b, []byte(fmt.Sprintf("GENERATION = %d", generation)))
		return os.WriteFile(p.app, b, 0o644)
	}
	text := p.base
	if !p.gate4 {
		text = strings.Replace(text, gateLine, "limits: {instances: 3} # soak:", 1)
	}
	if p.withExtra {
		text += fmt.Sprintf("  - {path: /extra%d/:name, methods: [GET], handler: {python: soakapp:hello}}\n", p.extra)
	}
	return os.WriteFile(p.path, []byte(text), 0o644)
}

// load is the mix's traffic and what it got.
type load struct {
	addr    string
	seq     []int // kinds in the order the connections take them
	mu      sync.Mutex
	codes   []map[int]int
	lat     [][]time.Duration
	odd     map[string]int // unexpected answers and failures, by kind and text
	late    int            // tolerated late 200s (see kind.late200)
	done    atomic.Int64
	maxGen  atomic.Int64 // the latest generation /py/hello answered with
	genSeen atomic.Int64 // answers that carried one
}

func newLoad(addr string) *load {
	l := &load{addr: addr, odd: map[string]int{}}
	// A fixed interleaving of the kinds by weight (a smooth weighted
	// round robin), so each connection sends every kind.
	cur := make([]int, len(kinds))
	total := 0
	for _, k := range kinds {
		total += k.weight
	}
	for range total {
		best := 0
		for i, k := range kinds {
			cur[i] += k.weight
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		l.seq = append(l.seq, best)
	}
	for range kinds {
		l.codes = append(l.codes, map[int]int{})
		l.lat = append(l.lat, nil)
	}
	return l
}

var generationRE = regexp.MustCompile(`"generation":\s*(\d+)`)

// conn sends requests on one keep-alive connection, one every per from
// first on, until ctx ends; a request due while the one before still runs
// goes when that one ends, and its latency counts from when it was due.
func (l *load) conn(ctx context.Context, c int, first time.Time, per time.Duration) {
	tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	for i := 0; ; i++ {
		due := first.Add(time.Duration(i) * per)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(due)):
		}
		ki := l.seq[(i*len(l.seq)/7+c*13+i)%len(l.seq)]
		k := kinds[ki]
		var body io.Reader
		if k.body != "" {
			body = strings.NewReader(k.body)
		}
		req, _ := http.NewRequest(k.method, "http://"+l.addr+k.path, body)
		if k.host != "" {
			req.Host = k.host
		}
		if k.pass {
			req.Header.Set("X-Pass", "1")
		}
		if k.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		var b []byte
		if err == nil {
			b, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		lat := time.Since(due)
		l.mu.Lock()
		switch {
		case err != nil:
			l.odd[fmt.Sprintf("%s: failed: %v", k.name, err)]++
		default:
			l.codes[ki][resp.StatusCode]++
			l.lat[ki] = append(l.lat[ki], lat)
			if resp.StatusCode == http.StatusOK && k.late200 {
				l.late++
			} else if resp.StatusCode != k.want {
				l.odd[fmt.Sprintf("%s: %d, want %d: %.200s", k.name, resp.StatusCode, k.want, b)]++
			}
		}
		l.mu.Unlock()
		if err == nil {
			l.done.Add(1)
			if m := generationRE.FindSubmatch(b); m != nil {
				g, _ := strconv.ParseInt(string(m[1]), 10, 64)
				l.genSeen.Add(1)
				for {
					cur := l.maxGen.Load()
					if g <= cur || l.maxGen.CompareAndSwap(cur, g) {
						break
					}
				}
			}
		}
	}
}

// problems lists unexpected answers and failures, and a Python reload
// that the answers never showed.
func (l *load) problems(generation int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for text, n := range l.odd {
		out = append(out, fmt.Sprintf("%d× %s", n, text))
	}
	if got := l.maxGen.Load(); got != int64(generation) {
		out = append(out, fmt.Sprintf("the last Python reload made generation %d, but the answers show %d", generation, got))
	}
	return out
}

func takeSample(client *http.Client, srv *tandemproc.Server, at time.Duration, ld *load, reloads int) (sample, error) {
	s := sample{T: math.Round(at.Seconds()), at: at, Requests: ld.done.Load(), Reloads: reloads}
	p, err := tandemproc.ReadProc(srv.PID)
	if err != nil {
		return s, err
	}
	s.RSSMiB, s.Threads, s.FDs = float64(p.RSS)/(1<<20), p.Threads, p.FDs
	s.cpuTime, _ = tandemproc.CPUTime(srv.PID)
	m, err := tandemproc.Scrape(client, srv.Admin)
	if err != nil {
		return s, err
	}
	s.Goroutines = m.Sum("go_goroutines")
	s.HeapMiB = m.Sum("go_memstats_heap_inuse_bytes") / (1 << 20)
	s.Workers = m.Sum("tandem_python_workers")
	s.Instances = m.Sum("tandem_sandbox_instances")
	s.Busy = m.Sum("tandem_sandbox_instances", "state", "busy")
	return s, nil
}

// status is the part of /status the soak reads.
type status struct {
	Workers []struct {
		Interpreter int64 `json:"interpreter"`
	} `json:"workers"`
	Plugins []struct {
		Name      string `json:"name"`
		Instances int    `json:"instances"`
		Pools     []struct {
			Tenant string `json:"tenant"`
			Size   int    `json:"size"`
			Busy   int    `json:"busy"`
		} `json:"pools"`
	} `json:"plugins"`
}

func getStatus(client *http.Client, admin string) (*status, error) {
	resp, err := client.Get("http://" + admin + "/status")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("/status: %w", err)
	}
	return &st, nil
}

// leftovers checks what runs once the load has stopped: the policy's two
// workers, no busy instance, no pool above its plugin's limit.
func leftovers(final sample, st *status) []string {
	var out []string
	if final.Workers != 2 || len(st.Workers) != 2 {
		out = append(out, fmt.Sprintf("after the load: %.0f Python workers in /metrics, %d in /status; the policy has 2", final.Workers, len(st.Workers)))
	}
	if final.Busy != 0 {
		out = append(out, fmt.Sprintf("after the load: %.0f sandbox instances still busy", final.Busy))
	}
	for _, p := range st.Plugins {
		for _, pool := range p.Pools {
			if pool.Size > p.Instances || pool.Busy != 0 {
				out = append(out, fmt.Sprintf("after the load: plugin %s, tenant %q: %d instances (%d busy), limit %d",
					p.Name, pool.Tenant, pool.Size, pool.Busy, p.Instances))
			}
		}
	}
	return out
}

// thirds splits the samples taken under load into three parts by time.
func thirds(samples []sample) (first, middle, last []sample) {
	var under []sample
	for _, s := range samples {
		if !s.After {
			under = append(under, s)
		}
	}
	n := len(under)
	return under[:n/3], under[n/3 : 2*n/3], under[2*n/3:]
}

func median(ss []sample, name string) float64 {
	if len(ss) == 0 {
		return 0
	}
	v := make([]float64, len(ss))
	for i, s := range ss {
		v[i] = s.get(name)
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// levelling compares the last third with the middle third, curve by curve.
func levelling(samples []sample) []string {
	_, middle, last := thirds(samples)
	if len(middle) < 2 || len(last) < 2 {
		return []string{fmt.Sprintf("too few samples (%d) to tell whether the curves level off: run longer or sample more often", len(samples))}
	}
	var out []string
	for _, name := range curveNames {
		t := tolerances[name]
		mid, end := median(middle, name), median(last, name)
		allowed := max(t.rel*mid, t.abs)
		if end-mid > allowed {
			out = append(out, fmt.Sprintf("%s grew from %.1f (median of the middle third) to %.1f (last third), more than the %.1f allowed",
				name, mid, end, allowed))
		}
	}
	return out
}

var curveNames = []string{"rss_mib", "goroutines", "threads", "fds"}

func report(samples []sample, reloads []reloadEvent, ld *load, ran time.Duration, loadBefore, loadAfter string, m tandemproc.Metrics) error {
	total := ld.done.Load()
	fmt.Printf("soak: %s, %s of load, %d requests answered (%.0f/s), %d reloads (%s), load average %s before, %s after\n\n",
		tandemproc.CPUModel(), ran.Round(time.Second), total, float64(total)/ran.Seconds(), len(reloads),
		reloadSummary(reloads), loadBefore, loadAfter)

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "t (s)\tRSS (MiB)\tGo heap (MiB)\tthreads\topen fds\tgoroutines\tPython workers\tinstances\tserver CPU\treloads\trequests\t")
	for _, s := range samples {
		t := fmt.Sprintf("%.0f", s.T)
		if s.After {
			t = "after"
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%d\t%d\t%.0f\t%.0f\t%.0f\t%.0f%%\t%d\t%d\t\n", t, s.RSSMiB, s.HeapMiB, s.Threads, s.FDs,
			s.Goroutines, s.Workers, s.Instances, s.CPU, s.Reloads, s.Requests)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Println()
	_, middle, last := thirds(samples)
	tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "curve\tmiddle third (median)\tlast third (median)\tgrowth\tallowed\t")
	for _, name := range curveNames {
		t := tolerances[name]
		mid, end := median(middle, name), median(last, name)
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%+.1f\t%.1f (max of %.0f%% and %.0f)\t\n", name, mid, end, end-mid,
			max(t.rel*mid, t.abs), 100*t.rel, t.abs)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Println()
	tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "request\texpected\tanswers\tp50\tp99\tother statuses\t")
	ld.mu.Lock()
	for i, k := range kinds {
		l := slices.Clone(ld.lat[i])
		slices.Sort(l)
		var other []string
		for c, n := range ld.codes[i] {
			if c != k.want {
				other = append(other, fmt.Sprintf("%d×%d", n, c))
			}
		}
		o := "—"
		if len(other) > 0 {
			o = strings.Join(other, " ")
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t\n", k.name, k.want, ld.codes[i][k.want],
			tandemproc.FmtD(tandemproc.Quantile(l, 0.5)), tandemproc.FmtD(tandemproc.Quantile(l, 0.99)), o)
	}
	ld.mu.Unlock()
	if err := tw.Flush(); err != nil {
		return err
	}
	if ld.late > 0 {
		fmt.Printf("\n%d late 200s from the timing-out Python route (tolerated: see kind.late200)\n", ld.late)
	}
	fmt.Printf("\nserver counters: %.0f traps, %.0f plugin timeouts, %.0f instances started; %.0f reloads ok, %.0f failed\n",
		m.Sum("tandem_sandbox_traps_total"), m.Sum("tandem_sandbox_timeouts_total"), m.Sum("tandem_sandbox_instantiations_total"),
		m.Sum("tandem_policy_reloads_total", "result", "ok"), m.Sum("tandem_policy_reloads_total", "result", "failed"))
	fmt.Println("(the sandbox counters are the current policy's pools only: a plugin reload starts them again)")
	return nil
}

func reloadSummary(reloads []reloadEvent) string {
	n := make([]int, len(reloadKinds))
	for _, r := range reloads {
		n[r.Kind]++
	}
	var parts []string
	for i, k := range reloadKinds {
		parts = append(parts, fmt.Sprintf("%d %s", n[i], k.name))
	}
	return strings.Join(parts, ", ")
}

func writeCSV(path string, samples []sample) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"t_s", "after_load", "rss_mib", "go_heap_inuse_mib", "threads", "fds", "goroutines",
		"python_workers", "sandbox_instances", "sandbox_busy", "server_cpu_pct", "reloads", "requests"})
	for _, s := range samples {
		_ = w.Write([]string{fmt.Sprint(s.T), strconv.FormatBool(s.After), fmt.Sprintf("%.1f", s.RSSMiB),
			fmt.Sprintf("%.1f", s.HeapMiB), strconv.Itoa(s.Threads), strconv.Itoa(s.FDs), fmt.Sprint(s.Goroutines),
			fmt.Sprint(s.Workers), fmt.Sprint(s.Instances), fmt.Sprint(s.Busy), fmt.Sprintf("%.0f", s.CPU), strconv.Itoa(s.Reloads),
			strconv.FormatInt(s.Requests, 10)})
	}
	w.Flush()
	return errors.Join(w.Error(), f.Close())
}
