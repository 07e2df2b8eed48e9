package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tandemhost/tandem/host"
	"github.com/tandemhost/tandem/native/topology"
	"github.com/tandemhost/tandem/policy"
	"github.com/tandemhost/tandem/sandbox"
)

func newCheck(stdout, stderr io.Writer) *cobra.Command {
	var noCompile bool
	cmd := &cobra.Command{
		Use:   "check FILE...",
		Short: "Validate policy files without serving them",
		Long: `Check each policy file as serve would on this machine, without serving and
without starting Python. Every WebAssembly module the policy runs (plugins and
wasm handlers) is compiled and one instance of it started with its config and
limits, which proves that it speaks the http-wasm ABI and starts; --no-compile
skips that for a faster check of the file alone.

A valid file gets a short summary on stdout: its routes by handler kind, its
tenants, its plugins and its Python settings. An invalid one gets every
problem on stderr, one per line, as FILE:LINE:COL: path.to.field: message.
--log-level debug also shows what modules log while they start.

Exit status: 0 when every file is valid, 1 when one is not, 2 for a usage
error.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("check needs at least one policy file")
			}
			return nil
		},
		RunE: work(func(cmd *cobra.Command, files []string) error {
			return check(cmd.Context(), files, !noCompile, stdout, stderr)
		}),
	}
	cmd.Flags().BoolVar(&noCompile, "no-compile", false,
		"do not compile and start the WebAssembly modules (faster; their ABI is then not checked)")
	return cmd
}

// check checks every file in turn, printing a summary of each valid one
// on stdout and the problems of each invalid one on stderr. It returns
// errReported when any file is invalid.
func check(ctx context.Context, files []string, compile bool, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	topo, err := topology.Detect()
	if err != nil {
		// The worker budget is then not checked; everything else is.
		slog.Warn("cannot detect the CPU topology; python.workers is not checked against it", "error", err)
		topo = nil
	}
	failed := false
	for _, file := range files {
		pol, err := loadPolicy(file, topo)
		var ps *policy.Problems
		switch {
		case errors.As(err, &ps):
			fmt.Fprintln(stderr, ps.Error())
			failed = true
			continue
		case err != nil:
			fmt.Fprintf(stderr, "%s: %v\n", file, err)
			failed = true
			continue
		}
		modules, problems := checkLoaded(ctx, pol, compile)
		if len(problems) > 0 {
			for _, p := range problems {
				fmt.Fprintln(stderr, p)
			}
			failed = true
			continue
		}
		fmt.Fprint(stdout, summary(pol, modules, compile))
	}
	if failed {
		return errReported
	}
	return nil
}

// checkLoaded checks what a policy that loaded cleanly asks of this
// version of tandem and, when compile is set, compiles and starts every
// WebAssembly module it runs. It returns how many modules the policy runs
// and every problem found, one line each, as FILE:LINE:COL: path: message,
// in the order of the file.
func checkLoaded(ctx context.Context, pol *policy.Policy, compile bool) (modules int, problems []string) {
	uses, err := host.PluginUses(pol)
	if err != nil {
		return 0, sortProblems(pol.File, append(problems, oneLine(err.Error())))
	}
	if compile && len(uses) > 0 {
		for _, err := range compileModules(ctx, pol, uses) {
			problems = append(problems, oneLine(err.Error()))
		}
	}
	return len(uses), sortProblems(pol.File, problems)
}

// compileModules compiles and starts uses on an engine of their own,
// which uses the policy's cache directory, and closes it again. What the
// guests log goes to the log only at --log-level debug: a guest that
// fails to start is quoted in its error anyway.
func compileModules(ctx context.Context, pol *policy.Policy, uses []host.PluginUse) []error {
	log := slog.Default()
	if !log.Enabled(ctx, slog.LevelDebug) {
		log = slog.New(slog.DiscardHandler)
	}
	engine, err := sandbox.NewEngine(ctx, sandbox.EngineConfig{CacheDir: pol.Sandbox.CacheDir, Logger: log})
	if err != nil {
		if pol.Sandbox.Pos == (policy.Pos{}) {
			return []error{fmt.Errorf("%s: starting the WebAssembly engine: %w", pol.File, err)}
		}
		return []error{fmt.Errorf("%s:%s: sandbox.cache_dir: %w", pol.File, pol.Sandbox.Pos, err)}
	}
	errs := host.CompilePlugins(ctx, engine, uses)
	if err := engine.Close(ctx); err != nil {
		slog.Warn("closing the WebAssembly engine", "error", err)
	}
	return errs
}

// oneLine keeps a problem on one line: a guest's message quoted in an
// error may span several.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(slices.DeleteFunc(lines, func(l string) bool { return l == "" }), " / ")
}

// sortProblems orders lines of the form FILE:LINE:COL: ... by position,
// as the policy checker orders its own; lines without a position keep
// their order, after the others.
func sortProblems(file string, lines []string) []string {
	pos := func(line string) (int, int, bool) {
		rest, ok := strings.CutPrefix(line, file+":")
		if !ok {
			return 0, 0, false
		}
		parts := strings.SplitN(rest, ":", 3)
		if len(parts) < 3 {
			return 0, 0, false
		}
		l, err1 := strconv.Atoi(parts[0])
		c, err2 := strconv.Atoi(parts[1])
		return l, c, err1 == nil && err2 == nil
	}
	slices.SortStableFunc(lines, func(a, b string) int {
		al, ac, aok := pos(a)
		bl, bc, bok := pos(b)
		switch {
		case aok && bok:
			return cmp.Or(cmp.Compare(al, bl), cmp.Compare(ac, bc))
		case aok:
			return -1
		case bok:
			return 1
		}
		return 0
	})
	return lines
}

// summary is what check prints for a valid policy: the file and "ok",
// then one indented line for each of routes, tenants and plugins (left out
// when the policy has none), the WebAssembly modules and Python. modules
// is how many modules the policy runs; compiled says whether they were
// compiled and started.
func summary(pol *policy.Policy, modules int, compiled bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: ok\n", pol.File)
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "  %-8s %s\n", label, fmt.Sprintf(format, args...))
	}

	kinds := map[string]int{}
	wrapped, schemas := 0, 0
	for _, r := range pol.Routes {
		kinds[r.Handler.Kind]++
		if slices.ContainsFunc(r.Middleware, func(m policy.Middleware) bool { return m.Kind == policy.MiddlewarePlugin }) {
			wrapped++
		}
		if r.BodySchema != "" {
			schemas++
		}
	}
	var parts []string
	for _, k := range []string{policy.TargetPython, policy.TargetWSGI, policy.TargetWasm, policy.TargetPlugin} {
		if kinds[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", kinds[k], k))
		}
	}
	routes := fmt.Sprintf("%d", len(pol.Routes))
	if len(parts) > 0 {
		routes += ": " + strings.Join(parts, ", ")
	}
	var extras []string
	if wrapped > 0 {
		extras = append(extras, fmt.Sprintf("%d with plugin middleware", wrapped))
	}
	if schemas > 0 {
		extras = append(extras, fmt.Sprintf("%d with body_schema", schemas))
	}
	if len(extras) > 0 {
		routes += "; " + strings.Join(extras, ", ")
	}
	line("routes", "%s", routes)

	if len(pol.TenantNames) > 0 {
		var ts []string
		for _, name := range pol.TenantNames {
			ts = append(ts, describeTenant(pol.Tenants[name]))
		}
		line("tenants", "%d: %s", len(ts), strings.Join(ts, ", "))
	}
	if len(pol.PluginNames) > 0 {
		var ps []string
		for _, name := range pol.PluginNames {
			ps = append(ps, describePlugin(pol.Plugins[name]))
		}
		line("plugins", "%d: %s", len(ps), strings.Join(ps, ", "))
	}
	if modules > 0 {
		if compiled {
			line("wasm", "%s: compiled and started", plural(modules, "module"))
		} else {
			line("wasm", "%s: not compiled (--no-compile)", plural(modules, "module"))
		}
	}

	workers := "auto"
	if pol.Python.Workers > 0 {
		workers = strconv.Itoa(pol.Python.Workers)
	}
	python := fmt.Sprintf("workers %s, strategy %s, isolation %s", workers, pol.Python.Strategy, pol.Python.Isolation)
	if pol.Python.Runtime != "" && pol.Python.Runtime != policy.RuntimeEmbedded {
		python += ", runtime " + pol.Python.Runtime
	}
	line("python", "%s", python)
	return b.String()
}

// describeTenant gives a tenant as NAME (TRUST; HOSTS; LIMITS).
func describeTenant(t *policy.Tenant) string {
	parts := []string{t.Trust}
	if len(t.Hosts) > 0 {
		parts = append(parts, strings.Join(t.Hosts, ", "))
	}
	var limits []string
	if !t.Limits.Rate.IsZero() {
		limits = append(limits, fmt.Sprintf("rate %s burst %d", t.Limits.Rate, t.Limits.Burst))
	}
	if t.Limits.Timeout > 0 {
		limits = append(limits, "timeout "+t.Limits.Timeout.String())
	}
	if t.Limits.Memory > 0 {
		limits = append(limits, "memory "+t.Limits.Memory.String())
	}
	if len(limits) > 0 {
		parts = append(parts, strings.Join(limits, ", "))
	}
	return fmt.Sprintf("%s (%s)", t.Name, strings.Join(parts, "; "))
}

// describePlugin gives a plugin as NAME (SIZE[, pinned]; LIMITS).
func describePlugin(pl *policy.Plugin) string {
	size := "?"
	if fi, err := os.Stat(pl.Wasm); err == nil {
		size = approxSize(fi.Size())
	}
	if pl.SHA256 != "" {
		size += ", pinned"
	}
	return fmt.Sprintf("%s (%s; memory %s, timeout %s, instances %d)",
		pl.Name, size, pl.Limits.Memory, pl.Limits.Timeout, pl.Limits.Instances)
}

// approxSize gives a file size to two or three significant digits in
// binary units: 88B, 1.2KiB, 3.2MiB.
func approxSize(n int64) string {
	const units = "KMGT"
	if n < 1024 {
		return strconv.FormatInt(n, 10) + "B"
	}
	v, u := float64(n)/1024, 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 1, 64) + string(units[u]) + "iB"
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + string(units[u]) + "iB"
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
