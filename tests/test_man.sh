#!/bin/sh
# Every manual page renders without a warning from groff, and the generated
# authguard.conf(5) names every key of the example config.
set -u
command -v man >/dev/null 2>&1 || { echo "no man(1): skipping"; exit 77; }
pass=0
fail=0
for page in "$AG_SRCDIR"/docs/man/*.[58] "$AG_BUILDDIR"/docs/man/authguard.conf.5; do
	[ -f "$page" ] || { echo "not ok - missing $page"; fail=$((fail + 1)); continue; }
	warn=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
	if [ -z "$warn" ]; then
		pass=$((pass + 1)); echo "ok - $(basename "$page") renders cleanly"
	else
		fail=$((fail + 1)); echo "not ok - $(basename "$page"): $warn"
	fi
done
conf5=$(MANWIDTH=200 man -l "$AG_BUILDDIR/docs/man/authguard.conf.5" 2>/dev/null)
for key in $(sed -n 's/^[;#] *\([a-z_0-9]*\) *=.*/\1/p' "$AG_SRCDIR/etc/authguard.conf" | sort -u); do
	if printf '%s\n' "$conf5" | grep -qE "^ +$key( |$)"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1)); echo "not ok - authguard.conf(5) does not document $key"
	fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
