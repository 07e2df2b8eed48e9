# tandem — build, run, test, benchmark.
#
#   make run    serve examples/hello on the embedded CPython
#   make test   every test (lint included)
#   make bench  tandem against Echo, gunicorn and uvicorn (docs/benchmarks.md)

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
BIN      := bin/tandem
STATICCHECK_VERSION := v0.8.2

# The embedded CPython is extracted once into the user cache directory; the
# tests share that extraction instead of linking 40 MB into every test binary.
PYTHON_HOME = $$($(GO) run ./internal/pytest/extract)

.PHONY: all build guests run run-mixed run-multitenant test test-go lint bench bench-quick bench-dispatch bench-scaling bench-reload clean FORCE

all: build

build: $(BIN)

$(BIN): FORCE
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/tandem

# The example WebAssembly guests, built from source with upstream Go
# (GOOS=wasip1, -buildmode=c-shared); Go-built .wasm files are not committed.
guests:
	sh examples/guests/build.sh bin/guests

run: build
	./$(BIN) serve --policy examples/hello/tandem.yaml

# The other examples, with the guests they use (see each README).
run-mixed: build guests
	./$(BIN) serve --policy examples/mixed/tandem.yaml

run-multitenant: build guests
	./$(BIN) serve --policy examples/multitenant/tandem.yaml

test: lint test-go test-fuzz

test-go:
	home=$(PYTHON_HOME) && TANDEM_PYTHON_HOME=$$home $(GO) test -count=1 ./...

# Fuzzing (docs/reliability.md): every fuzz target, one after the other (go
# test -fuzz takes one target of one package), for FUZZTIME each with `make
# fuzz`, and in `make test` for a number of executions each (about 10 s
# here). The CI budget is a count, not a duration: Go 1.26 can fail a fuzz
# run whose -fuzztime deadline races a worker still running an input, with
# "context deadline exceeded" and no failing input (golang/go#75804, fixed
# in Go 1.27); a count never meets that deadline. A failing input is written
# to the package's testdata/fuzz/FuzzX/. FUZZFLAGS adds go test flags, like
# -parallel 1 on a busy machine. Minimizing each new input could take 60 s
# (the default), with no fuzzing meanwhile; 5 s (100 runs in CI) is plenty.
FUZZTIME     ?= 2m
FUZZFLAGS    ?=
# package:target:executions in make test
FUZZ_TARGETS := policy:FuzzParse:20000 sandbox:FuzzHostFunctions:20000 native/topology:FuzzParseCPUList:100000 host:FuzzPythonRequest:1500

# $(1): the -fuzztime of each target ("" for its CI count); $(2): -fuzzminimizetime.
define fuzz_targets
home=$(PYTHON_HOME) && failed= && for t in $(FUZZ_TARGETS); do \
	pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; count=$${rest#*:}; time=$(1); \
	[ -n "$$time" ] || time=$${count}x; \
	echo "== $$pkg $$name, $$time"; \
	TANDEM_PYTHON_HOME=$$home $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $$time -fuzzminimizetime $(2) \
		$(FUZZFLAGS) ./$$pkg/ || failed="$$failed $$pkg:$$name"; \
done; if [ -n "$$failed" ]; then echo "fuzzing failed:$$failed"; exit 1; fi
endef

.PHONY: fuzz test-fuzz
fuzz:
	$(call fuzz_targets,$(FUZZTIME),5s)

test-fuzz:
	$(call fuzz_targets,,100x)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

# tandem, Echo-in-Go, gunicorn and uvicorn side by side with wrk: the trivial
# JSON handler, a CPU-bound one, one Wasm middleware. Installs wrk, gunicorn
# and uvicorn from Debian when missing; prints one table and writes
# docs/img/bench.svg; about 8 minutes (shorter: BENCH_FLAGS="-d 4s -rounds 3").
BENCH_FLAGS ?=
bench: build
	$(GO) run ./bench -bin $(BIN) $(BENCH_FLAGS) compare

# A smoke run of the same (2 s per contender, one round; chart in bin/).
bench-quick: build
	$(GO) run ./bench -bin $(BIN) -quick -svg bin/bench-quick.svg $(BENCH_FLAGS) compare

# Pool dispatch overhead against a direct call on the worker thread.
bench-dispatch:
	home=$(PYTHON_HOME) && TANDEM_PYTHON_HOME=$$home $(GO) test -run '^$$' -bench BenchmarkDispatch -benchtime 20000x -count 3 ./native/

# Throughput with 1 and 2 workers through `tandem serve` and wrk; startup and memory.
bench-scaling: build
	$(GO) run ./bench -bin $(BIN) scaling memory

# Reloading a 1,000-route policy: reload time by case and phase, in process
# (Go benchmark), then request latency before and during reloads of
# `tandem serve` under load.
bench-reload: build
	home=$(PYTHON_HOME) && TANDEM_PYTHON_HOME=$$home $(GO) test -run '^$$' -bench BenchmarkReload1000 -benchtime 15x ./host/
	$(GO) run ./bench -bin $(BIN) reload

# Tenant isolation under load (docs/reliability.md): tenant a flooded past its
# pool and its rate limit (503, 429) while tenants b (Wasm) and c (Python) get
# a steady load; their p50 and p99 unloaded and flooded, side by side, in
# alternating phases, and a control phase with one CPU busy outside tandem.
# About 105 s. Exits 1 if b or c get anything but their own
# 200 or a gets no 503/429 (ISOLATION_FLAGS=-strict: also over 2x latency).
ISOLATION_FLAGS ?=
.PHONY: bench-isolation soak
bench-isolation: build
	$(GO) run ./bench/isolation -bin $(BIN) $(ISOLATION_FLAGS)

# A bounded soak on loopback (docs/reliability.md): SOAK of mixed Python,
# WSGI and Wasm load with failing and timing-out slices and a reload every
# 10 s; prints the RSS, threads and goroutines curve, writes bin/soak.csv and
# docs/img/soak.svg, and exits 1 on a leak or an unexpected answer. A smoke
# run: make soak SOAK=30s SOAK_FLAGS="-reload 5s -sample 2s -svg bin/soak.svg"
SOAK       ?= 3m
SOAK_FLAGS ?=
soak: build
	$(GO) run ./bench/soak -bin $(BIN) -d $(SOAK) $(SOAK_FLAGS)

clean:
	rm -rf bin
