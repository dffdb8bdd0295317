#!/bin/sh
# The demo: a real governor on temporary sockets and Debian's sshd stack with
# authguard (etc/pam.d/sshd), run by pamtester under pam_wrapper, so nothing
# in the system's /etc/pam.d changes. The backend is tests/pam_agtest.so, a
# stand-in for pam_unix that takes the password preauth read (use_first_pass)
# and checks it against a file. An attacker hammers alice and root from 40
# addresses; alice, who has logged in from 192.0.2.10 before, still gets in.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
b="$top/build"
[ -x "$b/authguard-governor" ] || { echo "build first: sh scripts/build.sh" >&2; exit 1; }
make -s -C "$b" tests/pam_agtest.la >/dev/null
d=$(mktemp -d /tmp/authguard-demo.XXXXXX)
gov=""
cleanup() { [ -n "$gov" ] && kill "$gov" 2>/dev/null && wait "$gov" 2>/dev/null; rm -rf "$d"; }
trap cleanup EXIT INT TERM

mkdir "$d/pam.d"
printf 'alice:correct horse\nroot:toor\n' > "$d/passdb"
sed -n -e '/^auth\|^account/p' "$top/etc/pam.d/sshd" | grep -v pam_nologin |
	sed -e "s#pam_authguard.so#$b/pam_module/.libs/pam_authguard.so socket=$d/gov.sock#" \
	    -e "s#pam_unix.so#$b/tests/.libs/pam_agtest.so passdb=$d/passdb log=$d/calls#" > "$d/pam.d/sshd"
printf 'auth required pam_deny.so\n' > "$d/pam.d/other"
cat > "$d/authguard.conf" <<CONF
[governor]
socket = $d/gov.sock
user_socket = $d/user.sock
state_file = $d/state
CONF
"$b/authguard-governor" -f -c "$d/authguard.conf" 2>"$d/governor.log" &
gov=$!
i=0; while [ ! -S "$d/gov.sock" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done

attempt() { # user password rhost -> "ok" or "refused"
	printf '%s\n' "$2" | LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 \
		PAM_WRAPPER_SERVICE_DIR="$d/pam.d" pamtester -I rhost="$3" sshd "$1" authenticate 2>&1 |
		grep -q 'successfully authenticated' && echo ok || echo refused
}
ctl() { "$b/authguardctl" -s "$d/gov.sock" "$@"; }
backend_calls() { [ -f "$d/calls" ] && wc -l < "$d/calls" || echo 0; }

echo "== 1. alice logs in from her usual address 192.0.2.10"
echo "   $(attempt alice 'correct horse' 192.0.2.10)"
echo
echo "== 2. an attacker tries 200 passwords for alice and root from 40 addresses"
before=$(backend_calls)
for a in $(seq 1 40); do
	for u in alice root alice root alice; do attempt "$u" "guess$a$u" "203.0.113.$a" >/dev/null; done
done
reached=$(( $(backend_calls) - before ))
echo "   200 attempts: $reached reached the backend, $((200 - reached)) were stopped before it"
echo
echo "== 3. during the attack, alice from her usual address"
echo "   $(attempt alice 'correct horse' 192.0.2.10)   (a trusted pair: exempt from the rates strangers exhausted)"
echo "== 4. alice from a new laptop at 198.51.100.5"
echo "   $(attempt alice 'correct horse' 198.51.100.5)   (a clean source: failing sources cannot drain its budget)"
echo "== 5. the attacker guesses root's password from 203.0.113.7"
echo "   $(attempt root toor 203.0.113.7)   (the right password, but root's budget for failing sources is spent)"
echo
echo "== authguardctl status"
ctl status
echo
echo "== authguardctl top 5"
ctl top 5
echo
echo "== authguardctl explain root 203.0.113.7"
ctl explain root 203.0.113.7
echo
echo "== authguardctl explain alice 192.0.2.10"
ctl explain alice 192.0.2.10
echo
echo "== the governor's log (past 20 denials in 10 s, one summary per rule)"
kill "$gov" && wait "$gov" 2>/dev/null
gov=""
grep -v '^authguard-governor: denied ' "$d/governor.log" | tail -n 6
echo "   ($(grep -c '^authguard-governor: denied ' "$d/governor.log") denials logged one per line, the rest summarised)"
