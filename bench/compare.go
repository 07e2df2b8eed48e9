package main

// compare: tandem against the usual ways to serve Python, and against the
// same handler in Go, side by side on one machine (`make bench`).

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"
)

var (
	cmpQuick        = flag.Bool("quick", false, "compare: a smoke run, -d 2s -rounds 1 unless they are given")
	cmpOnly         = flag.String("only", "trivial,cpu,wasm", "compare: the scenarios to run, comma-separated")
	cmpSVG          = flag.String("svg", "docs/img/bench.svg", "compare: where to write the chart (empty: none)")
	cmpMarkdown     = flag.Bool("md", false, "compare: also print the table as Markdown")
	cmpStartTimeout = flag.Duration("start-timeout", 30*time.Second, "compare: how long a contender may take to answer its first request")
	cmpPython       = flag.String("python", "/usr/bin/python3", "compare: the Debian Python that runs gunicorn and uvicorn")
	cmpGunicorn     = flag.String("gunicorn", "/usr/bin/gunicorn", "compare: Debian's gunicorn")
)

// Defaults of compare when -d and -rounds are not given: 45 runs of 8 s,
// about 8 minutes on the 2-vCPU machine of docs/benchmarks.md.
const (
	cmpDefaultDuration = 8 * time.Second
	cmpDefaultRounds   = 5
)

// entrant is one server under test: how to start it, and what it measured.
type entrant struct {
	name    string
	color   string                                    // in the chart
	procs   int                                       // processes once every worker is up
	command func(addr, dir string) (*exec.Cmd, error) // dir: a fresh temporary directory
	results []cmpResult
}

// scenario is one part of the table: contenders serving one request.
type scenario struct {
	key, short string // short: the Markdown table's first column
	title      string
	path       string
	entrants   []*entrant
	ref        int    // ratios are to this entrant
	refLabel   string // how the ratio column reads
}

type cmpResult struct {
	rps        float64
	p50, p99   time.Duration
	rssKiB     int
	procs      int
	requests   int
	sockErrors int
	cpuPerReq  time.Duration // the server's CPU time (its processes, user + system) per request
	otherCPUs  float64       // CPUs busy with neither the server nor wrk during the run
}

// env is what compare found on the machine.
type env struct {
	root, apps, noop string
	tandem           string
	echo             string
	floor            string // bench/floorserver
	workers          int    // tandem's plan: one per usable physical core
	lines            []string
}

func compare() error {
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["d"] {
		*duration = cmpDefaultDuration
		if *cmpQuick {
			*duration = 2 * time.Second
		}
	}
	if !set["rounds"] {
		*rounds = cmpDefaultRounds
		if *cmpQuick {
			*rounds = 1
		}
	}
	stopSignals := killOnSignal()
	defer stopSignals()
	defer killAll()

	tmp, err := os.MkdirTemp("", "tandem-compare-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	e, err := prepare(tmp)
	if err != nil {
		return err
	}
	scs, err := scenarios(e, strings.Split(*cmpOnly, ","))
	if err != nil {
		return err
	}

	for _, l := range e.lines {
		fmt.Println(l)
	}
	fmt.Printf("wrk -t%d -c%d -d%s per run; %s, the contenders alternating in each; medians\n\n",
		*threads, *conns, *duration, plural(*rounds, "round"))

	// Every entrant runs once per round, in the order of the table, so each
	// is measured as often as the others and near them in time.
	var order []*entrant
	paths := map[*entrant]string{}
	runOrder := slices.Clone(scs) // the Wasm contender right after the trivial ones
	sort.SliceStable(runOrder, func(i, j int) bool { return runRank(runOrder[i].key) < runRank(runOrder[j].key) })
	for _, s := range runOrder {
		for _, en := range s.entrants {
			if _, ok := paths[en]; !ok {
				order = append(order, en)
				paths[en] = s.path
			}
		}
	}
	start := time.Now()
	var others []float64
	for r := 1; r <= *rounds; r++ {
		for _, en := range order {
			res, err := measure(en, e, paths[en])
			if err != nil {
				return err
			}
			en.results = append(en.results, res)
			fmt.Fprintf(os.Stderr, "round %d/%d  %-36s %8.0f req/s  p50 %-8s p99 %-8s CPU/req %-7s RSS %6.1f MiB (%s), others used %.2f CPUs%s\n",
				r, *rounds, en.name, res.rps, fmtLat(res.p50), fmtLat(res.p99), fmtLat(res.cpuPerReq),
				float64(res.rssKiB)/1024, plural(res.procs, "process"), res.otherCPUs, errNote(res))
			others = append(others, res.otherCPUs)
		}
	}
	fmt.Fprintf(os.Stderr, "%d runs in %s\n\n", len(order)**rounds, time.Since(start).Round(time.Second))
	e.lines = append(e.lines, fmt.Sprintf("other processes (neither the server nor wrk) kept %.2f of the %d CPUs busy during a run (median; max %.2f)",
		medianOf(others), runtime.NumCPU(), slices.Max(others)))
	fmt.Println(e.lines[len(e.lines)-1])

	printTable(os.Stdout, scs, false)
	fmt.Println()
	printTargets(os.Stdout, scs, e)
	if *cmpMarkdown {
		fmt.Println()
		printTable(os.Stdout, scs, true)
	}
	if *cmpSVG != "" {
		if err := writeChart(*cmpSVG, scs, e); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "chart written to", *cmpSVG)
	}
	return nil
}

func errNote(r cmpResult) string {
	if r.sockErrors == 0 {
		return ""
	}
	return fmt.Sprintf("  (%d socket errors)", r.sockErrors)
}

// prepare checks and installs what the contenders need, builds the Go
// server, and describes the machine.
func prepare(tmp string) (*env, error) {
	root, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	e := &env{root: root, apps: filepath.Join(root, "bench", "apps"), noop: filepath.Join(root, "sandbox", "testdata", "noop.wasm")}
	for _, p := range []string{e.apps, e.noop} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("run the bench from the repository root: %w", err)
		}
	}
	e.tandem, err = filepath.Abs(*binary)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(e.tandem); err != nil {
		return nil, fmt.Errorf("no tandem binary at %s: run make build first, or make bench: %w", *binary, err)
	}
	if err := needDebian(); err != nil {
		return nil, err
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("go is needed to build bench/echoserver and bench/floorserver: %w", err)
	}
	e.echo = filepath.Join(tmp, "echoserver")
	if out, err := exec.Command(goCmd, "build", "-o", e.echo, "./bench/echoserver").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building bench/echoserver: %v\n%s", err, out)
	}
	e.floor = filepath.Join(tmp, "floorserver")
	if out, err := exec.Command(goCmd, "build", "-o", e.floor, "./bench/floorserver").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building bench/floorserver: %v\n%s", err, out)
	}

	var topo struct {
		Workers int `json:"workers"`
	}
	if out, err := exec.Command(e.tandem, "topology", "--json").Output(); err != nil {
		return nil, fmt.Errorf("%s topology --json: %w", e.tandem, err)
	} else if err := json.Unmarshal(out, &topo); err != nil || topo.Workers < 1 {
		return nil, fmt.Errorf("%s topology --json: no worker count in %q", e.tandem, out)
	}
	e.workers = topo.Workers

	var rt struct {
		Version    string `json:"version"`
		Kind       string `json:"kind"`
		Executable string `json:"executable"`
	}
	if out, err := exec.Command(e.tandem, "runtime", "--json").Output(); err != nil {
		return nil, fmt.Errorf("%s runtime --json: %w", e.tandem, err)
	} else if err := json.Unmarshal(out, &rt); err != nil {
		return nil, fmt.Errorf("%s runtime --json: %w", e.tandem, err)
	}
	debPy := firstLine(exec.Command(*cmpPython, "--version").CombinedOutput())
	tandemVersion := strings.TrimPrefix(firstLine(exec.Command(e.tandem, "version").Output()), "tandem")
	mods := firstLine(exec.Command(*cmpPython, "-c",
		"import gunicorn, uvicorn, uvloop, httptools; print('gunicorn', gunicorn.__version__, 'uvicorn', uvicorn.__version__, '(uvloop', uvloop.__version__+', httptools', httptools.__version__+')')").Output())
	wrkV := firstLine(exec.Command("wrk", "-v").CombinedOutput())
	if f := strings.Fields(wrkV); len(f) > 1 {
		wrkV = "wrk " + f[1]
	}
	var uts syscall.Utsname
	_ = syscall.Uname(&uts)

	e.lines = append(e.lines,
		fmt.Sprintf("machine: %d CPUs, %d usable physical cores (N = %d), %s; Linux %s",
			runtime.NumCPU(), e.workers, e.workers, cpuModel(), utsString(uts.Release[:])),
		fmt.Sprintf("tandem %s, %s, CPython %s (%s); %s, %s; %s",
			strings.TrimSpace(tandemVersion), runtime.Version(), rt.Version, rt.Kind, debPy, mods, wrkV),
	)
	// The CPU-bound loop runs the same iteration count everywhere; say what
	// it costs in each interpreter, tandem's workers included.
	inWorker, err := burnInTandem(e)
	if err != nil {
		return nil, err
	}
	cal := []string{fmt.Sprintf("%.2f ms in a tandem worker", inWorker)}
	for _, py := range []struct{ label, exe string }{
		{"in the python3.14 executable of the same CPython " + rt.Version, rt.Executable},
		{"in " + strings.Replace(debPy, "Python", "Debian's CPython", 1), *cmpPython},
	} {
		if py.exe == "" {
			continue
		}
		ms, err := burnMillis(py.exe, e.apps)
		if err != nil {
			return nil, fmt.Errorf("timing work.burn with %s: %w", py.exe, err)
		}
		cal = append(cal, fmt.Sprintf("%.2f ms %s", ms, py.label))
	}
	loops := firstLine(exec.Command(*cmpPython, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import work; print(work.BURN_LOOPS)", e.apps).Output())
	e.lines = append(e.lines, fmt.Sprintf("CPU-bound handler: work.burn, %s iterations, per call: %s (best of 15 batches of 20 calls, no load)",
		loops, strings.Join(cal, ", ")))
	return e, nil
}

func firstLine(out []byte, err error) string {
	if err != nil && len(out) == 0 {
		return "?"
	}
	s, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(s)
}

func utsString(b []int8) string {
	var s []byte
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// burnMillis times one call of work.burn in the interpreter exe.
func burnMillis(exe, apps string) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import work; print(work.time_burn())", apps)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, out)
	}
	return strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
}

// burnInTandem times one call of work.burn in a tandem worker (one
// own-GIL worker, GET /calibrate).
func burnInTandem(e *env) (float64, error) {
	dir, err := os.MkdirTemp("", "tandem-compare-run-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	pf := filepath.Join(dir, "tandem.yaml")
	if err := os.WriteFile(pf, []byte(tandemPolicy(e, addr, "1", "own_gil", false)), 0o644); err != nil {
		return 0, err
	}
	p, err := launch("tandem (calibration)", exec.Command(e.tandem, "--log-format", "text", "serve", "--no-access-log", "--no-watch", "--policy", pf))
	if err != nil {
		return 0, err
	}
	defer p.stop()
	if err := p.waitReady("http://"+addr+"/hello/ready", 1, *cmpStartTimeout); err != nil {
		return 0, err
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Get("http://" + addr + "/calibrate")
	if err != nil {
		return 0, fmt.Errorf("timing work.burn in tandem: %w", err)
	}
	defer resp.Body.Close()
	var v struct{ MS float64 }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusOK || v.MS <= 0 {
		return 0, fmt.Errorf("timing work.burn in tandem: %s, %v", resp.Status, err)
	}
	return v.MS, nil
}

// needDebian installs the baselines and wrk from Debian when they are
// missing: gunicorn, uvicorn with uvloop and httptools (what uvicorn's
// "standard" extra adds, and what gunicorn's uvicorn worker uses when they
// are there), wrk.
func needDebian() error {
	pyHas := func(mod string) func() bool {
		return func() bool { return exec.Command(*cmpPython, "-c", "import "+mod).Run() == nil }
	}
	checks := []struct {
		pkg string
		ok  func() bool
	}{
		{"wrk", func() bool { _, err := exec.LookPath("wrk"); return err == nil }},
		{"gunicorn", func() bool { _, err := os.Stat(*cmpGunicorn); return err == nil }},
		{"python3-uvicorn", pyHas("uvicorn")},
		{"python3-uvloop", pyHas("uvloop")},
		{"python3-httptools", pyHas("httptools")},
	}
	var missing []string
	for _, c := range checks {
		if !c.ok() {
			missing = append(missing, c.pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("missing %s: apt-get install %s (as root)", strings.Join(missing, ", "), strings.Join(missing, " "))
	}
	fmt.Fprintf(os.Stderr, "installing %s from Debian (apt-get install)\n", strings.Join(missing, " "))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, args := range [][]string{{"update", "-qq"}, append([]string{"install", "-y", "-qq"}, missing...)} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, c := range checks {
		if !c.ok() {
			return fmt.Errorf("%s is still missing after apt-get install", c.pkg)
		}
	}
	return nil
}

// scenarios builds the table's parts; entrants shared between parts (tandem
// on the trivial handler) are measured once per round.
func scenarios(e *env, only []string) ([]*scenario, error) {
	const (
		blue   = "#2b6cb0"
		light  = "#63b3ed"
		green  = "#38a169"
		gray   = "#a0aec0"
		dark   = "#718096"
		purple = "#805ad5"
	)
	n := e.workers
	tandem := func(name, color, workers, isolation string, wasm bool) *entrant {
		return &entrant{name: name, color: color, procs: 1, command: func(addr, dir string) (*exec.Cmd, error) {
			pf := filepath.Join(dir, "tandem.yaml")
			if err := os.WriteFile(pf, []byte(tandemPolicy(e, addr, workers, isolation, wasm)), 0o644); err != nil {
				return nil, err
			}
			return exec.Command(e.tandem, "--log-format", "text", "serve", "--no-access-log", "--no-watch", "--policy", pf), nil
		}}
	}
	gunicorn := func(name, color string, args ...string) *entrant {
		return &entrant{name: name, color: color, procs: 1 + n, command: func(addr, dir string) (*exec.Cmd, error) {
			a := []string{"--bind", addr, "--workers", strconv.Itoa(n), "--chdir", e.apps, "--pythonpath", e.apps,
				"--worker-tmp-dir", dir, "--log-level", "warning"}
			return exec.Command(*cmpGunicorn, append(a, args...)...), nil
		}}
	}

	tandemAuto := tandem("tandem (Python, auto: "+plural(n, "worker")+")", blue, "auto", "own_gil", false)
	trivial := &scenario{key: "trivial", short: "trivial JSON", title: "Trivial JSON handler, GET /hello/:name", path: "/hello/bench", refLabel: "÷ tandem",
		entrants: []*entrant{
			tandemAuto,
			{name: "Echo, the handler in Go", color: green, procs: 1, command: func(addr, _ string) (*exec.Cmd, error) {
				return exec.Command(e.echo, "-listen", addr), nil
			}},
			gunicorn("gunicorn + uvicorn workers ("+strconv.Itoa(n)+"), ASGI", gray,
				"--worker-class", "asgiworker.Worker", "asgiapp:app"),
			{name: "uvicorn (1 worker), ASGI", color: dark, procs: 1, command: func(addr, _ string) (*exec.Cmd, error) {
				host, port, _ := strings.Cut(addr, ":")
				return exec.Command(*cmpPython, "-m", "uvicorn", "--host", host, "--port", port, "--no-access-log",
					"--log-level", "warning", "--app-dir", e.apps, "asgiapp:app"), nil
			}},
			// Last, so that the targets' indexes above stay.
			{name: "floor: Echo + tandem's workers, nothing else", color: purple, procs: 1, command: func(addr, _ string) (*exec.Cmd, error) {
				return exec.Command(e.floor, "-listen", addr, "-apps", e.apps), nil
			}},
		}}
	cpu := &scenario{key: "cpu", short: "CPU-bound", title: "CPU-bound handler (work.burn, ~1 ms of pure Python), GET /burn", path: "/burn",
		refLabel: "÷ 1 worker",
		entrants: []*entrant{
			tandem("tandem own-GIL, 1 worker", blue, "1", "own_gil", false),
			tandem("tandem own-GIL, "+plural(n, "worker"), blue, strconv.Itoa(n), "own_gil", false),
			tandem("tandem shared GIL, "+plural(n, "worker"), light, strconv.Itoa(n), "shared", false),
			gunicorn("gunicorn, "+plural(n, "sync worker")+", WSGI", gray, "--worker-class", "sync", "wsgiapp:app"),
		}}
	wasm := &scenario{key: "wasm", short: "Wasm middleware", title: "Trivial JSON handler behind one Wasm middleware (no-op http-wasm guest)", path: "/hello/bench",
		refLabel: "÷ without",
		entrants: []*entrant{tandemAuto, tandem("tandem + 1 Wasm middleware", light, "auto", "own_gil", true)}}

	var out []*scenario
	for _, s := range []*scenario{trivial, wasm, cpu} {
		for _, o := range only {
			if strings.TrimSpace(o) == s.key {
				out = append(out, s)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-only %q names no scenario: trivial, cpu, wasm", *cmpOnly)
	}
	// The table's order: trivial, CPU-bound, then Wasm.
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i].key) < rank(out[j].key) })
	return out, nil
}

func rank(key string) int    { return slices.Index([]string{"trivial", "cpu", "wasm"}, key) }
func runRank(key string) int { return slices.Index([]string{"trivial", "wasm", "cpu"}, key) }

func plural(n int, s string) string {
	switch {
	case n == 1:
		return "1 " + s
	case strings.HasSuffix(s, "s"):
		return strconv.Itoa(n) + " " + s + "es"
	default:
		return strconv.Itoa(n) + " " + s + "s"
	}
}

func tandemPolicy(e *env, addr, workers, isolation string, wasm bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\nserver:\n  listen: %s\npython:\n  path: [%q]\n  workers: %s\n  isolation: %s\n",
		addr, e.apps, workers, isolation)
	mw := ""
	if wasm {
		fmt.Fprintf(&b, "plugins:\n  noop: {wasm: %q}\n", e.noop)
		mw = "    middleware: [noop]\n"
	}
	fmt.Fprintf(&b, `routes:
  - path: /hello/:name
%s    handler: {python: benchapp:hello}
  - path: /burn
    handler: {python: benchapp:burn}
    limits: {timeout: 30s}
  - path: /calibrate
    handler: {python: benchapp:calibrate}
    limits: {timeout: 60s}
`, mw)
	return b.String()
}

// measure starts en, loads it with wrk on path, reads the RSS of its
// processes and stops it.
func measure(en *entrant, e *env, path string) (cmpResult, error) {
	dir, err := os.MkdirTemp("", "tandem-compare-run-")
	if err != nil {
		return cmpResult{}, err
	}
	defer os.RemoveAll(dir)
	port, err := freePort()
	if err != nil {
		return cmpResult{}, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd, err := en.command(addr, dir)
	if err != nil {
		return cmpResult{}, err
	}
	p, err := launch(en.name, cmd)
	if err != nil {
		return cmpResult{}, err
	}
	defer p.stop()
	url := "http://" + addr
	if err := p.waitReady(url+"/hello/ready", en.procs, *cmpStartTimeout); err != nil {
		return cmpResult{}, err
	}
	pid := p.cmd.Process.Pid
	sys0, srv0, t0 := systemTicks(), treeTicks(pid), time.Now()
	res, wrkCPU, err := wrkRun(url + path)
	if err != nil {
		return cmpResult{}, fmt.Errorf("%s: %w", en.name, err)
	}
	sys1, srv1, wall := systemTicks(), treeTicks(pid), time.Since(t0)
	if p.exited() {
		return cmpResult{}, fmt.Errorf("%s exited during the run:\n%s", en.name, p.out.String())
	}
	srv := time.Duration(srv1-srv0) * tick
	res.cpuPerReq = srv / time.Duration(res.requests)
	res.otherCPUs = max(0, float64(time.Duration(sys1-sys0)*tick-srv-wrkCPU)/float64(wall))
	res.rssKiB, res.procs = treeRSS(pid)
	return res, nil
}

// proc is a server the bench started, in a process group of its own so
// that stopping it stops its workers too.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *tail
	done chan struct{}
	err  error
}

var (
	liveMu sync.Mutex
	live   = map[*proc]bool{}
)

func launch(name string, cmd *exec.Cmd) (*proc, error) {
	p := &proc{name: name, cmd: cmd, out: &tail{max: 16 << 10}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	// Its own group, killed as one; and killed with the bench if the bench
	// dies without stopping it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	liveMu.Lock()
	defer liveMu.Unlock()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: starting %s: %w", name, cmd.Path, err)
	}
	live[p] = true
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitReady waits until url answers 200 and the server has its procs
// processes (gunicorn's workers), or fails at once if the server exits.
func (p *proc) waitReady(url string, procs int, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	up := false
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s could not start: %s exited (%v) before answering %s; its output:\n%s",
				p.name, strings.Join(p.cmd.Args, " "), p.err, url, p.out.String())
		}
		if !up {
			if resp, err := client.Get(url); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("%s answered %s to %s", p.name, resp.Status, url)
				}
				up = true
			}
		}
		if up {
			if _, n := treeRSS(p.cmd.Process.Pid); n >= procs {
				// Let the other workers finish importing the app.
				time.Sleep(500 * time.Millisecond)
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	what := "did not answer 200 on " + url
	if up {
		what = fmt.Sprintf("did not start its %d processes", procs)
	}
	return fmt.Errorf("%s could not start: it %s within %s (-start-timeout); its output:\n%s",
		p.name, what, timeout, p.out.String())
}

// stop ends the server's process group: SIGTERM, then SIGKILL after 10 s,
// and SIGKILL for anything of the group still there after its leader exits.
func (p *proc) stop() {
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		fmt.Fprintf(os.Stderr, "bench: %s did not stop in 10 s after SIGTERM; killing it\n", p.name)
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.done
	liveMu.Lock()
	delete(live, p)
	liveMu.Unlock()
}

// killAll kills every process group the bench started and has not stopped.
func killAll() {
	liveMu.Lock()
	defer liveMu.Unlock()
	for p := range live {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		delete(live, p)
	}
}

// killOnSignal kills everything the bench started on SIGINT or SIGTERM.
func killOnSignal() func() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	stop := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			fmt.Fprintf(os.Stderr, "\nbench: %v: stopping every process it started\n", s)
			killAll()
			os.Exit(130)
		case <-stop:
		}
	}()
	return func() { signal.Stop(sigs); close(stop) }
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimRight(string(t.b), "\n")
	if s == "" {
		return "(no output)"
	}
	return s
}

// tree lists pid and its descendants.
func tree(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	for _, d := range ents {
		c, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if f := procStat(c); len(f) > 1 {
			if pp, err := strconv.Atoi(f[1]); err == nil {
				children[pp] = append(children[pp], c)
			}
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// procStat returns the fields of /proc/PID/stat after the command's name:
// state, ppid, ... (field 3 onwards, so field k is at k-3).
func procStat(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// treeRSS sums VmRSS over pid and its descendants; it also returns how
// many processes that is.
func treeRSS(pid int) (kib, n int) {
	for _, q := range tree(pid) {
		if r, err := rssKiB(q); err == nil {
			kib += r
			n++
		}
	}
	return kib, n
}

// tick is the unit of /proc's CPU times (USER_HZ, 100 on Linux).
const tick = 10 * time.Millisecond

// treeTicks sums user and system CPU time over pid and its descendants.
func treeTicks(pid int) int64 {
	var t int64
	for _, q := range tree(pid) {
		if f := procStat(q); len(f) > 12 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			s, _ := strconv.ParseInt(f[12], 10, 64)
			t += u + s
		}
	}
	return t
}

// systemTicks is the CPU time all processes of the machine have used: user,
// nice and system, from /proc/stat.
func systemTicks() int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var t int64
	for _, i := range []int{1, 2, 3} {
		if i < len(f) {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			t += v
		}
	}
	return t
}

var reSockErr = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
var reRequests = regexp.MustCompile(`(\d+) requests in`)

// wrkRun runs wrk against url with the bench's flags; wrk is stopped if it
// runs 30 s past its duration, or with the servers on SIGINT.
func wrkRun(url string) (cmpResult, time.Duration, error) {
	cmd := exec.Command("wrk", "-t", strconv.Itoa(*threads), "-c", strconv.Itoa(*conns),
		"-d", duration.String(), "--latency", url)
	p, err := launch("wrk", cmd)
	if err != nil {
		return cmpResult{}, 0, err
	}
	select {
	case <-p.done:
	case <-time.After(*duration + 30*time.Second):
		p.stop()
		return cmpResult{}, 0, fmt.Errorf("wrk did not finish 30 s after its %s:\n%s", *duration, p.out.String())
	}
	p.stop() // forgets it
	if p.err != nil {
		return cmpResult{}, 0, fmt.Errorf("wrk: %v\n%s", p.err, p.out.String())
	}
	s := p.out.String()
	if m := reErr.FindStringSubmatch(s); m != nil {
		return cmpResult{}, 0, fmt.Errorf("wrk saw %s error responses from %s:\n%s", m[1], url, s)
	}
	m := reRPS.FindStringSubmatch(s)
	if m == nil {
		return cmpResult{}, 0, fmt.Errorf("no Requests/sec in wrk output:\n%s", s)
	}
	var r cmpResult
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	if m := reP50.FindStringSubmatch(s); m != nil {
		r.p50 = parseWrkDuration(m[1])
	}
	if m := reP99.FindStringSubmatch(s); m != nil {
		r.p99 = parseWrkDuration(m[1])
	}
	if m := reRequests.FindStringSubmatch(s); m != nil {
		r.requests, _ = strconv.Atoi(m[1])
	}
	if m := reSockErr.FindStringSubmatch(s); m != nil {
		for _, v := range m[1:] {
			n, _ := strconv.Atoi(v)
			r.sockErrors += n
		}
	}
	if r.requests == 0 {
		return cmpResult{}, 0, fmt.Errorf("wrk completed no request on %s:\n%s", url, s)
	}
	return r, p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime(), nil
}

// parseWrkDuration reads wrk's latencies: 812.00us, 1.07ms, 2.01s, 1.00m.
func parseWrkDuration(s string) time.Duration {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0
			}
			return time.Duration(f * float64(u.unit))
		}
	}
	return 0
}

func fmtLat(d time.Duration) string {
	switch {
	case d <= 0:
		return "?"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
}

// summary is an entrant's medians over the rounds.
type summary struct {
	rps      float64
	p50, p99 time.Duration
	cpu      time.Duration // per request
	rssKiB   float64
	procs    int
	all      []float64
	errs     int
}

func summarize(en *entrant) summary {
	var s summary
	var rps, rss []float64
	var p50, p99, cpu []time.Duration
	for _, r := range en.results {
		cpu = append(cpu, r.cpuPerReq)
		rps = append(rps, r.rps)
		rss = append(rss, float64(r.rssKiB))
		p50 = append(p50, r.p50)
		p99 = append(p99, r.p99)
		s.procs = max(s.procs, r.procs)
		s.errs += r.sockErrors
	}
	s.all = rps
	s.rps = medianOf(rps)
	s.rssKiB = medianOf(rss)
	s.p50 = medianDur(p50)
	s.p99 = medianDur(p99)
	s.cpu = medianDur(cpu)
	return s
}

func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianDur(v []time.Duration) time.Duration {
	f := make([]float64, len(v))
	for i, d := range v {
		f[i] = float64(d)
	}
	return time.Duration(medianOf(f))
}

func thousands(f float64) string {
	s := strconv.FormatFloat(f, 'f', 0, 64)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func printTable(w io.Writer, scs []*scenario, markdown bool) {
	head := []string{"contender", "req/s", "ratio", "p50", "p99", "server CPU/req", "total RSS", "RSS ratio", "req/s by round"}
	if markdown {
		fmt.Fprintln(w, "| scenario | "+strings.Join(head, " | ")+" |")
		fmt.Fprintln(w, strings.Repeat("|---", len(head)+1)+"|")
	}
	for si, s := range scs {
		ref := summarize(s.entrants[s.ref])
		var rows [][]string
		for _, en := range s.entrants {
			m := summarize(en)
			var all []string
			for _, v := range m.all {
				all = append(all, thousands(v))
			}
			byRound := strings.Join(all, " ")
			if m.errs > 0 {
				byRound += fmt.Sprintf(" (%d socket errors)", m.errs)
			}
			rows = append(rows, []string{
				en.name, thousands(m.rps),
				fmt.Sprintf("%.2f× %s", m.rps/ref.rps, s.refLabel),
				fmtLat(m.p50), fmtLat(m.p99), fmtLat(m.cpu),
				fmt.Sprintf("%.1f MiB (%s)", m.rssKiB/1024, plural(m.procs, "process")),
				fmt.Sprintf("%.2f×", m.rssKiB/ref.rssKiB),
				byRound,
			})
		}
		if markdown {
			for i, r := range rows {
				first := ""
				if i == 0 {
					first = s.short
				}
				fmt.Fprintln(w, "| "+first+" | "+strings.Join(r, " | ")+" |")
			}
			continue
		}
		if si > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, s.title)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  "+strings.Join(head, "\t"))
		for _, r := range rows {
			fmt.Fprintln(tw, "  "+strings.Join(r, "\t"))
		}
		tw.Flush()
	}
}

// cmpTarget is one of the targets, checked against the medians;
// rounds holds the same ratio within each round, both sides measured
// minutes apart at most.
type cmpTarget struct {
	what   string
	value  float64
	ok     bool
	want   string
	rounds []float64
	// bound marks a line that is no target but what limits one: ok then
	// says whether the target is within the bound's reach.
	bound bool
}

func targets(scs []*scenario, e *env) []cmpTarget {
	var out []cmpTarget
	byRound := func(a, b *entrant, f func(a, b cmpResult) float64) []float64 {
		var v []float64
		for i := range min(len(a.results), len(b.results)) {
			v = append(v, f(a.results[i], b.results[i]))
		}
		return v
	}
	rps := func(a, b cmpResult) float64 { return a.rps / b.rps }
	for _, s := range scs {
		m := make([]summary, len(s.entrants))
		for i, en := range s.entrants {
			m[i] = summarize(en)
		}
		en := s.entrants
		switch s.key {
		case "trivial":
			t, echo, guni := m[0], m[1], m[2]
			v := t.rps / guni.rps
			out = append(out, cmpTarget{"trivial: tandem req/s ÷ gunicorn+uvicorn's", v, v >= 1.3, "≥ 1.3×", byRound(en[0], en[2], rps), false})
			if len(m) > 4 {
				v := m[4].rps / guni.rps
				out = append(out, cmpTarget{what: "bound: floor (Echo + workers only) ÷ gunicorn+uvicorn",
					value: v, ok: v >= 1.3, want: "≥ 1.3×", rounds: byRound(en[4], en[2], rps), bound: true})
			}
			v = t.rps / echo.rps
			out = append(out, cmpTarget{"trivial: tandem req/s ÷ Echo-in-Go's", v, v >= 0.8, "≥ 0.8×", byRound(en[0], en[1], rps), false})
			v = t.rssKiB / guni.rssKiB
			out = append(out, cmpTarget{"trivial: tandem total RSS ÷ gunicorn+uvicorn's", v, v <= 0.5, "≤ 0.5×",
				byRound(en[0], en[2], func(a, b cmpResult) float64 { return float64(a.rssKiB) / float64(b.rssKiB) }), false})
		case "cpu":
			n := float64(e.workers)
			v := m[1].rps / (n * m[0].rps)
			out = append(out, cmpTarget{fmt.Sprintf("CPU-bound: own-GIL %d workers ÷ (%d × 1 worker)", e.workers, e.workers), v, v >= 0.95, "≥ 0.95×",
				byRound(en[1], en[0], func(a, b cmpResult) float64 { return a.rps / (n * b.rps) }), false})
		case "wasm":
			v := m[1].rps / m[0].rps
			out = append(out, cmpTarget{"Wasm: req/s with one middleware ÷ without (cost ≤ 10%)", v, v >= 0.9, "≥ 0.90×", byRound(en[1], en[0], rps), false})
		}
	}
	return out
}

// verdict is "met" or "NOT met" for a target; for a bound, whether the
// target it limits is within its reach.
func (t cmpTarget) verdict() string {
	switch {
	case t.bound && t.ok:
		return "within reach"
	case t.bound:
		return "out of reach"
	case t.ok:
		return "met"
	}
	return "NOT met"
}

// label says what the line is held to: "target ≥ 1.3×", or for a bound
// "limits ≥ 1.3×".
func (t cmpTarget) label() string {
	if t.bound {
		return "limits " + t.want
	}
	return "target " + t.want
}

func (t cmpTarget) spread() string {
	if len(t.rounds) < 2 {
		return ""
	}
	return fmt.Sprintf("%.2f–%.2f", slices.Min(t.rounds), slices.Max(t.rounds))
}

func printTargets(w io.Writer, scs []*scenario, e *env) {
	fmt.Fprintln(w, "targets (ratio of medians; in each round: lowest–highest)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range targets(scs, e) {
		fmt.Fprintf(tw, "  %s\t%.2f×\t%s\t%s\t%s\n", t.what, t.value, t.spread(), t.label(), t.verdict())
	}
	tw.Flush()
}
