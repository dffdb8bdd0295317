#!/bin/sh
# Quick start, step 2 (and CI): install the packages, build, run every test:
# unit tests, end-to-end PAM tests against a real governor, the unit tests
# again under valgrind, and make distcheck.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
sh "$top/scripts/deps.sh"
sh "$top/scripts/build.sh"
cd "$top/build"
status=0
make check || status=$?
if [ "$status" -ne 0 ]; then
	for f in tests/*.log; do
		case "$f" in tests/test-suite.log) continue ;; esac
		grep -qE '^(FAIL|ERROR)' "${f%.log}.trs" 2>/dev/null && { echo "=== $f"; tail -n 60 "$f"; }
	done
	exit "$status"
fi
make check-valgrind
if [ "${AG_SKIP_DISTCHECK:-}" != 1 ]; then
	make distcheck >/dev/null
	echo "distcheck: ok"
fi
