package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// series is one line of a panel.
type series struct {
	name  string
	color string
	value func(sample) float64
}

// panel is one chart of the stack, sharing the time axis.
type panel struct {
	title  string
	series []series
}

var panels = []panel{
	{"resident memory (MiB)", []series{
		{"RSS", "#1f77b4", func(s sample) float64 { return s.RSSMiB }},
		{"Go heap in use", "#9ecae1", func(s sample) float64 { return s.HeapMiB }},
	}},
	{"goroutines", []series{
		{"goroutines", "#d62728", func(s sample) float64 { return s.Goroutines }},
	}},
	{"OS threads and open files", []series{
		{"threads", "#2ca02c", func(s sample) float64 { return float64(s.Threads) }},
		{"open fds", "#98df8a", func(s sample) float64 { return float64(s.FDs) }},
	}},
	{"Python workers and sandbox instances (current policy)", []series{
		{"Python workers", "#9467bd", func(s sample) float64 { return s.Workers }},
		{"instances", "#ff7f0e", func(s sample) float64 { return s.Instances }},
	}},
}

var reloadColors = []string{"#bbbbbb", "#f4a582", "#92c5de"}

// chart draws the samples under load as stacked line charts over time,
// each from zero, with a vertical line at each reload.
func chart(samples []sample, reloads []reloadEvent, title string) string {
	var under []sample
	for _, s := range samples {
		if !s.After {
			under = append(under, s)
		}
	}
	const (
		width   = 900
		left    = 60
		right   = 20
		top     = 72
		panelH  = 130
		gap     = 45
		bottom  = 40
		plotW   = width - left - right
		legendY = 38
	)
	height := top + len(panels)*(panelH+gap) - gap + bottom
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(title))
	// Reload legend.
	x := left
	for i, k := range reloadKinds {
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>`, x, legendY-9, x, legendY+1, reloadColors[i])
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s reload</text>`+"\n", x+5, legendY, k.name)
		x += 130
	}
	if len(under) == 0 {
		b.WriteString("</svg>\n")
		return b.String()
	}
	tmax := under[len(under)-1].T
	for _, r := range reloads {
		tmax = max(tmax, r.T)
	}
	tmax = math.Max(tmax, 1)
	xOf := func(t float64) float64 { return left + t/tmax*plotW }

	for pi, p := range panels {
		y0 := top + pi*(panelH+gap) // panel top
		ymax := 0.0
		for _, s := range under {
			for _, se := range p.series {
				ymax = max(ymax, se.value(s))
			}
		}
		step := niceStep(ymax / 4)
		ymax = math.Max(step*math.Ceil(ymax/step), step)
		yOf := func(v float64) float64 { return float64(y0+panelH) - v/ymax*panelH }
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", left, y0-8, html.EscapeString(p.title))
		// Grid and y labels.
		for v := 0.0; v <= ymax+step/2; v += step {
			y := yOf(v)
			fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eeeeee"/>`, left, y, left+plotW, y)
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" fill="#555555">%s</text>`+"\n", left-6, y+4, fmtTick(v))
		}
		// Reloads.
		for _, r := range reloads {
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="1.5"/>`+"\n",
				xOf(r.T), y0, xOf(r.T), y0+panelH, reloadColors[r.Kind])
		}
		// Lines, and the legend at the right end of the title row.
		lx := left + plotW
		for si := len(p.series) - 1; si >= 0; si-- {
			se := p.series[si]
			var pts []string
			for _, s := range under {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(s.T), yOf(se.value(s))))
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", se.color, strings.Join(pts, " "))
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" fill="%s">%s</text>`+"\n", lx, y0-8, se.color, html.EscapeString(se.name))
			lx -= 8 + 7*len(se.name)
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999999"/>`+"\n", left, y0, plotW, panelH)
		// Time labels under the last panel.
		if pi == len(panels)-1 {
			tstep := niceStep(tmax / 8)
			for t := 0.0; t <= tmax+tstep/100; t += tstep {
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555555">%s</text>`, xOf(t), y0+panelH+16, fmtTick(t))
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">seconds</text>`+"\n", left+plotW/2, y0+panelH+34)
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// niceStep rounds a raw step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func fmtTick(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}
