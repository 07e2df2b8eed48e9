// Package tandemproc runs `tandem serve` for the benchmark programs under
// bench/ (soak, isolation): it starts the binary with text logs and no
// access log, as bench/main.go does, waits for its ready lines, reads its
// log as parsed lines, reloads it by SIGHUP, and reads what the process
// uses from /proc and from the admin listener's /metrics.
package tandemproc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Line is one line of tandem's text log (log/slog's TextHandler).
type Line struct {
	At    time.Time // when it was read
	Level string
	Msg   string
	Attrs map[string]string
	Text  string
}

// ParseLine splits a logfmt line: key=value or key="quoted value".
func ParseLine(s string) Line {
	l := Line{Text: s, Attrs: map[string]string{}}
	for i := 0; i < len(s); {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 {
			break
		}
		key := s[i : i+eq]
		i += eq + 1
		var val string
		if i < len(s) && s[i] == '"' {
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if uq, err := strconv.Unquote(s[i:min(j+1, len(s))]); err == nil {
				val = uq
			} else {
				val = s[i:min(j+1, len(s))]
			}
			i = j + 1
		} else {
			j := strings.IndexByte(s[i:], ' ')
			if j < 0 {
				j = len(s) - i
			}
			val = s[i : i+j]
			i += j
		}
		l.Attrs[key] = val
	}
	l.Level, l.Msg = l.Attrs["level"], l.Attrs["msg"]
	return l
}

// Server is a running `tandem serve`.
type Server struct {
	Cmd   *exec.Cmd
	PID   int
	Addr  string // the public listener, host:port
	Admin string // the admin listener, host:port ("" without one)

	mu      sync.Mutex
	subs    []chan Line
	keep    []string // the last keepLines lines
	exited  chan struct{}
	waitErr error
}

const keepLines = 4000

// Start runs `bin --log-format text serve --no-access-log --no-watch
// --listen 127.0.0.1:0 --policy policy` and waits up to a minute for its
// "tandem serving" line (and "admin listener serving" when the policy has
// server.admin). Reloads come from SIGHUP only (--no-watch), so that the
// caller's writes of the policy file do not reload it a second time.
func Start(bin, policy string, extra ...string) (*Server, error) {
	args := append([]string{"--log-format", "text", "serve", "--no-access-log", "--no-watch",
		"--listen", "127.0.0.1:0", "--policy", policy}, extra...)
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{Cmd: cmd, PID: cmd.Process.Pid, exited: make(chan struct{})}
	lines := s.Subscribe()
	go s.read(stderr)
	wantAdmin := policyHasAdmin(policy)
	timeout := time.After(time.Minute)
	for s.Addr == "" || (wantAdmin && s.Admin == "") {
		select {
		case l, ok := <-lines:
			if !ok {
				return nil, fmt.Errorf("tandem serve exited before it was ready: %v\n%s", s.waitErr, s.Log())
			}
			switch l.Msg {
			case "tandem serving":
				s.Addr = l.Attrs["addr"]
			case "admin listener serving":
				s.Admin = l.Attrs["addr"]
			}
		case <-timeout:
			s.Kill()
			return nil, fmt.Errorf("tandem serve was not ready after a minute:\n%s", s.Log())
		}
	}
	s.Unsubscribe(lines)
	return s, nil
}

// policyHasAdmin says whether the policy file sets server.admin (a plain
// look at its lines: the benchmark policies are simple).
func policyHasAdmin(policy string) bool {
	b, err := os.ReadFile(policy)
	if err != nil {
		return false
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "admin:") {
			return true
		}
	}
	return false
}

func (s *Server) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := ParseLine(sc.Text())
		l.At = time.Now()
		s.mu.Lock()
		s.keep = append(s.keep, l.Text)
		if len(s.keep) > keepLines {
			s.keep = s.keep[len(s.keep)-keepLines:]
		}
		for _, c := range s.subs {
			select {
			case c <- l:
			default: // a subscriber that does not keep up loses lines
			}
		}
		s.mu.Unlock()
	}
	err := s.Cmd.Wait()
	s.mu.Lock()
	s.waitErr = err
	for _, c := range s.subs {
		close(c)
	}
	s.subs = nil
	s.mu.Unlock()
	close(s.exited)
}

// Subscribe returns a channel that gets every log line from now on; it is
// closed when the process exits.
func (s *Server) Subscribe() chan Line {
	c := make(chan Line, 1024)
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.exited:
		close(c)
	default:
		s.subs = append(s.subs, c)
	}
	return c
}

// Unsubscribe stops sending lines to c.
func (s *Server) Unsubscribe(c chan Line) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.subs {
		if x == c {
			s.subs = append(s.subs[:i], s.subs[i+1:]...)
			close(c)
			return
		}
	}
}

// Log returns the last lines the server logged.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.keep, "\n")
}

// Exited is closed when the process has exited.
func (s *Server) Exited() <-chan struct{} { return s.exited }

// Reload sends SIGHUP and waits for "policy reloaded", which it returns;
// a refused reload ("the new policy is refused", with the "policy
// problem" lines before it) or 30 s without either is an error.
func (s *Server) Reload() (Line, error) {
	lines := s.Subscribe()
	defer s.Unsubscribe(lines)
	if err := s.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		return Line{}, err
	}
	timeout := time.After(30 * time.Second)
	var problems []string
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return Line{}, errors.New("the server exited")
			}
			if l.Msg == "policy problem" {
				problems = append(problems, l.Attrs["problem"])
			}
			if strings.HasPrefix(l.Msg, "the new policy is refused") {
				return l, fmt.Errorf("the reload was refused: %s %s", l.Attrs["error"], strings.Join(problems, "; "))
			}
			if l.Msg == "policy reloaded" {
				return l, nil
			}
		case <-timeout:
			return Line{}, errors.New(`no "policy reloaded" in 30s`)
		}
	}
}

// Stop sends SIGTERM and waits up to 30 s for the process to exit (then
// kills it); it returns the exit error, if any.
func (s *Server) Stop() error {
	_ = s.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.Kill()
		return errors.New("tandem serve did not exit 30s after SIGTERM; killed")
	}
	return s.waitErr
}

// Kill kills the process and waits for it.
func (s *Server) Kill() {
	_ = s.Cmd.Process.Kill()
	<-s.exited
}

// Proc is what /proc says about a process.
type Proc struct {
	RSS     int64 // bytes (VmRSS)
	Threads int
	FDs     int
}

// ReadProc reads /proc/PID/status and counts /proc/PID/fd.
func ReadProc(pid int) (Proc, error) {
	var p Proc
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p, err
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			kib, _ := strconv.ParseInt(f[1], 10, 64)
			p.RSS = kib << 10
		case "Threads:":
			p.Threads, _ = strconv.Atoi(f[1])
		}
	}
	fds, err := os.ReadDir(filepath.Join(fmt.Sprintf("/proc/%d", pid), "fd"))
	if err != nil {
		return p, err
	}
	p.FDs = len(fds)
	return p, nil
}

// Series is one sample of a Prometheus metric.
type Series struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Metrics is a scrape of /metrics.
type Metrics []Series

// Sum adds the samples of name whose labels include every pair of match
// (key, value, key, value...).
func (m Metrics) Sum(name string, match ...string) float64 {
	var total float64
next:
	for _, s := range m {
		if s.Name != name {
			continue
		}
		for i := 0; i+1 < len(match); i += 2 {
			if s.Labels[match[i]] != match[i+1] {
				continue next
			}
		}
		total += s.Value
	}
	return total
}

// Has says whether the scrape has a sample of name.
func (m Metrics) Has(name string) bool {
	for _, s := range m {
		if s.Name == name {
			return true
		}
	}
	return false
}

// Scrape gets http://admin/metrics and parses the text format (no
// exemplars, no timestamps: what client_golang writes).
func Scrape(client *http.Client, admin string) (Metrics, error) {
	resp, err := client.Get("http://" + admin + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	var m Metrics
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		s := Series{Value: v, Labels: map[string]string{}}
		head := line[:sp]
		if br := strings.IndexByte(head, '{'); br >= 0 {
			s.Name = head[:br]
			parseLabels(strings.TrimSuffix(head[br+1:], "}"), s.Labels)
		} else {
			s.Name = head
		}
		m = append(m, s)
	}
	return m, sc.Err()
}

func parseLabels(s string, into map[string]string) {
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq < 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			return
		}
		key := s[:eq]
		j := eq + 2
		for j < len(s) && s[j] != '"' {
			if s[j] == '\\' {
				j++
			}
			j++
		}
		if v, err := strconv.Unquote(s[eq+1 : min(j+1, len(s))]); err == nil {
			into[key] = v
		}
		s = strings.TrimPrefix(s[min(j+1, len(s)):], ",")
	}
}

// Loadavg is the first line of /proc/loadavg, for reports: the machine is
// shared, and what else ran matters.
func Loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// CPUModel is the model name /proc/cpuinfo gives, with the CPU count.
func CPUModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	model, n := "?", 0
	if err == nil {
		for l := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				n++
			}
		}
	}
	return fmt.Sprintf("%d × %s", n, model)
}

// CPUTime is the user plus system CPU time the process has used
// (/proc/PID/stat), in clock ticks converted at the usual 100 Hz.
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may hold spaces.
	s := string(b)
	rp := strings.LastIndexByte(s, ')')
	if rp < 0 {
		return 0, errors.New("unexpected /proc/PID/stat")
	}
	f := strings.Fields(s[rp+1:])
	// After the name: state is field 3, utime 14 and stime 15 (1-based).
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc/PID/stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// MachineCPU is the machine's busy and total CPU time so far, summed over
// its CPUs (/proc/stat; idle and iowait are not busy).
func MachineCPU() (busy, total time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, errors.New("unexpected /proc/stat")
	}
	var sum, idle int64
	for i, s := range f[1:] {
		v, _ := strconv.ParseInt(s, 10, 64)
		if i >= 8 { // guest and guest_nice are counted in user already
			break
		}
		sum += v
		if i == 3 || i == 4 {
			idle += v
		}
	}
	tick := 10 * time.Millisecond
	return time.Duration(sum-idle) * tick, time.Duration(sum) * tick, nil
}

// Quantile returns the q-quantile of sorted durations (0 when empty).
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// FmtD prints a latency with about three significant digits.
func FmtD(d time.Duration) string {
	switch {
	case d >= 100*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.0f µs", float64(d)/1e3)
	}
}
