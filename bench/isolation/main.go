// Command isolation measures tenant isolation under load (make
// bench-isolation; docs/reliability.md, "Tenant isolation"): it serves
// bench/isolation/tandem.yaml with `tandem serve`, gives tenants b (a Wasm
// handler) and c (a Python handler) a steady open-loop load, and floods
// tenant a in some phases of the run: with /hello requests far above a's
// rate limit (429s) and, in one phase, with /spin requests for a looping
// plugin whose pool holds one instance (503s once the pool is exhausted,
// 504 for the call the timeout stops). Phases alternate in rounds, so the
// unloaded and flooded numbers come from the same run, side by side:
//
//	go run ./bench/isolation -bin bin/tandem [-rounds 5 -phase 5s]
//
// It prints b's and c's p50 and p99 in each phase with the ratio to the
// unloaded phase, what a got, and where the machine's CPU went. A control
// phase burns one CPU in another process instead of flooding a: what CPU
// contention alone does to b and c on this machine. It exits
// 1 when b or c get anything but their own 200, or a does not get 503s
// and 429s; with -strict, also when a ratio is over -max-ratio.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/tandemhost/tandem/bench/internal/tandemproc"
)

var (
	binary     = flag.String("bin", "bin/tandem", "the tandem binary")
	policyFile = flag.String("policy", "bench/isolation/tandem.yaml", "the policy to serve")
	phaseLen   = flag.Duration("phase", 5*time.Second, "length of each phase")
	settle     = flag.Duration("settle", 1500*time.Millisecond, "start of each phase left out of the statistics (a's requests still in flight end)")
	warmup     = flag.Duration("warmup", 2*time.Second, "steady load before the first phase")
	rounds     = flag.Int("rounds", 5, "rounds of the phases")
	rate       = flag.Int("rate", 100, "requests per second to each of b and c (open loop)")
	conns      = flag.Int("conns", 4, "keep-alive connections for each of b and c")
	spinRate   = flag.Int("spin-rate", 100, "a's requests per second to /spin in the pool phase")
	floodRate  = flag.Int("flood-rate", 400, "a's requests per second to /hello in the flood phases")
	maxRatio   = flag.Float64("max-ratio", 2, "the bound on flooded / unloaded latency")
	strict     = flag.Bool("strict", false, "exit 1 when a flooded p50 or p99 of b or c is over max-ratio × its unloaded value")
)

// phase is what a is sent during one part of a round.
type phase struct {
	name  string
	spin  bool // /spin at spinRate: a's pool is exhausted (503)
	flood bool // /hello at floodRate: over a's rate limit (429)
	// burn runs a busy loop in another process instead: the control,
	// which takes about the CPU a's looping instance takes, without
	// tandem, to tell CPU contention from anything tandem does.
	burn bool
}

var phases = []phase{
	{name: "unloaded"},
	{name: "a: 429 flood", flood: true},
	{name: "a: 503+429 flood", spin: true, flood: true},
	{name: "control: 1 CPU busy outside tandem", burn: true},
}

// burnEnv makes the program a busy loop (the control phase's process).
const burnEnv = "TANDEM_ISOLATION_BURN"

var sink uint64

// steady are the tenants with a steady load, and what their answer holds.
var steady = []struct {
	name, host, kind, want string
}{
	{"b", "b.localhost", "Wasm", "hello from wasm"},
	{"c", "c.localhost", "Python", `"c.localhost"`},
}

// window is one phase of one round, from the start of the run.
type window struct {
	phase      int
	start, end time.Duration
	// CPU used from start+settle to end: by tandem, by this program, by
	// the whole machine (summed over CPUs).
	tandemCPU, selfCPU, machineCPU, wall time.Duration
}

type sample struct {
	tenant  int
	due     time.Duration
	latency time.Duration
	bad     string // "" for the tenant's own 200
}

func main() {
	if os.Getenv(burnEnv) != "" {
		for {
			sink = sink*6364136223846793005 + 1
		}
	}
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "isolation:", err)
		os.Exit(1)
	}
}

func run() error {
	loadBefore := tandemproc.Loadavg()
	srv, err := tandemproc.Start(*binary, *policyFile)
	if err != nil {
		return err
	}
	defer func() { _ = srv.Stop() }()
	placement := ""
	for l := range strings.SplitSeq(srv.Log(), "\n") {
		if p := tandemproc.ParseLine(l); p.Msg == "placement" {
			placement = p.Attrs["plan"]
		}
	}

	var windows []window
	at := *warmup
	for range *rounds {
		for p := range phases {
			windows = append(windows, window{phase: p, start: at, end: at + *phaseLen})
			at += *phaseLen
		}
	}
	total := at

	t0 := time.Now()
	since := func() time.Duration { return time.Since(t0) }
	ctx, cancel := context.WithTimeout(context.Background(), total)
	defer cancel()

	// The steady load: each connection sends on a fixed schedule, and a
	// request's latency counts from when it was due, so a late answer
	// delays no measurement behind it.
	var mu sync.Mutex
	var samples []sample
	var wg sync.WaitGroup
	per := time.Duration(*conns) * time.Second / time.Duration(*rate)
	for ti, st := range steady {
		for c := range *conns {
			first := time.Duration(ti*(*conns)+c) * per / time.Duration(len(steady)*(*conns))
			wg.Go(func() {
				out := steadyLoad(ctx, srv.Addr, ti, st.host, st.want, first, per, since)
				mu.Lock()
				samples = append(samples, out...)
				mu.Unlock()
			})
		}
	}

	// a's floods, and the CPU accounting of each window.
	fl := newFlood(srv.Addr, len(windows))
	for wi := range windows {
		w := &windows[wi]
		sleepUntil(since, w.start)
		ph := phases[w.phase]
		fmt.Fprintf(os.Stderr, "%5.1fs  %s\n", since().Seconds(), ph.name)
		end := t0.Add(w.end)
		if ph.flood {
			wg.Go(func() { fl.leg(wi, "/hello", *floodRate, end) })
		}
		if ph.spin {
			wg.Go(func() { fl.leg(wi, "/spin", *spinRate, end) })
		}
		if ph.burn {
			if err := burn(end); err != nil {
				return err
			}
		}
		sleepUntil(since, w.start+*settle)
		c0 := cpuNow(srv.PID)
		sleepUntil(since, w.end)
		c1 := cpuNow(srv.PID)
		w.tandemCPU, w.selfCPU, w.machineCPU, w.wall = c1.tandem-c0.tandem, c1.self-c0.self, c1.machine-c0.machine, c1.at.Sub(c0.at)
	}
	wg.Wait()
	fl.wait()
	loadAfter := tandemproc.Loadavg()

	m, err := tandemproc.Scrape(http.DefaultClient, srv.Admin)
	if err != nil {
		return err
	}
	return report(samples, windows, fl, m, placement, loadBefore, loadAfter)
}

// burn runs this program as a busy loop (one thread) until end.
func burn(end time.Time) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), burnEnv+"=1")
	if err := cmd.Start(); err != nil {
		return err
	}
	time.AfterFunc(time.Until(end), func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return nil
}

func sleepUntil(since func() time.Duration, at time.Duration) {
	if d := at - since(); d > 0 {
		time.Sleep(d)
	}
}

type cpuSample struct {
	at                    time.Time
	tandem, self, machine time.Duration
}

func cpuNow(pid int) cpuSample {
	s := cpuSample{at: time.Now()}
	s.tandem, _ = tandemproc.CPUTime(pid)
	s.self, _ = tandemproc.CPUTime(os.Getpid())
	s.machine, _, _ = tandemproc.MachineCPU()
	return s
}

func steadyLoad(ctx context.Context, addr string, tenant int, host, want string, first, per time.Duration,
	since func() time.Duration) []sample {
	tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", "http://"+addr+"/hello", nil)
	req.Host = host
	var out []sample
	for i := 0; ; i++ {
		due := first + time.Duration(i)*per
		if d := due - since(); d > 0 {
			select {
			case <-ctx.Done():
				return out
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			return out
		}
		s := sample{tenant: tenant, due: due}
		resp, err := client.Do(req)
		var body []byte
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		s.latency = since() - due
		switch {
		case err != nil:
			s.bad = err.Error()
		case resp.StatusCode != http.StatusOK:
			s.bad = fmt.Sprintf("status %d: %s", resp.StatusCode, body)
		case !strings.Contains(string(body), want):
			s.bad = fmt.Sprintf("another answer than the tenant's own: %s", body)
		}
		out = append(out, s)
	}
}

// flood sends a's requests: each leg at its rate with random (Poisson)
// arrivals, so that the legs do not lock into step and one of them take
// every token of a's bucket; each request in its own goroutine (a flood
// does not wait for answers), at most maxInFlight at once.
type flood struct {
	addr   string
	client *http.Client
	sem    chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex
	codes   []map[string]map[int]int // per window, path, status
	errs    []map[string]int         // per window: transport errors by text
	skipped atomic.Int64             // not sent: maxInFlight reached
}

const maxInFlight = 1024

func newFlood(addr string, windows int) *flood {
	f := &flood{addr: addr, sem: make(chan struct{}, maxInFlight),
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: 256, DisableCompression: true}}}
	for range windows {
		f.codes = append(f.codes, map[string]map[int]int{})
		f.errs = append(f.errs, map[string]int{})
	}
	return f
}

func (f *flood) leg(wi int, path string, rate int, end time.Time) {
	mean := float64(time.Second) / float64(rate)
	due := time.Now()
	for {
		due = due.Add(time.Duration(rand.ExpFloat64() * mean))
		if !due.Before(end) {
			return
		}
		time.Sleep(time.Until(due))
		select {
		case f.sem <- struct{}{}:
		default:
			f.skipped.Add(1)
			continue
		}
		f.wg.Go(func() {
			defer func() { <-f.sem }()
			req, _ := http.NewRequest("GET", "http://"+f.addr+path, nil)
			req.Host = "a.localhost"
			resp, err := f.client.Do(req)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if err != nil {
				f.errs[wi][err.Error()]++
				return
			}
			if f.codes[wi][path] == nil {
				f.codes[wi][path] = map[int]int{}
			}
			f.codes[wi][path][resp.StatusCode]++
		})
	}
}

func (f *flood) wait() { f.wg.Wait() }

func report(samples []sample, windows []window, fl *flood, m tandemproc.Metrics, placement, loadBefore, loadAfter string) error {
	var problems []string
	fmt.Printf("tenant isolation: %s, `tandem serve` (%s); %d rounds of %d phases of %s, the first %s of each left out\n",
		tandemproc.CPUModel(), placement, *rounds, len(phases), *phaseLen, *settle)
	fmt.Printf("steady load: b (Wasm handler) and c (Python handler) %d req/s each, open loop on %d connections each, latency from when a request was due\n",
		*rate, *conns)
	fmt.Printf("a's flood, Poisson arrivals: /hello at %d req/s (a's rate limit: 200/s, burst 50); in the last phase also /spin at %d req/s (a looping guest, 1 instance, 100 ms call timeout, 1 s request timeout)\n",
		*floodRate, *spinRate)
	fmt.Printf("load average before: %s, after: %s\n\n", loadBefore, loadAfter)

	// b's and c's latency per phase: all of the phase's requests (over
	// every round) together, and the median over the rounds of each
	// round's p99, which one burst of other work on the machine in one
	// round moves less.
	type key struct{ tenant, phase int }
	lat := map[key][]time.Duration{}
	perWindow := map[[2]int][]time.Duration{} // tenant, window
	bad := map[key]int{}
	badText := map[string]int{}
	for _, s := range samples {
		wi := slices.IndexFunc(windows, func(w window) bool { return s.due >= w.start && s.due < w.end })
		if s.bad != "" {
			if wi >= 0 {
				bad[key{s.tenant, windows[wi].phase}]++
			}
			badText[steady[s.tenant].name+": "+s.bad]++
			continue
		}
		if wi < 0 || s.due < windows[wi].start+*settle {
			continue
		}
		k := key{s.tenant, windows[wi].phase}
		lat[k] = append(lat[k], s.latency)
		perWindow[[2]int{s.tenant, wi}] = append(perWindow[[2]int{s.tenant, wi}], s.latency)
	}
	roundP99 := func(tenant, phase int) time.Duration {
		var p99s []time.Duration
		for wi, w := range windows {
			if w.phase == phase {
				l := perWindow[[2]int{tenant, wi}]
				slices.Sort(l)
				p99s = append(p99s, tandemproc.Quantile(l, 0.99))
			}
		}
		slices.Sort(p99s)
		return tandemproc.Quantile(p99s, 0.5)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "phase\ttenant\trequests\tp50\tp99\tp50 vs unloaded\tp99 vs unloaded\tp99 of rounds (median)\tvs unloaded\tnot 200")
	within := true
	for p, ph := range phases {
		for ti, st := range steady {
			l := lat[key{ti, p}]
			slices.Sort(l)
			base := lat[key{ti, 0}]
			slices.Sort(base)
			r50, r99, rr := "—", "—", "—"
			if p > 0 {
				q50 := ratio(tandemproc.Quantile(l, 0.5), tandemproc.Quantile(base, 0.5))
				q99 := ratio(tandemproc.Quantile(l, 0.99), tandemproc.Quantile(base, 0.99))
				r50, r99 = fmt.Sprintf("%.2f×", q50), fmt.Sprintf("%.2f×", q99)
				rr = fmt.Sprintf("%.2f×", ratio(roundP99(ti, p), roundP99(ti, 0)))
				if !ph.burn && (q50 > *maxRatio || q99 > *maxRatio) {
					within = false
				}
			}
			name := ""
			if ti == 0 {
				name = ph.name
			}
			fmt.Fprintf(tw, "%s\t%s (%s)\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", name, st.name, st.kind, len(l),
				tandemproc.FmtD(tandemproc.Quantile(l, 0.5)), tandemproc.FmtD(tandemproc.Quantile(l, 0.99)), r50, r99,
				tandemproc.FmtD(roundP99(ti, p)), rr, bad[key{ti, p}])
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for text, n := range badText {
		problems = append(problems, fmt.Sprintf("%d× %s", n, text))
	}

	// What a got, per phase.
	fmt.Println()
	tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "phase\ta's route\tsent\t200\t429\t503\t504\tother\tfailed")
	got := map[int]map[int]int{} // phase → status → count, over both routes
	for p, ph := range phases {
		if !ph.flood && !ph.spin {
			continue
		}
		got[p] = map[int]int{}
		for _, path := range []string{"/hello", "/spin"} {
			codes := map[int]int{}
			failed := 0
			for wi, w := range windows {
				if w.phase != p {
					continue
				}
				for c, n := range fl.codes[wi][path] {
					codes[c] += n
					got[p][c] += n
				}
				if path == "/hello" {
					for _, n := range fl.errs[wi] {
						failed += n
					}
				}
			}
			sent := failed
			other := 0
			for c, n := range codes {
				sent += n
				if c != 200 && c != 429 && c != 503 && c != 504 {
					other += n
				}
			}
			if sent == 0 {
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", ph.name, path, sent, codes[200], codes[429], codes[503], codes[504], other, failed)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if w := m.Sum("tandem_sandbox_waits_total", "plugin", "spin", "tenant", "a"); w == 0 && slices.ContainsFunc(phases, func(p phase) bool { return p.spin }) {
		problems = append(problems, "a's spin pool was never exhausted (no waits)")
	}
	if n := fl.skipped.Load(); n > 0 {
		fmt.Printf("(%d of a's requests were not sent: %d already in flight)\n", n, maxInFlight)
	}
	for p, ph := range phases {
		if ph.flood && got[p][429] == 0 {
			problems = append(problems, fmt.Sprintf("%s: a got no 429", ph.name))
		}
		if ph.spin && got[p][503]+got[p][504] == 0 {
			problems = append(problems, fmt.Sprintf("%s: a's /spin got neither 503 nor 504", ph.name))
		}
	}

	// Where the CPU went, per phase (measured part of each window).
	fmt.Println()
	tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "phase\ttandem CPU\tload generator CPU\tother processes (the control's loop included)\tmachine busy (of %d%%)\n", 100*runtime.NumCPU())
	for p, ph := range phases {
		var t, s, mc, wall time.Duration
		for _, w := range windows {
			if w.phase == p {
				t, s, mc, wall = t+w.tandemCPU, s+w.selfCPU, mc+w.machineCPU, wall+w.wall
			}
		}
		pct := func(d time.Duration) string { return fmt.Sprintf("%.0f%%", 100*d.Seconds()/wall.Seconds()) }
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ph.name, pct(t), pct(s), pct(max(0, mc-t-s)), pct(mc))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	// The server's own counters agree: a's pool rejected and its bucket
	// refused; b's and c's never.
	fmt.Println()
	fmt.Printf("/metrics: a: %.0f waits for the spin pool, %.0f rejected (503), %.0f timeouts (504), %.0f instances started; %.0f rate-limited (429); b and c: %.0f rejected, %.0f rate-limited\n",
		m.Sum("tandem_sandbox_waits_total", "plugin", "spin", "tenant", "a"),
		m.Sum("tandem_sandbox_rejected_total", "plugin", "spin", "tenant", "a"), m.Sum("tandem_sandbox_timeouts_total", "plugin", "spin", "tenant", "a"),
		m.Sum("tandem_sandbox_instantiations_total", "plugin", "spin", "tenant", "a"),
		m.Sum("tandem_tenant_rate_limited_total", "tenant", "a"),
		m.Sum("tandem_sandbox_rejected_total", "tenant", "b")+m.Sum("tandem_sandbox_rejected_total", "tenant", "c"),
		m.Sum("tandem_tenant_rate_limited_total", "tenant", "b")+m.Sum("tandem_tenant_rate_limited_total", "tenant", "c"))
	for _, t := range []string{"b", "c"} {
		if n := m.Sum("tandem_sandbox_rejected_total", "tenant", t) + m.Sum("tandem_tenant_rate_limited_total", "tenant", t); n > 0 {
			problems = append(problems, fmt.Sprintf("tenant %s: %.0f requests rejected or rate-limited", t, n))
		}
	}

	verdict := "yes"
	if !within {
		verdict = "no"
	}
	fmt.Printf("b's and c's p50 and p99 with a flooded within %.1f× of unloaded: %s (compare the control phase: what one busy CPU outside tandem does to them)\n", *maxRatio, verdict)
	if !within && *strict {
		problems = append(problems, fmt.Sprintf("latency over %.1f× unloaded (-strict)", *maxRatio))
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("%d problems:\n  %s", len(problems), strings.Join(problems, "\n  "))
	}
	return nil
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
