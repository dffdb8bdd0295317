#!/bin/sh
# test_sentinel.sh - the Redis store behind Redis Sentinel, end to end: a
# master and a replica, three redis-sentinels (quorum 2), all on random
# loopback TCP ports, and a governor with redis_sentinels. The governor
# finds the master through the Sentinels; the master is killed and the
# Sentinels promote the replica: the governor follows it without a restart,
# and every attempt meanwhile is answered (degraded mode). A replica is
# never written to: with no Sentinel answering, a governor sent to a
# replica stays degraded (ROLE), and one whose Redis becomes a replica
# under it drops the connection at the first -READONLY. Last, a failover
# while the governor is connected (SENTINEL FAILOVER): it follows that too.
# Exit 77 without redis-server or redis-sentinel. Run by `make check` with
# AG_BUILDDIR and AG_SRCDIR exported.
set -u

gov="${AG_BUILDDIR:-.}/authguard-governor"
ctl="${AG_BUILDDIR:-.}/authguardctl"
load="${AG_BUILDDIR:-.}/bench/ag-load"
src="${AG_SRCDIR:-.}"
[ -x "$gov" ] || { echo "no governor at $gov"; exit 99; }
[ -x "$ctl" ] || { echo "no authguardctl at $ctl"; exit 99; }
[ -x "$load" ] || { echo "no ag-load at $load"; exit 99; }
for t in redis-server redis-sentinel redis-cli od; do
	command -v "$t" >/dev/null 2>&1 || { echo "no $t: skipping"; exit 77; }
done

tag=sentinel
. "$src/tests/testlib.sh"
. "$src/tests/e2elib.sh"

NAME=agmaster
PFX=agt:
key="$dir/fleet.key"
port=""

# A random port in 20000..59999.
random_port() { echo $(($(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000 + 20000)); }
# mine PORT PID: the server answering on 127.0.0.1:PORT is process PID
# (not another test's that had the port first).
mine() { redis-cli -p "$1" INFO server 2>/dev/null | grep -q "^process_id:$2"; }
# started PORT PID: within 5 s, PID answers on PORT (0) or has died (1).
started() {
	_n=50
	while [ "$_n" -gt 0 ] && kill -0 "$2" 2>/dev/null; do
		mine "$1" "$2" && return 0
		sleep 0.1
		_n=$((_n - 1))
	done
	kill -KILL "$2" 2>/dev/null
	return 1
}

# server NAME [ARG...]: a redis-server on a free loopback port (random ones
# tried until one starts; $PREFER first when set), no persistence; port in
# $port, pid in $last.
server() {
	_nm=$1
	shift
	_try=0
	while [ "$_try" -lt 20 ]; do
		port=${PREFER:-$(random_port)}
		PREFER=""
		spawn "$dir/$_nm.out" redis-server --port "$port" --bind 127.0.0.1 --save '' \
			--appendonly no --daemonize no --dir "$dir" --logfile "$dir/$_nm.log" "$@"
		started "$port" "$last" && return 0
		_try=$((_try + 1))
	done
	echo "redis-server $_nm did not start"
	cat "$dir/$_nm.log"
	exit 99
}

# sentinel NAME MASTER_PORT: a redis-sentinel on a free loopback port with
# its own config file (it rewrites it); port in $port, pid in $last.
sentinel() {
	_try=0
	while [ "$_try" -lt 20 ]; do
		port=$(random_port)
		cat >"$dir/$1.conf" <<-EOF
			port $port
			bind 127.0.0.1
			daemonize no
			dir $dir
			logfile $dir/$1.log
			sentinel monitor $NAME 127.0.0.1 $2 2
			sentinel down-after-milliseconds $NAME 1000
			sentinel failover-timeout $NAME 5000
			sentinel parallel-syncs $NAME 1
		EOF
		spawn "$dir/$1.out" redis-sentinel "$dir/$1.conf"
		started "$port" "$last" && return 0
		_try=$((_try + 1))
	done
	echo "redis-sentinel $1 did not start"
	cat "$dir/$1.log"
	exit 99
}

# sfield PORT FIELD: FIELD of SENTINEL master NAME at the Sentinel on PORT.
sfield() {
	redis-cli -p "$1" SENTINEL master "$NAME" 2>/dev/null |
		awk -v k="$2" 'p == k { print; exit } { p = $0 }'
}
# sees_all PORT: the Sentinel knows the replica and the two other Sentinels.
sees_all() {
	[ "$(sfield "$1" num-slaves)" = 1 ] && [ "$(sfield "$1" num-other-sentinels)" = 2 ]
}
# master_port PORT: the master's port, as the Sentinel on PORT names it.
master_port() { redis-cli -p "$1" SENTINEL get-master-addr-by-name "$NAME" 2>/dev/null | sed -n 2p; }
names() { [ "$(master_port "$1")" = "$2" ]; }
# fcalls PORT: FCALLs the Redis on PORT has run (a replica runs none: it
# gets their effects).
fcalls() {
	redis-cli -p "$1" INFO commandstats 2>/dev/null |
		sed -n 's/^cmdstat_fcall:calls=\([0-9]*\),.*/\1/p' | grep . || echo 0
}
role() { redis-cli -p "$1" ROLE 2>/dev/null | head -n 1; }
link_up() { redis-cli -p "$1" INFO replication 2>/dev/null | grep -q '^master_link_status:up'; }

# conf NAME SENTINELS [LINE...]: $dir/NAME.conf, a governor on
# $dir/NAME.sock, redis = $REDIS, the Sentinels and the master's name.
admin_group=""
[ "$(id -u)" -eq 0 ] || admin_group=$(id -gn)
conf() {
	_n=$1
	_s=$2
	shift 2
	{
		printf '[governor]\nsocket = %s\nuser_socket =\nstate_file =\nadmin_group = %s\n' \
			"$dir/$_n.sock" "$admin_group"
		printf '[store]\nbackend = redis\nredis = %s\nhash_key_file = %s\nkey_prefix = %s\n' \
			"$REDIS" "$key" "$PFX"
		printf 'redis_timeout = 200ms\nredis_sentinels = %s\nredis_master_name = %s\n' \
			"$_s" "$NAME"
		for _l in "$@"; do
			printf '%s\n' "$_l"
		done
	} >"$dir/$_n.conf"
}

"$gov" --keygen "$key" >/dev/null 2>&1 || { echo "--keygen failed"; exit 99; }

# ---- a master, a replica, three Sentinels ------------------------------------

t0=$(date +%s)
server master
mport=$port
mpid=$last
server replica --replicaof 127.0.0.1 "$mport"
rport=$port
check "the replica is in sync with the master within 10 s" wait_for 100 link_up "$rport"
sentinel s1 "$mport"
s1=$port
sentinel s2 "$mport"
s2=$port
sentinel s3 "$mport"
s3=$port
all_see() { sees_all "$s1" && sees_all "$s2" && sees_all "$s3"; }
check "each Sentinel sees the replica and the two others within 15 s" wait_for 150 all_see
sentinels="127.0.0.1:$s1, 127.0.0.1:$s2, 127.0.0.1:$s3"

# ---- the governor finds the master through the Sentinels ---------------------

REDIS="redis://127.0.0.1:$mport"
conf A "$sentinels"
out=$("$gov" -t -c "$dir/A.conf" 2>&1)
check "-t accepts redis_sentinels and redis_master_name ($(printf '%s' "$out" | head -n 1))" \
	has "$out" "^config OK$"
governor A
apid=$last
check "A is up" kill -0 "$apid"
check "A's store is ready within 5 s" wait_for 50 state_is A ok
check "A logs the master the Sentinels name" \
	logs A "redis: master $NAME is now 127.0.0.1:$mport (Sentinel 127.0.0.1:"
run A before -m cycles -c 2 -d 1 -u 50 -a 200 -f 50
check "before the failover: every attempt answered" answered before
check "before the failover: the master runs the decisions ($(fcalls "$mport") FCALLs)" \
	[ "$(fcalls "$mport")" -gt 0 ]
check "before the failover: the replica runs none" is "$(fcalls "$rport")" 0
check "the replica has the keys (replicated)" [ "$(redis-cli -p "$rport" DBSIZE)" -gt 0 ]

# ---- the master dies ---------------------------------------------------------
# Traffic in one-second runs until the Sentinels have promoted the replica
# and A is ok on it (30 s at most): every run must be answered in full.

kill -KILL "$mpid"
tk=$(date +%s)
runs=0
short=""
degraded=0
while [ "$runs" -lt 30 ]; do
	run A fo.$runs -m cycles -c 2 -d 1 -u 50 -a 200 -f 50
	answered fo.$runs || short="$short $runs"
	state_is A degraded && degraded=1
	runs=$((runs + 1))
	names "$s1" "$rport" && state_is A ok && [ "$(fcalls "$rport")" -gt 0 ] && break
done
tf=$(date +%s)
check "the Sentinels promote the replica within 30 s" names "$s1" "$rport"
check "the replica is a master now" is "$(role "$rport")" master
check "A is ok again, without a restart ($((tf - tk)) s after the kill)" state_is A ok
check "A was degraded meanwhile (decided on this host alone)" \
	sh -c '[ "$1" = 1 ] || grep -q "deciding on this host alone" "$2"' _ "$degraded" "$dir/A.log"
check "every attempt during the failover was answered ($runs runs${short:+; not:$short})" \
	[ -z "$short" ]
check "A logs the new master once" \
	is "$(nlogs A "redis: master $NAME is now 127.0.0.1:$rport (Sentinel 127.0.0.1:")" 1
check "A logs two master changes in all (start, failover)" is "$(nlogs A "master $NAME is now")" 2
check "A is still the same process" kill -0 "$apid"
n0=$(fcalls "$rport")
k0=$(redis-cli -p "$rport" DBSIZE)
run A after -m cycles -c 2 -d 1 -u 500 -a 500 -f 50
check "after the failover: every attempt answered" answered after
check "after the failover: the new master runs the decisions ($n0 -> $(fcalls "$rport") FCALLs)" \
	[ "$(fcalls "$rport")" -gt "$n0" ]
check "after the failover: new keys land there ($k0 -> $(redis-cli -p "$rport" DBSIZE))" \
	[ "$(redis-cli -p "$rport" DBSIZE)" -gt "$k0" ]
check "the function library is loaded there" \
	sh -c 'redis-cli -p "$1" FUNCTION LIST | grep -q "^authguard_"' _ "$rport"

# ---- the old master comes back: a replica now --------------------------------
# On its old port if free; the Sentinels make it a replica of the new one.

PREFER=$mport server oldmaster
oport=$port
opid=$last
replica_of_new() { is "$(role "$oport")" slave && link_up "$oport"; }
if [ "$oport" = "$mport" ]; then
	check "the Sentinels make the old master a replica within 15 s" wait_for 150 replica_of_new
else
	redis-cli -p "$oport" REPLICAOF 127.0.0.1 "$rport" >/dev/null
	check "the stand-in for the old master is a replica within 10 s" wait_for 100 replica_of_new
fi
run A back -m cycles -c 2 -d 1 -u 50 -a 50 -f 50
check "A: every attempt answered" answered back
check "A stays ok, on the new master" state_is A ok
check "A logs no further master change" is "$(nlogs A "master $NAME is now")" 2
check "A writes nothing to the old master" is "$(fcalls "$oport")" 0

# No Sentinel answers (a port nothing listens on): the URL's address is
# used, and it is a replica: ROLE keeps the store degraded.
dead=$(random_port)
while redis-cli -p "$dead" PING >/dev/null 2>&1; do dead=$(random_port); done
REDIS="redis://127.0.0.1:$oport"
conf B "127.0.0.1:$dead"
governor B
bpid=$last
check "B (its URL a replica, no Sentinel) logs that no Sentinel answered" \
	wait_for 50 logs B "no Sentinel named the master"
check "B logs that its Redis is not a master" wait_for 50 logs B "not a master; ROLE says: slave"
seen=""
n=25
while [ "$n" -gt 0 ]; do
	seen="$seen $(st B store_state)"
	sleep 0.1
	n=$((n - 1))
done
check "B stays degraded, never ok" \
	sh -c 'case "$1" in *ok*) exit 1 ;; *degraded*) exit 0 ;; esac; exit 1' _ "$seen"
run B onreplica -m cycles -c 2 -d 1 -u 20 -a 20 -f 50
check "B: every attempt answered (locally)" answered onreplica
check "B wrote nothing to the replica" is "$(fcalls "$oport")" 0
check "B stops on SIGTERM with status 0" stop "$bpid"

# ---- -READONLY: the Redis in use becomes a replica under the governor --------

server lone
lport=$port
REDIS="redis://127.0.0.1:$lport"
conf C "127.0.0.1:$dead"
governor C
cpid=$last
check "C (no Sentinel answering) uses its URL's Redis: ok within 5 s" wait_for 50 state_is C ok
redis-cli -p "$lport" REPLICAOF 127.0.0.1 "$rport" >/dev/null
wait_for 100 link_up "$lport"
run C readonly -m cycles -c 2 -d 1 -u 50 -a 200 -f 50
check "Redis turned replica: every attempt answered" answered readonly
check "C drops the connection at -READONLY" logs C "Redis is a replica now (READONLY)"
check "C is degraded: the replica is refused (ROLE)" wait_for 30 state_is C degraded
redis-cli -p "$lport" REPLICAOF NO ONE >/dev/null
check "C is ok within 5 s once its Redis is a master again" wait_for 50 state_is C ok
check "C stops on SIGTERM with status 0" stop "$cpid"

# ---- a failover while A is connected: +switch-master --------------------------
# SENTINEL FAILOVER promotes the old master (a replica now) while the new
# one still runs: A hears +switch-master (or loses its connection when the
# Sentinels demote its Redis) and follows, without a restart.

forced() { redis-cli -p "$s1" SENTINEL FAILOVER "$NAME" 2>/dev/null | grep -q '^OK$'; }
decides_on() { [ "$(fcalls "$1")" -gt 0 ]; }
if [ "$oport" = "$mport" ] && wait_for 150 forced; then
	spawn "$dir/forced" "$load" -s "$dir/A.sock" -m cycles -c 2 -d 5 -u 50 -a 200 -f 50
	lpid=$last
	check "SENTINEL FAILOVER: the Sentinels name the old master within 15 s" \
		wait_for 150 names "$s1" "$oport"
	# The spawned load may be over before A has followed (a busy machine
	# slows the failover): a short run each try keeps decisions coming.
	follows() {
		run A forced.more -m cycles -c 2 -d 1 -u 50 -a 200 -f 50
		decides_on "$oport"
	}
	check "A follows: the old master runs the decisions within about 10 s" wait_for 10 follows
	wait "$lpid"
	check "during the forced failover every attempt was answered" answered forced
	check "A is ok" wait_for 50 state_is A ok
	check "A logs the move back, once: three master changes in all" \
		is "$(nlogs A "master $NAME is now")" 3
	check "... the last one to the old master" \
		sh -c 'grep "master $2 is now" "$1" | tail -n 1 | grep -q "is now 127.0.0.1:$3 (Sentinel"' \
		_ "$dir/A.log" "$NAME" "$oport"
	if logs A "the Sentinels name another master"; then
		echo "# A heard of the forced failover by +switch-master"
	else
		echo "# A heard of the forced failover by losing its connection"
	fi
else
	echo "# the old master's port was taken, or no Sentinel would fail over: skipped"
fi

# ---- the end -----------------------------------------------------------------

check "A stops on SIGTERM with status 0" stop "$apid"
kill -KILL "$opid" 2>/dev/null
echo "# $(($(date +%s) - t0)) s in all; the failover took $((tf - tk)) s to follow"
if [ "$fail" -ne 0 ]; then
	for g in A B C; do
		[ -f "$dir/$g.log" ] || continue
		echo "# governor $g log (its Redis lines, the last 20):"
		grep 'redis:' "$dir/$g.log" | tail -n 20 | sed 's/^/# /'
	done
	for s in s1 s2 s3; do
		echo "# $s log (last 15 lines):"
		tail -n 15 "$dir/$s.log" | sed 's/^/# /'
	done
	for f in before after back onreplica readonly forced $(cd "$dir" && ls fo.* 2>/dev/null); do
		[ -f "$dir/$f" ] && sed "s/^/# $f: /" "$dir/$f"
	done
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
