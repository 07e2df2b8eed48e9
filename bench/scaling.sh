#!/usr/bin/env bash
# Scaling benchmark for machines with more cores than a laptop, that need
# nothing but the tandem binary and wrk (no Go toolchain, no baselines):
# the CPU-bound handler (GET /burn, about 1 ms of Python) and the trivial
# JSON handler (GET /hello/:name) at several worker counts, pinned (one
# locked OS thread per worker, each on its own core) and pooled (workers on
# Go's threads), plus shared mode at the largest count. Contenders alternate
# within each round; the summary prints medians and, for /burn, each median
# against N times the 1-worker one.
#
#   bench/scaling.sh [-b bin/tandem] [-w "1 2 4 8"] [-d 5s] [-r 3] [-o dir]
#
# Raw wrk outputs and the summary go to -o (default bench/results/scaling).
set -euo pipefail
shopt -s nullglob

bin=bin/tandem workers="1 2 4 8" dur=5s rounds=3 out=bench/results/scaling
while getopts "b:w:d:r:o:" opt; do
	case $opt in
	b) bin=$OPTARG ;;
	w) workers=$OPTARG ;;
	d) dur=$OPTARG ;;
	r) rounds=$OPTARG ;;
	o) out=$OPTARG ;;
	*) echo "usage: $0 [-b bin] [-w workers] [-d duration] [-r rounds] [-o dir]" >&2; exit 2 ;;
	esac
done
command -v wrk >/dev/null || { echo "scaling.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
[ -x "$bin" ] || { echo "scaling.sh: no tandem binary at $bin (make build)" >&2; exit 1; }
mkdir -p "$out"
apps=$(cd "$(dirname "$0")/apps" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
max=0
for n in $workers; do [ "$n" -gt "$max" ] && max=$n; done

# serve STRATEGY ISOLATION WORKERS: starts tandem on a fresh port, sets pid
# and port, and returns once /hello answers.
serve() {
	port=$((20000 + RANDOM % 20000))
	cat >"$tmp/p.yaml" <<EOF
version: 1
server:
  listen: 127.0.0.1:$port
python:
  path: [$apps]
  workers: $3
  strategy: $1
  isolation: $2
routes:
  - path: /hello/:name
    handler: {python: benchapp:hello}
  - path: /burn
    handler: {python: benchapp:burn}
    limits: {timeout: 30s}
EOF
	"$bin" --log-format text serve --no-access-log --no-watch --policy "$tmp/p.yaml" 2>"$tmp/server.log" &
	pid=$!
	for _ in $(seq 400); do
		if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
			exec 3<>/dev/tcp/127.0.0.1/$port
			printf 'GET /hello/ready HTTP/1.0\r\n\r\n' >&3
			if head -c 12 <&3 | grep -q 200; then exec 3<&-; return 0; fi
			exec 3<&-
		fi
		kill -0 $pid 2>/dev/null || break
		sleep 0.05
	done
	echo "tandem did not start ($1 $2 $3):" >&2
	cat "$tmp/server.log" >&2
	kill $pid 2>/dev/null || true
	wait $pid 2>/dev/null || true
	return 1
}

# one NAME PATH STRATEGY ISOLATION WORKERS THREADS CONNS ROUND
one() {
	local name=$1 path=$2 f="$out/$1-r$8.txt"
	if ! serve "$3" "$4" "$5"; then echo "FAILED" >"$f"; return 0; fi
	wrk -t"$6" -c"$7" -d"$dur" --latency "http://127.0.0.1:$port$path" >"$f" 2>&1 || true
	kill $pid; wait $pid 2>/dev/null || true
	printf '%s round %s: %s req/s\n' "$name" "$8" "$(awk '/Requests\/sec/{print $2}' "$f")" >&2
}

{
	echo "# $(date -u +%FT%TZ) $(uname -srm)"
	echo "# $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "# $("$bin" version 2>&1 | head -1)"
} >"$out/machine.txt"
"$bin" topology >"$out/topology.txt" 2>&1 || true

for r in $(seq "$rounds"); do
	for n in $workers; do
		for s in pinned pooled; do
			one "burn-$s-$n" /burn "$s" own_gil "$n" 2 $((4 * n)) "$r"
		done
	done
	one "burn-shared-$max" /burn pooled shared "$max" 2 $((4 * max)) "$r"
	for n in $workers; do
		for s in pinned pooled; do
			one "hello-$s-$n" /hello/x "$s" own_gil "$n" 4 $((16 * n)) "$r"
		done
	done
done

# The summary: medians over rounds.
summary() {
	local kind=$1
	echo "$kind: req/s (median of $rounds rounds), p50, p99, vs N x 1 worker of the same strategy"
	printf '%-22s %10s %10s %10s %8s  %s\n' contender "req/s" p50 p99 ratio "all rounds"
	for f in "$out/$kind"-*-r1.txt; do
		local name
		name=$(basename "$f" -r1.txt)
		local all med medf p50 p99 n s base
		all=$(for g in "$out/$name"-r*.txt; do awk '/Requests\/sec/{print $2}' "$g"; done | sort -n | tr '\n' ' ')
		med=$(echo "$all" | tr ' ' '\n' | grep . | awk '{a[NR]=$1} END{if (NR) print a[int((NR+1)/2)]}')
		# Latencies come from the median round.
		medf=$(for g in "$out/$name"-r*.txt; do echo "$(awk '/Requests\/sec/{print $2}' "$g") $g"; done |
			grep -v '^ ' | sort -n | awk '{a[NR]=$2} END{if (NR) print a[int((NR+1)/2)]}')
		p50= p99=
		if [ -n "$medf" ]; then
			p50=$(awk '$1=="50%"{print $2}' "$medf")
			p99=$(awk '$1=="99%"{print $2}' "$medf")
		fi
		n=${name##*-}
		s=${name#"$kind"-}
		s=${s%-*}
		base=$(for g in "$out/$kind-$s-1"-r*.txt; do awk '/Requests\/sec/{print $2}' "$g"; done 2>/dev/null | sort -n | awk '{a[NR]=$1} END{if (NR) print a[int((NR+1)/2)]}' || true)
		ratio=-
		if [ -n "$base" ] && [ -n "$med" ]; then ratio=$(awk -v m="$med" -v b="$base" -v n="$n" 'BEGIN{printf "%.2f", m/(n*b)}'); fi
		printf '%-22s %10s %10s %10s %8s  %s\n' "$name" "${med:-FAILED}" "${p50:--}" "${p99:--}" "$ratio" "$all"
	done | sort -t- -k2,2 -k3,3n
	echo
}
{
	cat "$out/machine.txt"
	echo
	summary burn
	summary hello
} | tee "$out/summary.txt"
