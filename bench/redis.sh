#!/bin/sh
# Reproduces the Redis store's figures in BENCHMARKS.md, on this one
# machine: a redis-server on a Unix socket (no persistence), a governor with
# backend = redis, and bench/ag-load; and, in the same run, redis-benchmark
# running the same rules (FCALL of the library the governor loaded from
# governor/redis/rules.lua, decide in check and in commit mode, keys of the
# same shape) as the ceiling the store can reach.
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
[overload]
; slots are not what is measured here: every admitted attempt gets one
max_inflight = 4096
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

# ---- the ceiling: redis-benchmark, the same rules and key shapes ----
fn=$(redis-cli -s "$d/redis.sock" FUNCTION LIST | grep -o 'authguard_[0-9a-f]*' | head -n 1)
conf="3,1000,3600000,900000,60,60000,20,10,60000,5,100,60000,86400000,2592000000,32,1000000,60000"
k=xxxxxxxxxxx # a hash's length (11); prefix "bench:" keeps them
# apart from the governor's
for mode in 0 1; do
	r0=$(cpu "$rpid")
	n=$((secs * 40000))
	echo "### ceiling: redis-benchmark -c 50, FCALL decide ($([ $mode = 1 ] && echo commit || echo check)), random keys"
	redis-benchmark -s "$d/redis.sock" -c 50 -n $n -r 1000000 -q \
		FCALL "$fn" 6 "bench:P${k}__rand_int__" "bench:S${k}__rand_int__" "bench:A${k}__rand_int__" \
		"bench:U${k}__rand_int__" "bench:H${k}__rand_int__" bench:G decide time "$conf" 0 "m__rand_int__" $mode 7 |
		tr '\r' '\n' | grep -E 'requests per second' | tail -1
	echo "redis cpu: $(minus "$(cpu "$rpid")" "$r0") s, $(per_us "$(minus "$(cpu "$rpid")" "$r0")" $n) us a call"
	echo
done

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

# flood: the default mix (1000 users, 1000 sources, 30% failures): most
# attempts are held and denied at PRECHECK (negative cache or one call).
# admitted: 100,000 users and 131,072 sources, each seen about once in a
# run: every attempt is PRECHECK, DECIDE (commit) and REPORT in Redis.
for spec in "cycles-flood:-m cycles -c 50 --precheck" \
	"cycles-admitted:-m cycles -c 50 --precheck -u 100000 -a 131072 -f 30"; do
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

# ---- Redis memory per key, through the governor ----
# The governor's keys dropped, then 2000 users x 2000 addresses, half the
# attempts failing: used_memory per key in all (expires entries, both
# dicts' buckets, client buffers), and MEMORY USAGE of 200 keys per kind.
R() { redis-cli -s "$d/redis.sock" "$@"; }
R --scan --pattern 'ag:[PSAUHG]*' | xargs -r -n 500 redis-cli -s "$d/redis.sock" UNLINK >/dev/null
R --scan --pattern 'bench:*' | xargs -r -n 500 redis-cli -s "$d/redis.sock" UNLINK >/dev/null
sleep 1
used() { R INFO memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p'; }
nk() { R DBSIZE; }
m0=$(used); k0=$(nk)
"$load" -s "$d/gov.sock" -t 1 -d 3 -m cycles -c 4 -u 2000 -a 2000 -f 50 >/dev/null
m1=$(used); k1=$(nk)
echo "### memory: $((k1 - k0)) keys, used_memory +$((m1 - m0)) bytes, $(((m1 - m0) / (k1 - k0))) a key in all"
for kind in P S A U H; do
	R --scan --pattern "ag:$kind*" | head -n 200 >"$d/k.$kind"
	n=$(wc -l <"$d/k.$kind")
	[ "$n" -gt 0 ] || continue
	sum=0 n=0
	while read -r key; do
		u=$(R MEMORY USAGE "$key")
		case $u in '' | *[!0-9]*) continue ;; esac # expired since the scan
		sum=$((sum + u)) n=$((n + 1))
	done <"$d/k.$kind"
	[ "$n" -gt 0 ] || continue
	echo "MEMORY USAGE $kind: $((sum / n)) bytes (mean of $n keys, key $(head -n 1 "$d/k.$kind" | tr -d '\n' | wc -c) bytes)"
done
