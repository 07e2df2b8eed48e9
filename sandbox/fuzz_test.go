package sandbox

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// FuzzHostFunctions calls every host function, as a guest would (through
// testdata/fuzz.wat), with arbitrary pointers, lengths and values, before
// and after next, with and without features, and then writes the
// response. Whatever the arguments, the host never panics and never fails
// with a Go runtime error: a call either works or stops the guest with an
// ABI violation (or, reading the body, a request error).
//
//	go test -run '^$' -fuzz FuzzHostFunctions -fuzztime 1m ./sandbox/
func FuzzHostFunctions(f *testing.F) {
	wasm, err := os.ReadFile(filepath.Join("testdata", "fuzz.wasm"))
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	engine, err := NewEngine(ctx, EngineConfig{CacheDir: f.TempDir(), Logger: discardLogger()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = engine.Close(ctx) })
	plugin, err := engine.Compile(ctx, PluginConfig{Name: "fuzz", Wasm: wasm, Config: []byte("config"),
		Limits: Limits{Instances: 1, Timeout: 10 * time.Second}})
	if err != nil {
		f.Fatal(err)
	}
	pool := plugin.Pool("")

	// Seeds: each function with plausible arguments, and some that are not.
	for i, hf := range hostFuncs {
		f.Add(uint8(i), uint32(0), uint32(16), uint32(6), uint32(64), uint32(32), uint8(0), []byte("X-A\x00hello"))
		f.Add(uint8(i), uint32(1), uint32(0), uint32(3), uint32(100), uint32(8), uint8(3), []byte("Content-Type"))
		f.Add(uint8(i), uint32(0xffffff00), uint32(0xffffffff), uint32(65530), uint32(70000), uint32(1<<31), uint8(1), []byte{})
		_ = hf
	}

	f.Fuzz(func(t *testing.T, fn uint8, a, b, c, d, e uint32, flags uint8, data []byte) {
		hf := hostFuncs[int(fn)%len(hostFuncs)]
		r := httptest.NewRequest("POST", "/fuzz?q=1", bytes.NewReader(data))
		r.Header.Set("X-A", "1")
		r.Header.Add("X-A", "two")
		r.Trailer = http.Header{"X-T": {"t"}}
		w := httptest.NewRecorder()
		w.Header().Set("X-Request-Id", "fuzz")

		inst, err := pool.acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		x := &exchange{}
		x.begin(inst, w, r)
		if flags&1 != 0 {
			x.feats |= supportedFeatures
		}
		if flags&2 != 0 {
			// After next: the response of a backend is there to read.
			x.passOn()
			if p := x.runNext(backend()); p != nil {
				t.Fatalf("backend panicked: %v", p.value)
			}
		}
		// Put the data in guest memory where the pointers may find it.
		mem := inst.mod.Memory()
		if off := a % mem.Size(); int(off)+len(data) <= int(mem.Size()) {
			mem.Write(off, data)
		}

		stack := []uint64{uint64(a), uint64(b), uint64(c), uint64(d), uint64(e)}
		stack = stack[:max(len(hf.params), len(hf.results))]
		gerr := inst.call(ctx, x, "call_"+hf.name, inst.mod.ExportedFunction("call_"+hf.name), stack)
		if gerr != nil {
			var re runtime.Error
			if errors.As(gerr.err, &re) || (gerr.outcome != outcomeViolation && gerr.outcome != outcomeHost) {
				t.Fatalf("%s(%d, %d, %d, %d, %d): the host failed: %v", hf.name, a, b, c, d, e, gerr)
			}
			pool.release(inst, false, true)
			writeError(w, r, gerr.status, "fuzz")
			return
		}
		pool.release(inst, true, true)
		x.writeResponse(w)
	})
}
