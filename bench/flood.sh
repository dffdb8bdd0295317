#!/bin/sh
# bench/flood.sh - the flood benchmark (issue 5) in one command: the same
# flood against the same simulated backend with no guard, with Debian's
# pam_faillock, and with authguard (memory store, fixed max_inflight and
# "auto"; Redis store), at several flood sizes; then the two target scenarios
# (5,000 addresses with random user names; the backend slowing from 50 to
# 200 ms per check mid-run). Writes a markdown table of the results and a
# gnuplot PNG (legitimate success rate and p99 latency against flood size).
#
#   sh bench/flood.sh [--quick] [--build DIR] [--out DIR] [--png FILE]
#                     [--sizes "0 50 200 400"] [--duration S]
#                     [--guards "noguard faillock fixed auto redis"] [--no-targets]
#
# Everything runs on this machine on Unix sockets in a temporary directory:
# a flood-backend, a governor (and a redis-server) started per run, and the
# driver bench/flood/flood under pam_wrapper (nss_wrapper for faillock).
# Addresses are PAM_RHOST strings only. Everything started is stopped at
# exit, Ctrl-C included. Parameters (environment): FLOOD_WORKERS (4),
# FLOOD_DELAY_MS (50), FLOOD_SLOW_MS (200), FLOOD_TIMEOUT_MS (2000),
# FLOOD_BOTS (200, the target scenarios), FLOOD_ADDRS (500), FLOOD_FIXED (16),
# FLOOD_TRUSTED_RATE (5), FLOOD_FRESH_RATE (2), FLOOD_BOT_PAUSE_MS (0: each
# attacking client starts its next attempt as soon as the last one ends; the
# attacker's CPU is this machine's, see bench/flood/flood.c).
set -u

src=$(cd "$(dirname "$0")/.." && pwd)
build=${AG_BUILDDIR:-$src/build}
quick=0
outdir=""
png="$src/docs/flood.png"
sizes=""
dur=""
guards="noguard faillock fixed auto redis"
targets=1

usage() {
	sed -n '/^#   sh bench/,/^#  *\[--guards/s/^# *//p' "$0"
	exit "$1"
}
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--build) build=$2; shift ;;
	--out) outdir=$2; shift ;;
	--png) png=$2; shift ;;
	--sizes) sizes=$2; shift ;;
	--duration) dur=$2; shift ;;
	--guards) guards=$2; shift ;;
	--no-targets) targets=0 ;;
	-h | --help) usage 0 ;;
	*) echo "flood.sh: unknown argument $1" >&2; usage 2 ;;
	esac
	shift
done
build=$(cd "$build" 2>/dev/null && pwd) || { echo "flood.sh: no build directory" >&2; exit 2; }
[ -n "$outdir" ] || outdir="$build/flood-results"

WORKERS=${FLOOD_WORKERS:-4}
DELAY=${FLOOD_DELAY_MS:-50}
SLOW=${FLOOD_SLOW_MS:-200}
TIMEOUT=${FLOOD_TIMEOUT_MS:-2000}
BOTS=${FLOOD_BOTS:-200}
ADDRS=${FLOOD_ADDRS:-500}
FIXED=${FLOOD_FIXED:-16}
TRATE=${FLOOD_TRUSTED_RATE:-5}
FRATE=${FLOOD_FRESH_RATE:-2}
PAUSE=${FLOOD_BOT_PAUSE_MS:-0}
if [ "$quick" -eq 1 ]; then
	: "${sizes:=0 200}" "${dur:=6}"
	t5000=10 tslow=20 slowat=5
else
	: "${sizes:=0 50 200 400}" "${dur:=15}"
	t5000=40 tslow=50 slowat=20
fi

# ---- tools and programs ------------------------------------------------------

gov="$build/authguard-governor"
ctl="$build/authguardctl"
agmod="$build/pam_module/.libs/pam_authguard.so"
faillock=/usr/lib/x86_64-linux-gnu/security/pam_faillock.so
pamdeny=/usr/lib/x86_64-linux-gnu/security/pam_deny.so
for f in "$gov" "$ctl" "$agmod"; do
	[ -e "$f" ] || { echo "flood.sh: $f missing: build the tree first" >&2; exit 2; }
done
for t in jq gnuplot cc; do
	command -v "$t" >/dev/null 2>&1 || { echo "flood.sh: $t missing (apt-get install jq gnuplot-nox build-essential)" >&2; exit 2; }
done
# have_lib NAME: the dynamic loader finds NAME (an LD_PRELOAD name).
have_lib() {
	ldconfig -p 2>/dev/null | grep -q " $1 " && return 0
	for _d in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /lib/x86_64-linux-gnu; do
		[ -e "$_d/$1" ] && return 0
	done
	return 1
}
have_lib libpam_wrapper.so || { echo "flood.sh: libpam_wrapper missing (apt-get install libpam-wrapper)" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ag-flood.XXXXXX") || exit 2
chmod 755 "$tmp"
procs=""
cleanup() {
	for _p in $procs; do
		kill -TERM "$_p" 2>/dev/null
	done
	for _p in $procs; do
		kill -0 "$_p" 2>/dev/null && sleep 0.2 && kill -KILL "$_p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "flood.sh: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM HUP

# The driver, backend and module: those of the build when it has them, else
# compiled here (libc, pthread and libpam only).
fsrc="$src/bench/flood"
flood="$build/bench/flood/flood"
backend="$build/bench/flood/flood-backend"
fbmod="$build/bench/flood/.libs/pam_floodbackend.so"
if [ ! -x "$flood" ] || [ ! -x "$backend" ] || [ ! -e "$fbmod" ]; then
	mkdir "$tmp/bin"
	cf="-O2 -g -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter"
	flood="$tmp/bin/flood" backend="$tmp/bin/flood-backend" fbmod="$tmp/bin/pam_floodbackend.so"
	# shellcheck disable=SC2086
	cc $cf -pthread -o "$flood" "$fsrc/flood.c" "$fsrc/flood_login.c" "$fsrc/flood_stats.c" \
		"$fsrc/flood_report.c" "$fsrc/flood_opt.c" -lpam &&
		cc $cf -pthread -o "$backend" "$fsrc/backend.c" "$fsrc/backend_work.c" \
			"$fsrc/backend_accounts.c" "$fsrc/flood_wire.c" "$fsrc/flood_opt.c" &&
		cc $cf -fPIC -shared -o "$fbmod" "$fsrc/pam_floodbackend.c" "$fsrc/flood_wire.c" -lpam ||
		{ echo "flood.sh: cannot compile bench/flood" >&2; exit 2; }
fi

# ---- fixtures ------------------------------------------------------------------

mkdir -p "$outdir/runs" "$tmp/pam.d"
"$flood" --init-accounts "$tmp/accounts" --init-passwd "$tmp/passwd" --init-group "$tmp/group" || exit 2
bsock="$tmp/backend.sock"
bctl="$tmp/backend.ctl"
gsock="$tmp/gov.sock"
rsock="$tmp/redis.sock"
fdir="$tmp/faillock"
client="$fbmod socket=$bsock timeout=$TIMEOUT"

# No guard: the backend module alone, prompting for the password itself.
printf 'auth required %s\n' "$client" >"$tmp/pam.d/noguard"
# pam_faillock with its defaults (deny=3, unlock_time=600, fail_interval=900):
# the stack of pam_faillock(8), preauth requisite so that a locked account
# never reaches the backend.
cat >"$tmp/pam.d/faillock" <<EOF
auth  requisite  $faillock preauth dir=$fdir
auth  [success=1 default=bad]  $client
auth  [default=die]  $faillock authfail dir=$fdir
auth  sufficient  $faillock authsucc dir=$fdir
auth  required  $pamdeny
EOF
# authguard: the auth lines of the shipped etc/pam.d/sshd, pam_unix replaced
# by the backend's module.
grep '^auth' "$src/etc/pam.d/sshd" |
	sed -e "s#pam_authguard.so#$agmod socket=$gsock#" -e "s#pam_unix.so#$client#" >"$tmp/pam.d/authguard"
printf 'auth required %s\naccount required %s\n' "$pamdeny" "$pamdeny" >"$tmp/pam.d/other"
grep -q pam_floodbackend "$tmp/pam.d/authguard" || { echo "flood.sh: cannot derive the authguard stack" >&2; exit 2; }

# gov_conf FILE LIMIT [redis]: a governor on $gsock; LIMIT is max_inflight.
gov_conf() {
	{
		printf '[governor]\nsocket = %s\nuser_socket =\nstate_file =\nmax_clients = 8192\n' "$gsock"
		printf '[overload]\nmax_inflight = %s\n' "$2"
		if [ "${3:-}" = redis ]; then
			printf '[store]\nbackend = redis\nredis = unix://%s\nhash_key_file = %s\n' \
				"$rsock" "$tmp/fleet.key"
		fi
	} >"$1"
}

gov_conf "$tmp/auto.conf" auto
if "$gov" -t -c "$tmp/auto.conf" >"$tmp/auto.check" 2>&1; then
	auto=auto
else
	auto=""
	echo "flood.sh: this governor rejects 'max_inflight = auto':" >&2
	sed 's/^/  /' "$tmp/auto.check" >&2
	echo "  the 'auto' runs are skipped; Redis and the target scenarios use max_inflight = $FIXED" >&2
fi
have_redis=1
for t in redis-server redis-cli; do
	command -v "$t" >/dev/null 2>&1 || have_redis=0
done
if [ "$have_redis" -eq 1 ]; then
	"$gov" --keygen "$tmp/fleet.key" >/dev/null 2>&1 || have_redis=0
fi
have_nss=1
have_lib libnss_wrapper.so || have_nss=0
[ -e "$faillock" ] || have_nss=0

# ---- processes -------------------------------------------------------------------

last=""
spawn() { # spawn LOG COMMAND...: in the background; pid in $last
	_log=$1
	shift
	"$@" >"$_log" 2>&1 &
	last=$!
	procs="$procs $last"
}
stop() { # stop PID: SIGTERM, at most 5 s, then SIGKILL
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null
	_n=50
	while [ "$_n" -gt 0 ] && kill -0 "$1" 2>/dev/null; do
		sleep 0.1
		_n=$((_n - 1))
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	procs=$(echo "$procs" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ')
}
wait_for() { # wait_for TENTHS COMMAND...
	_n=$1
	shift
	while [ "$_n" -gt 0 ]; do
		"$@" 2>/dev/null && return 0
		sleep 0.1
		_n=$((_n - 1))
	done
	return 1
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# sampler: the governor's limit and in-flight count once a second, as
# "EPOCH_MS LIMIT INFLIGHT SHED" lines.
sampler() {
	while :; do
		_s=$("$ctl" -s "$gsock" --json status 2>/dev/null | jq -r '.status | "\(.limit) \(.inflight) \(.shed)"' 2>/dev/null)
		[ -n "$_s" ] && echo "$(now_ms) $_s"
		sleep 1
	done
}

# run_one ID GUARD BOTS DURATION [FLOOD_ARG...]: one run, tried a second
# time when the driver dies (pam_faillock under nss_wrapper has crashed the
# driver once in several full runs: a crash says nothing about the guard).
run_one() {
	order="$order $1"
	try_one "$@" || { echo "flood.sh: $1: trying it once more" >&2 && try_one "$@"; }
}

# try_one ID GUARD BOTS DURATION [FLOOD_ARG...]: its JSON in
# $outdir/runs/ID.json (with the governor's limit series and final status).
try_one() {
	_id=$1 _guard=$2 _bots=$3 _dur=$4
	shift 4
	_r="$tmp/run-$_id"
	rm -rf "$_r"
	mkdir "$_r"
	_bpid="" _gpid="" _rpid="" _spid="" _svc=authguard _env="" _limit=""
	rm -f "$bsock" "$bctl" "$gsock"
	spawn "$_r/backend.log" "$backend" -s "$bsock" -c "$bctl" -a "$tmp/accounts" -w "$WORKERS" -d "$DELAY"
	_bpid=$last
	wait_for 50 test -S "$bctl" || { echo "flood.sh: $_id: the backend did not start" >&2; return 1; }
	set -- --cpu "backend=$_bpid" "$@"
	case $_guard in
	noguard) _svc=noguard ;;
	faillock)
		_svc=faillock
		rm -rf "$fdir" && mkdir "$fdir"
		_env="NSS_WRAPPER_PASSWD=$tmp/passwd NSS_WRAPPER_GROUP=$tmp/group"
		;;
	fixed | auto | redis | redis-fixed)
		_limit=$FIXED
		case $_guard in auto | redis) _limit=auto ;; esac
		if [ "${_guard#redis}" != "$_guard" ]; then
			spawn "$_r/redis.log" redis-server --port 0 --unixsocket "$rsock" --unixsocketperm 700 \
				--save '' --appendonly no --daemonize no
			_rpid=$last
			wait_for 50 sh -c "redis-cli -s '$rsock' PING | grep -q PONG" ||
				{ echo "flood.sh: $_id: redis did not start" >&2; stop "$_bpid"; stop "$_rpid"; return 1; }
			gov_conf "$_r/gov.conf" "$_limit" redis
			set -- --cpu "redis=$_rpid" "$@"
		else
			gov_conf "$_r/gov.conf" "$_limit"
		fi
		spawn "$_r/governor.log" "$gov" -f -c "$_r/gov.conf"
		_gpid=$last
		wait_for 50 test -S "$gsock" ||
			{ echo "flood.sh: $_id: the governor did not start" >&2; stop "$_bpid"; stop "$_rpid"; stop "$_gpid"; return 1; }
		set -- --cpu "governor=$_gpid" "$@"
		sampler >"$_r/limit" 2>/dev/null &
		_spid=$!
		procs="$procs $_spid"
		;;
	esac
	# shellcheck disable=SC2086
	env $_env "$flood" --service "$_svc" --pam-dir "$tmp/pam.d" --duration "$_dur" --bots "$_bots" \
		--bot-addrs "$ADDRS" --bot-pause "$PAUSE" --trusted-rate "$TRATE" --fresh-rate "$FRATE" \
		--client-timeout "$TIMEOUT" --backend-ctl "$bctl" --label "$_id" --json "$@" \
		>"$_r/flood.json" 2>"$_r/flood.err" &
	_fpid=$!
	procs="$procs $_fpid"
	wait "$_fpid"
	_rc=$?
	procs=$(echo "$procs" | tr ' ' '\n' | grep -vx "$_fpid" | tr '\n' ' ')
	echo '{}' >"$_r/status.json"
	if [ -n "$_gpid" ]; then
		"$ctl" -s "$gsock" --json status >"$_r/status.json" 2>/dev/null || echo '{}' >"$_r/status.json"
	fi
	stop "$_spid"
	stop "$_gpid"
	stop "$_rpid"
	stop "$_bpid"
	if [ "$_rc" -ne 0 ] || ! jq -e . "$_r/flood.json" >/dev/null 2>&1; then
		echo "flood.sh: $_id: the driver failed (exit $_rc):" >&2
		sed 's/^/  /' "$_r/flood.err" >&2
		return 1
	fi
	# The limit series as [seconds since the flood began, limit, in flight].
	_start=$(jq .start_epoch_ms "$_r/flood.json")
	awk -v s="$_start" 'BEGIN { printf "[" } NF == 4 { printf "%s[%.1f,%s,%s]", n++ ? "," : "", ($1 - s) / 1000, $2, $3 } END { print "]" }' \
		"$_r/limit" 2>/dev/null >"$_r/limit.json" || echo '[]' >"$_r/limit.json"
	# The driver's stderr: its lines on failed legitimate logins, and what the
	# modules logged (pam_wrapper writes pam_syslog errors there). Each error
	# of pam_authguard naming the governor is an attempt decided by on_error
	# (open: the backend is called without an admission).
	grep '^flood:' "$_r/flood.err" >"$outdir/runs/$_id.failures"
	grep -v '^flood:' "$_r/flood.err" | head -n 2000 >"$outdir/runs/$_id.pamlog"
	_gate=$(grep -c 'governor at .*: ' "$_r/flood.err")
	cp "$_r/governor.log" "$outdir/runs/$_id.governor.log" 2>/dev/null
	jq --arg guard "$_guard" --argjson gate "${_gate:-0}" --slurpfile lim "$_r/limit.json" \
		--slurpfile st "$_r/status.json" \
		'. + {guard: $guard, gate_errors: $gate, limit_series: $lim[0], governor_status: ($st[0].status // null)}' \
		"$_r/flood.json" >"$outdir/runs/$_id.json"
	jq -r '"  \(.label): trusted \(.classes.trusted.all.success_pct)% p99 \(.classes.trusted.all.p99_ms) ms, fresh \(.classes.fresh.all.success_pct)%, botnet \(.classes.botnet.all.attempts) attempts; backend \(.backend.calls) calls, \(.backend.wasted) wasted, queue <= \(.backend.max_queue); gate errors \(.gate_errors); saturated \(.saturated_s)/\(.seconds) s"' \
		"$outdir/runs/$_id.json"
}

# ---- the runs --------------------------------------------------------------------

rm -f "$outdir"/runs/*.json "$outdir"/runs/*.failures "$outdir"/runs/*.pamlog "$outdir"/runs/*.governor.log
order=""
echo "# flood benchmark: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r)"
echo "# backend $WORKERS workers x $DELAY ms, client timeout $TIMEOUT ms; $ADDRS botnet addresses;" \
	"trusted $TRATE/s, fresh $FRATE/s; runs of $dur s; flood sizes: $sizes"
ran=""
for g in $guards; do
	case $g in
	noguard | fixed) ;;
	faillock) [ "$have_nss" -eq 1 ] || { echo "flood.sh: skipping faillock: libnss-wrapper or pam_faillock missing (apt-get install libnss-wrapper)" >&2; continue; } ;;
	auto) [ -n "$auto" ] || { echo "flood.sh: skipping auto: max_inflight = auto not supported by this governor" >&2; continue; } ;;
	redis)
		[ "$have_redis" -eq 1 ] || { echo "flood.sh: skipping redis: no redis-server, or --keygen failed" >&2; continue; }
		[ -n "$auto" ] || g=redis-fixed
		;;
	*) echo "flood.sh: unknown guard $g" >&2; continue ;;
	esac
	ran="$ran $g"
	for n in $sizes; do
		run_one "$g-$n" "$g" "$n" "$dur"
	done
done

tguard=${auto:-fixed}
if [ "$targets" -eq 1 ]; then
	echo "# target scenarios (authguard, max_inflight = ${auto:-$FIXED})"
	run_one "addrs5000-$tguard" "$tguard" "$BOTS" "$t5000" --bot-addrs 5000 --bot-real 0
	run_one "slow-$tguard" "$tguard" "$BOTS" "$tslow" --slow-at "$slowat" --slow-ms "$SLOW"
fi

# ---- the table and the plot ----------------------------------------------------------

md="$outdir/results.md"
{
	echo "## Flood benchmark ($(date -u +%Y-%m-%d), bench/flood.sh$([ "$quick" -eq 1 ] && echo ' --quick'))"
	echo
	echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)."
	echo "Backend: $WORKERS workers x $DELAY ms per check (capacity $((WORKERS * 1000 / DELAY))/s), unbounded FIFO;"
	echo "client timeout $TIMEOUT ms. Botnet: N closed-loop clients over $ADDRS addresses, half real user"
	echo "names, wrong passwords. Trusted: $TRATE logins/s from usual addresses; fresh: $FRATE logins/s from"
	echo "new addresses. Runs of $dur s. Latency: wall time of pam_authenticate, p50/p99 in ms."
	echo "authguard: shipped sshd stack, module defaults (timeout 250 ms, queue_wait 2 s)."
	echo "CPU: % of one core over the run (gov = governor); machine: both cores busy, in %, and in"
	echo "parentheses what processes outside the run used (% of one core); sat = seconds with both"
	echo "cores >= 95% busy. Gate errors: attempts pam_authguard could not get an answer for (logged"
	echo "by the module; on_error=open lets them reach the backend unadmitted). Failed legitimate"
	echo "logins are described in runs/RUN.failures, the modules' logs in runs/RUN.pamlog."
	echo
	echo "| run | bots | trusted ok % | trusted p50 / p99 | fresh ok % | fresh p99 | botnet/s | gate errors | backend calls | wasted | max queue | limit | CPU gov / backend / redis / driver | machine (others) | sat |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	for id in $order; do
		f="$outdir/runs/$id.json"
		[ -e "$f" ] || continue
		jq -r '
		def r(x): (x * 10 | round) / 10;
		def lim: if (.limit_series | length) == 0 then "-"
			else ([.limit_series[] | .[1]] | "\(min)-\(max)") end;
		"| \(.label) | \(.params.bots) | \(r(.classes.trusted.all.success_pct)) | \(r(.classes.trusted.all.p50_ms)) / \(r(.classes.trusted.all.p99_ms)) | \(r(.classes.fresh.all.success_pct)) | \(r(.classes.fresh.all.p99_ms)) | \(r(.classes.botnet.all.attempts / .params.duration_s)) | \(.gate_errors) | \(.backend.calls) | \(.backend.wasted) | \(.backend.max_queue) | \(lim) | \(.cpu_pct.governor // "-") / \(.cpu_pct.backend // "-") / \(.cpu_pct.redis // "-") / \(.cpu_pct.flood) | \(r(.machine_busy_pct)) (\(r(.machine_busy_pct * .cores - ([.cpu_pct[]] | add)) | if . < 0 then 0 else . end)) | \(.saturated_s)/\(.seconds) |"' "$f"
	done
	s="$outdir/runs/slow-$tguard.json"
	if [ -e "$s" ]; then
		echo
		echo "Backend slowing from $DELAY to $SLOW ms per check at ${slowat} s (run slow-$tguard): windows"
		echo "before, the ${slowat}-$((slowat + 10)) s after (adapt) and the rest (after)."
		echo
		echo "| class | window | attempts | ok % | p50 | p99 |"
		echo "|---|---|---|---|---|---|"
		jq -r '.classes | to_entries[] | select(.key != "botnet") | .key as $c | .value | to_entries[] |
			"| \($c) | \(.key) | \(.value.attempts) | \(.value.success_pct) | \(.value.p50_ms) | \(.value.p99_ms) |"' "$s"
		echo
		echo "Limit (seconds since the flood began: limit): $(jq -r '[.limit_series[] | "\(.[0] | floor): \(.[1])"] | join(", ")' "$s")"
	fi
} >"$md"

# One data file per guard: bots, trusted ok %, fresh ok %, trusted p99, fresh p99.
plot=""
for g in $ran; do
	d="$tmp/plot-$g.dat"
	: >"$d"
	for n in $sizes; do
		f="$outdir/runs/$g-$n.json"
		[ -e "$f" ] && jq -r '"\(.params.bots) \(.classes.trusted.all.success_pct) \(.classes.fresh.all.success_pct) \(.classes.trusted.all.p99_ms) \(.classes.fresh.all.p99_ms)"' "$f" >>"$d"
	done
	plot="$plot $g"
done
if [ -n "$plot" ]; then
	{
		echo "set terminal pngcairo size 1400,550 font ',10'"
		echo "set output '$tmp/flood.png'"
		echo "set multiplot layout 1,2 title 'authguard flood benchmark: $WORKERS workers x $DELAY ms, client timeout $TIMEOUT ms, $ADDRS botnet addresses'"
		echo "set xlabel 'attacking clients (closed loop)'; set grid; set key outside bottom center horizontal"
		echo "set ylabel 'legitimate logins that succeed (%)'; set yrange [0:105]"
		printf 'plot '
		i=1
		for g in $plot; do
			printf "'%s' using 1:2 with linespoints lc %d pt 7 dt 1 title '%s trusted', '%s' using 1:3 with linespoints lc %d pt 6 dt 2 title '%s fresh', " \
				"$tmp/plot-$g.dat" "$i" "$g" "$tmp/plot-$g.dat" "$i" "$g"
			i=$((i + 1))
		done
		echo "1/0 notitle"
		echo "set ylabel 'p99 login latency (ms, log)'; set logscale y; set yrange [10:*]"
		printf 'plot '
		i=1
		for g in $plot; do
			printf "'%s' using 1:4 with linespoints lc %d pt 7 dt 1 title '%s trusted', '%s' using 1:5 with linespoints lc %d pt 6 dt 2 title '%s fresh', " \
				"$tmp/plot-$g.dat" "$i" "$g" "$tmp/plot-$g.dat" "$i" "$g"
			i=$((i + 1))
		done
		echo "1/0 notitle"
		echo "unset multiplot"
	} >"$tmp/flood.gp"
	if gnuplot "$tmp/flood.gp" 2>"$tmp/gnuplot.err" && cp "$tmp/flood.png" "$png"; then
		echo "plot: $png"
	else
		echo "flood.sh: gnuplot failed:" >&2
		cat "$tmp/gnuplot.err" >&2
	fi
fi
echo "table: $md (runs: $outdir/runs/)"
cat "$md"
