# testlib.sh - shared by the shell tests: a run directory removed at exit
# (with the governor in $pid killed if still running), TAP-ish ok/nok/check
# lines and counts, and a bounded wait. Source it after setting $tag:
#   tag=metrics; . "$AG_SRCDIR/tests/testlib.sh"

dir=$(mktemp -d "${TMPDIR:-/tmp}/ag-$tag.XXXXXX") || exit 99
pid=""
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
nok() { fail=$((fail + 1)); echo "not ok - $1"; }
check() { # check DESCRIPTION COMMAND...
	_d=$1
	shift
	if "$@"; then ok "$_d"; else nok "$_d"; fi
}

# wait_for TENTHS COMMAND...: retries COMMAND every 0.1 s, at most TENTHS times.
wait_for() {
	_n=$1
	shift
	while [ "$_n" -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		_n=$((_n - 1))
	done
	return 1
}
