// Command bench runs tandem's load benchmarks against the real binary with
// wrk and prints one table per scenario, with ratios measured side by side
// in the same run (the machine is shared; absolute numbers drift, ratios
// hold). See docs/benchmarks.md.
//
//	go run ./bench compare    tandem against Echo-in-Go, gunicorn and uvicorn: trivial, CPU-bound and Wasm (make bench)
//	go run ./bench scaling    CPU-bound handler: 1 vs 2 own-GIL workers, and shared mode
//	go run ./bench memory     RSS and worker start-up with the hello app, 1 and 2 workers
//	go run ./bench reload     reloads of a 1,000-route policy under load: reload time, latency before and during
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

var (
	binary   = flag.String("bin", "bin/tandem", "the tandem binary to benchmark")
	duration = flag.Duration("d", 10*time.Second, "wrk duration per contender")
	conns    = flag.Int("c", 16, "wrk connections")
	threads  = flag.Int("t", 1, "wrk threads (one leaves more of a small machine to the server)")
	rounds   = flag.Int("rounds", 3, "rounds; contenders alternate within each round and the median is reported")
)

func main() {
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: go run ./bench [flags] compare|scaling|memory|reload ...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	for _, what := range flag.Args() {
		var err error
		switch what {
		case "compare":
			err = compare()
		case "scaling":
			err = scaling()
		case "memory":
			err = memory()
		case "reload":
			err = reloadBench()
		default:
			flag.Usage()
			os.Exit(2)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
}

// contender is one server configuration under test.
type contender struct {
	name      string
	workers   int
	isolation string
	strategy  string
}

func scaling() error {
	if err := needWrk(); err != nil {
		return err
	}
	cs := []contender{
		{"own_gil, 1 worker", 1, "own_gil", "pinned"},
		{"own_gil, 2 workers", 2, "own_gil", "pinned"},
		{"shared, 2 workers", 2, "shared", "pooled"},
	}
	fmt.Printf("CPU-bound handler (about 1 ms of pure Python), GET /burn, wrk -t%d -c%d -d%s, median of %d alternating rounds\n",
		*threads, *conns, *duration, *rounds)
	results := make([][]wrkResult, len(cs))
	for r := 0; r < *rounds; r++ {
		for i, c := range cs {
			s, err := start(c)
			if err != nil {
				return err
			}
			res, err := runWrk(s.url + "/burn")
			s.stop()
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "round %d: %s: %.0f req/s\n", r+1, c.name, res.rps)
			results[i] = append(results[i], res)
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "contender\treq/s (median)\tp50\tp99\tvs 1 worker\tall rounds")
	base := median(results[0]).rps
	for i, c := range cs {
		m := median(results[i])
		var all []string
		for _, r := range results[i] {
			all = append(all, fmt.Sprintf("%.0f", r.rps))
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%.2f×\t%s\n", c.name, m.rps, m.p50, m.p99, m.rps/base, strings.Join(all, " "))
	}
	return tw.Flush()
}

// median returns the round with the median throughput.
func median(rs []wrkResult) wrkResult {
	s := append([]wrkResult(nil), rs...)
	sort.Slice(s, func(i, j int) bool { return s[i].rps < s[j].rps })
	return s[len(s)/2]
}

func memory() error {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Println("hello app imported, idle server")
	fmt.Fprintln(tw, "workers\tRSS\tworker start-up (all workers)")
	for _, n := range []int{1, 2} {
		s, err := start(contender{fmt.Sprintf("%d", n), n, "own_gil", "pinned"})
		if err != nil {
			return err
		}
		// Serve one request so the handler path is warm, then read RSS.
		if resp, err := http.Get(s.url + "/hello/x"); err == nil {
			resp.Body.Close()
		}
		rss, err := rssKiB(s.cmd.Process.Pid)
		s.stop()
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%d\t%.1f MiB\t%s\n", n, float64(rss)/1024, s.startup)
	}
	return tw.Flush()
}

type server struct {
	cmd     *exec.Cmd
	url     string
	startup string
	dir     string
}

// start writes a policy for c and serves it on a free port.
func start(c contender) (*server, error) {
	dir, err := os.MkdirTemp("", "tandem-bench-")
	if err != nil {
		return nil, err
	}
	apps, err := filepath.Abs("bench/apps")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	policy := fmt.Sprintf(`version: 1
server:
  listen: %s
python:
  path: [%s]
  workers: %d
  strategy: %s
  isolation: %s
routes:
  - path: /hello/:name
    handler: {python: benchapp:hello}
  - path: /burn
    handler: {python: benchapp:burn}
    limits: {timeout: 30s}
`, addr, apps, c.workers, c.strategy, c.isolation)
	pf := filepath.Join(dir, "tandem.yaml")
	if err := os.WriteFile(pf, []byte(policy), 0o644); err != nil {
		return nil, err
	}
	// Text logs, which are read for the ready line; no access log, as
	// gunicorn and uvicorn have none by default.
	cmd := exec.Command(*binary, "--log-format", "text", "serve", "--no-access-log", "--policy", pf)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s (run make build first): %w", *binary, err)
	}
	s := &server{cmd: cmd, url: "http://" + addr, dir: dir}
	startup := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`python workers started.* took=(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				startup <- m[1]
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(s.url + "/hello/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				select {
				case s.startup = <-startup:
				case <-time.After(time.Second):
				}
				return s, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return nil, errors.New("the server did not become ready in 30s")
}

func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	os.RemoveAll(s.dir)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func rssKiB(pid int) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
	}
	return 0, errors.New("no VmRSS")
}

// needWrk installs wrk from Debian when it is missing and we are root.
func needWrk() error {
	if _, err := exec.LookPath("wrk"); err == nil {
		return nil
	}
	if os.Geteuid() != 0 {
		return errors.New("wrk is not installed: apt-get install wrk")
	}
	fmt.Fprintln(os.Stderr, "installing wrk from Debian (apt-get install -y wrk)")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "wrk"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

type wrkResult struct {
	rps      float64
	p50, p99 string
}

var (
	reRPS = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reP50 = regexp.MustCompile(`\s50%\s+(\S+)`)
	reP99 = regexp.MustCompile(`\s99%\s+(\S+)`)
	reErr = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

func runWrk(url string) (wrkResult, error) {
	out, err := exec.Command("wrk", "-t", strconv.Itoa(*threads), "-c", strconv.Itoa(*conns),
		"-d", duration.String(), "--latency", url).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	s := string(out)
	if m := reErr.FindStringSubmatch(s); m != nil {
		return wrkResult{}, fmt.Errorf("wrk saw %s error responses from %s:\n%s", m[1], url, s)
	}
	m := reRPS.FindStringSubmatch(s)
	if m == nil {
		return wrkResult{}, fmt.Errorf("no Requests/sec in wrk output:\n%s", s)
	}
	var r wrkResult
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	if m := reP50.FindStringSubmatch(s); m != nil {
		r.p50 = m[1]
	}
	if m := reP99.FindStringSubmatch(s); m != nil {
		r.p99 = m[1]
	}
	return r, nil
}
