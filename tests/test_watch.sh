#!/bin/sh
# End-to-end checks of "authguardctl watch" against a real governor on
# temporary sockets: plain frames when stdout is a pipe (--count), option
# errors, exit 3 when nobody listens, and the terminal view in a pseudo-
# terminal (util-linux script) quitting on 'q'. Run by `make check` with
# AG_BUILDDIR exported.
set -u

gov="${AG_BUILDDIR:-.}/authguard-governor"
ctl="${AG_BUILDDIR:-.}/authguardctl"
[ -x "$gov" ] || { echo "no governor at $gov"; exit 99; }
[ -x "$ctl" ] || { echo "no authguardctl at $ctl"; exit 99; }
command -v timeout >/dev/null 2>&1 || { echo "no timeout(1): skipping"; exit 77; }

tag=watch
. "${AG_SRCDIR:-.}/tests/testlib.sh"
# has TEXT PATTERN: TEXT contains a line matching the extended regex.
has() { printf '%s\n' "$1" | grep -Eq -- "$2"; }

sock="$dir/run/governor.sock"
cat >"$dir/authguard.conf" <<EOF2
[governor]
socket = $sock
user_socket = $dir/run/user.sock
state_file = $dir/state
state_interval = 1h
client_idle = 5s
[overload]
max_inflight = 13
EOF2

# ---- nobody there ------------------------------------------------------------

out=$(timeout 10 "$ctl" -s "$sock" watch --count 1 2>&1)
rc=$?
check "no governor: exit 3" [ "$rc" -eq 3 ]
check "no governor: the usual message" has "$out" "cannot reach the governor at $sock"

# ---- options -----------------------------------------------------------------

for bad in "--interval 99" "--interval 60001" "--interval fast" "--count 0" "--count x" \
	"--json" "extra"; do
	# shellcheck disable=SC2086 # split on purpose
	timeout 10 "$ctl" -s "$sock" watch $bad >/dev/null 2>&1
	rc=$?
	check "watch $bad is a usage error (exit 2)" [ "$rc" -eq 2 ]
done
out=$("$ctl" watch --help)
check "watch --help shows --interval" has "$out" "--interval MS"

# ---- a governor --------------------------------------------------------------

"$gov" -f -c "$dir/authguard.conf" >"$dir/governor.log" 2>&1 &
pid=$!
n=50
while [ "$n" -gt 0 ] && ! [ -S "$sock" ]; do
	sleep 0.1
	n=$((n - 1))
done
if [ -S "$sock" ]; then ok "governor socket appears"; else nok "governor socket appears"; fi

# Plain frames through a pipe: no escapes, exactly --count of them.
timeout 10 "$ctl" -s "$sock" watch --interval 200 --count 3 </dev/null 2>"$dir/err" | cat >"$dir/plain"
rc=$?
out=$(cat "$dir/plain")
check "piped: exits 0 after --count frames" [ "$rc" -eq 0 ]
check "piped: nothing on stderr" [ ! -s "$dir/err" ]
check "piped: 3 frames" [ "$(grep -c '^authguard watch ' "$dir/plain")" -eq 3 ]
check "piped: 3 requests/s lines" [ "$(grep -c '^requests/s: ' "$dir/plain")" -eq 3 ]
check "piped: the first frame has no rate yet" has "$out" "^requests/s: - "
check "piped: later frames have a rate" has "$out" "^requests/s: [0-9]+\.[0-9] "
check "piped: in-flight against the limit" has "$out" "^in-flight: 0 / 13 limit"
check "piped: queues per class" has "$out" "^queued: trusted 0, clean 0, failing 0"
check "piped: latency" has "$out" "^latency: p50 .*, p99 "
check "piped: denials by rule" has "$out" "^denials by rule"
check "piped: a row per rule" has "$out" "^  user_cap +[-0-9.]+ +0$"
check "piped: clients" has "$out" "clients: [0-9]+"
check "piped: no escape sequences" sh -c '! grep -q "$(printf "\033")" "$1"' _ "$dir/plain"
check "piped: no 'q quits' without a keyboard" sh -c '! grep -q "q quits" "$1"' _ "$dir/plain"

# ---- in a pseudo-terminal ------------------------------------------------------

if command -v script >/dev/null 2>&1; then
	# script(1) runs its command through $SHELL: pin it, so that a CI
	# without SHELL set runs exactly what a developer's machine runs.
	SHELL=/bin/sh
	export SHELL
	(
		sleep 1
		printf q
		sleep 5 # keep script's input open until the child has gone
	) | timeout 10 script -qfec "$ctl -s $sock watch --interval 200" /dev/null \
		>"$dir/tty" 2>&1
	rc=$?
	check "tty: q quits with status 0 within 10 s" [ "$rc" -eq 0 ]
	check "tty: clears the screen" grep -q "$(printf '\033\\[H\033\\[2J')" "$dir/tty"
	check "tty: shows the heading" grep -q "requests/s: " "$dir/tty"
	check "tty: redraws (several frames before q)" \
		[ "$(grep -o "$(printf '\033\\[2J')" "$dir/tty" | wc -l)" -ge 2 ]
	check "tty: says how to quit" grep -q "q quits" "$dir/tty"
	check "tty: shows the cursor again" grep -q "$(printf '\033\\[?25h')" "$dir/tty"

	# SIGTERM is a clean exit too, with the terminal restored. --foreground
	# keeps watch in the terminal's foreground process group, where a user
	# runs it; in a group of its own it would be stopped by SIGTTOU.
	timeout 10 script -qfec "timeout --foreground --preserve-status -s TERM 1 $ctl -s $sock watch --interval 200" \
		/dev/null </dev/null >"$dir/tty2" 2>&1
	rc=$?
	check "tty: SIGTERM exits with status 0" [ "$rc" -eq 0 ]
else
	echo "# no script(1): the terminal view is not checked"
fi

# ---- the governor goes away --------------------------------------------------

timeout 10 "$ctl" -s "$sock" watch --interval 300 --count 6 </dev/null >"$dir/gone" 2>&1 &
wpid=$!
sleep 0.5
kill -TERM "$pid"
wait "$pid"
pid=""
wait "$wpid"
rc=$?
check "governor gone: watch keeps going and exits 0" [ "$rc" -eq 0 ]
check "governor gone: says it is retrying" grep -q "governor not reachable, retrying" "$dir/gone"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
