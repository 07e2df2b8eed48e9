package main

import (
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// writeChart draws the comparison as an SVG: one group of bars per
// scenario (requests/s, each group on its own scale), each bar labelled
// with its requests/s and its ratio to the group's reference, then the
// targets. No external tools: the SVG is written by hand.
func writeChart(path string, scs []*scenario, e *env) error {
	const (
		width    = 1240
		labelW   = 300 // contender names, right-aligned at labelW
		barX     = labelW + 10
		barMax   = 380
		barH     = 22
		detailX  = barX + barMax + 220 // p99, CPU, RSS
		barGap   = 8
		font     = `font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"`
		textGray = "#4a5568"
	)
	var b strings.Builder
	y := 0
	line := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	text := func(x, y int, size int, anchor, fill, weight, s string) {
		line(`  <text x="%d" y="%d" font-size="%d" text-anchor="%s" fill="%s" font-weight="%s">%s</text>`,
			x, y, size, anchor, fill, weight, html.EscapeString(s))
	}

	y = 30
	text(20, y, 18, "start", "#1a202c", "bold", "tandem against the usual Python servers: requests/s, median of "+plural(*rounds, "round"))
	y += 20
	text(20, y, 12, "start", textGray, "normal",
		fmt.Sprintf("wrk -t%d -c%d -d%s per run, contenders alternating in each round; higher is better; each group on its own scale", *threads, *conns, *duration))
	for _, l := range e.lines {
		for _, part := range wrap(l, 150) {
			y += 16
			text(20, y, 12, "start", textGray, "normal", part)
		}
	}
	y += 14

	for _, s := range scs {
		y += 26
		text(20, y, 14, "start", "#1a202c", "bold", s.title)
		y += 10
		ref := summarize(s.entrants[s.ref])
		top := 0.0
		for _, en := range s.entrants {
			top = max(top, summarize(en).rps)
		}
		for _, en := range s.entrants {
			m := summarize(en)
			w := 1
			if top > 0 {
				w = max(1, int(m.rps/top*barMax+0.5))
			}
			y += barGap
			text(labelW, y+barH/2+5, 13, "end", "#1a202c", "normal", en.name)
			line(`  <rect x="%d" y="%d" width="%d" height="%d" rx="2" fill="%s"/>`, barX, y, w, barH, en.color)
			text(barX+w+6, y+barH/2+5, 12, "start", "#1a202c", "normal",
				fmt.Sprintf("%s req/s · %.2f× %s", thousands(m.rps), m.rps/ref.rps, s.refLabel))
			text(detailX, y+barH/2+5, 12, "start", textGray, "normal",
				fmt.Sprintf("p99 %s · CPU/req %s · RSS %.0f MiB", fmtLat(m.p99), fmtLat(m.cpu), m.rssKiB/1024))
			y += barH
		}
	}

	y += 34
	text(20, y, 14, "start", "#1a202c", "bold", "Targets")
	for _, t := range targets(scs, e) {
		y += 18
		verdict, color := t.verdict(), "#276749"
		switch {
		case t.bound:
			color = textGray
		case !t.ok:
			color = "#c53030"
		}
		text(28, y, 12, "start", textGray, "normal", t.what)
		text(480, y, 12, "start", "#1a202c", "bold", fmt.Sprintf("%.2f×", t.value))
		if sp := t.spread(); sp != "" {
			text(530, y, 12, "start", textGray, "normal", "rounds "+sp)
		}
		text(650, y, 12, "start", textGray, "normal", t.label())
		text(760, y, 12, "start", color, "bold", verdict)
	}
	y += 28
	text(20, y, 11, "start", "#a0aec0", "normal",
		fmt.Sprintf("make bench (go run ./bench compare), %s", time.Now().UTC().Format("2006-01-02")))
	y += 14

	svg := fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" %s>
  <rect width="100%%" height="100%%" fill="#ffffff"/>
%s</svg>
`, width, y, width, y, font, b.String())
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(svg), 0o644)
}

// wrap breaks s after commas and semicolons into lines of at most n
// characters where it can; the lines after the first are indented.
func wrap(s string, n int) []string {
	var out []string
	for len([]rune(s)) > n {
		r := []rune(s)
		cut := -1
		for i := n - 1; i > 0; i-- {
			if (r[i] == ',' || r[i] == ';') && i+1 < len(r) && r[i+1] == ' ' {
				cut = i + 1
				break
			}
		}
		if cut < 0 {
			break
		}
		out = append(out, string(r[:cut]))
		s = "    " + strings.TrimSpace(string(r[cut:]))
	}
	return append(out, s)
}
