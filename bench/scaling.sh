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
#   bench/scaling.sh [-b bin/tandem] [-w "1 2 4 8"] [-s "pinned pooled"]
#                    [-k "burn hello"] [-a] [-e echoserver] [-S cpus] [-W cpus]
#                    [-d 5s] [-r 3] [-o dir]
#
#   -s  the strategies to scale (shared mode runs at the largest count when
#       pooled is among them)
#   -k  the handlers: burn (CPU-bound) and hello (trivial)
#   -a  also serve with workers: auto, strategy: auto (what a user gets)
#   -e  also run this Echo binary (bench/echoserver) on the trivial handler
#   -p  also run the CPU-bound loop in N separate python3 processes, no HTTP
#       (the embedded CPython's executable): how the machine itself scales
#       N busy CPUs, beside which tandem's N workers are judged
#   -S  run the servers on these CPUs only (taskset -c, e.g. 0-11)
#   -W  run wrk on these CPUs only (e.g. 12-15), so it takes none of theirs
#
# Raw wrk outputs and the summary go to -o (default bench/results/scaling).
set -euo pipefail
shopt -s nullglob

bin=bin/tandem workers="1 2 4 8" strategies="pinned pooled" kinds="burn hello" auto= echo= procs=
dur=5s rounds=3 out=bench/results/scaling scpus= wcpus=
usage="usage: $0 [-b bin] [-w workers] [-s strategies] [-k kinds] [-a] [-e echoserver] [-p] [-S cpus] [-W cpus] [-d duration] [-r rounds] [-o dir]"
while getopts "b:w:s:k:ae:pS:W:d:r:o:" opt; do
	case $opt in
	b) bin=$OPTARG ;;
	w) workers=$OPTARG ;;
	s) strategies=$OPTARG ;;
	k) kinds=$OPTARG ;;
	a) auto=1 ;;
	e) echo=$OPTARG ;;
	p) procs=1 ;;
	S) scpus=$OPTARG ;;
	W) wcpus=$OPTARG ;;
	d) dur=$OPTARG ;;
	r) rounds=$OPTARG ;;
	o) out=$OPTARG ;;
	*) echo "$usage" >&2; exit 2 ;;
	esac
done
command -v wrk >/dev/null || { echo "scaling.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
[ -x "$bin" ] || { echo "scaling.sh: no tandem binary at $bin (make build)" >&2; exit 1; }
[ -z "$echo" ] || [ -x "$echo" ] || { echo "scaling.sh: no Echo server at $echo (go build -o $echo ./bench/echoserver)" >&2; exit 1; }
for s in $strategies; do
	case $s in pinned | pooled) ;; *) echo "scaling.sh: -s: unknown strategy $s (pinned, pooled)" >&2; exit 2 ;; esac
done
for k in $kinds; do
	case $k in burn | hello) ;; *) echo "scaling.sh: -k: unknown handler $k (burn, hello)" >&2; exit 2 ;; esac
done
# Prefixes that put servers and wrk on their CPUs (empty: anywhere).
spin=() wpin=()
if [ -n "$scpus$wcpus" ]; then
	command -v taskset >/dev/null || { echo "scaling.sh: -S/-W need taskset (util-linux)" >&2; exit 1; }
	[ -z "$scpus" ] || spin=(taskset -c "$scpus")
	[ -z "$wcpus" ] || wpin=(taskset -c "$wcpus")
fi
mkdir -p "$out"
# Results of an earlier run (other rounds, other contenders) would mix into
# this run's medians.
rm -f "$out"/*-r*.txt
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
	if [ "$1" = echo ]; then
		"${spin[@]}" "$echo" -listen "127.0.0.1:$port" 2>"$tmp/server.log" &
	else
		"${spin[@]}" "$bin" --log-format text serve --no-access-log --no-watch --policy "$tmp/p.yaml" 2>"$tmp/server.log" &
	fi
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
	"${wpin[@]}" wrk -t"$6" -c"$7" -d"$dur" --latency "http://127.0.0.1:$port$path" >"$f" 2>&1 || true
	kill $pid 2>/dev/null || true # it may have died under load: its wrk output says so
	wait $pid 2>/dev/null || true
	printf '%s round %s: %s req/s\n' "$name" "$8" "$(awk '/Requests\/sec/{print $2}' "$f")" >&2
}

# processes N ROUND: the CPU-bound loop in N python3 processes at once for
# the run's duration, on the servers' CPUs; calls per second in wrk's format.
processes() {
	local n=$1 f="$out/burn-processes-$1-r$2.txt" secs=${dur%s} total=0 i
	for i in $(seq "$n"); do
		"${spin[@]}" "$py" -E -s -c 'import sys, time
sys.path.insert(0, sys.argv[1])
import work
work.burn()
n, end = 0, time.perf_counter() + float(sys.argv[2])
while time.perf_counter() < end:
    work.burn()
    n += 1
print(n)' "$apps" "$secs" >"$tmp/proc$i" &
	done
	wait
	local v
	for i in $(seq "$n"); do
		v=$(cat "$tmp/proc$i")
		if ! [[ $v =~ ^[0-9]+$ ]]; then
			echo "FAILED: python3 process $i of $n printed no count" >"$f"
			return 0
		fi
		total=$((total + v))
	done
	awk -v t="$total" -v s="$secs" 'BEGIN{printf "Requests/sec: %.2f\n", t / s}' >"$f"
	printf 'burn-processes-%s round %s: %s calls/s\n' "$n" "$2" "$(awk '{print $2}' "$f")" >&2
}
py=
if [ -n "$procs" ]; then
	py=$("$bin" runtime --json 2>/dev/null | grep -o '"executable": *"[^"]*"' | cut -d'"' -f4 || true)
	[ -x "$py" ] || { echo "scaling.sh: -p: no python executable from $bin runtime --json" >&2; exit 1; }
	[[ $dur =~ ^[0-9]+s$ ]] || { echo "scaling.sh: -p needs -d in whole seconds (like 5s)" >&2; exit 2; }
fi

{
	echo "# $(date -u +%FT%TZ) $(uname -srm)"
	echo "# $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "# $("$bin" version 2>&1 | head -1)"
	echo "# servers on CPUs ${scpus:-any}, wrk on CPUs ${wcpus:-any}"
} >"$out/machine.txt"
"${spin[@]}" "$bin" topology >"$out/topology.txt" 2>&1 || true
# auto's worker count, for wrk's connections: the plan's line of a server start.
autoN=$max
if [ -n "$auto" ]; then
	n=$("${spin[@]}" "$bin" topology --json 2>/dev/null | grep -o '"workers": *[0-9]*' | head -1 | grep -o '[0-9]*$' || true)
	[ -n "$n" ] && autoN=$n
fi

for r in $(seq "$rounds"); do
	for k in $kinds; do
		if [ "$k" = burn ]; then path=/burn threads=2 per=4; else path=/hello/x threads=4 per=16; fi
		for n in $workers; do
			for s in $strategies; do
				one "$k-$s-$n" "$path" "$s" own_gil "$n" "$threads" $((per * n)) "$r"
			done
		done
		if [ "$k" = burn ] && [ -n "$procs" ]; then
			for n in $workers; do processes "$n" "$r"; done
		fi
		if [ "$k" = burn ] && [[ " $strategies " == *" pooled "* ]]; then
			one "burn-shared-$max" /burn pooled shared "$max" 2 $((4 * max)) "$r"
		fi
		[ -z "$auto" ] || one "$k-auto-$autoN" "$path" auto own_gil auto "$threads" $((per * autoN)) "$r"
		if [ "$k" = hello ] && [ -n "$echo" ]; then
			one "hello-echo-$max" /hello/x echo - - "$threads" $((per * max)) "$r"
		fi
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
	for k in $kinds; do summary "$k"; done
} | tee "$out/summary.txt"
