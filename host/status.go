package host

import (
	"time"

	"github.com/tandemhost/tandem/native/topology"
)

// Status is the document the admin listener serves at /status and the
// dashboard reads: what runs, where, and its counters since start. Field
// names are its JSON contract; durations are in seconds (floating point)
// unless the name says otherwise.
type Status struct {
	// Version is tandem's version; Go, Wazero and Python the versions of
	// what it runs on ("" when no Python runs).
	Version string `json:"version"`
	Go      string `json:"go"`
	Wazero  string `json:"wazero"`
	Python  string `json:"python"`
	// Isolation is "own_gil" or "shared", as the workers run.
	Isolation string `json:"isolation"`
	// StartedAt is when the process started serving; Uptime is seconds
	// since.
	StartedAt time.Time `json:"started_at"`
	Uptime    float64   `json:"uptime_seconds"`
	// Ready is what /readyz says: a policy is served and its workers and
	// plugins are up.
	Ready bool `json:"ready"`

	Policy StatusPolicy `json:"policy"`
	// Topology is the machine as `tandem topology --json` shows it; nil
	// when it could not be read.
	Topology *topology.Topology `json:"topology"`
	// Placement is the worker plan in words, like "2 workers pinned to
	// CPUs 0,1; GOMAXPROCS 4".
	Placement string `json:"placement"`

	Workers []StatusWorker `json:"workers"`
	// QueueDepth is how many Python requests wait for a worker now.
	QueueDepth int `json:"queue_depth"`

	Routes  []StatusRoute  `json:"routes"`
	Tenants []StatusTenant `json:"tenants"`
	Plugins []StatusPlugin `json:"plugins"`
}

// StatusPolicy is the policy being served.
type StatusPolicy struct {
	File     string    `json:"file"`
	Digest   string    `json:"digest"` // hex SHA-256 of the file
	LoadedAt time.Time `json:"loaded_at"`
	// Reloads counts reloads since start, Failed those refused; LastError
	// is why the last refused one was ("" if none was).
	Reloads   uint64 `json:"reloads"`
	Failed    uint64 `json:"reloads_failed"`
	LastError string `json:"last_error"`
}

// StatusWorker is one Python worker.
type StatusWorker struct {
	Index int `json:"index"`
	// CPU is the logical CPU it is pinned to, -1 when unpinned; Core is
	// that CPU's physical core (index into Topology.Cores), -1 when
	// unpinned or unknown.
	CPU         int     `json:"cpu"`
	Core        int     `json:"core"`
	ThreadID    int     `json:"thread_id"`
	Interpreter int64   `json:"interpreter"`
	Served      uint64  `json:"served"`
	Busy        float64 `json:"busy_seconds"`
	// Interrupted counts handlers on this slot stopped at their deadline;
	// Replaced the workers of this slot replaced because one would not
	// stop.
	Interrupted uint64 `json:"interrupted"`
	Replaced    uint64 `json:"replaced"`
}

// StatusRoute is one route of the policy, with its counters.
type StatusRoute struct {
	Path    string   `json:"path"`
	Methods []string `json:"methods"` // nil: every method
	Tenant  string   `json:"tenant"`  // "" for the operator's
	// Target is the handler's kind ("python", "wsgi", "wasm", "plugin")
	// and Handler what it names ("app:hello", "auth", "wasm:x.wasm").
	Target     string   `json:"target"`
	Handler    string   `json:"handler"`
	Middleware []string `json:"middleware"` // plugin names and "python:mod:fn", outermost first
	Timeout    float64  `json:"timeout_seconds"`
	MaxBody    int64    `json:"max_body_bytes"`
	BodySchema bool     `json:"body_schema"`
	// Requests counts answered requests; Errors those answered 5xx.
	Requests uint64 `json:"requests"`
	Errors   uint64 `json:"errors"`
}

// StatusTenant is one tenant with its limits and counters.
type StatusTenant struct {
	Name  string   `json:"name"`
	Hosts []string `json:"hosts"`
	Trust string   `json:"trust"`
	Rate  string   `json:"rate"` // like "100/s"; "" when not limited
	Burst int      `json:"burst"`
	// Requests counts the tenant's answered requests; Limited those
	// answered 429.
	Requests uint64 `json:"requests"`
	Limited  uint64 `json:"limited"`
}

// StatusPlugin is one compiled plugin and its pools, one per tenant that
// uses it.
type StatusPlugin struct {
	Name      string       `json:"name"`
	Memory    int64        `json:"memory_bytes"`
	Timeout   float64      `json:"timeout_seconds"`
	Instances int          `json:"instances"` // the per-pool maximum
	Pools     []StatusPool `json:"pools"`
}

// StatusPool is a (plugin, tenant) pool of instances (see sandbox.Stats).
type StatusPool struct {
	Tenant         string  `json:"tenant"`
	Size           int     `json:"size"`
	Idle           int     `json:"idle"`
	Busy           int     `json:"busy"`
	Waits          uint64  `json:"waits"`
	WaitTime       float64 `json:"wait_seconds"`
	Rejected       uint64  `json:"rejected"`
	Instantiations uint64  `json:"instantiations"`
	Traps          uint64  `json:"traps"`
	Timeouts       uint64  `json:"timeouts"`
	ABIViolations  uint64  `json:"abi_violations"`
	Recycled       uint64  `json:"recycled"`
}
