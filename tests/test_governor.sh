#!/bin/sh
# End-to-end checks of authguard-governor as a process: config checking,
# socket creation and modes, refusing a second instance, reload on SIGHUP
# (bad and good files), and a clean stop on SIGTERM (sockets removed, state
# written). Run by `make check` with AG_BUILDDIR and AG_SRCDIR exported.
set -u

gov="${AG_BUILDDIR:-.}/authguard-governor"
ctl="${AG_BUILDDIR:-.}/authguardctl"
[ -x "$gov" ] || { echo "no governor at $gov"; exit 99; }
command -v stat >/dev/null 2>&1 || { echo "no stat(1): skipping"; exit 77; }

tag=gov
. "${AG_SRCDIR:-.}/tests/testlib.sh"

# has_limit TEXT N: status output shows limit N ("in-flight: I of N").
has_limit() {
	printf '%s\n' "$1" | grep -Eq "^in-flight: +[0-9]+ of $2 "
}

sock="$dir/run/governor.sock"
usock="$dir/run/user.sock"
state="$dir/state"
conf="$dir/authguard.conf"
log="$dir/governor.log"

write_conf() { # write_conf FILE MAX_INFLIGHT [EXTRA_LINE]
	cat >"$1" <<EOF
[governor]
socket = $sock
user_socket = $usock
state_file = $state
state_interval = 1h
client_idle = 5s
${3:-}
[overload]
max_inflight = $2
EOF
}

# ---- -t ----------------------------------------------------------------------

write_conf "$conf" 16
out=$("$gov" -t -c "$conf" 2>&1)
rc=$?
check "-t accepts a good config" [ "$rc" -eq 0 ]
check "-t says config OK" sh -c 'printf "%s" "$1" | grep -q "config OK"' _ "$out"

bad="$dir/bad_key.conf"
write_conf "$bad" 16 "no_such_key = 1"
out=$("$gov" -t -c "$bad" 2>&1)
rc=$?
check "-t rejects an unknown key (exit 1)" [ "$rc" -eq 1 ]
check "-t names file:line of the unknown key" \
	sh -c 'printf "%s" "$1" | grep -q "$2:7:"' _ "$out" "$bad"

bad="$dir/bad_duration.conf"
write_conf "$bad" 16 "lease = 10 parsecs"
out=$("$gov" -t -c "$bad" 2>&1)
rc=$?
check "-t rejects a bad duration (exit 1)" [ "$rc" -eq 1 ]
check "-t names file:line of the bad duration" \
	sh -c 'printf "%s" "$1" | grep -q "$2:7:"' _ "$out" "$bad"

out=$("$gov" -t -c "$dir/absent.conf" 2>&1)
rc=$?
check "-t on a missing file uses the built-in defaults" [ "$rc" -eq 0 ]

# ---- start -----------------------------------------------------------------

# A state file that does not parse is logged and the governor starts empty.
echo "garbage" >"$state"
"$gov" -f -c "$conf" >"$log" 2>&1 &
pid=$!
if wait_for 50 test -S "$sock"; then ok "socket appears"; else nok "socket appears"; fi
check "user socket appears" test -S "$usock"
check "privileged socket is 0600" [ "$(stat -c %a "$sock" 2>/dev/null)" = 600 ]
check "user socket is 0666" [ "$(stat -c %a "$usock" 2>/dev/null)" = 666 ]
check "governor is running" kill -0 "$pid"
check "a corrupt state file is logged, not fatal" grep -q "state file .* not loaded" "$log"

# A second instance on the same sockets must refuse, and leave ours alone.
"$gov" -f -c "$conf" >"$dir/second.log" 2>&1 &
pid2=$!
n=50
while [ "$n" -gt 0 ] && kill -0 "$pid2" 2>/dev/null; do
	sleep 0.1
	n=$((n - 1))
done
if kill -0 "$pid2" 2>/dev/null; then
	kill -KILL "$pid2" 2>/dev/null
	nok "a second instance refuses to start"
else
	wait "$pid2"
	rc=$?
	check "a second instance refuses to start" [ "$rc" -ne 0 ]
fi
check "the second instance says why" grep -q "another governor" "$dir/second.log"
check "the first instance keeps its socket" test -S "$sock"
check "the first instance keeps running" kill -0 "$pid"

if [ -x "$ctl" ]; then
	out=$("$ctl" -s "$sock" status 2>&1)
	rc=$?
	check "authguardctl status answers" [ "$rc" -eq 0 ]
	check "status shows the limit" has_limit "$out" 16
else
	echo "# no authguardctl at $ctl: status not checked"
fi

# ---- admin commands: lists, show ------------------------------------------------

load="${AG_BUILDDIR:-.}/bench/ag-load"
if [ -x "$ctl" ]; then
	# has OUTPUT PATTERN: OUTPUT matches the extended regex PATTERN.
	has() { printf '%s\n' "$1" | grep -Eq "$2"; }

	out=$("$ctl" -s "$sock" deny 203.0.113.0/24 --ttl 1h --comment "scanner net" 2>&1)
	rc=$?
	check "deny CIDR --ttl --comment exits 0" [ "$rc" -eq 0 ]
	check "deny echoes the entry" has "$out" "cidr: +203\.0\.113\.0/24"
	out=$("$ctl" -s "$sock" allow 2001:db8::/32 2>&1)
	check "allow CIDR without a ttl exits 0" [ "$?" -eq 0 ]
	out=$("$ctl" -s "$sock" --json lists 2>&1)
	rc=$?
	check "lists exits 0" [ "$rc" -eq 0 ]
	check "lists --json has an entry array" has "$out" '"entry": \['
	check "lists shows the deny entry with its comment" \
		has "$out" '"list": "deny", "cidr": "203.0.113.0/24", "expires_in_ms": [0-9]+, "origin": "runtime", "comment": "scanner net"'
	check "lists shows an entry without ttl as never" \
		has "$out" '"cidr": "2001:db8::/32", "expires_in_ms": "never"'
	out=$("$ctl" -s "$sock" explain alice 203.0.113.9 2>&1)
	check "a denied CIDR makes explain deny by rule deny" has "$out" "rule: +deny"
	out=$("$ctl" -s "$sock" unlist 203.0.113.0/24 2>&1)
	check "unlist exits 0" [ "$?" -eq 0 ]
	out=$("$ctl" -s "$sock" explain alice 203.0.113.9 2>&1)
	check "after unlist explain allows" has "$out" "verdict: +allow"
	"$ctl" -s "$sock" unlist 203.0.113.0/24 >/dev/null 2>&1
	check "unlist of an absent CIDR exits 1" [ "$?" -eq 1 ]
	"$ctl" -s "$sock" deny 203.0.113.0/33 >/dev/null 2>&1
	check "deny of a bad CIDR is refused (exit 1)" [ "$?" -eq 1 ]
	"$ctl" -s "$sock" deny 203.0.113.0/24 --ttl 10 >/dev/null 2>&1
	check "--ttl without units is a usage error (exit 2)" [ "$?" -eq 2 ]
	"$ctl" -s "$sock" status --ttl 1h >/dev/null 2>&1
	check "--ttl with another command is a usage error (exit 2)" [ "$?" -eq 2 ]
	"$ctl" -s "$sock" show user >/dev/null 2>&1
	check "show without a name is a usage error (exit 2)" [ "$?" -eq 2 ]

	"$ctl" -s "$sock" show pair u0 198.18.0.0 >/dev/null 2>&1
	check "show of a pair never seen exits 1" [ "$?" -eq 1 ]
	if [ -x "$load" ]; then
		"$load" -s "$sock" -m cycles -c 1 -d 1 -u 1 -a 1 -f 100 >/dev/null 2>&1
		out=$("$ctl" -s "$sock" show pair u0 198.18.0.0 2>&1)
		rc=$?
		check "show pair after failures exits 0" [ "$rc" -eq 0 ]
		check "show pair has a pair block" has "$out" "^pair:\$"
		check "show pair says the pair is stored" has "$out" "^  stored: +yes\$"
		check "show pair names the source" has "$out" "^  source: +198\.18\.0\.0/32\$"
		out=$("$ctl" -s "$sock" --json show user u0 2>&1)
		check "show user --json has trusted_sources" has "$out" '"trusted_sources": 0'
		out=$("$ctl" -s "$sock" show source 198.18.0.0 2>&1)
		check "show source exits 0" [ "$?" -eq 0 ]
		out=$("$ctl" -s "$sock" --json top 5 2>&1)
		rc=$?
		check "top exits 0" [ "$rc" -eq 0 ]
		check "top counts the failing source's denials" \
			has "$out" '"scope": "source", "name": "198.18.0.0/32", "denials": [1-9][0-9]*, "failures": [1-9]'
		out=$("$ctl" -s "$sock" top 1 --by failures 2>&1)
		check "top --by failures exits 0" [ "$?" -eq 0 ]
		"$ctl" -s "$sock" top 101 >/dev/null 2>&1
		check "top 101 is a usage error (exit 2)" [ "$?" -eq 2 ]
		"$ctl" -s "$sock" reset all >/dev/null 2>&1
		out=$("$ctl" -s "$sock" --json top 2>&1)
		check "reset all empties top" has "$out" '"offender": \[\]'
		check "top after reset all says 0 offenders" has "$out" '"offenders": 0'
		out=$("$ctl" -s "$sock" --json top 3 --since 5m 2>&1)
		check "top --since 5m exits 0" [ "$?" -eq 0 ]
		check "top --since reports its span" has "$out" '"since_ms": 300000'
		"$ctl" -s "$sock" top --since 25h >/dev/null 2>&1
		check "top --since over 24h is a usage error (exit 2)" [ "$?" -eq 2 ]
	else
		echo "# no ag-load at $load: show after failures not checked"
	fi
fi

# ---- SIGHUP ------------------------------------------------------------------

write_conf "$conf" 16 "bogus_key = yes"
kill -HUP "$pid"
if wait_for 50 grep -q "reload: .*authguard.conf:7:" "$log"; then
	ok "a bad config on SIGHUP is reported with file:line"
else
	nok "a bad config on SIGHUP is reported with file:line"
fi
check "a bad config on SIGHUP keeps the governor running" kill -0 "$pid"
check "a bad config on SIGHUP keeps the socket" test -S "$sock"

# admin_group is resolved at start only: no NSS lookup on the event loop.
write_conf "$conf" 9 "admin_group = nogroup"
kill -HUP "$pid"
if wait_for 50 grep -q "admin_group changed: restart" "$log"; then
	ok "a new admin_group on SIGHUP is refused (it needs a restart)"
else
	nok "a new admin_group on SIGHUP is refused (it needs a restart)"
fi
if [ -x "$ctl" ]; then
	out=$("$ctl" -s "$sock" status 2>&1)
	check "a refused reload keeps the running limit" has_limit "$out" 16
fi

write_conf "$conf" 7
kill -HUP "$pid"
if wait_for 50 grep -q "configuration reloaded" "$log"; then
	ok "a good config on SIGHUP is applied"
else
	nok "a good config on SIGHUP is applied"
fi
if [ -x "$ctl" ]; then
	out=$("$ctl" -s "$sock" status 2>&1)
	check "status shows the reloaded limit" has_limit "$out" 7
fi

# ---- reload through authguardctl ----------------------------------------------

if [ -x "$ctl" ]; then
	write_conf "$conf" 5 "bogus_key = yes"
	out=$("$ctl" -s "$sock" reload 2>&1)
	rc=$?
	check "reload of a bad config exits 1" [ "$rc" -eq 1 ]
	check "reload of a bad config names file:line" has "$out" "authguard.conf:7:"
	out=$("$ctl" -s "$sock" status 2>&1)
	check "a refused reload keeps the limit" has_limit "$out" 7
	write_conf "$conf" 5
	out=$("$ctl" -s "$sock" --json reload 2>&1)
	rc=$?
	check "reload of a good config exits 0" [ "$rc" -eq 0 ]
	check "reload says taken" has "$out" '"taken": "yes"'
	out=$("$ctl" -s "$sock" status 2>&1)
	check "status shows the limit reloaded by authguardctl" has_limit "$out" 5
fi

# ---- SIGTERM -----------------------------------------------------------------

kill -TERM "$pid"
n=50
while [ "$n" -gt 0 ] && kill -0 "$pid" 2>/dev/null; do
	sleep 0.1
	n=$((n - 1))
done
if kill -0 "$pid" 2>/dev/null; then
	nok "SIGTERM stops the governor within 5 s"
else
	wait "$pid"
	rc=$?
	pid=""
	check "SIGTERM stops the governor with status 0" [ "$rc" -eq 0 ]
fi
check "the privileged socket is removed" test ! -e "$sock"
check "the user socket is removed" test ! -e "$usock"
check "the state file is written" sh -c 'test -s "$1" && ! grep -qx garbage "$1"' _ "$state"

# ---- admin_group ---------------------------------------------------------------
# Members of admin_group reach the privileged socket (group-owned, 0660) and
# may ask admin questions; anyone else cannot connect at all.
if [ -x "$ctl" ] && command -v setpriv >/dev/null 2>&1 && getent group nogroup >/dev/null; then
	chmod 0755 "$dir"
	write_conf "$conf" 16 "admin_group = nogroup"
	"$gov" -f -c "$conf" >>"$log" 2>&1 &
	pid=$!
	wait_for 50 test -S "$sock"
	check "with admin_group the privileged socket is 0660" [ "$(stat -c %a "$sock")" = 660 ]
	check "with admin_group the socket belongs to that group" [ "$(stat -c %G "$sock")" = nogroup ]
	setpriv --reuid=65534 --regid=65534 --clear-groups "$ctl" -s "$sock" explain alice 192.0.2.1 \
		>"$dir/member.out" 2>&1
	rc=$?
	check "a member of admin_group may explain" [ "$rc" -eq 0 ]
	setpriv --reuid=65534 --regid=65534 --clear-groups "$ctl" -s "$sock" lists \
		>"$dir/member.out" 2>&1
	check "a member of admin_group may list" [ "$?" -eq 0 ]
	setpriv --reuid=65533 --regid=65533 --clear-groups "$ctl" -s "$sock" status \
		>"$dir/stranger.out" 2>&1
	rc=$?
	check "anyone else cannot reach the privileged socket" [ "$rc" -eq 3 ]
	kill -TERM "$pid"
	wait "$pid"
	pid=""
else
	echo "# no setpriv or no group nogroup: admin_group not checked"
fi

if [ "$fail" -ne 0 ]; then
	echo "# governor log:"
	sed 's/^/# /' "$log"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
