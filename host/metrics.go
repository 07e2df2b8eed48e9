package host

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus metrics, registered once on a
// registry of the server's own, so that reloads (which build new routers,
// pools and plugins) never register anything twice: request metrics are
// vectors whose labels are route templates, tenants and target kinds,
// never raw paths, and the workers', plugins' and reloads' numbers are
// read from whatever runs when they are scraped (see collector).
type metrics struct {
	registry *prometheus.Registry

	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	limited  *prometheus.CounterVec

	reloads       atomic.Uint64
	reloadsFailed atomic.Uint64

	// counters are the per-route and per-tenant counts /status shows,
	// kept across reloads by key.
	mu      sync.Mutex
	routes  map[string]*counts
	tenants map[string]*counts
}

// counts are one route's or tenant's answered requests, its 5xx answers
// and its 429s.
type counts struct {
	requests, errors, limited atomic.Uint64
}

// requestLabels are the labels of the request metrics: the route template
// ("" when no route matched), the tenant ("" for the operator's routes)
// and the target kind (python, wsgi, wasm, plugin; "" when no route
// matched).
var requestLabels = []string{"route", "tenant", "target"}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tandem_http_requests_total",
			Help: "Requests answered, by route template, tenant, target kind and status code.",
		}, append(requestLabels, "code")),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tandem_http_errors_total",
			Help: "Requests answered with a 5xx status, by route template, tenant and target kind.",
		}, requestLabels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tandem_http_request_duration_seconds",
			Help:    "Time from routing to the end of the response, by route template, tenant and target kind.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, requestLabels),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tandem_tenant_rate_limited_total",
			Help: "Requests answered 429 because the tenant's rate limit was reached.",
		}, []string{"tenant"}),
		routes:  map[string]*counts{},
		tenants: map[string]*counts{},
	}
	m.registry.MustRegister(m.requests, m.errors, m.duration, m.limited,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{s: s})
	return m
}

// routeCounts returns the counts kept for a route across reloads.
func (m *metrics) routeCounts(key string) *counts {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.routes[key]
	if c == nil {
		c = &counts{}
		m.routes[key] = c
	}
	return c
}

// tenantCounts returns the counts kept for a tenant across reloads.
func (m *metrics) tenantCounts(name string) *counts {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.tenants[name]
	if c == nil {
		c = &counts{}
		m.tenants[name] = c
	}
	return c
}

// observe records one answered request.
func (m *metrics) observe(route, tenant, target string, status int, took time.Duration) {
	m.requests.WithLabelValues(route, tenant, target, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route, tenant, target).Observe(took.Seconds())
	if status >= 500 {
		m.errors.WithLabelValues(route, tenant, target).Inc()
	}
	if status == 429 && tenant != "" {
		m.limited.WithLabelValues(tenant).Inc()
	}
}

// collector reads, at each scrape, the numbers of what runs now: the
// Python workers, the plugins' pools and the reloads. Nothing in it is
// registered per generation, so reloads cannot register it twice.
type collector struct{ s *Server }

var (
	descWorkerRequests = prometheus.NewDesc("tandem_python_worker_requests_total",
		"Requests served by a Python worker since it started.", []string{"worker", "cpu"}, nil)
	descWorkerBusy = prometheus.NewDesc("tandem_python_worker_busy_seconds_total",
		"Time a Python worker spent running requests since it started.", []string{"worker", "cpu"}, nil)
	descQueue = prometheus.NewDesc("tandem_python_queue_depth",
		"Python requests waiting for a worker (one queue feeds every worker).", nil, nil)
	descWorkers = prometheus.NewDesc("tandem_python_workers",
		"Python workers serving the current policy.", nil, nil)
	descOverran = prometheus.NewDesc("tandem_python_deadline_overruns_total",
		"Python handlers still running at their request's deadline, by what stopped them: interrupted (tandem.HandlerTimeout raised in them), replaced (their worker replaced), or returned (they ended on their own first).", []string{"outcome"}, nil)
	descAbandoned = prometheus.NewDesc("tandem_python_abandoned_threads",
		"Threads of replaced Python workers still running a handler that would not stop.", nil, nil)
	descInstances = prometheus.NewDesc("tandem_sandbox_instances",
		"Plugin instances alive, by plugin, tenant and state (idle or busy).", []string{"plugin", "tenant", "state"}, nil)
	descInstantiations = prometheus.NewDesc("tandem_sandbox_instantiations_total",
		"Plugin instances started, failed starts included.", []string{"plugin", "tenant"}, nil)
	descTraps = prometheus.NewDesc("tandem_sandbox_traps_total",
		"Plugin calls that trapped, panicked or exited.", []string{"plugin", "tenant"}, nil)
	descTimeouts = prometheus.NewDesc("tandem_sandbox_timeouts_total",
		"Plugin calls stopped at their deadline.", []string{"plugin", "tenant"}, nil)
	descViolations = prometheus.NewDesc("tandem_sandbox_abi_violations_total",
		"Plugin calls stopped for breaking a rule of the http-wasm ABI.", []string{"plugin", "tenant"}, nil)
	descRejected = prometheus.NewDesc("tandem_sandbox_rejected_total",
		"Requests answered 503 because every instance of the plugin stayed busy.", []string{"plugin", "tenant"}, nil)
	descWaits = prometheus.NewDesc("tandem_sandbox_waits_total",
		"Requests that waited for a plugin instance.", []string{"plugin", "tenant"}, nil)
	descReloads = prometheus.NewDesc("tandem_policy_reloads_total",
		"Policy reloads, by result (ok or failed).", []string{"result"}, nil)
	descLoaded = prometheus.NewDesc("tandem_policy_loaded_timestamp_seconds",
		"When the policy being served was loaded (Unix time).", nil, nil)
	descInfo = prometheus.NewDesc("tandem_build_info",
		"Versions of tandem and what it runs, as labels; the value is 1.", []string{"version", "python", "isolation"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descWorkerRequests, descWorkerBusy, descQueue, descWorkers, descOverran, descAbandoned,
		descInstances, descInstantiations, descTraps, descTimeouts, descViolations, descRejected, descWaits,
		descReloads, descLoaded, descInfo} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	g := s.cur.Load()
	if g == nil {
		return
	}
	if g.py != nil {
		workers := g.py.pool.Workers()
		ch <- prometheus.MustNewConstMetric(descWorkers, prometheus.GaugeValue, float64(len(workers)))
		for _, w := range workers {
			idx, cpu := strconv.Itoa(w.Index), strconv.Itoa(w.CPU)
			ch <- prometheus.MustNewConstMetric(descWorkerRequests, prometheus.CounterValue, float64(w.Served), idx, cpu)
			ch <- prometheus.MustNewConstMetric(descWorkerBusy, prometheus.CounterValue, w.Busy.Seconds(), idx, cpu)
		}
		ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(g.py.pool.QueueDepth()))
		d := g.py.pool.Deadlines()
		returned := d.Overran - min(d.Overran, d.Interrupted+d.Replaced)
		ch <- prometheus.MustNewConstMetric(descOverran, prometheus.CounterValue, float64(d.Interrupted), "interrupted")
		ch <- prometheus.MustNewConstMetric(descOverran, prometheus.CounterValue, float64(d.Replaced), "replaced")
		ch <- prometheus.MustNewConstMetric(descOverran, prometheus.CounterValue, float64(returned), "returned")
		ch <- prometheus.MustNewConstMetric(descAbandoned, prometheus.GaugeValue, float64(d.Abandoned))
	} else {
		ch <- prometheus.MustNewConstMetric(descWorkers, prometheus.GaugeValue, 0)
	}
	// Two compiled variants of one plugin (a tenant's lower memory limit)
	// serve different tenants; should a pair repeat anyway, the first is
	// reported, as a registry refuses the same labels twice.
	seen := map[[2]string]bool{}
	for _, sp := range g.plugins {
		name := sp.plugin.Name()
		for _, pool := range sp.plugin.Pools() {
			st, t := pool.Stats(), pool.Tenant()
			if seen[[2]string{name, t}] {
				continue
			}
			seen[[2]string{name, t}] = true
			ch <- prometheus.MustNewConstMetric(descInstances, prometheus.GaugeValue, float64(st.Idle), name, t, "idle")
			ch <- prometheus.MustNewConstMetric(descInstances, prometheus.GaugeValue, float64(st.Busy), name, t, "busy")
			ch <- prometheus.MustNewConstMetric(descInstantiations, prometheus.CounterValue, float64(st.Instantiations), name, t)
			ch <- prometheus.MustNewConstMetric(descTraps, prometheus.CounterValue, float64(st.Traps), name, t)
			ch <- prometheus.MustNewConstMetric(descTimeouts, prometheus.CounterValue, float64(st.Timeouts), name, t)
			ch <- prometheus.MustNewConstMetric(descViolations, prometheus.CounterValue, float64(st.ABIViolations), name, t)
			ch <- prometheus.MustNewConstMetric(descRejected, prometheus.CounterValue, float64(st.Rejected), name, t)
			ch <- prometheus.MustNewConstMetric(descWaits, prometheus.CounterValue, float64(st.Waits), name, t)
		}
	}
	m := s.metrics
	ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(m.reloads.Load()), "ok")
	ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(m.reloadsFailed.Load()), "failed")
	ch <- prometheus.MustNewConstMetric(descLoaded, prometheus.GaugeValue, float64(g.loadedAt.UnixNano())/1e9)
	python, iso := "", ""
	if s.rt != nil {
		python = s.rt.Version
	}
	if g.py != nil {
		iso = string(g.py.pool.Config().Isolation)
	}
	ch <- prometheus.MustNewConstMetric(descInfo, prometheus.GaugeValue, 1, s.opts.Version, python, iso)
}
