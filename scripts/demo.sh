#!/bin/sh
# The demo: a real governor on temporary sockets and Debian's sshd stack with
# authguard (etc/pam.d/sshd) run by pamtester under pam_wrapper, so nothing
# in the system's /etc/pam.d changes. pam_wrapper's pam_matrix stands in for
# pam_unix (its passwords are in a file). An attacker hammers alice from 40
# addresses; alice, who has logged in from 192.0.2.10 before, still gets in.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
b="$top/build"
[ -x "$b/authguard-governor" ] || { echo "build first: sh scripts/build.sh" >&2; exit 1; }
moddir=$(pkg-config --variable=modules pam_wrapper)
d=$(mktemp -d /tmp/authguard-demo.XXXXXX)
gov=""
cleanup() { [ -n "$gov" ] && kill "$gov" 2>/dev/null && wait "$gov" 2>/dev/null; rm -rf "$d"; }
trap cleanup EXIT INT TERM

mkdir "$d/pam.d"
printf 'alice:correct horse:sshd\nroot:toor:sshd\n' > "$d/passdb"
sed -n -e '/^auth\|^account/p' "$top/etc/pam.d/sshd" | grep -v pam_nologin |
	sed -e "s#pam_authguard.so#$b/pam_module/.libs/pam_authguard.so socket=$d/gov.sock#" \
	    -e "s#pam_unix.so use_first_pass#$moddir/pam_matrix.so passdb=$d/passdb#" > "$d/pam.d/sshd"
cat > "$d/authguard.conf" <<CONF
[governor]
socket = $d/gov.sock
user_socket = $d/user.sock
state_file = $d/state
[limits]
user_max_failures = 20
CONF
"$b/authguard-governor" -f -c "$d/authguard.conf" 2>"$d/governor.log" &
gov=$!
i=0; while [ ! -S "$d/gov.sock" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done

attempt() { # user password rhost -> prints the PAM result
	printf '%s\n' "$2" | LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 \
		PAM_WRAPPER_SERVICE_DIR="$d/pam.d" pamtester -I rhost="$3" sshd "$1" authenticate 2>&1 |
		grep -q 'successfully authenticated' && echo ok || echo denied
}
ctl() { "$b/authguardctl" -s "$d/gov.sock" "$@"; }

echo "== 1. alice logs in from her usual address 192.0.2.10"
echo "   result: $(attempt alice 'correct horse' 192.0.2.10)"
echo
echo "== 2. an attacker tries 200 passwords for alice and root from 40 addresses"
ok=0; den=0; n=0
for a in $(seq 1 40); do
	for u in alice root alice root alice; do
		n=$((n+1))
		if [ "$(attempt "$u" "guess$n" "203.0.113.$a")" = ok ]; then ok=$((ok+1)); else den=$((den+1)); fi
	done
done
echo "   200 attempts, $den refused (all of them: wrong passwords)"
echo
echo "== 3. during the attack, alice from 192.0.2.10"
echo "   result: $(attempt alice 'correct horse' 192.0.2.10)"
echo "== 4. someone with alice's password from a new address 198.51.100.5"
echo "   result: $(attempt alice 'correct horse' 198.51.100.5) (alice is capped for untrusted sources)"
echo
echo "== authguardctl status"
ctl status
echo
echo "== authguardctl explain alice 203.0.113.9"
ctl explain alice 203.0.113.9
echo
echo "== authguardctl explain alice 192.0.2.10"
ctl explain alice 192.0.2.10
echo
echo "== the governor's log (denials past the burst are summarised)"
tail -n 8 "$d/governor.log"
