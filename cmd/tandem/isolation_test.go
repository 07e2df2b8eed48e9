package main_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// isolationPolicy serves the same two guests to three tenants and to the
// operator: testdata/whoami.wasm as the plugin `who` (three instances per
// tenant) and host/testdata/guests/counter.wasm as a `wasm:` handler (one
// instance per tenant, sandbox.limits). Both keep state in their
// instances, so a request served by another tenant's instance would show.
const isolationPolicy = `version: 1
sandbox:
  limits: {instances: 1}
plugins:
  who:
    wasm: %[1]s
    limits: {instances: 3}
tenants:
  x: {hosts: [x.localhost], trust: untrusted}
  y: {hosts: [y.localhost], trust: untrusted}
  z: {hosts: ["*.z.localhost"], trust: untrusted}
routes:
  - {path: /who, tenant: x, handler: {plugin: who}}
  - {path: /who, tenant: y, handler: {plugin: who}}
  - {path: /who, tenant: z, handler: {plugin: who}}
  - {path: /who, handler: {plugin: who}}
  - {path: /count, tenant: x, handler: {wasm: %[2]s}}
  - {path: /count, tenant: y, handler: {wasm: %[2]s}}
  - {path: /count, handler: {wasm: %[2]s}}
  - {path: /xonly, tenant: x, handler: {wasm: %[3]s}}
`

// tenantOf is the tenant a Host belongs to under isolationPolicy ("" for
// the operator), as the server matches it: without the port, in any
// case, with or without a final dot.
func tenantOf(host string) string {
	h := strings.ToLower(host)
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	switch {
	case h == "x.localhost":
		return "x"
	case h == "y.localhost":
		return "y"
	case strings.HasSuffix(h, ".z.localhost") && !strings.Contains(strings.TrimSuffix(h, ".z.localhost"), "."):
		return "z"
	}
	return ""
}

func isolationServer(t *testing.T) *server {
	t.Helper()
	guests := filepath.Join(repoRoot, "host", "testdata", "guests")
	dir := writeFiles(t, map[string]string{"tandem.yaml": fmt.Sprintf(isolationPolicy,
		filepath.Join(repoRoot, "cmd", "tandem", "testdata", "whoami.wasm"),
		filepath.Join(guests, "counter.wasm"), filepath.Join(guests, "hello.wasm"))})
	return startServe(t, "--no-access-log", "--policy", filepath.Join(dir, "tandem.yaml"))
}

func getHost(t *testing.T, client *http.Client, addr, host, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+addr+path, nil)
	require.NoError(t, err)
	req.Host = host
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestTenantIsolation checks that a request is only ever served by an
// instance of its own tenant's pool: instances keep state between
// requests (a count, the first Host they served), and no tenant's
// requests ever see another's.
func TestTenantIsolation(t *testing.T) {
	srv := isolationServer(t)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	defer client.CloseIdleConnections()

	t.Run("counts are per tenant", func(t *testing.T) {
		// One instance per tenant: each tenant's requests, sent one at a
		// time, are counted 1, 2, 3... however the tenants interleave. One
		// instance shared by all would count 1 to 15.
		seq := []string{"x.localhost", "y.localhost", "x.localhost", "x.localhost", "localhost",
			"y.localhost", "X.LOCALHOST", "y.localhost.", "other.localhost", "x.localhost",
			"localhost", "y.localhost", "x.localhost:80", "y.localhost", "localhost"}
		seen := map[string]int{}
		for i, host := range seq {
			code, body := getHost(t, client, srv.addr, host, "/count")
			require.Equal(t, http.StatusOK, code, "request %d (%s): %s", i, host, body)
			seen[tenantOf(host)]++
			assert.Equal(t, strconv.Itoa(seen[tenantOf(host)]%10), body,
				"request %d, Host %s: the count of tenant %q's instance", i, host, tenantOf(host))
		}
	})

	t.Run("instances serve one tenant", func(t *testing.T) {
		// Many clients at once on /who, three instances per tenant: every
		// answer's first Host is of the requesting tenant, and no instance
		// counts more requests than its tenant sent.
		hosts := []string{"x.localhost", "X.localhost.", "y.localhost", "y.localhost:8080",
			"a.z.localhost", "b.z.localhost", "C.Z.LOCALHOST", "localhost", "other.localhost"}
		const clients, each = 16, 60
		var mu sync.Mutex
		sent := map[string]int{}
		maxN := map[string]int{}
		var bad []string
		var wg sync.WaitGroup
		for c := range clients {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(c), 7))
				for range each {
					host := hosts[rng.IntN(len(hosts))]
					req, _ := http.NewRequest("GET", "http://"+srv.addr+"/who", nil)
					req.Host = host
					resp, err := client.Do(req)
					var body []byte
					if err == nil {
						body, err = io.ReadAll(resp.Body)
						resp.Body.Close()
					}
					mu.Lock()
					sent[tenantOf(host)]++
					switch f := strings.Fields(string(body)); {
					case err != nil:
						bad = append(bad, fmt.Sprintf("%s: %v", host, err))
					case resp.StatusCode != http.StatusOK || len(f) != 3:
						bad = append(bad, fmt.Sprintf("%s: %d %q", host, resp.StatusCode, body))
					case f[1] != host:
						bad = append(bad, fmt.Sprintf("%s: the guest saw Host %q", host, f[1]))
					case tenantOf(f[0]) != tenantOf(host):
						bad = append(bad, fmt.Sprintf("Host %s (tenant %q) was served by an instance that first served %s (tenant %q)",
							host, tenantOf(host), f[0], tenantOf(f[0])))
					default:
						n, _ := strconv.Atoi(f[2])
						maxN[tenantOf(host)] = max(maxN[tenantOf(host)], n)
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		require.Zero(t, len(bad), "%d of %d requests were wrong; the first: %s", len(bad), clients*each,
			strings.Join(bad[:min(len(bad), 5)], "; "))
		for tenant, n := range maxN {
			assert.LessOrEqual(t, n, sent[tenant], "an instance of tenant %q counted more requests than the tenant sent", tenant)
		}
		assert.Len(t, maxN, 4, "every tenant and the operator were served")
	})

	t.Run("routes are per tenant", func(t *testing.T) {
		code, _ := getHost(t, client, srv.addr, "x.localhost", "/xonly")
		assert.Equal(t, http.StatusOK, code)
		for _, host := range []string{"y.localhost", "a.z.localhost", "localhost", "x.z.localhost"} {
			code, body := getHost(t, client, srv.addr, host, "/xonly")
			assert.Equal(t, http.StatusNotFound, code, "Host %s reached tenant x's route: %s", host, body)
		}
	})
	assert.NotContains(t, srv.logs(), "level=ERROR")
}

// TestIsolationGuestMatchesWat checks that testdata/whoami.wasm is what
// wat2wasm makes of whoami.wat.
func TestIsolationGuestMatchesWat(t *testing.T) {
	wat2wasm, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Skip("wat2wasm (wabt) is not installed")
	}
	out := filepath.Join(t.TempDir(), "out.wasm")
	wat := filepath.Join(repoRoot, "cmd", "tandem", "testdata", "whoami.wat")
	log, err := exec.Command(wat2wasm, wat, "-o", out).CombinedOutput()
	require.NoError(t, err, "%s", log)
	want, err := os.ReadFile(out)
	require.NoError(t, err)
	got, err := os.ReadFile(strings.TrimSuffix(wat, ".wat") + ".wasm")
	require.NoError(t, err)
	assert.Equal(t, want, got, "testdata/whoami.wasm is stale: run wat2wasm whoami.wat -o whoami.wasm")
}
