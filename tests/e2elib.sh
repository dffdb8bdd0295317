# e2elib.sh - shared by the shell tests that start servers and governors
# (test_redis.sh, test_sentinel.sh), sourced after testlib.sh with $gov,
# $ctl and $load set: every process started is in $procs and killed at exit;
# governors on $dir/NAME.conf; their status fields; ag-load runs and what
# they printed.

# Everything started here is in $procs and killed at exit (testlib's cleanup
# knows only $pid). SIGKILL also ends a redis-server stopped with SIGSTOP.
procs=""
cleanup() {
	for _p in $procs; do
		kill -KILL "$_p" 2>/dev/null
	done
	rm -rf "$dir"
}
last=""

# has TEXT PATTERN: TEXT has a line matching the extended regex PATTERN.
has() { printf '%s\n' "$1" | grep -Eq -- "$2"; }
is() { [ "$1" = "$2" ]; }

# spawn LOG COMMAND...: COMMAND in the background, output in LOG; pid in $last.
spawn() {
	_log=$1
	shift
	"$@" >"$_log" 2>&1 &
	last=$!
	procs="$procs $last"
}

# stop PID: SIGTERM, then at most 5 s; its exit status (124: still running).
stop() {
	kill -TERM "$1" 2>/dev/null
	_n=50
	while [ "$_n" -gt 0 ] && kill -0 "$1" 2>/dev/null; do
		sleep 0.1
		_n=$((_n - 1))
	done
	if kill -0 "$1" 2>/dev/null; then
		kill -KILL "$1" 2>/dev/null
		return 124
	fi
	wait "$1" 2>/dev/null
}

# governor NAME: starts one on $dir/NAME.conf, logging to $dir/NAME.log, and
# waits for its socket; pid in $last.
governor() {
	spawn "$dir/$1.log" "$gov" -f -c "$dir/$1.conf"
	wait_for 50 test -S "$dir/$1.sock"
}

# st NAME FIELD: FIELD of the governor's status --json, unquoted.
st() {
	"$ctl" -s "$dir/$1.sock" --json status 2>/dev/null |
		sed -n -e "s/.*\"$2\": \"\([^\"]*\)\".*/\1/p" -e t -e "s/.*\"$2\": \([-0-9.]*\).*/\1/p"
}
state_is() { [ "$(st "$1" store_state)" = "$2" ]; }
# logs NAME TEXT: governor NAME's log has TEXT; nlogs: how many lines do.
logs() { grep -q -- "$2" "$dir/$1.log"; }
nlogs() { grep -c -- "$2" "$dir/$1.log"; }

# run NAME OUT ARGS...: ag-load against governor NAME, output in $dir/OUT.
run() {
	_g=$1
	_o=$2
	shift 2
	"$load" -s "$dir/$_g.sock" "$@" >"$dir/$_o" 2>&1
}
# lv OUT KEY: the first KEY=VALUE in ag-load's output $dir/OUT.
lv() { tr ' ' '\n' <"$dir/$1" | sed -n "s/^$2=//p" | head -n 1; }
# answered OUT: every attempt got an answer: no error, timeout or refusal.
answered() {
	_s=$(lv "$1" started)
	[ -n "$_s" ] && [ "$_s" -gt 0 ] && [ "$_s" = "$(lv "$1" completed)" ] &&
		[ "$(lv "$1" errors)" = 0 ] && [ "$(lv "$1" timeouts)" = 0 ] &&
		[ "$(lv "$1" connect_failed)" = 0 ] && [ "$(lv "$1" busy)" = 0 ]
}
# slowest_under OUT MS: ag-load's longest attempt took less than MS.
slowest_under() {
	awk -v m="$(lv "$1" max)" -v l="$2" 'BEGIN { exit !(m != "" && m + 0 < l * 1000) }'
}
