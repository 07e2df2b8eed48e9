package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/tandemhost/tandem/bench/internal/tandemproc"
	"github.com/tandemhost/tandem/internal/reloadpolicy"
)

var (
	reloadRate     = flag.Int("rate", 2000, "reload: requests per second, spread over -c connections, sent on a fixed schedule")
	reloadsPerCase = flag.Int("reloads", 12, "reload: reloads of each kind")
	reloadKinds    = flag.String("kinds", "python,gate,wasm", "reload: the kinds of request the load sends, a connection each in turn")
)

// reloadCase is one kind of change to the 1,000-route policy.
type reloadCase struct {
	name string
	// change flips the case's part of the variant.
	change func(v *reloadpolicy.Variant)
	// python is what the reload must log of the workers.
	python string
}

var reloadCases = []reloadCase{
	{"unchanged (comment)", func(v *reloadpolicy.Variant) {
		if v.Comment == "a" {
			v.Comment = "b"
		} else {
			v.Comment = "a"
		}
	}, "kept"},
	{"routes (10 moved)", func(v *reloadpolicy.Variant) { v.Moved = !v.Moved }, "kept"},
	{"plugin (gate's timeout)", func(v *reloadpolicy.Variant) {
		if v.GateTimeout == "2s" {
			v.GateTimeout = "1s"
		} else {
			v.GateTimeout = "2s"
		}
	}, "kept"},
	{"python (python.init)", func(v *reloadpolicy.Variant) {
		if v.Init == "app:init_b" {
			v.Init = "app:init_a"
		} else {
			v.Init = "app:init_b"
		}
	}, "new workers"},
}

// sample is one request: when it was due and when its response ended,
// since the start of the run.
type sample struct {
	due, end time.Duration
	kind     int // index into loadTargets' kinds
	failed   bool
}

// window is one reload: from SIGHUP to the last log line it caused.
type window struct {
	c          int // index into reloadCases
	sig, end   time.Duration
	reloaded   time.Duration // when "policy reloaded" was read
	took       time.Duration // what the server logged as took
	setRoutes  []time.Duration
	workersLog time.Duration
}

// logEvent is a line of the server's log, read at at.
type logEvent struct {
	at     time.Duration
	level  string
	msg    string
	took   time.Duration
	python string
	line   string
}

var (
	reMsg    = regexp.MustCompile(`\bmsg=("(?:[^"\\]|\\.)*"|\S+)`)
	reLevel  = regexp.MustCompile(`\blevel=(\S+)`)
	reTook   = regexp.MustCompile(`\btook=(\S+)`)
	rePython = regexp.MustCompile(`\bpython=("(?:[^"\\]|\\.)*"|\S+)`)
)

func parseLogLine(at time.Duration, line string) logEvent {
	ev := logEvent{at: at, line: line}
	unq := func(s string) string { return strings.Trim(s, `"`) }
	if m := reMsg.FindStringSubmatch(line); m != nil {
		ev.msg = unq(m[1])
	}
	if m := reLevel.FindStringSubmatch(line); m != nil {
		ev.level = m[1]
	}
	if m := reTook.FindStringSubmatch(line); m != nil {
		ev.took, _ = time.ParseDuration(m[1])
	}
	if m := rePython.FindStringSubmatch(line); m != nil {
		ev.python = unq(m[1])
	}
	return ev
}

// target is a request the load sends: a route every variant serves.
type target struct {
	host, path string
	kind       int
}

var loadKinds = []string{"Python", "gate + Python", "Wasm"}

// kindFlags are the -kinds values, by loadKinds index.
var kindFlags = []string{"python", "gate", "wasm"}

// loadTargets are the requests the load cycles through: target i is of
// kind i%3.
func loadTargets() []target {
	var ts []target
	for i := range 39 {
		// Operator and trusted-tenant Python routes, past the 10 that
		// move.
		if i%4 == 0 {
			ts = append(ts, target{"ops.example.com", fmt.Sprintf("/r/%d/x", 600+i), 0})
		} else {
			ts = append(ts, target{"", fmt.Sprintf("/r/%d/x", 10+i*14), 0})
		}
		ts = append(ts, target{"", fmt.Sprintf("/g/%d/x", i), 1})
		// Wasm handlers on globex (acme's rate limit would answer 429).
		ts = append(ts, target{"a.globex.example.com", fmt.Sprintf("/w/%d", 1+2*(i%25)), 2})
	}
	return ts
}

func reloadBench() error {
	bin, err := filepath.Abs(*binary)
	if err != nil {
		return err
	}
	guests, err := filepath.Abs("host/testdata/guests")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "tandem-bench-reload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := reloadpolicy.Setup(dir, guests); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	v := reloadpolicy.Variant{Listen: addr}
	file, err := reloadpolicy.Write(dir, v)
	if err != nil {
		return err
	}

	// tandem check on the same file, with and without compiling the
	// modules (the first run warms the module cache).
	checkTimes := map[bool][]time.Duration{}
	for i := range 6 {
		for _, compile := range []bool{true, false} {
			args := []string{"check", file}
			if !compile {
				args = []string{"check", "--no-compile", file}
			}
			t0 := time.Now()
			if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
				return fmt.Errorf("tandem check: %v\n%s", err, out)
			}
			if i > 0 {
				checkTimes[compile] = append(checkTimes[compile], time.Since(t0))
			}
		}
	}

	// Serve it; reloads come by SIGHUP only.
	t0 := time.Now()
	since := func() time.Duration { return time.Since(t0) }
	cmd := exec.Command(bin, "--log-format", "text", "serve", "--no-access-log", "--policy", file, "--no-watch")
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s (run make build first): %w", bin, err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	events := make(chan logEvent, 1024)
	var serverLog strings.Builder
	var logMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			logMu.Lock()
			serverLog.WriteString(line + "\n")
			logMu.Unlock()
			events <- parseLogLine(since(), line)
		}
		io.Copy(io.Discard, stderr)
		close(events)
	}()
	ready, startWorkers, err := waitReady("http://"+addr+"/r/0/x", events)
	if err != nil {
		logMu.Lock()
		defer logMu.Unlock()
		return fmt.Errorf("%w\n%s", err, serverLog.String())
	}
	startup := ready

	// The load: -c connections, each sending on its own fixed schedule.
	targets := loadTargets()
	per := time.Duration(float64(time.Second) * float64(*conns) / float64(*reloadRate))
	var kinds []int
	for _, k := range strings.Split(*reloadKinds, ",") {
		i := slices.Index(kindFlags, strings.TrimSpace(k))
		if i < 0 {
			return fmt.Errorf("-kinds: %q is not one of %s", k, strings.Join(kindFlags, ", "))
		}
		kinds = append(kinds, i)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	results := make([][]sample, *conns)
	var failures sync.Map
	var wg sync.WaitGroup
	loadStart := since()
	for c := range *conns {
		kind := kinds[c%len(kinds)]
		wg.Go(func() {
			results[c] = runLoad(ctx, "http://"+addr, targets, kind, per, loadStart+time.Duration(c)*per/time.Duration(*conns), since, &failures)
		})
	}

	// Let the load settle, then reload: every case in turn, each round.
	time.Sleep(2 * time.Second)
	var windows []window
	var reloadErr error
	for round := 0; round < *reloadsPerCase && reloadErr == nil; round++ {
		for ci, c := range reloadCases {
			time.Sleep(600 * time.Millisecond)
			c.change(&v)
			if _, err := reloadpolicy.Write(dir, v); err != nil {
				reloadErr = err
				break
			}
			w, err := reload(cmd.Process, ci, c, events, since)
			if err != nil {
				reloadErr = fmt.Errorf("%s reload %d: %w", c.name, round+1, err)
				break
			}
			windows = append(windows, w)
		}
	}
	time.Sleep(600 * time.Millisecond)
	stop()
	wg.Wait()
	if reloadErr != nil {
		logMu.Lock()
		defer logMu.Unlock()
		return fmt.Errorf("%w\n%s", reloadErr, serverLog.String())
	}

	var all []sample
	for _, r := range results {
		all = append(all, r...)
	}
	return reportReload(all, windows, &failures, checkTimes, startup, startWorkers, since()-loadStart)
}

// waitReady waits for url to answer 200 and returns when it did and the
// workers' start-up time the server logged.
func waitReady(url string, events <-chan logEvent) (time.Duration, time.Duration, error) {
	t0 := time.Now()
	var workers time.Duration
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for len(events) > 0 {
			if ev := <-events; ev.msg == "python workers started" {
				workers = ev.took
			}
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				d := time.Since(t0)
				// The start line comes before the server listens.
				for len(events) > 0 {
					if ev := <-events; ev.msg == "python workers started" {
						workers = ev.took
					}
				}
				return d, workers, nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, 0, errors.New("the server did not become ready in 30s")
}

// reload sends SIGHUP and waits for the reload's log lines: "policy
// reloaded", then whatever retiring the old policy logs, until the log has
// been quiet for 500 ms.
func reload(p *os.Process, ci int, c reloadCase, events <-chan logEvent, since func() time.Duration) (window, error) {
	// Drop lines left from before.
	for len(events) > 0 {
		<-events
	}
	w := window{c: ci, sig: since()}
	if err := p.Signal(syscall.SIGHUP); err != nil {
		return w, err
	}
	w.end = w.sig
	timeout := time.After(30 * time.Second)
	for {
		quiet := time.After(500 * time.Millisecond)
		if w.reloaded == 0 {
			quiet = nil
		}
		select {
		case ev, ok := <-events:
			if !ok {
				return w, errors.New("the server exited")
			}
			if ev.level == "ERROR" {
				return w, fmt.Errorf("the server logged: %s", ev.line)
			}
			switch ev.msg {
			case "policy reloaded":
				if ev.python != c.python {
					return w, fmt.Errorf("python=%s, want %s", ev.python, c.python)
				}
				w.reloaded, w.took = ev.at, ev.took
			case "python routes replaced":
				w.setRoutes = append(w.setRoutes, ev.took)
			case "python workers started":
				w.workersLog = ev.took
			}
			w.end = ev.at
		case <-quiet:
			return w, nil
		case <-timeout:
			return w, errors.New("no \"policy reloaded\" in 30s")
		}
	}
}

// runLoad sends requests of one kind on one connection, one every per
// from first on, until ctx ends. A request due while the one before is
// still running is sent when that one ends, and its latency still counts
// from when it was due.
func runLoad(ctx context.Context, base string, targets []target, kind int, per, first time.Duration,
	since func() time.Duration, failures *sync.Map) []sample {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
	out := make([]sample, 0, 1<<16)
	reqs := make([]*http.Request, len(targets))
	for i, t := range targets {
		r, _ := http.NewRequest("GET", base+t.path, nil)
		if t.host != "" {
			r.Host = t.host
		}
		r.Header.Set("X-Pass", "1")
		reqs[i] = r
	}
	for i := 0; ctx.Err() == nil; i++ {
		due := first + time.Duration(i)*per
		if wait := due - since(); wait > 0 {
			time.Sleep(wait)
		}
		// Each connection sends one kind of request, so that a slow
		// Python response does not delay the Wasm requests behind it.
		k := (i*len(loadKinds)*7 + kind) % len(targets)
		s := sample{due: due, kind: targets[k].kind}
		resp, err := client.Do(reqs[k])
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		s.end = since()
		if err != nil {
			s.failed = true
			failures.Store(fmt.Sprintf("%s %s: %v", targets[k].host, targets[k].path, err), true)
		}
		out = append(out, s)
	}
	client.CloseIdleConnections()
	return out
}

// latencies are the latencies of samples, sorted.
type latencies []time.Duration

func (l latencies) q(f float64) time.Duration { return tandemproc.Quantile(l, f) }

func fmtD(d time.Duration) string {
	switch {
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.0f µs", float64(d)/1e3)
	}
}

func medianD(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func reportReload(all []sample, windows []window, failures *sync.Map, checkTimes map[bool][]time.Duration,
	startup, startWorkers, ran time.Duration) error {
	failed := 0
	for _, s := range all {
		if s.failed {
			failed++
		}
	}
	fmt.Printf("1,000-route policy (internal/reloadpolicy), `tandem serve`, 2 Python workers; %d reloads of each kind by SIGHUP\n", *reloadsPerCase)
	fmt.Printf("load: %d req/s on %d keep-alive connections, fixed schedule (latency counted from when a request was due), %d requests in %.0f s, %d failed\n\n",
		*reloadRate, *conns, len(all), ran.Seconds(), failed)
	fmt.Printf("tandem check (compiles 5 modules): %s median; --no-compile: %s; serve start to first 200: %s (workers: %s)\n\n",
		fmtD(medianD(checkTimes[true])), fmtD(medianD(checkTimes[false])), fmtD(startup), fmtD(startWorkers))

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "reload\tSIGHUP to reloaded (median, range)\tserver's took (median)\tSetRoutes (median each)\tnew workers\tto last line")
	for ci, c := range reloadCases {
		var hup, took, sr, wk, last []time.Duration
		for _, w := range windows {
			if w.c != ci {
				continue
			}
			hup = append(hup, w.reloaded-w.sig)
			took = append(took, w.took)
			sr = append(sr, w.setRoutes...)
			if w.workersLog > 0 {
				wk = append(wk, w.workersLog)
			}
			last = append(last, w.end-w.sig)
		}
		slices.Sort(hup)
		srs := "—"
		if len(sr) > 0 {
			srs = fmt.Sprintf("%s (%.1f per reload)", fmtD(medianD(sr)), float64(len(sr))/float64(len(hup)))
		}
		wks := "—"
		if len(wk) > 0 {
			wks = fmtD(medianD(wk))
		}
		fmt.Fprintf(tw, "%s\t%s (%s–%s)\t%s\t%s\t%s\t%s\n", c.name, fmtD(medianD(hup)), fmtD(hup[0]), fmtD(hup[len(hup)-1]),
			fmtD(medianD(took)), srs, wks, fmtD(medianD(last)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	// Before: requests due in the 500 ms before each SIGHUP that ended
	// before it. During: requests in flight at any time between the
	// SIGHUP and the reload's last log line. Besides the percentiles of
	// all of them, the median over the reloads of each window's slowest
	// request, which a burst of noise from outside in one window moves
	// less.
	fmt.Println()
	tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "reload\trequests\tbefore: n\tp50\tp99\tmax\tduring: n\tp50\tp99\tmax\tslowest per reload (median): before\tduring")
	for ci, c := range reloadCases {
		first := true
		for k := -1; k < len(loadKinds); k++ {
			var before, during latencies
			var maxBefore, maxDuring []time.Duration
			for _, w := range windows {
				if w.c != ci {
					continue
				}
				var mb, md time.Duration
				for _, s := range all {
					if s.failed || (k >= 0 && s.kind != k) {
						continue
					}
					l := s.end - s.due
					if s.due >= w.sig-500*time.Millisecond && s.end < w.sig {
						before = append(before, l)
						mb = max(mb, l)
					} else if s.end >= w.sig && s.due <= w.end {
						during = append(during, l)
						md = max(md, l)
					}
				}
				maxBefore, maxDuring = append(maxBefore, mb), append(maxDuring, md)
			}
			if len(before)+len(during) == 0 {
				continue
			}
			slices.Sort(before)
			slices.Sort(during)
			name, kind := "", "all"
			if first {
				name = c.name
			}
			first = false
			if k >= 0 {
				kind = loadKinds[k]
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", name, kind,
				len(before), fmtD(before.q(0.5)), fmtD(before.q(0.99)), fmtD(before.q(1)),
				len(during), fmtD(during.q(0.5)), fmtD(during.q(0.99)), fmtD(during.q(1)),
				fmtD(medianD(maxBefore)), fmtD(medianD(maxDuring)))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if failed > 0 {
		failures.Range(func(k, _ any) bool { fmt.Fprintln(os.Stderr, "failed:", k); return true })
		return fmt.Errorf("%d requests failed", failed)
	}
	return nil
}
