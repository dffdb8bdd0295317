#!/bin/sh
# Reproduces the Redis store's figures in BENCHMARKS.md, on this one
# machine: a redis-server on a Unix socket (no persistence), a governor with
# backend = redis, and bench/ag-load; and, in the same run, redis-benchmark
# running the same script (EVALSHA of governor/redis/rules.lua, decide in
# commit mode, keys of the same shape) as the ceiling the store can reach.
# Prints each process's CPU time, and Redis's CPU per request.
#   sh bench/redis.sh [BUILD_DIR] [SECONDS]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
b=$(cd "${1:-build}" && pwd)
secs=${2:-10}
load="$b/bench/ag-load"
d=$(mktemp -d /tmp/ag-rbench.XXXXXX)
gov=""
rpid=""
trap '[ -n "$gov" ] && kill "$gov" 2>/dev/null; [ -n "$rpid" ] && kill "$rpid" 2>/dev/null; rm -rf "$d"' EXIT INT TERM

redis-server --port 0 --unixsocket "$d/redis.sock" --unixsocketperm 700 --save '' \
	--appendonly no --logfile "$d/redis.log" &
rpid=$!
i=0; until redis-cli -s "$d/redis.sock" ping >/dev/null 2>&1 || [ $i -ge 100 ]; do sleep 0.05; i=$((i+1)); done
"$b/authguard-governor" --keygen "$d/fleet.key" >/dev/null
cat >"$d/bench.conf" <<EOF
[governor]
socket = $d/gov.sock
user_socket =
max_clients = 8192
state_file =
[store]
backend = redis
redis = unix://$d/redis.sock
hash_key_file = $d/fleet.key
EOF
"$b/authguard-governor" -f -c "$d/bench.conf" 2>"$d/governor.log" &
gov=$!
i=0; until grep -q "redis: ready" "$d/governor.log" || [ $i -ge 100 ]; do sleep 0.05; i=$((i+1)); done

# CPU seconds (user + system) a process has used so far.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
# minus A B, and per_us SECONDS N: microseconds per item.
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }
per_us() { awk -v s="$1" -v n="$2" 'BEGIN { printf "%.1f", s * 1000000 / n }'; }

echo "# $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(uname -r), $(redis-server --version | cut -d' ' -f3)"
echo

# ---- the ceiling: redis-benchmark, the same script and key shapes ----
sha=$(redis-cli -s "$d/redis.sock" SCRIPT LOAD "$(cat "$top/governor/redis/rules.lua")")
conf="3,1000,3600000,900000,60,60000,20,10,60000,5,100,60000,86400000,2592000000,32,1000000,60000"
k=xxxxxxxxxxxxxxxxxxxxxx # a hash's length (22)
r0=$(cpu "$rpid")
echo "### ceiling: redis-benchmark -c 50, EVALSHA decide (commit), random keys"
redis-benchmark -s "$d/redis.sock" -c 50 -n $((secs * 40000)) -r 1000000 -q \
	EVALSHA "$sha" 6 "ag:P${k}__rand_int__" "ag:S${k}__rand_int__" "ag:A${k}__rand_int__" \
	"ag:U${k}__rand_int__" "ag:H${k}__rand_int__" ag:G decide time "$conf" 0 "m__rand_int__" 1 7 |
	tr '\r' '\n' | grep -E 'requests per second' | tail -1
echo "redis cpu: $(minus "$(cpu "$rpid")" "$r0") s"
echo

run() { # label, ag-load arguments...
	label=$1; shift
	g0=$(cpu "$gov"); r0=$(cpu "$rpid")
	echo "### $label: ag-load $*"
	"$load" -s "$d/gov.sock" -t 1 -d "$secs" "$@" >"$d/out"
	grep -E '^(attempts|problems|throughput|latency)' "$d/out"
	n=$(awk '/^throughput:/ { printf "%d", $2 * '"$secs"' }' "$d/out")
	echo "cpu: governor $(minus "$(cpu "$gov")" "$g0") s, redis $(minus "$(cpu "$rpid")" "$r0") s"
	[ "${n:-0}" -gt 0 ] && echo "redis cpu per attempt: $(per_us "$(minus "$(cpu "$rpid")" "$r0")" "$n") us"
	echo
}
rate_of() { "$load" -s "$d/gov.sock" -t 1 -d "$secs" "$@" | awk '/^throughput:/ {printf "%d", $2}'; }

for spec in "cycles:-m cycles -c 50 --precheck" "decisions-p8:-m decisions -c 50 -p 8"; do
	name=${spec%%:*}; args=${spec#*:}
	# shellcheck disable=SC2086
	sat=$(rate_of $args)
	# shellcheck disable=SC2086
	run "$name saturating (measured $sat/s)" $args
	# shellcheck disable=SC2086
	run "$name open loop at half ($((sat / 2))/s)" $args -r $((sat / 2))
done
echo "### store state after the runs"
"$b/authguardctl" -s "$d/gov.sock" status | grep -E '^(store|requests|latency)'
