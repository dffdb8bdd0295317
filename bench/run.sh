#!/bin/sh
# Reproduces the figures in BENCHMARKS.md: a governor (memory store) on a
# private socket, pinned to CPU 0, and bench/ag-load pinned to CPU 1, on
# this one machine. Each run: saturating first, then open loop at half the
# saturating rate for the latency figures.
#   sh bench/run.sh [BUILD_DIR] [SECONDS]
set -eu
b=$(cd "${1:-build}" && pwd)
secs=${2:-10}
load="$b/bench/ag-load"
d=$(mktemp -d /tmp/ag-bench.XXXXXX)
gov=""
trap '[ -n "$gov" ] && kill "$gov" 2>/dev/null; rm -rf "$d"' EXIT INT TERM
printf '[governor]\nsocket = %s/gov.sock\nuser_socket =\nmax_clients = 8192\nstate_file =\n' "$d" > "$d/bench.conf"
taskset -c 0 "$b/authguard-governor" -f -c "$d/bench.conf" 2>"$d/governor.log" &
gov=$!
i=0; while [ ! -S "$d/gov.sock" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done

run() { # label, ag-load arguments...
	label=$1; shift
	echo "### $label: ag-load $*"
	taskset -c 1 "$load" -s "$d/gov.sock" -t 1 -d "$secs" "$@" | grep -E '^(attempts|problems|deny rules|throughput|latency|cpu)'
	echo
}
rate_of() { taskset -c 1 "$load" -s "$d/gov.sock" -t 1 -d "$secs" "$@" | awk '/^throughput:/ {printf "%d", $2}'; }

echo "# $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo
for spec in "cycles:-m cycles -c 50 --precheck" "decisions:-m decisions -c 50" "decisions-p8:-m decisions -c 50 -p 8"; do
	name=${spec%%:*}; args=${spec#*:}
	# shellcheck disable=SC2086
	sat=$(rate_of $args)
	# shellcheck disable=SC2086
	run "$name saturating (measured $sat/s)" $args
	# shellcheck disable=SC2086
	run "$name open loop at half ($((sat / 2))/s)" $args -r $((sat / 2))
done
