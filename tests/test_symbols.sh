#!/bin/sh
# The module exports only the PAM entry points: everything else it links
# (the internal library, libsodium, inih) stays hidden inside sshd/sudo.
mod="$AG_BUILDDIR/pam_module/.libs/pam_authguard.so"
[ -f "$mod" ] || { echo "no module at $mod"; exit 99; }
syms=$(nm -D --defined-only "$mod" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort)
bad=$(printf '%s\n' "$syms" | grep -v -E '^pam_sm_(authenticate|setcred|acct_mgmt|open_session|close_session|chauthtok)$' | grep -v '^$')
want="pam_sm_acct_mgmt pam_sm_authenticate pam_sm_setcred"
pass=0; fail=0
for s in $want; do
	if printf '%s\n' "$syms" | grep -qx "$s"; then pass=$((pass+1)); else echo "missing: $s"; fail=$((fail+1)); fi
done
if [ -n "$bad" ]; then echo "exported but should not be:"; echo "$bad"; fail=$((fail+1)); else pass=$((pass+1)); fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
