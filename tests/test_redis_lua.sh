#!/bin/sh
# test_redis_lua.sh - governor/redis/rules.lua against a real redis-server:
# the scenarios of tests/test_store_mem.c and tests/test_store_trust.c, with
# the clock passed in ("clock=local"), plus what only Redis has: every key
# written has a TTL at the time the memory store would forget the entry,
# checks and slot-less attempts leave the keyspace byte for byte unchanged
# (DUMP and PEXPIRETIME of every key), reset through SCAN, the global trust
# index, Redis TIME, bad arguments. Ends with the memory each kind of entry
# costs (docs/redis.md). Exit 77 without redis-server.
#
# Keys are built as the governor builds them (docs/redis.md): PFX KIND
# digest(s), here hex b2sum digests standing for the keyed BLAKE2b ones.
# With the clock passed in, TTLs still run on Redis's own clock: a key whose
# logical life is 1 s lives 1 s of real time, so each sequence at one
# logical instant is kept short (the snapshots go through one redis-cli).
set -u

command -v redis-server >/dev/null 2>&1 || { echo "no redis-server: skipping"; exit 77; }
command -v redis-cli >/dev/null 2>&1 || { echo "no redis-cli: skipping"; exit 77; }

srcdir=${AG_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
rules="$srcdir/governor/redis/rules.lua"
[ -r "$rules" ] || { echo "no $rules"; exit 99; }

tag=redis
. "$srcdir/tests/testlib.sh"

sock="$dir/redis.sock"
redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 --save '' \
	--appendonly no --daemonize no >"$dir/redis.log" 2>&1 &
pid=$!

r() { redis-cli -s "$sock" "$@"; }
pong() { [ "$(r PING 2>/dev/null)" = PONG ]; }
wait_for 100 pong || { echo "redis-server did not start"; cat "$dir/redis.log"; exit 99; }

# The rules as the governor loads them: a function library named fn.
fn=agtest
loaded=$({ printf "#!lua name=%s\nlocal FN = '%s'\n" $fn $fn; cat "$rules"; } |
	redis-cli -s "$sock" -x FUNCTION LOAD)
[ "$loaded" = $fn ] || { echo "FUNCTION LOAD failed: $loaded"; exit 99; }

# A hash of the whole keyspace under PFX: names, DUMP and PEXPIRETIME.
snap_sha=$(r SCRIPT LOAD "local ks = redis.call('KEYS', ARGV[1]) table.sort(ks)
local t = {} for _, k in ipairs(ks) do
t[#t + 1] = k .. '=' .. redis.call('DUMP', k) .. '@' .. redis.call('PEXPIRETIME', k) end
return redis.sha1hex(table.concat(t, ';'))")
# The keys under PFX without a TTL, then how many keys there are.
nottl_sha=$(r SCRIPT LOAD "local bad = {} local ks = redis.call('KEYS', ARGV[1])
for _, k in ipairs(ks) do if redis.call('PTTL', k) < 0 then bad[#bad + 1] = k end end
bad[#bad + 1] = #ks return bad")

T0=1700000000000
WINDOW=900000
DAY=86400000
PFX=ag:
KG=${PFX}G

# digests FILE...: 16 hex characters per file, one line each.
if command -v b2sum >/dev/null 2>&1; then
	digests() { b2sum -l 64 "$@" | cut -c1-16; }
else
	digests() { sha256sum "$@" | cut -c1-16; }
fi
dig() {
	printf '%s' "$1" >"$dir/n1"
	digests "$dir/n1"
}

# The limits of tests/store_fixture.h; set_conf NAME=VALUE... overrides.
set_conf() {
	free=3 base=1000 max=600000 window=$WINDOW scount=60 speriod=60000 sburst=20
	ucount=10 uperiod=60000 uburst=5 umax=5 cbase=60000 cmax=3600000
	ttl=$((30 * DAY)) per_user=3 max_trusted=100 pin=120000
	for _kv in "$@"; do eval "$_kv"; done
	CONF=$free,$base,$max,$window,$scount,$speriod,$sburst,$ucount,$uperiod,$uburst
	CONF=$CONF,$umax,$cbase,$cmax,$ttl,$per_user,$max_trusted,$pin
}

# att USER SOURCE [AGG]: the attempt's keys (no AGG: the source is its own).
att() {
	printf '%s' "$1" >"$dir/n1"
	printf '%s' "$2" >"$dir/n2"
	printf '%s' "${3:-$2}" >"$dir/n3"
	digests "$dir/n1" "$dir/n2" "$dir/n3" >"$dir/dg"
	{
		read -r hu
		read -r hs
		read -r ha
	} <"$dir/dg"
	KP=${PFX}P$hu$hs KS=${PFX}S$hs KA=${PFX}A$ha KU=${PFX}U$hu KH=${PFX}H$hu M=$hs
	FLAGS=0
}

# ev OP NOW ARGS...: the script on the current attempt (with G unless NOG=1).
NOG=0
ev() {
	_op=$1
	_now=$2
	shift 2
	if [ "$NOG" = 1 ]; then
		r FCALL $fn 5 "$KP" "$KS" "$KA" "$KU" "$KH" "$_op" "$_now" "$CONF" "$FLAGS" "$M" "$@"
	else
		r FCALL $fn 6 "$KP" "$KS" "$KA" "$KU" "$KH" "$KG" "$_op" "$_now" "$CONF" "$FLAGS" \
			"$M" "$@"
	fi
}

# decide MODE NOW [MASK]: sets verdict rule retry klass trusted nsteps, the
# steps' sNr sNv sNt sNk (rule, verdict, retry, skip) and the details. The
# reply is one string of 31 integers joined by ','.
decide() {
	_d=$(ev decide "$2" "$1" "${3:-7}")
	case $_d in
	*[!0-9,-]*) verdict="error: $_d" rule=x retry=x klass=x trusted=x; return ;;
	esac
	# shellcheck disable=SC2046
	set -- $(printf '%s' "$_d" | tr , ' ')
	if [ $# -ne 31 ]; then
		verdict="error: $*"
		rule=x retry=x klass=x trusted=x
		return
	fi
	verdict=$1 rule=$2 retry=$3 klass=$4 trusted=$5 nsteps=$6
	s0r=$7 s0v=$8 s0t=$9 s0k=${10} s1r=${11} s1v=${12} s1t=${13} s1k=${14}
	s2r=${15} s2v=${16} s2t=${17} s2k=${18} s3r=${19} s3v=${20} s3t=${21} s3k=${22}
	d_fail=${23} d_infl=${24} d_hold=${25} d_conc=${26} d_ucfail=${27} d_cap=${28}
	d_stok=${29} d_budget=${30} d_utok=${31}
}

# report OUTCOME NOW [JITTER]: 1 success, 2 fail, 3 unavail, 4 pass, 5 abandon;
# sets cleared.
report() {
	cleared=$(ev report "$2" "$1" "${3:-0}")
}

# describe NOW: the stored state as of NOW (store_mem's describe, as numbers).
describe() {
	# shellcheck disable=SC2046
	set -- $(ev describe "$1")
	if [ $# -ne 20 ]; then
		p_stored="error: $*"
		return
	fi
	p_stored=$1 failures=$2 inflight=$3 hold_until=$4 last_fail=$5 last_seen=$6
	p_trusted=$7 last_ok=$8 u_stored=$9 ucfail=${10} cap_level=${11} cap_until=${12}
	clean_tokens=${13} failing_tokens=${14} trusted_sources=${15} s_stored=${16}
	s_tokens=${17} a_stored=${18} a_last_fail=${19} a_failing=${20}
}

eq() { # eq DESCRIPTION GOT WANT
	if [ "$2" = "$3" ]; then ok "$1"; else nok "$1 (got '$2', want '$3')"; fi
}

# Quiet steps: only a failure prints (as not ok).
admit() { # admit NOW [MASK]
	decide 1 "$1" "${2:-7}"
	if [ "$verdict" != 1 ] || [ "$rule" != 0 ] || [ "$retry" != 0 ]; then
		nok "$cur: admit at T0+$(($1 - T0)) (verdict $verdict rule $rule retry $retry)"
	fi
}
rep() { # rep OUTCOME NOW [JITTER]
	report "$@"
	case $cleared in
	[0-9]*) ;;
	*) nok "$cur: report $1 at T0+$(($2 - T0)): $cleared" ;;
	esac
}

# denied NOW RULE RETRY: a COMMIT at NOW is denied by RULE with RETRY.
denied() {
	decide 1 "$1"
	eq "$cur: denied at T0+$(($1 - T0)) by rule $2, retry $3" "$verdict/$rule/$retry" "2/$2/$3"
}

nkeys() { r EVALSHA "$nottl_sha" 0 "$PFX*" | tail -n 1; }
snap() { r EVALSHA "$snap_sha" 0 "$PFX*"; }
zcard() { r ZCARD "$1"; }

# ttl_is DESCRIPTION KEY WANT_MS: PTTL within 2 s (of real time) under WANT.
ttl_is() {
	_t=$(r PTTL "$2")
	if [ "$_t" -le "$3" ] && [ "$_t" -gt $(($3 - 2000)) ]; then
		ok "$1"
	else
		nok "$1 (PTTL $_t, want about $3)"
	fi
}

# Every key left by the previous scenario has a TTL; then a fresh keyspace.
cur=""
ttl_all() {
	[ -n "$cur" ] || return 0
	_out=$(r EVALSHA "$nottl_sha" 0 "$PFX*")
	_n=$(printf '%s\n' "$_out" | tail -n 1)
	_bad=$(printf '%s\n' "$_out" | sed '$d' | tr '\n' ' ')
	if [ -z "$_bad" ]; then ok "$cur: all $_n keys have a TTL"; else nok "$cur: keys without a TTL: $_bad"; fi
}
scenario() {
	ttl_all
	cur=$1
	echo "# $cur"
	r FLUSHALL >/dev/null
	set_conf
	NOG=0
}

# ---- rule 2: backoff -------------------------------------------------------

scenario backoff_first_hold
set_conf umax=100
att alice 10.0.0.1/32 10.0.0.0/24
now=$T0
for i in 1 2 3; do
	admit $now
	rep 2 $now
	now=$((now + 10))
done
describe $now
eq "$cur: 3 failures" "$failures" 3
admit $now
rep 2 $now
describe $now
eq "$cur: the 4th failure holds 1 s" "$((hold_until - now))" 1000
denied $((now + 1)) 3 999
decide 0 $((now + 999))
eq "$cur: check at +999 ms: backoff, retry 1" "$verdict/$rule/$retry" 2/3/1
eq "$cur: step 0 is backoff, denied" "$s0r/$s0v/$s0t" 3/2/1
eq "$cur: explain details failures=4 inflight=0 hold_until_in=1 not concurrent" \
	"$d_fail/$d_infl/$d_hold/$d_conc" 4/0/1/0
ttl_is "$cur: pair TTL = failure_window after the hold" "$KP" $((1000 + WINDOW))
admit $((now + 1000))
rep 2 $((now + 1000))
denied $((now + 1000)) 3 2000
admit $((now + 3000))
rep 2 $((now + 3000))
denied $((now + 3000)) 3 4000
ttl_is "$cur: pair TTL follows the hold" "$KP" $((4000 + WINDOW))
att bob 10.0.0.1/32 10.0.0.0/24
decide 1 $((now + 3000))
eq "$cur: another user behind the address is not held" "$verdict" 1

scenario backoff_jitter
att alice 10.0.0.1/32 10.0.0.0/24
for i in 1 2 3 4; do
	admit $T0
	rep 2 $T0 -200
done
denied $T0 3 800
report 2 $T0 -999
eq "$cur: jitter out of range is clamped, not refused" "$cleared" 0

scenario backoff_concurrency
att alice 10.0.0.1/32 10.0.0.0/24
admit $T0
rep 2 $T0
admit $T0
rep 2 $T0
admit $T0
decide 1 $((T0 + 5))
eq "$cur: failures=2, one in flight: the next waits 1 s" "$verdict/$rule/$retry" 2/3/1000
eq "$cur: details failures=2 inflight=1 hold 0 concurrent" "$d_fail/$d_infl/$d_hold/$d_conc" 2/1/0/1
rep 3 $((T0 + 5))
decide 1 $((T0 + 5))
eq "$cur: unavail ends the attempt: admitted" "$verdict" 1

scenario backoff_concurrency_fresh
att alice 10.0.0.1/32 10.0.0.0/24
admit $T0
ttl_is "$cur: a pair in flight lives pin_ms" "$KP" 120000
admit $T0
admit $T0
denied $T0 3 1000
describe $T0
eq "$cur: three in flight" "$inflight" 3

scenario success_clears
att alice 10.0.0.1/32 10.0.0.0/24
for i in 0 1 2 3 4; do
	admit $((T0 + 2000 * i))
	rep 2 $((T0 + 2000 * i))
done
denied $((T0 + 8000)) 3 2000
admit $((T0 + 10000))
report 1 $((T0 + 10000))
eq "$cur: the success reports the 5 failures it cleared" "$cleared" 5
describe $((T0 + 10000))
eq "$cur: failures cleared, pair trusted" "$failures/$p_trusted" 0/1
ttl_is "$cur: trust lives trust_ttl" "$KH" $((30 * DAY))
ttl_is "$cur: global trust index too" "$KG" $((30 * DAY))
ttl_is "$cur: the pair keeps last_fail for failure_window" "$KP" $((WINDOW - 2000))
admit $((T0 + 10000))
rep 2 $((T0 + 10000))
describe $((T0 + 10000))
eq "$cur: counted afresh" "$failures" 1

scenario window_forgets
att alice 10.0.0.1/32 10.0.0.0/24
for i in 1 2 3 4; do
	admit $T0
	rep 2 $T0
done
describe $((T0 + 1000 + WINDOW - 1))
eq "$cur: 4 failures until failure_window after the hold" "$failures" 4
describe $((T0 + 1000 + WINDOW))
eq "$cur: forgotten at failure_window after the hold" "$failures" 0
admit $((T0 + 1000 + WINDOW - 1))
rep 2 $((T0 + 1000 + WINDOW - 1))
describe $((T0 + 1000 + WINDOW - 1))
eq "$cur: a 5th just before" "$failures" 5
admit $((T0 + 10 * WINDOW))
rep 2 $((T0 + 10 * WINDOW))
describe $((T0 + 10 * WINDOW))
eq "$cur: counted afresh once forgotten" "$failures" 1
decide 1 $((T0 + 10 * WINDOW))
eq "$cur: admitted" "$verdict" 1

# ---- rule 3: source_rate ---------------------------------------------------

scenario source_rate_burst
i=0
while [ $i -lt 20 ]; do
	att u$i 10.0.0.1/32 10.0.0.0/24
	admit $T0
	i=$((i + 1))
done
ttl_is "$cur: source TAT key lives until the TAT (20 s)" "$KS" 20000
att late 10.0.0.1/32 10.0.0.0/24
decide 1 $T0
eq "$cur: exactly burst=20 pass, the 21st waits T" "$verdict/$rule/$retry" 2/4/1000
eq "$cur: step 2 source_rate tokens=0" "$s2r/$s2v/$s2t/$d_stok" 4/2/1000/0
denied $((T0 + 999)) 4 1
admit $((T0 + 1000))
att late 10.0.0.2/32 10.0.0.0/24
decide 1 $((T0 + 1000))
eq "$cur: another source is not affected" "$verdict" 1

scenario source_rate_exact
# 7/min, burst 2: T = 8571428 + 4/7 us. A stream kept at the rate (the TAT
# stays ahead of now) passes at exactly ceil(k * 60000 / 7) ms after its
# burst, however long it runs: gcra.c's remainder, no drift.
set_conf scount=7 sburst=2 ucount=1000 uburst=1000
att u 10.0.0.1/32
admit $T0
rep 3 $T0
admit $T0
rep 3 $T0
good=1
k=1
while [ $k -le 40 ]; do
	at=$((T0 + (k * 60000 + 6) / 7))
	decide 1 $((at - 1))
	[ "$verdict/$rule/$retry" = 2/4/1 ] || { good=0; echo "# k=$k: $verdict/$rule/$retry"; }
	admit $at
	rep 3 $at
	k=$((k + 1))
done
eq "$cur: 40 attempts at 7/min pass at ceil(k*60000/7) ms, not 1 ms before" "$good" 1

scenario source_rate_trusted_exempt
att alice 10.0.0.1/32 10.0.0.0/24
admit $T0
rep 1 $T0
i=0
while [ $i -lt 19 ]; do
	att u$i 10.0.0.1/32 10.0.0.0/24
	admit $T0
	i=$((i + 1))
done
denied $T0 4 1000
att alice 10.0.0.1/32 10.0.0.0/24
decide 1 $T0
eq "$cur: the trusted pair is admitted, class trusted" "$verdict/$klass/$trusted" 1/0/1
eq "$cur: source_rate and user_rate skipped: trusted pair" "$s2v/$s2k/$s3v/$s3k" 0/1/0/1
att carol 10.0.0.1/32 10.0.0.0/24
FLAGS=1
decide 1 $T0
eq "$cur: allow-listed: admitted, clean" "$verdict/$klass" 1/1
eq "$cur: skipped: allowlisted" "$s2v/$s2k" 0/2

# ---- rule 4: user_rate, user_cap -------------------------------------------

scenario user_rate_budgets
att mallory 10.0.9.66/32 10.0.9.0/24
admit $T0
rep 2 $T0
good=1
for i in 1 2 3 4 5; do
	att bob 10.0.9.$i/32 10.0.9.0/24
	decide 1 $T0
	[ "$verdict/$klass" = 1/2 ] || good=0
done
eq "$cur: five from the failing netblock, class failing" "$good" 1
att bob 10.0.9.6/32 10.0.9.0/24
decide 1 $T0
eq "$cur: the 6th: user_rate, retry 6 s" "$verdict/$rule/$retry" 2/5/6000
eq "$cur: budget=failing tokens=0" "$d_budget/$d_utok" 1/0
att bob 10.0.7.7/32 10.0.7.0/24
decide 1 $T0
eq "$cur: a clean source still gets in, class clean" "$verdict/$klass" 1/1
eq "$cur: budget=clean tokens=5" "$d_budget/$d_utok" 0/5
describe $T0
eq "$cur: clean_tokens=4 failing_tokens=0" "$clean_tokens/$failing_tokens" 4/0
ttl_is "$cur: user key lives until its later TAT (+1 ms)" "$KU" 30001

# fail_from_fresh N NOW: failures of alice from fresh sources, 10 s apart.
fail_from_fresh() {
	_i=0
	now=$2
	while [ $_i -lt "$1" ]; do
		att alice 10.1.$_i.1/32 10.1.0.0/24
		admit $now
		rep 2 $now
		now=$((now + 10000))
		_i=$((_i + 1))
	done
}

scenario user_cap
att alice 192.0.2.1/32 192.0.2.0/24
admit $T0
rep 1 $T0
fail_from_fresh 5 $((T0 + 10000))
describe $now
eq "$cur: ucfail=5" "$ucfail" 5
att alice 10.9.9.9/32 10.9.9.0/24
admit $now
rep 3 $now
fail_from_fresh 1 $now
att alice 10.9.9.10/32 10.9.9.0/24
decide 1 $now
eq "$cur: the 6th holds untrusted sources: user_cap 50 s" "$verdict/$rule/$retry" 2/6/50000
eq "$cur: details ucfail=6 cap_until_in=50000" "$d_ucfail/$d_cap" 6/50000
# (written at the 6th failure, 10 s of logical time ago: TTLs run on real time)
ttl_is "$cur: user key: failure_window after the cap" "$KU" $((60000 + WINDOW))
att alice 192.0.2.1/32 192.0.2.0/24
decide 1 $now
eq "$cur: the trusted pair is admitted, user_cap skipped" "$verdict/$s1v/$s1k" 1/0/1
rep 1 $now
describe $now
eq "$cur: its success clears ucfail" "$ucfail" 0
att alice 10.9.9.10/32 10.9.9.0/24
decide 1 $now
eq "$cur: untrusted admitted again" "$verdict" 1

scenario user_cap_grows
att alice 192.0.2.1/32 192.0.2.0/24
admit $T0
rep 1 $T0
fail_from_fresh 6 $T0
att alice 10.9.9.9/32 10.9.9.0/24
denied $now 6 50000
denied $((now + 49999)) 6 1
att alice 192.0.2.1/32 192.0.2.0/24
admit $now
rep 2 $now
describe $now
eq "$cur: failures of the trusted pair do not count" "$ucfail" 6
now=$((now + 50000))
att alice 10.9.9.9/32 10.9.9.0/24
admit $now
rep 2 $now
describe $now
eq "$cur: cap level 2" "$cap_level" 2
denied $now 6 120000

scenario longest_retry_wins
set_conf free=1
i=0
while [ $i -lt 19 ]; do
	att u$i 10.0.0.1/32 10.0.0.0/24
	admit $T0
	i=$((i + 1))
done
att alice 10.0.0.1/32 10.0.0.0/24
admit $T0
decide 0 $T0
eq "$cur: backoff and source_rate both deny 1000" "$s0v/$s0t/$s2v/$s2t" 2/1000/2/1000
eq "$cur: on a tie the earlier rule (backoff), 4 steps" "$rule/$nsteps" 3/4
decide 0 $((T0 + 500))
eq "$cur: half a second later: still backoff, source_rate 500" "$rule/$s2t" 3/500
rep 2 $((T0 + 500))
rep 2 $((T0 + 500))
decide 0 $((T0 + 500))
eq "$cur: two failures: hold 1 s" "$verdict/$rule/$retry" 2/3/1000

# ---- commit discipline -------------------------------------------------------

# pipe_decides N MODE NOW MASK: N decides through one redis-cli, between two
# snapshots; sets before, after and verdicts (the distinct verdict/class).
pipe_decides() {
	{
		echo "EVALSHA $snap_sha 0 $PFX*"
		_i=0
		while [ $_i -lt "$1" ]; do
			echo "FCALL $fn 6 $KP $KS $KA $KU $KH $KG decide $3 $CONF $FLAGS $M $2 $4"
			_i=$((_i + 1))
		done
		echo "EVALSHA $snap_sha 0 $PFX*"
	} >"$dir/cmds"
	r <"$dir/cmds" >"$dir/out"
	before=$(sed -n 1p "$dir/out")
	after=$(sed -n '$p' "$dir/out")
	verdicts=$(sed '1d;$d' "$dir/out" | awk -F, '{ print $1 "/" $4 }' | sort -u | tr '\n' ' ')
}

scenario noslot_changes_nothing
att alice 10.0.0.1/32 10.0.0.0/24
admit $T0
rep 2 $T0
pipe_decides 30 1 $T0 3
eq "$cur: 30 commits without a failing-class slot: NOSLOT, class failing" "$verdicts" "4/2 "
eq "$cur: the keyspace is unchanged (DUMP, PEXPIRETIME)" "$after" "$before"
describe $T0
eq "$cur: one source token spent" "$s_tokens" 19
decide 1 $T0 4
eq "$cur: with the slot it is admitted" "$verdict" 1

scenario check_changes_nothing
att bob 10.0.0.2/32 10.0.0.0/24
bob_keys="$KP $KS $KA $KU $KH $KG decide $T0 $CONF 0 $M 0 7"
att alice 10.0.0.1/32 10.0.0.0/24
admit $T0
rep 2 $T0
{
	echo "EVALSHA $snap_sha 0 $PFX*"
	i=0
	while [ $i -lt 30 ]; do
		echo "FCALL $fn 6 $KP $KS $KA $KU $KH $KG decide $T0 $CONF 0 $M 0 7"
		echo "FCALL $fn 6 $bob_keys"
		i=$((i + 1))
	done
	echo "EVALSHA $snap_sha 0 $PFX*"
} >"$dir/cmds"
r <"$dir/cmds" >"$dir/out"
eq "$cur: 60 checks of alice and bob leave the keyspace unchanged" \
	"$(sed -n '$p' "$dir/out")" "$(sed -n 1p "$dir/out")"
eq "$cur: all allowed" "$(sed '1d;$d' "$dir/out" | cut -d, -f1 | sort -u)" 1
eq "$cur: P, S, A, U of alice only" "$(nkeys)" 4
att bob 10.0.0.2/32 10.0.0.0/24
describe $T0
eq "$cur: nothing stored for bob" "$p_stored/$inflight/$u_stored" 0/0/0
eq "$cur: reset of bob finds nothing" \
	"$(r FCALL $fn 4 "$KG" "$KU" "$KH" "$KP" reset $T0 "$CONF" 0 "")" 0

scenario pass_changes_nothing
att alice 10.0.0.1/32 10.0.0.0/24
admit $T0
{
	echo "EVALSHA $snap_sha 0 $PFX*"
	echo "FCALL $fn 6 $KP $KS $KA $KU $KH $KG report $T0 $CONF 0 $M 4 0"
	echo "EVALSHA $snap_sha 0 $PFX*"
} >"$dir/cmds"
r <"$dir/cmds" >"$dir/out"
eq "$cur: PASS leaves the keyspace unchanged" "$(sed -n 3p "$dir/out")" "$(sed -n 1p "$dir/out")"

# ---- classes, user socket, outcomes ------------------------------------------

scenario user_socket
att alice uid:1000
FLAGS=2
decide 1 $T0
eq "$cur: admitted; user_cap and user_rate skipped: user socket" "$verdict/$s1k/$s3k" 1/3/3
eq "$cur: source_rate still applies" "$s2v" 1
rep 1 $T0
eq "$cur: a success there creates no trust" "$(r EXISTS "$KH")/$(zcard "$KG")" 0/0
decide 0 $T0
eq "$cur: class clean, not trusted" "$klass/$trusted" 1/0
for i in 0 1 2 3 4 5 6 7 8; do
	admit $((T0 + i * 100000))
	rep 2 $((T0 + i * 100000))
done
describe $((T0 + 800000))
eq "$cur: its failures never reach the user" "$u_stored/$ucfail" 0/0
att alice 192.0.2.1/32 192.0.2.0/24
admit $T0
rep 1 $T0
FLAGS=2
decide 0 $T0
eq "$cur: a trusted pair is not trusted over the user socket" "$trusted/$klass" 0/1

scenario outcomes
att alice 10.0.0.1/32 10.0.0.0/24
admit $T0
rep 3 $T0
describe $T0
eq "$cur: unavail: no failure, nothing in flight" "$failures/$inflight" 0/0
eq "$cur: unavail: an idle pair is deleted" "$(r EXISTS "$KP")" 0
decide 0 $T0
eq "$cur: clean" "$verdict/$klass" 1/1
admit $T0
rep 4 $T0
describe $T0
eq "$cur: pass: still in flight" "$inflight" 1
rep 5 $T0
describe $T0
eq "$cur: abandon counts as a failure, for the user too" "$failures/$inflight/$ucfail" 1/0/1
decide 0 $T0
eq "$cur: the source turns failing" "$verdict/$klass" 1/2
ttl_is "$cur: aggregate key lives failure_window" "$KA" $WINDOW
att bob 10.0.0.77/32 10.0.0.0/24
decide 0 $((T0 + WINDOW - 1))
eq "$cur: the netblock stays failing for failure_window" "$klass" 2
decide 0 $((T0 + WINDOW))
eq "$cur: and is clean after it" "$klass" 1
report 99 $T0
eq "$cur: outcome 99 is refused" "${cleared%%:*}" "ERR authguard"

scenario bad_input
att alice 10.0.0.1/32 10.0.0.0/24
k0=$(nkeys)
out=$(r FCALL $fn 4 "$KP" "$KS" "$KA" "$KU" decide $T0 "$CONF" 0 "$M" 1 7)
eq "$cur: four keys refused" "${out%%:*}" "ERR authguard"
out=$(ev decide $T0 7 7)
eq "$cur: mode 7 refused" "${out%%:*}" "ERR authguard"
out=$(r FCALL $fn 6 "$KP" "$KS" "$KA" "$KU" "$KH" "$KG" decide $T0 "$CONF" 0 "" 1 7)
eq "$cur: an empty member refused" "${out%%:*}" "ERR authguard"
out=$(r FCALL $fn 6 "$KP" "$KS" "$KA" "$KU" "$KH" "$KG" decide $T0 1,2,3 0 "$M" 1 7)
eq "$cur: a short conf refused" "${out%%:*}" "ERR authguard"
out=$(r FCALL $fn 6 "$KP" "$KS" "$KA" "$KU" "$KH" "$KG" decide 17e11 "$CONF" 0 "$M" 1 7)
eq "$cur: a clock that is not an integer refused" "${out%%:*}" "ERR authguard"
set_conf scount=0
out=$(ev decide $T0 1 7)
eq "$cur: a rate of 0 refused" "${out%%:*}" "ERR authguard"
set_conf
out=$(ev frobnicate $T0)
eq "$cur: an unknown op refused" "${out%%:*}" "ERR authguard"
eq "$cur: nothing written by refused calls" "$(nkeys)" "$k0"
decide 1 $T0
eq "$cur: agg NULL (the source as its own aggregate) is fine" "$verdict" 1
eq "$cur: P, S, U" "$(nkeys)" 3

scenario describe
att "al ice=$(printf '\001')" 10.0.0.1/32 10.0.0.0/24
for i in 1 2 3 4; do
	admit $T0
	rep 2 $T0
done
describe $((T0 + 500))
eq "$cur: pair" "$p_stored $failures $inflight $((hold_until - T0)) $last_fail $last_seen $p_trusted $last_ok" \
	"1 4 0 1000 $T0 $T0 0 0"
eq "$cur: user" "$u_stored $ucfail $cap_level $cap_until $clean_tokens $failing_tokens $trusted_sources" \
	"1 4 0 0 4 2 0"
eq "$cur: source" "$s_stored $s_tokens" "1 16"
eq "$cur: aggregate" "$a_stored $a_last_fail $a_failing" "1 $T0 1"

# ---- trust (test_store_trust.c) ------------------------------------------------

scenario trust_per_user_lru
n=1
while [ $n -le 4 ]; do
	att alice 1.0.0.$n/32
	admit $((T0 + n - 1))
	rep 1 $((T0 + n - 1))
	n=$((n + 1))
done
eq "$cur: max_trusted_per_user = 3 kept (user set and global index)" \
	"$(zcard "$KH")/$(zcard "$KG")" 3/3
describe $((T0 + 9))
eq "$cur: trusted_sources=3" "$trusted_sources" 3
att alice 1.0.0.1/32
decide 0 $((T0 + 9))
eq "$cur: the oldest went" "$trusted" 0
att alice 1.0.0.2/32
admit $((T0 + 10))
rep 1 $((T0 + 10))
att alice 1.0.0.5/32
admit $((T0 + 11))
rep 1 $((T0 + 11))
got=""
for n in 1 2 3 4 5; do
	att alice 1.0.0.$n/32
	decide 0 $((T0 + 12))
	got="$got$trusted"
done
eq "$cur: using 2 again made 3 the oldest" "$got" 01011
att bob 1.0.0.5/32
admit $((T0 + 13))
rep 1 $((T0 + 13))
eq "$cur: another user's trust is its own" "$(zcard "$KG")" 4

scenario trust_same_ms_order
# Successes in one ms keep their order (score = last_ok * 1024 + seq).
for n in 9 8 7 6; do
	att alice 1.0.0.$n/32
	admit $T0
	rep 1 $T0
done
got=""
for n in 9 8 7 6; do
	att alice 1.0.0.$n/32
	decide 0 $T0
	got="$got$trusted"
done
eq "$cur: the first of four successes in one ms went" "$got" 0111

scenario trust_global_bound
set_conf max_trusted=4
i=0
while [ $i -lt 6 ]; do
	att u$i 1.0.0.1/32 1.0.0.0/24
	admit $((T0 + i))
	rep 1 $((T0 + i))
	i=$((i + 1))
done
eq "$cur: max_trusted = 4 kept" "$(zcard "$KG")" 4
att u1 1.0.0.1/32 1.0.0.0/24
decide 0 $((T0 + 9))
eq "$cur: the oldest two went (u1 untrusted)" "$verdict/$trusted" 1/0
eq "$cur: and its user set with it" "$(r EXISTS "$KH")" 0
att u2 1.0.0.1/32 1.0.0.0/24
decide 0 $((T0 + 9))
eq "$cur: u2 still trusted" "$trusted" 1
set_conf max_trusted=2
eq "$cur: trim after a reload lowering max_trusted drops 2" \
	"$(r FCALL $fn 1 "$KG" trim $((T0 + 9)) "$CONF" 0 ${#M})" 2
eq "$cur: 2 left" "$(zcard "$KG")" 2
decide 0 $((T0 + 9))
eq "$cur: u2 untrusted now" "$trusted" 0
att u5 1.0.0.1/32 1.0.0.0/24
decide 0 $((T0 + 9))
eq "$cur: u5 still trusted" "$trusted" 1

scenario trust_per_user_lowered
n=1
while [ $n -le 3 ]; do
	att alice 1.0.0.$n/32
	admit $((T0 + n))
	rep 1 $((T0 + n))
	n=$((n + 1))
done
set_conf per_user=2
got=""
for n in 1 2 3; do
	att alice 1.0.0.$n/32
	decide 0 $((T0 + 9))
	got="$got$trusted"
done
eq "$cur: a lowered max_trusted_per_user applies at once" "$got" 011

scenario trust_expiry
att alice 192.0.2.1/32 192.0.2.0/24
admit $T0
rep 1 $T0
decide 0 $((T0 + 30 * DAY - 1))
eq "$cur: trusted until trust_ttl" "$trusted" 1
decide 0 $((T0 + 30 * DAY))
eq "$cur: not at trust_ttl; clean" "$trusted/$klass" 0/1
att bob 192.0.2.1/32 192.0.2.0/24
admit $((T0 + 30 * DAY))
rep 1 $((T0 + 30 * DAY))
eq "$cur: an expired pair stays in the index until the bound needs room" "$(zcard "$KG")" 2

scenario trust_expiry_at_bound
set_conf max_trusted=2
att alice 192.0.2.1/32 192.0.2.0/24
admit $T0
rep 1 $T0
att bob 192.0.2.1/32 192.0.2.0/24
admit $((T0 + 30 * DAY - 2))
rep 1 $((T0 + 30 * DAY - 2))
att carol 192.0.2.1/32 192.0.2.0/24
admit $((T0 + 30 * DAY))
rep 1 $((T0 + 30 * DAY))
eq "$cur: at the bound the expired pair goes first" "$(zcard "$KG")" 2
att bob 192.0.2.1/32 192.0.2.0/24
decide 0 $((T0 + 30 * DAY + 1))
eq "$cur: and the live one is kept" "$trusted" 1

scenario trust_without_index
NOG=1
n=1
while [ $n -le 4 ]; do
	att alice 1.0.0.$n/32
	NOG=1
	admit $((T0 + n))
	rep 1 $((T0 + n))
	n=$((n + 1))
done
eq "$cur: without G only the per-user bound applies" "$(zcard "$KH")/$(r EXISTS "$KG")" 3/0
decide 0 $((T0 + 9))
eq "$cur: trusted" "$trusted" 1

# ---- reset (test_store_trust.c), through SCAN for user, source and all ---------

setup_two_users() {
	att alice 10.0.0.1/32 10.0.0.0/24
	for i in 1 2 3 4; do
		admit $T0
		rep 2 $T0
	done
	att alice 192.0.2.1/32 192.0.2.0/24
	admit $T0
	rep 1 $T0
	att bob 10.0.0.1/32 10.0.0.0/24
	for i in 1 2 3 4; do
		admit $T0
		rep 2 $T0
	done
}

# reset_keys MEMBER KEY...: the reset op on KEYS[1] = G and the keys given.
reset_keys() {
	_m=$1
	shift
	r FCALL $fn $(($# + 1)) "$KG" "$@" reset $T0 "$CONF" 0 "$_m"
}
# The digests are 16 hex characters; patterns need no escaping.
reset_user() { # USER
	_hu=$(dig "$1")
	# shellcheck disable=SC2046
	reset_keys "" "${PFX}U$_hu" "${PFX}H$_hu" $(r --scan --pattern "${PFX}P$_hu*")
}
reset_source() { # SOURCE AGG
	_hs=$(dig "$1")
	# shellcheck disable=SC2046
	reset_keys "" "${PFX}S$_hs" "${PFX}A$_hs" "${PFX}A$(dig "$2")" \
		$(r --scan --pattern "${PFX}P????????????????$_hs")
}
reset_pair() { # USER SOURCE
	reset_keys "$(dig "$2")" "${PFX}P$(dig "$1")$(dig "$2")" "${PFX}H$(dig "$1")"
}
reset_all() { # sums the batches, as the governor would
	_found=0
	r --scan --pattern "$PFX*" >"$dir/all"
	while read -r _k; do
		_found=$((_found + $(reset_keys "" "$_k")))
	done <"$dir/all"
	echo $_found
}

scenario reset_user
setup_two_users
found=$(reset_user alice)
# store_mem dropped the pair that succeeded without failures at once: the
# failing pair, the user and the trusted source.
eq "$cur: found: 1 pair, the user, 1 trusted source" "$found" 3
att alice 10.0.0.1/32 10.0.0.0/24
describe $T0
eq "$cur: alice's failures and user entry gone" "$failures/$u_stored" 0/0
eq "$cur: her trust gone (user set and index)" "$(r EXISTS "$KH")/$(zcard "$KG")" 0/0
att bob 10.0.0.1/32 10.0.0.0/24
describe $T0
eq "$cur: bob keeps his" "$failures" 4
eq "$cur: again: nothing found" "$(reset_user alice)" 0
eq "$cur: the source's rate is not the user's" "$s_tokens" 12
att alice 10.0.0.1/32 10.0.0.0/24
decide 1 $T0
eq "$cur: alice admitted" "$verdict" 1

scenario reset_source
setup_two_users
found=$(reset_source 10.0.0.1/32 10.0.0.0/24)
eq "$cur: found: 2 pairs, the source, the aggregate" "$found" 4
att alice 10.0.0.1/32 10.0.0.0/24
describe $T0
eq "$cur: alice's failures gone, full tokens, netblock clean" "$failures/$s_tokens/$a_failing" 0/20/0
att bob 10.0.0.1/32 10.0.0.0/24
describe $T0
eq "$cur: bob's failures gone; his ucfail stays" "$failures/$ucfail" 0/4
eq "$cur: trust stays" "$(zcard "$KG")" 1
att carol 10.0.0.9/32 10.0.0.0/24
decide 0 $T0
eq "$cur: a neighbour is clean" "$verdict/$klass" 1/1
eq "$cur: again: nothing found" "$(reset_source 10.0.0.1/32 10.0.0.0/24)" 0

scenario reset_pair_and_all
setup_two_users
eq "$cur: pair: found" "$(reset_pair alice 10.0.0.1/32)" 1
att alice 10.0.0.1/32 10.0.0.0/24
describe $T0
eq "$cur: alice's pair cleared" "$failures" 0
att bob 10.0.0.1/32 10.0.0.0/24
describe $T0
eq "$cur: bob's kept, trust kept" "$failures/$(zcard "$KG")" 4/1
eq "$cur: the trusted pair: found" "$(reset_pair alice 192.0.2.1/32)" 1
eq "$cur: its trust gone" "$(zcard "$KG")" 0
eq "$cur: again: nothing found" "$(reset_pair alice 10.0.0.1/32)" 0
att alice 10.0.0.1/32 10.0.0.0/24
admit $T0
found=$(reset_all)
[ "$found" -gt 0 ] && ok "$cur: all: found $found" || nok "$cur: all: found $found"
eq "$cur: only the pair in flight is left" "$(nkeys)" 1
describe $T0
eq "$cur: with its count, and nothing else" "$inflight/$failures/$last_fail" 1/0/0
ttl_is "$cur: it lives pin_ms" "$KP" 120000
rep 3 $T0
eq "$cur: once it ends the pair goes" "$(nkeys)" 0
eq "$cur: all again: nothing found" "$(reset_all)" 0

# ---- tickets: attempts in flight, fleet_max_inflight ----------------------------

KF=${PFX}F
# tk OP NOW TICKET CEIL ARG6 ARG7: the script with F, a ticket and ceilings.
tk() {
	r FCALL $fn 7 "$KP" "$KS" "$KA" "$KU" "$KH" "$KG" "$KF" "$1" "$2" "$CONF" "$FLAGS" "$M" \
		"$5" "$6" "$3" "$4"
}
inflight() { describe "$1"; printf '%s' "$inflight"; }

scenario tickets_count_once
att alice 10.0.0.1/32
eq "$cur: commit t1 allowed" "$(tk decide $T0 a1 0,0,0 1 7 | cut -d, -f1)" 1
eq "$cur: commit t2 allowed" "$(tk decide $T0 a2 0,0,0 1 7 | cut -d, -f1)" 1
eq "$cur: two tickets in F" "$(zcard "$KF")" 2
ttl_is "$cur: F lives a second past its newest lease" "$KF" $((pin + 1000))
eq "$cur: two in flight on the pair" "$(inflight $T0)" 2
tk report $T0 a1 0,0,0 3 0 >/dev/null
tk report $T0 a1 0,0,0 3 0 >/dev/null
eq "$cur: t1 reported twice counts out once" "$(inflight $T0)" 1
eq "$cur: one ticket left" "$(zcard "$KF")" 1
tk report $T0 a2 0,0,0 1 0 >/dev/null
eq "$cur: a success counts t2 out" "$(inflight $T0)" 0
eq "$cur: F goes with its last ticket" "$(r EXISTS "$KF")" 0

scenario tickets_takeback_first
att alice 10.0.0.1/32
# A stalled Redis runs the take-back before the commit it takes back.
tk report $T0 b1 0,0,0 3 0 >/dev/null
eq "$cur: the take-back leaves a tombstone" "$(r EXISTS "$KF:b1")" 1
ttl_is "$cur: the tombstone lives pin_ms" "$KF:b1" "$pin"
eq "$cur: the late commit is refused (noslot)" "$(tk decide $T0 b1 0,0,0 1 7 | cut -d, -f1)" 4
eq "$cur: ... and counts nothing in flight" "$(inflight $T0)" 0
eq "$cur: ... nor a ticket" "$(zcard "$KF")" 0

scenario tickets_reaped
att alice 10.0.0.1/32
tk decide $T0 c1 0,0,0 1 7 >/dev/null
eq "$cur: one in flight" "$(inflight $T0)" 1
att bob 10.0.0.2/32
tk decide $((T0 + pin + 1)) c2 0,0,0 1 7 >/dev/null
att alice 10.0.0.1/32
eq "$cur: a commit after the lease reaps it from its pair" "$(inflight $((T0 + pin + 2)))" 0
eq "$cur: ... and from F" "$(r ZSCORE "$KF" "c1$KP")" ""
tk report $((T0 + pin + 3)) c1 0,0,0 2 0 >/dev/null
describe $((T0 + pin + 3))
eq "$cur: its late report counts the failure" "$failures" 1
eq "$cur: ... but does not count it out again" "$inflight" 0

scenario tickets_fleet_ceiling
# Ceilings trusted 3, clean 2, failing 1 (fleet_max_inflight 3, reserves).
att u1 10.0.0.1/32
eq "$cur: clean 1 of 2" "$(tk decide $T0 d1 3,2,1 1 7 | cut -d, -f1)" 1
att u2 10.0.0.2/32
eq "$cur: clean 2 of 2" "$(tk decide $T0 d2 3,2,1 1 7 | cut -d, -f1)" 1
att u3 10.0.0.3/32
eq "$cur: a third clean attempt: fleet full (5)" "$(tk decide $T0 d3 3,2,1 1 7 | cut -d, -f1)" 5
eq "$cur: ... nothing in flight for it" "$(inflight $T0)" 0
att u1 10.0.0.1/32
tk report $T0 d1 3,2,1 1 0 >/dev/null
att u3 10.0.0.3/32
eq "$cur: after a release it is admitted" "$(tk decide $T0 d3 3,2,1 1 7 | cut -d, -f1)" 1
att u1 10.0.0.1/32
eq "$cur: u1 is trusted now: its own ceiling (3)" "$(tk decide $T0 d4 3,2,1 1 7 | cut -d, -f1)" 1
eq "$cur: three in F" "$(zcard "$KF")" 3
# reset all keeps what is in flight
keys=$(r --scan --pattern "${PFX}*" | tr '\n' ' ')
# shellcheck disable=SC2086 # the keys as words
r FCALL $fn $(($(echo $keys | wc -w) + 1)) "$KG" $keys reset $T0 "$CONF" 0 "" "$KF" >/dev/null
eq "$cur: reset all keeps F" "$(zcard "$KF")" 3

# ---- Redis TIME ----------------------------------------------------------------

scenario redis_time
att alice 10.0.0.1/32 10.0.0.0/24
decide 1 time
eq "$cur: admitted on Redis TIME" "$verdict" 1
ttl_is "$cur: source TAT: T" "$KS" 1000
ttl_is "$cur: user TAT: T + 1 ms" "$KU" 6001
ttl_is "$cur: pair in flight: pin_ms" "$KP" 120000
report 2 time
ttl_is "$cur: failed pair: failure_window" "$KP" $WINDOW
ttl_is "$cur: aggregate: failure_window" "$KA" $WINDOW
ttl_is "$cur: user: failure_window" "$KU" $WINDOW
ttl_all

# ---- memory per entry ----------------------------------------------------------
# Keys as deployed: "ag:" + kind + 8-byte digests (8 characters stand for
# them here: only the length matters), one COMMIT and one failure report on
# Redis TIME with the default limits.

echo "# memory"
r FLUSHALL >/dev/null
set_conf
cur=memory
d8() { dig "$1" | cut -c1-8; }
hu=$(d8 alice) hs=$(d8 10.0.0.1/32) ha=$(d8 10.0.0.0/24)
KP=${PFX}P$hu$hs KS=${PFX}S$hs KA=${PFX}A$ha KU=${PFX}U$hu KH=${PFX}H$hu M=$hs FLAGS=0
decide 1 time
report 2 time
for k in P S A U; do
	eval "_key=\$K$k"
	_u=$(r MEMORY USAGE "$_key")
	echo "# MEMORY USAGE $k ($(printf '%s' "$_key" | wc -c) byte key, $(r OBJECT ENCODING "$_key")): $_u"
done
report 1 time
decide 1 time
report 1 time
echo "# MEMORY USAGE H (one trusted source): $(r MEMORY USAGE "$KH"); G (one): $(r MEMORY USAGE "$KG")"

# N attempts from distinct users, sources and netblocks: used_memory per
# attempt. source_rate 1/h here, so that no source TAT expires during the
# run (sizes do not depend on it: a TAT is a 16-digit number either way).
N=4000
set_conf scount=1 speriod=3600000
awk -v n=$N -v fn="$fn" -v conf="$CONF" -v pfx="$PFX" 'BEGIN {
	for (i = 0; i < n; i++) {
		u = sprintf("u%07d", i); s = sprintf("s%07d", i); a = sprintf("a%07d", i)
		k = pfx "P" u s " " pfx "S" s " " pfx "A" a " " pfx "U" u " " pfx "H" u " " pfx "G"
		print "FCALL " fn " 6 " k " decide time " conf " 0 " s " 1 7"
		print "FCALL " fn " 6 " k " report time " conf " 0 " s " 2 0"
	}
}' >"$dir/mem.cmds"
r FLUSHALL >/dev/null
mem() { r INFO memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p'; }
m0=$(mem)
r <"$dir/mem.cmds" >/dev/null
m1=$(mem)
k1=$(nkeys)
eq "memory: 4 keys per attempt" "$k1" $((4 * N))
sum=0
for k in P S A U; do
	eval "_u$k=\$(r MEMORY USAGE \"\$(r --scan --pattern \"\${PFX}$k*\" | head -n 1)\")"
	eval "sum=\$((sum + _u$k))"
done
over=$(((m1 - m0 - N * sum) / (4 * N)))
echo "# $N attempts: used_memory +$((m1 - m0)) bytes, $(((m1 - m0) / N)) per attempt;" \
	"MEMORY USAGE of the four $sum; $over per key beyond it (expires entry, buckets)"
for k in P S U A; do
	eval "_t=\$((_u$k + over))"
	echo "# $k: $_t bytes in all"
	case $k in
	A) ;;
	*) [ "$_t" -le 200 ] && ok "memory: a tracked $k costs at most 200 bytes ($_t)" ||
		nok "memory: a tracked $k costs at most 200 bytes ($_t)" ;;
	esac
done
ttl_all

r SHUTDOWN NOSAVE >/dev/null 2>&1
wait "$pid" 2>/dev/null
pid=""
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
