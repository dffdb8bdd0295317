#!/bin/sh
# Reproduces the Redis store's figures in BENCHMARKS.md, on this one
# machine: a redis-server on a Unix socket (no persistence), a governor with
# backend = redis, and bench/ag-load; and, in the same run, redis-benchmark
# running the same rules (FCALL of the library the governor loaded from
# governor/redis/rules.lua, decide in check and in commit mode, keys of the
# same shape) as the ceiling the store can reach.
# Prints each process's CPU time, and Redis's CPU per request.
# On 2 cores or more, redis-server runs on CPU 1 and everything else
# (governor, ag-load, redis-benchmark) on CPU 0, as bench/run.sh pins the
# memory store's runs: three processes moving between 2 cores cost a third
# of the throughput on this VM. AG_PIN=0 leaves them to the scheduler.
#   sh bench/redis.sh [BUILD_DIR] [SECONDS]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
b=$(cd "${1:-build}" && pwd)
secs=${2:-10}
load="$b/bench/ag-load"
d=$(mktemp -d /tmp/ag-rbench.XXXXXX)
gov=""
gov_nc=""
rpid=""
pin0="" pin1="" pinning=unpinned
if [ "${AG_PIN:-1}" != 0 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
	pin0="taskset -c 0" pin1="taskset -c 1" pinning="pinned: redis-server CPU 1, the rest CPU 0"
fi
trap '[ -n "$gov" ] && kill "$gov" 2>/dev/null; [ -n "$gov_nc" ] && kill "$gov_nc" 2>/dev/null; [ -n "$rpid" ] && kill "$rpid" 2>/dev/null; rm -rf "$d"' EXIT INT TERM

$pin1 redis-server --port 0 --unixsocket "$d/redis.sock" --unixsocketperm 700 --save '' \
	--appendonly no --logfile "$d/redis.log" &
rpid=$!
i=0; until redis-cli -s "$d/redis.sock" ping >/dev/null 2>&1 || [ $i -ge 100 ]; do sleep 0.05; i=$((i+1)); done
"$b/authguard-governor" --keygen "$d/fleet.key" >/dev/null
# start_gov NAME [LINE...]: a governor on $d/NAME.sock, [store] LINEs
# added; its pid in $last.
start_gov() {
	_n=$1; shift
	{
		printf '[governor]\nsocket = %s\nuser_socket =\nmax_clients = 8192\nstate_file =\n' "$d/$_n.sock"
		# slots are not what is measured here: every admitted attempt gets one
		printf '[overload]\nmax_inflight = 4096\n'
		printf '[store]\nbackend = redis\nredis = unix://%s\nhash_key_file = %s\n' \
			"$d/redis.sock" "$d/fleet.key"
		for _l in "$@"; do printf '%s\n' "$_l"; done
	} >"$d/$_n.conf"
	$pin0 "$b/authguard-governor" -f -c "$d/$_n.conf" 2>"$d/$_n.log" &
	last=$!
	i=0; until grep -q "redis: ready" "$d/$_n.log" || [ $i -ge 100 ]; do sleep 0.05; i=$((i+1)); done
}
# "gov": the defaults. "nc": no negative cache, so that every decision goes
# to Redis, and its own key prefix, so that its runs start from nothing.
start_gov gov
gov=$last
start_gov nc "negative_cache = off" "key_prefix = nc:"
gov_nc=$last

# CPU seconds (user + system) a process has used so far.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
# minus A B, and per_us SECONDS N: microseconds per item.
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }
per_us() { awk -v s="$1" -v n="$2" 'BEGIN { printf "%.1f", s * 1000000 / n }'; }

echo "# $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(uname -r), $(redis-server --version | cut -d' ' -f3), $pinning"
# What a wake-up costs here: a login is six process-to-process round trips.
if [ -x "$b/bench/pingpong" ] && [ "$(nproc)" -ge 2 ]; then
	echo "# wake-ups: $("$b/bench/pingpong" 0 0 20000); $("$b/bench/pingpong" 0 1 20000)"
fi
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
	$pin0 redis-benchmark -s "$d/redis.sock" -c 50 -n $n -r 1000000 -q \
		FCALL "$fn" 6 "bench:P${k}__rand_int__" "bench:S${k}__rand_int__" "bench:A${k}__rand_int__" \
		"bench:U${k}__rand_int__" "bench:H${k}__rand_int__" bench:G decide time "$conf" 0 "m__rand_int__" $mode 7 |
		tr '\r' '\n' | grep -E 'requests per second' | tail -1
	echo "redis cpu: $(minus "$(cpu "$rpid")" "$r0") s, $(per_us "$(minus "$(cpu "$rpid")" "$r0")" $n) us a call"
	echo
done

# The ceiling's keys go before the governor's runs: their expiry would be
# work the runs pay for.
redis-cli -s "$d/redis.sock" --scan --pattern 'bench:*' |
	xargs -r -n 500 redis-cli -s "$d/redis.sock" UNLINK >/dev/null

run() { # label, governor (gov or nc), ag-load arguments...
	label=$1; g=$2; shift 2
	gp=$gov; [ "$g" = nc ] && gp=$gov_nc
	redis-cli -s "$d/redis.sock" CONFIG RESETSTAT >/dev/null
	g0=$(cpu "$gp"); r0=$(cpu "$rpid")
	echo "### $label: ag-load $* ($(redis-cli -s "$d/redis.sock" DBSIZE) keys before)"
	$pin0 "$load" -s "$d/$g.sock" -t 1 -d "$secs" "$@" >"$d/out"
	grep -E '^(attempts|problems|throughput|latency)' "$d/out"
	n=$(awk '/^throughput:/ { printf "%d", $2 * '"$secs"' }' "$d/out")
	tput=$(awk '/^throughput:/ { printf "%d", $2 }' "$d/out")
	echo "cpu: governor $(minus "$(cpu "$gp")" "$g0") s, redis $(minus "$(cpu "$rpid")" "$r0") s"
	[ "${n:-0}" -gt 0 ] && echo "redis cpu per attempt: $(per_us "$(minus "$(cpu "$rpid")" "$r0")" "$n") us"
	redis-cli -s "$d/redis.sock" INFO commandstats |
		sed -n 's/^cmdstat_fcall:calls=\([0-9]*\),usec=[0-9]*,usec_per_call=\([0-9.]*\).*/fcall: \1 calls, \2 us a call (INFO commandstats)/p'
	echo
}

# flood-every: the memory store's module-like mix (1000 users, 1000
# sources, 30% failures; most attempts are held and denied at PRECHECK)
# through the governor without a negative cache: every decision is an
# FCALL. flood: the same with the negative cache, which answers a pair
# already held without asking Redis. admitted: 100,000 users and 131,072
# sources, each seen about once in a run: every attempt is admitted, and
# PRECHECK, DECIDE (commit) and REPORT are three FCALLs.
for spec in "cycles-flood-every:nc:-m cycles -c 50 --precheck" \
	"cycles-flood:gov:-m cycles -c 50 --precheck" \
	"cycles-admitted:gov:-m cycles -c 50 --precheck -u 100000 -a 131072 -f 30"; do
	name=${spec%%:*}; rest=${spec#*:}; g=${rest%%:*}; args=${rest#*:}
	# This VM's speed moves by a third from one run to the next: three
	# saturating runs, three at half their median, three at 5,000/s.
	rates=""
	for i in 1 2 3; do
		# shellcheck disable=SC2086
		run "$name saturating, run $i" "$g" $args
		rates="$rates $tput"
	done
	sat=$(echo $rates | tr ' ' '\n' | sort -n | sed -n 2p)
	echo "### $name: saturating runs$rates/s, median $sat/s"
	echo
	for i in 1 2 3; do
		# shellcheck disable=SC2086
		run "$name open loop at half the median ($((sat / 2))/s), run $i" "$g" $args -r $((sat / 2))
	done
	# Issue #4's latency target: p99 at half its 10,000 cycles/s.
	for i in 1 2 3; do
		# shellcheck disable=SC2086
		run "$name open loop at 5000/s (half the target's 10,000), run $i" "$g" $args -r 5000
	done
done
echo "### store state after the runs"
"$b/authguardctl" -s "$d/gov.sock" status | grep -E '^(store|requests|latency)'

# ---- Redis memory per key, through the governor ----
# The governor's keys dropped, then 2000 users x 2000 addresses, half the
# attempts failing: used_memory per key in all (expires entries, both
# dicts' buckets, client buffers), and MEMORY USAGE of 200 keys per kind.
R() { redis-cli -s "$d/redis.sock" "$@"; }
R --scan --pattern 'nc:*' | xargs -r -n 500 redis-cli -s "$d/redis.sock" UNLINK >/dev/null
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
