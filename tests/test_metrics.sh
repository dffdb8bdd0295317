#!/bin/bash
# End-to-end checks of the governor's Prometheus endpoint (metrics_listen):
# the option accepts only loopback addresses, GET /metrics answers the text
# format 0.0.4 (every sample line well formed, HELP and TYPE for each family,
# the expected names), other paths get 404, no label carries a user name or
# an address sent through the governor, and a reload does not re-bind.
# Fetches with bash's /dev/tcp, so that neither curl nor python is needed.
# Run by `make check` with AG_BUILDDIR and AG_SRCDIR exported.
set -u

gov="${AG_BUILDDIR:-.}/authguard-governor"
load="${AG_BUILDDIR:-.}/bench/ag-load"
[ -x "$gov" ] || { echo "no governor at $gov"; exit 99; }
[ -x "$load" ] || { echo "no ag-load at $load: skipping"; exit 77; }
command -v timeout >/dev/null 2>&1 || { echo "no timeout(1): skipping"; exit 77; }

tag=metrics
. "${AG_SRCDIR:-.}/tests/testlib.sh"

sock="$dir/run/governor.sock"
conf="$dir/authguard.conf"
log="$dir/governor.log"

write_conf() { # write_conf FILE METRICS_LISTEN
	cat >"$1" <<EOF
[governor]
socket = $sock
user_socket =
state_file =
metrics_listen = $2
EOF
}

# fetch PORT PATH: the raw HTTP/1.0 response (headers, blank line, body).
fetch() {
	timeout 10 bash -c '
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" "$2" >&3
		cat <&3' _ "$1" "$2" | tr -d '\r'
}

# ---- the option ----------------------------------------------------------------

for good in 127.0.0.1:9377 127.3.2.1:1 "[::1]:65535"; do
	write_conf "$conf" "$good"
	out=$("$gov" -t -c "$conf" 2>&1)
	check "metrics_listen = $good accepted ($out)" [ $? -eq 0 ]
done
for bad in 0.0.0.0:9377 10.0.0.1:9377 192.168.1.1:80 "[::]:9377" "[::2]:9377" ::1:9377 \
	localhost:9377 127.0.0.1 127.0.0.1: 127.0.0.1:0 127.0.0.1:65536 127.0.0.1:+80 \
	127.1:9377 "127.0.0.1:9377/x" ":9377" "[::1]9377" "[::1]:"; do
	write_conf "$conf" "$bad"
	out=$("$gov" -t -c "$conf" 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ] && printf '%s' "$out" | grep -q "authguard.conf:5: \[governor\] metrics_listen: "; then
		ok "metrics_listen = '$bad' refused naming file:line"
	else
		nok "metrics_listen = '$bad' refused naming file:line (rc $rc: $out)"
	fi
done
write_conf "$conf" ""
out=$("$gov" -t -c "$conf" 2>&1)
check "metrics_listen empty (off) accepted" [ $? -eq 0 ]

# ---- a governor serving metrics on a free port ---------------------------------

port=""
base=$((20000 + $$ % 20000))
for i in 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do
	p=$((base + i * 97))
	# Someone answering there: not free.
	if timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$p" 2>/dev/null; then
		continue
	fi
	write_conf "$conf" "127.0.0.1:$p"
	rm -f "$sock"
	"$gov" -f -c "$conf" >"$log" 2>&1 &
	pid=$!
	if wait_for 50 test -S "$sock" && kill -0 "$pid" 2>/dev/null; then
		port=$p
		break
	fi
	# Taken meanwhile (the bind failed): try the next one.
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid=""
done
if [ -z "$port" ]; then
	nok "governor started with metrics on a free port"
	cat "$log"
	echo "$pass passed, $fail failed"
	exit 1
fi
ok "governor serves metrics on 127.0.0.1:$port"
check "start-up log names the metrics address" grep -q "metrics at http://127.0.0.1:$port/metrics" "$log"

# Decisions for users u0..u4 from 198.18.0.x.
"$load" -s "$sock" -m cycles -c 2 -d 1 -u 5 -a 5 >"$dir/load.out" 2>&1
check "ag-load ran against the governor" [ $? -eq 0 ]

resp=$(fetch "$port" /metrics)
headers=$(printf '%s\n' "$resp" | sed '/^$/q')
body=$(printf '%s\n' "$resp" | sed '1,/^$/d')
printf '%s\n' "$body" >"$dir/metrics.txt"
check "GET /metrics: 200" sh -c 'printf "%s\n" "$1" | head -1 | grep -q "^HTTP/1\.[01] 200 "' _ "$headers"
check "GET /metrics: text format 0.0.4" sh -c \
	'printf "%s\n" "$1" | grep -qi "^content-type: text/plain; version=0.0.4"' _ "$headers"
check "GET /metrics: a body" [ "$(wc -l <"$dir/metrics.txt")" -gt 40 ]

# Every line: a HELP or TYPE comment, or a sample "name{l="v",...} value".
name_re='[a-zA-Z_:][a-zA-Z0-9_:]*'
label_re='[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*"'
value_re='([-+]?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|[-+]Inf|NaN)'
sample_re="^$name_re(\\{$label_re(,$label_re)*\\})? $value_re\$"
comment_re="^# (HELP $name_re .+|TYPE $name_re (counter|gauge|histogram|summary|untyped))\$"
badlines=$(grep -Ev "$sample_re|$comment_re" "$dir/metrics.txt")
check "every line is a sample, # HELP or # TYPE${badlines:+ (bad: $badlines)}" [ -z "$badlines" ]

# Every sample's family has HELP and TYPE, declared before it.
missing=$(awk '
	/^# HELP / { help[$3] = 1; next }
	/^# TYPE / { type[$3] = $4; next }
	{
		n = $1; sub(/\{.*/, "", n); f = n
		if (!(f in type)) { sub(/_(bucket|sum|count)$/, "", f) }
		if (!(f in help) || !(f in type)) print n
	}' "$dir/metrics.txt" | sort -u)
check "HELP and TYPE precede every family${missing:+ (missing: $missing)}" [ -z "$missing" ]

for name in authguard_decisions_total authguard_denials_total authguard_reports_total \
	authguard_protocol_errors_total authguard_clients_refused_total authguard_inflight \
	authguard_inflight_limit authguard_queued authguard_clients authguard_tracked_entries \
	authguard_trusted_pairs authguard_log_dropped_total authguard_store_up authguard_up \
	authguard_start_time_seconds authguard_decision_seconds_bucket \
	authguard_decision_seconds_sum authguard_decision_seconds_count \
	authguard_class_reports_total authguard_admissions_total authguard_queued_total \
	authguard_store_errors_total authguard_inflight_class authguard_store_state; do
	check "has $name" grep -Eq "^$name(\\{| )" "$dir/metrics.txt"
done
for want in 'authguard_decisions_total{verdict="allow"}' 'authguard_decisions_total{verdict="deny"}' \
	'authguard_decisions_total{verdict="shed"}' 'authguard_denials_total{rule="backoff"}' \
	'authguard_denials_total{rule="user_cap"}' 'authguard_reports_total{outcome="abandon"}' \
	'authguard_reports_total{outcome="pass"}' 'authguard_queued{class="failing"}' \
	'authguard_store_up{store="memory"} 1' 'authguard_up 1' \
	'authguard_decision_seconds_bucket{le="+Inf"}' \
	'authguard_class_reports_total{class="failing",outcome="abandon"}' \
	'authguard_store_errors_total{op="decide"} 0' 'authguard_store_errors_total{op="report"} 0' \
	'authguard_store_state{store="memory",state="ok"} 1' \
	'authguard_store_state{store="memory",state="down"} 0' \
	'authguard_inflight_class{class="trusted"}'; do
	check "has $want" grep -qF "$want" "$dir/metrics.txt"
done
check "TYPE of the histogram" grep -qx "# TYPE authguard_decision_seconds histogram" "$dir/metrics.txt"
check "TYPE of a counter" grep -qx "# TYPE authguard_decisions_total counter" "$dir/metrics.txt"

# The load went through: allows and reports counted, latency recorded.
val() { awk -v k="$1" 'index($0, k " ") == 1 { print $NF }' "$dir/metrics.txt"; }
allow=$(val 'authguard_decisions_total{verdict="allow"}')
check "allows counted ($allow)" [ "${allow:-0}" -gt 0 ]
succ=$(val 'authguard_reports_total{outcome="success"}')
check "successes counted ($succ)" [ "${succ:-0}" -gt 0 ]
# Admissions by class add up to the allows; reports by class to the reports.
byclass=$(awk '/^authguard_admissions_total\{/ { n += $NF } END { print n + 0 }' "$dir/metrics.txt")
check "admissions by class ($byclass) add up to the allows ($allow)" [ "$byclass" = "${allow:-x}" ]
csucc=$(awk '/^authguard_class_reports_total\{.*outcome="success"/ { n += $NF } END { print n + 0 }' \
	"$dir/metrics.txt")
check "successes by class ($csucc) add up to all successes ($succ)" [ "$csucc" = "${succ:-x}" ]
count=$(val authguard_decision_seconds_count)
inf=$(val 'authguard_decision_seconds_bucket{le="+Inf"}')
check "histogram count ($count) = +Inf bucket ($inf) > 0" [ "${count:-0}" -gt 0 -a "${count:-0}" = "$inf" ]
mono=$(awk '/^authguard_decision_seconds_bucket/ {
	v = $NF + 0; if (v < prev) bad = 1; prev = v } END { print bad ? "no" : "yes" }' "$dir/metrics.txt")
check "buckets are cumulative" [ "$mono" = yes ]

# Nothing that came in from a peer: no user name in a label, no address.
check "no user name (u0..u4) in a label value" sh -c '! grep -Eq "=\"[^\"]*u[0-4]" "$1"' _ "$dir/metrics.txt"
check "no address 198.18.x anywhere" sh -c '! grep -q "198\.18\." "$1"' _ "$dir/metrics.txt"

# The same text over the socket: authguardctl metrics.
ctl="${AG_BUILDDIR:-.}/authguardctl"
if [ -x "$ctl" ]; then
	"$ctl" -s "$sock" metrics >"$dir/ctl-metrics.txt" 2>&1
	check "authguardctl metrics exits 0" [ $? -eq 0 ]
	check "authguardctl metrics prints the exposition" grep -qx "authguard_up 1" "$dir/ctl-metrics.txt"
	check "authguardctl metrics has every family the HTTP page has" sh -c \
		'[ "$(grep -c "^# TYPE" "$1")" = "$(grep -c "^# TYPE" "$2")" ]' _ "$dir/ctl-metrics.txt" \
		"$dir/metrics.txt"
fi

resp=$(fetch "$port" /nope)
check "another path: 404" sh -c 'printf "%s\n" "$1" | head -1 | grep -q "^HTTP/1\.[01] 404 "' _ "$resp"
resp=$(fetch "$port" /metricsx)
check "a longer path: 404" sh -c 'printf "%s\n" "$1" | head -1 | grep -q "^HTTP/1\.[01] 404 "' _ "$resp"

# raw PORT TEXT: TEXT (printf format, no arguments) sent as it is; the reply.
raw() {
	timeout 10 bash -c '
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf "$2" >&3
		cat <&3' _ "$1" "$2" | tr -d '\r'
}
first() { printf '%s\n' "$1" | head -1; }

resp=$(raw "$port" 'HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n')
check "HEAD /metrics: 200 without a body" sh -c \
	'printf "%s\n" "$1" | head -1 | grep -q "^HTTP/1\.1 200 " && ! printf "%s" "$1" | grep -q "^authguard_up"' \
	_ "$resp"
resp=$(raw "$port" 'GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n')
check "GET /metrics with a query: 200" sh -c 'printf "%s\n" "$1" | grep -qx "authguard_up 1"' _ "$resp"
check "Connection: close" sh -c 'printf "%s\n" "$1" | grep -qix "connection: close"' _ "$resp"
resp=$(raw "$port" 'POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n')
check "POST: 405 ($(first "$resp"))" sh -c 'printf "%s\n" "$1" | head -1 | grep -q "^HTTP/1\.1 405 "' _ "$resp"
resp=$(raw "$port" 'GET /metrics HTTP/2.0\r\n\r\n')
check "an unknown version: 400 ($(first "$resp"))" sh -c \
	'printf "%s\n" "$1" | head -1 | grep -q "^HTTP/1\.1 400 "' _ "$resp"
resp=$(raw "$port" 'garbage\r\n\r\n')
check "garbage: 400" sh -c 'printf "%s\n" "$1" | head -1 | grep -q "^HTTP/1\.1 400 "' _ "$resp"
big=$(head -c 9000 /dev/zero | tr '\0' a)
resp=$(raw "$port" "GET /metrics HTTP/1.1\r\nX: $big\r\n\r\n")
check "a 9 KB head: 431 ($(first "$resp"))" sh -c \
	'printf "%s\n" "$1" | head -1 | grep -q "^HTTP/1\.1 431 "' _ "$resp"

# At most 16 connections: 16 silent ones hold their slots until the 5 s
# deadline; the 17th is closed at accept, then a scrape works again.
holders=""
for i in $(seq 1 16); do
	bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && sleep 12' _ "$port" 2>/dev/null &
	holders="$holders $!"
done
sleep 1
t0=$(date +%s)
resp=$(raw "$port" 'GET /metrics HTTP/1.0\r\n\r\n')
check "the 17th connection is closed without an answer" [ -z "$resp" ]
n=0
until resp=$(fetch "$port" /metrics) && printf '%s\n' "$resp" | grep -q "^HTTP/1\.[01] 200 "; do
	n=$((n + 1))
	[ "$n" -ge 40 ] && break
	sleep 0.25
done
t1=$(date +%s)
check "silent connections are dropped at the deadline (a scrape works after $((t1 - t0)) s)" \
	[ "$n" -lt 40 ]
refused=$(printf '%s\n' "$resp" | awk '/^authguard_metrics_http_refused_total / { print $2 }')
check "refused scrape connections counted (${refused:-none})" [ "${refused:-0}" -ge 1 ]
# shellcheck disable=SC2086 # a list of pids
kill $holders 2>/dev/null
wait $holders 2>/dev/null

# A new metrics_listen on reload: logged, the old address keeps serving.
write_conf "$conf" "127.0.0.1:$((port + 1))"
kill -HUP "$pid"
if wait_for 50 grep -q "metrics_listen takes effect only after a restart" "$log"; then
	ok "a new metrics_listen on SIGHUP asks for a restart"
else
	nok "a new metrics_listen on SIGHUP asks for a restart"
fi
resp=$(fetch "$port" /metrics)
check "the old address still serves after the reload" sh -c \
	'printf "%s\n" "$1" | head -1 | grep -q "^HTTP/1\.[01] 200 "' _ "$resp"

kill -TERM "$pid"
n=50
while [ "$n" -gt 0 ] && kill -0 "$pid" 2>/dev/null; do
	sleep 0.1
	n=$((n - 1))
done
check "governor stops on SIGTERM" sh -c '! kill -0 "$1" 2>/dev/null' _ "$pid"
wait "$pid" 2>/dev/null
pid=""
if timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$port" 2>/dev/null; then
	nok "metrics port closed after stop"
else
	ok "metrics port closed after stop"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
