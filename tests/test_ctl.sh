#!/bin/sh
# End-to-end checks of every authguardctl command against a live governor on
# temporary sockets, with both outputs parsed: --json with jq (a reply that
# does not parse is a failure), the human output by its structure (block
# headings, labelled lines, table columns), and the two cross-checked. Also
# the exit codes of every command (0 ok, 1 refused or not found, 2 usage,
# 3 unreachable), the refusals for a peer that is neither root nor in
# admin_group, and lint on good and broken PAM files.
# Run by `make check` with AG_BUILDDIR and AG_SRCDIR exported.
set -u

gov="${AG_BUILDDIR:-.}/authguard-governor"
ctl="${AG_BUILDDIR:-.}/authguardctl"
load="${AG_BUILDDIR:-.}/bench/ag-load"
src="${AG_SRCDIR:-.}"
[ -x "$gov" ] || { echo "no governor at $gov"; exit 99; }
[ -x "$ctl" ] || { echo "no authguardctl at $ctl"; exit 99; }
[ -x "$load" ] || { echo "no ag-load at $load"; exit 99; }
command -v jq >/dev/null 2>&1 || {
	echo "no jq (scripts/deps.sh installs it): skipping"
	exit 77
}
command -v timeout >/dev/null 2>&1 || { echo "no timeout(1): skipping"; exit 77; }

tag=ctl
. "$src/tests/testlib.sh"

sock="$dir/run/governor.sock"
nosock="$dir/nobody-listens.sock"
conf="$dir/authguard.conf"
log="$dir/governor.log"
out="$dir/out"
err="$dir/err"

# The admin group: as root, one that uid/gid 65534 is not in (the non-admin
# peer below must be refused); otherwise our own group, so that we are admin.
grp=""
if [ "$(id -u)" -eq 0 ]; then
	for g in daemon adm bin sys; do
		gid=$(getent group "$g" 2>/dev/null | cut -d: -f3)
		if [ -n "$gid" ] && [ "$gid" != 65534 ]; then
			grp=$g
			break
		fi
	done
else
	grp=$(id -gn)
fi

# user_max_failures 2: after the failing load below every user is under a
# user_cap hold (a minute, give or take the jitter), and user_rate 1/h keeps
# the budgets from refilling meanwhile, so that explain, top and watch have
# something certain to show.
write_conf() { # write_conf [EXTRA_LINE]
	cat >"$conf" <<EOF
[governor]
socket = $sock
user_socket = $dir/run/user.sock
state_file =
client_idle = 5s
admin_group = $grp
${1:-}
[overload]
max_inflight = 12
[limits]
user_rate = 1/h
user_max_failures = 2
[lists]
allow = 10.9.0.0/16
EOF
}

# run ARGS...: authguardctl -s $sock ARGS; stdout in $out, stderr in $err,
# the exit status in $rc.
run() {
	"$ctl" -s "$sock" "$@" >"$out" 2>"$err"
	rc=$?
}
# has PATTERN [FILE]: FILE ($out) has a line matching the extended regex.
has() { grep -Eq -- "$1" "${2:-$out}"; }
# jq_ok FILTER: $out parses as JSON and FILTER is true of it.
jq_ok() { jq -e "$1" "$out" >/dev/null 2>&1; }
# one_object: $out is exactly one JSON object.
one_object() { jq -s -e 'length == 1 and (.[0] | type) == "object"' "$out" >/dev/null 2>&1; }
# jget FILTER: FILTER's value from $out, raw.
jget() { jq -r "$1" "$out" 2>/dev/null; }
# blocks: the block headings of $out ("user:", "step:" ...), in order.
blocks() { grep -E '^[a-z_]+:$' "$out" | tr '\n' ' '; }
# is WANT GOT: the same text (as a command, for check).
is() { [ "$1" = "$2" ]; }
# col HEADING N: the N-th column of the rows of the table under HEADING.
col() {
	awk -v h="$1:" -v n="$2" '$0 == h { t = 1; head = 1; next }
		t && $0 == "" { t = 0 } t && head { head = 0; next } t { print $n }' "$out" | tr '\n' ' '
}
empty() { [ ! -s "$1" ]; }

# human DESC ARGS...: ARGS without --json; exit 0, nothing on stderr.
human() {
	_w=$1
	shift
	run "$@"
	check "$_w: exit 0 (got $rc)" [ "$rc" -eq 0 ]
	check "$_w: nothing on stderr" empty "$err"
}
# json DESC ARGS...: ARGS with --json; exit 0, stdout one JSON object.
json() {
	_w=$1
	shift
	run --json "$@"
	check "$_w --json: exit 0 (got $rc)" [ "$rc" -eq 0 ]
	check "$_w --json: one JSON object" one_object
}
# fails DESC CODE PATTERN ARGS...: exit CODE, stderr matching PATTERN,
# nothing on stdout.
fails() {
	_w=$1
	_c=$2
	_p=$3
	shift 3
	run "$@"
	check "$_w: exit $_c (got $rc)" [ "$rc" -eq "$_c" ]
	check "$_w: says '$_p'" has "$_p" "$err"
	check "$_w: nothing on stdout" empty "$out"
}

# The commands that talk to the governor, one per line, with arguments that
# are valid on the command line.
commands="status
metrics
explain alice 192.0.2.1
show user alice
show source 192.0.2.1
show pair alice 192.0.2.1
top
top 5 --by failures --since 5m
reset user alice
reset source 192.0.2.1
reset pair alice 192.0.2.1
reset all
allow 192.0.2.0/24 --ttl 1h --comment x
deny 192.0.2.0/24
unlist 192.0.2.0/24
lists
reload"

# ---- no governor: exit 3 for every command ------------------------------------

sock_saved=$sock
sock=$nosock
printf '%s\n' "$commands" >"$dir/commands"
while IFS= read -r cmdline; do
	# shellcheck disable=SC2086 # split on purpose
	set -- $cmdline
	fails "no governor: $cmdline" 3 "cannot reach the governor at $nosock" "$@" </dev/null
	[ "$1" = metrics ] && continue # --json does not apply: checked below
	run --json "$@" </dev/null
	check "no governor: --json $cmdline: exit 3" [ "$rc" -eq 3 ]
	check "no governor: --json $cmdline: no half JSON on stdout" empty "$out"
done <"$dir/commands"
fails "--json metrics is a usage error" 2 "metrics is Prometheus text" --json metrics </dev/null
fails "--json lint is a usage error" 2 "lint takes no options" --json lint /dev/null </dev/null
fails "lint --ttl is a usage error" 2 "lint takes no options" lint --ttl 1h /dev/null </dev/null

# ---- usage errors: exit 2, before any connection ----------------------------------
# Against the socket nobody listens on: a usage error must be found before
# connecting (exit 2, not 3).

while IFS= read -r bad; do
	# shellcheck disable=SC2086 # split on purpose
	set -- $bad
	fails "usage: '$bad'" 2 "Try 'authguardctl --help'" "$@" </dev/null
done <<'EOF'
status extra
metrics extra
explain alice
explain alice 192.0.2.1 extra
show
show user
show source
show pair alice
show group wheel
top 0
top 101
top ten
top 5 6
top --by name
top --since 10
top --since 25h
top --since 0s
reset
reset user
reset pair alice
reset all now
reset everything
allow
allow 192.0.2.0/24 extra
allow 192.0.2.0/24 --ttl 10
allow 192.0.2.0/24 --ttl 11y
deny
deny 192.0.2.0/24 --ttl soon
unlist
unlist 192.0.2.0/24 extra
lists extra
reload now
status --ttl 1h
status --comment x
explain alice 192.0.2.1 --by denials
lists --since 5m
frobnicate
--frobnicate status
-x status
EOF
long=$(printf '%128s' "" | tr ' ' c)
fails "usage: a comment of 128 bytes" 2 "longer than 127 bytes" deny 192.0.2.0/24 --comment "$long"
fails "usage: an empty argument" 2 "empty argument" explain "" 192.0.2.1
fails "usage: no command" 2 "no command given"
"$ctl" -s "" status >"$out" 2>"$err"
rc=$?
check "usage: an empty socket path: exit 2 (got $rc)" [ "$rc" -eq 2 ]
"$ctl" status -s >"$out" 2>"$err"
rc=$?
check "usage: -s without a path: exit 2 (got $rc)" [ "$rc" -eq 2 ]
"$ctl" --help >"$out" 2>"$err"
rc=$?
check "--help: exit 0" [ "$rc" -eq 0 ]
for c in status metrics explain reset show allow deny unlist lists reload top watch lint; do
	check "--help lists $c" has "^  $c( |\$)"
done
sock=$sock_saved

# ---- a governor ---------------------------------------------------------------

write_conf
"$gov" -f -c "$conf" >"$log" 2>&1 &
pid=$!
if wait_for 50 test -S "$sock"; then ok "governor socket appears"; else nok "governor socket appears"; fi

# ---- status, fresh --------------------------------------------------------------

status_fields='version started_ms uptime_s store store_state store_state_since_ms store_errors
requests_per_s rate_window_s requests clients inflight inflight_trusted inflight_clean
inflight_failing limit queued_trusted queued_clean queued_failing allowed denied shed
denied_backoff denied_source_rate denied_user_rate denied_user_cap denied_deny
reports_success reports_fail reports_unavail abandoned proto_errors tracked trusted
p50_us p99_us log_dropped queued_total refused user_inflight user_slots limit_mode
limit_min limit_max limit_probing backend_baseline_ms backend_median_ms fleet_max_inflight
fleet_full'
json "status" status
# jq's --args: the field names as $ARGS.positional.
# shellcheck disable=SC2086 # a list of names
missing=$(jq -r '.status as $s | $ARGS.positional[] | select(. as $k | $s | has($k) | not)' \
	"$out" --args $status_fields 2>&1 | tr '\n' ' ')
check "status --json: every documented field${missing:+ (missing: $missing)}" [ -z "$missing" ]
# shellcheck disable=SC2086 # a list of names
numeric=$(jq -r '.status as $s | $ARGS.positional[]
	| select(IN("version", "store", "store_state", "limit_mode") | not)
	| select(. as $k | $s[$k] | type != "number")' "$out" --args $status_fields 2>&1 | tr '\n' ' ')
check "status --json: numbers are numbers${numeric:+ (not: $numeric)}" [ -z "$numeric" ]
check "status --json: store memory, ok" jq_ok \
	'.status.store == "memory" and .status.store_state == "ok"'
check "status --json: the configured limit" jq_ok '.status.limit == 12'
check "status --json: nothing decided yet" jq_ok \
	'.status.requests == 0 and .status.allowed == 0 and .status.denied == 0'
check "status --json: nothing tracked yet" jq_ok '.status.tracked == 0 and .status.trusted == 0'
check "status --json: the version is the package's" jq_ok '.status.version | test("^[0-9]+\\.[0-9]+")'

# check_status_human: the status view's eleven lines, labels in order.
check_status_human() {
	check "status: 11 lines" [ "$(wc -l <"$out")" -eq 11 ]
	_when='[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} [^ ]+'
	_span='([0-9]+s|[0-9]+m [0-9]+s|[0-9]+h [0-9]+m|[0-9]+d [0-9]+h)'
	check "status: the heading line" has "^authguard-governor [0-9][^ ]*, up since $_when \\($_span\\)\$"
	check "status: labels in order" \
		is "store,requests,verdicts,denied by,in-flight,queued,latency,reports,tracked,clients," \
		"$(sed 1d "$out" | sed 's/:.*//' | tr '\n' ,)"
	check "status: store line" has "^store: +memory, ok since (start|$_when); [0-9]+ errors\$"
	check "status: requests line" has \
		'^requests: +[0-9]+(\.[0-9])?/s over the last [0-9]+ s; [0-9]+ decisions in all$'
	check "status: verdicts line" has '^verdicts: +allowed [0-9]+, denied [0-9]+, shed [0-9]+$'
	check "status: denied by line" has \
		'^denied by: +backoff [0-9]+, source_rate [0-9]+, user_rate [0-9]+, user_cap [0-9]+, deny list [0-9]+$'
	check "status: in-flight line" has \
		'^in-flight: +[0-9]+ of 12 \(trusted [0-9]+, clean [0-9]+, failing [0-9]+\); user socket [0-9]+ of [0-9]+$'
	check "status: queued line" has \
		'^queued: +trusted [0-9]+, clean [0-9]+, failing [0-9]+; [0-9]+ queued in all$'
	check "status: latency line" has \
		'^latency: +p50 [0-9]+(\.[0-9])? (us|ms), p99 [0-9]+(\.[0-9])? (us|ms) \(receipt to verdict\)$'
	check "status: reports line" has \
		'^reports: +success [0-9]+, fail [0-9]+, unavail [0-9]+, abandoned [0-9]+$'
	check "status: tracked line" has '^tracked: +[0-9]+ entries, [0-9]+ trusted pairs$'
	check "status: clients line" has \
		'^clients: +[0-9]+ open, [0-9]+ refused at max_clients; [0-9]+ protocol errors; [0-9]+ log lines dropped$'
}
human "status" status
check_status_human
check "status: 0 decisions yet" has '^requests: .*; 0 decisions in all$'

# ---- nothing stored yet -----------------------------------------------------------

fails "show user of a user never seen" 1 "not found: nothing stored for user nobody1" show user nobody1
fails "show source of a source never seen" 1 "not found: nothing stored for source 192.0.2.1" \
	show source 192.0.2.1
fails "reset all with nothing stored" 1 "reset all: nothing stored" reset all
fails "reset user with nothing stored" 1 "reset user: nothing stored" reset user nobody1
json "top, nothing yet" top
check "top --json with nothing: an empty offender array" jq_ok '.offender == []'
check "top --json with nothing: the top record" \
	jq_ok '.top == {"by": "denials", "since": "start", "shown": 0, "offenders": 0}'

# ---- lists, allow, deny, unlist ------------------------------------------------------

json "lists with the conf entry" lists
check "lists --json: the entry array" jq_ok '.entry | type == "array" and length == 1'
check "lists --json: the conf entry" jq_ok '.entry[0] | .list == "allow" and .cidr == "10.9.0.0/16"
	and .expires_in_ms == "never" and .origin == "conf"'
check "lists --json: the summary" jq_ok \
	'.lists.entries == 1 and .lists.shown == 1 and .lists.truncated == "no"'

human "deny --ttl --comment" deny 203.0.113.0/24 --ttl 1h --comment "ctl test"
check "deny: one entry block" is "entry: " "$(blocks)"
check "deny: list" has '^  list: +deny$'
check "deny: cidr" has '^  cidr: +203\.0\.113\.0/24$'
check "deny: expires_in_ms is the ttl" has '^  expires_in_ms: +3600000$'
check "deny: origin runtime" has '^  origin: +runtime$'
check "deny: the comment" has '^  comment: +ctl test$'
json "allow an address --ttl" allow 198.51.100.7 --ttl 30m
check "allow --json: an entry array of one" jq_ok '.entry | type == "array" and length == 1'
check "allow --json: the address as a /32, the ttl in ms" jq_ok '.entry[0] | .list == "allow"
	and .cidr == "198.51.100.7/32" and .expires_in_ms == 1800000 and .origin == "runtime"
	and .comment == ""'
json "allow v6, a comment with quotes" allow 2001:db8::/32 --comment 'lab "b" \ net'
check "allow --json: never expires, the comment intact" jq_ok '.entry[0] | .cidr == "2001:db8::/32"
	and .expires_in_ms == "never" and .comment == "lab \"b\" \\ net"'

human "lists" lists
check "lists: entry table, then the summary" is "entry: lists: " "$(blocks)"
check "lists: the table's columns" has '^  list +cidr +expires_in_ms +origin +comment$'
check "lists: the list column" is "allow deny allow allow " "$(col entry 1)"
check "lists: the cidr column" is "10.9.0.0/16 203.0.113.0/24 198.51.100.7/32 2001:db8::/32 " \
	"$(col entry 2)"
check "lists: the deny row" has '^  deny +203\.0\.113\.0/24 +[0-9]+ +runtime +ctl test$'
check "lists: the conf row" has '^  allow +10\.9\.0\.0/16 +never +conf *$'
check "lists: the summary" has '^  entries: +4$'
json "lists" lists
check "lists --json: 4 entries, as many as the summary says" jq_ok \
	'(.entry | length) == 4 and .lists.entries == 4 and .lists.shown == 4'
check "lists --json: time left within each ttl" jq_ok \
	'[.entry[] | select(.cidr == "203.0.113.0/24" or .cidr == "198.51.100.7/32") | .expires_in_ms]
	 | length == 2 and .[0] > 0 and .[0] <= 3600000 and .[1] > 0 and .[1] <= 1800000'

# Adding the same CIDR again replaces its expiry and comment.
json "deny again, a new comment" deny 203.0.113.0/24 --comment "replaced"
json "lists after the replacement" lists
check "lists --json: still 4 entries" jq_ok '(.entry | length) == 4'
check "lists --json: the replaced entry" jq_ok '[.entry[] | select(.cidr == "203.0.113.0/24")]
	| length == 1 and .[0].comment == "replaced" and .[0].expires_in_ms == "never"'

# ---- explain ---------------------------------------------------------------------

# check_steps_human WHAT: explain's blocks, and its step table with the rules
# in order.
check_steps_human() {
	check "$1: blocks in order" is "decision: step: pair: user: source: agg: " "$(blocks)"
	check "$1: the step table's columns" has '^  rule +verdict +retry_ms +detail$'
	check "$1: the rules in order" is "deny allow backoff user_cap source_rate user_rate shed " \
		"$(col step 1)"
	check "$1: every step's verdict a word" has '^((allow|deny|skip) )+$' "$dir/verdicts"
}
human "explain, a stranger" explain carol 192.0.2.10
col step 2 >"$dir/verdicts"
check_steps_human "explain"
for k in "user: +carol" "source: +192\.0\.2\.10/32" "verdict: +allow" "rule: +none" "retry_ms: +0" \
	"class: +clean" "trusted: +no" "slot_free: +yes"; do
	check "explain: decision $k" has "^  $k\$"
done
check "explain: every step allows, the allow list skips" is "allow skip allow allow allow allow allow " \
	"$(col step 2)"
json "explain, a stranger" explain carol 192.0.2.10
check "explain --json: the decision" jq_ok '.decision | .user == "carol"
	and .source == "192.0.2.10/32" and .verdict == "allow" and .rule == "none" and .retry_ms == 0
	and .class == "clean" and .trusted == "no" and .slot_free == "yes"'
check "explain --json: steps in order" jq_ok \
	'[.step[].rule] == ["deny", "allow", "backoff", "user_cap", "source_rate", "user_rate", "shed"]'
check "explain --json: every step has verdict, retry_ms, detail" jq_ok 'all(.step[];
	(.verdict | IN("allow", "deny", "skip")) and (.retry_ms | type == "number")
	and (.detail | type == "string"))'
check "explain --json: the state records by scope" jq_ok \
	'[.state[].scope] == ["pair", "user", "source", "agg"]'
check "explain --json: nothing stored for a stranger" jq_ok 'all(.state[]; .stored == "no")'
check "explain --json: the netblocks" jq_ok '
	(.state[] | select(.scope == "source") | .source) == "192.0.2.10/32"
	and (.state[] | select(.scope == "agg") | .agg) == "192.0.2.0/24"'

json "explain from a denied netblock" explain carol 203.0.113.9
check "explain --json: denied by the deny list" jq_ok \
	'.decision.verdict == "deny" and .decision.rule == "deny"'
check "explain --json: deny step denies, allow step says deny wins" jq_ok '
	(.step[0] | .rule == "deny" and .verdict == "deny" and (.detail | startswith("entry 203.0.113.0/24")))
	and (.step[1] | .verdict == "skip" and .detail == "deny wins")'
human "explain from a denied netblock" explain carol 203.0.113.9
check "explain: verdict deny" has '^  verdict: +deny$'
check "explain: rule deny" has '^  rule: +deny$'
check "explain: the deny step row" has '^  deny +deny +[0-9]+ +entry 203\.0\.113\.0/24 '

json "explain from an allowed address" explain carol 198.51.100.7
check "explain --json: the allow step names the entry" jq_ok '.step[1] | .rule == "allow"
	and .verdict == "allow" and (.detail | startswith("entry 198.51.100.7/32"))'
check "explain --json: allow-listed is clean" jq_ok \
	'.decision.class == "clean" and .decision.verdict == "allow"'
json "explain from a conf-listed address" explain carol 10.9.8.7
check "explain --json: the conf allow entry applies" jq_ok '.step[1].verdict == "allow"'

# A user name and a source that are not addresses: escaped, still JSON.
json "explain of an odd name" explain "$(printf 'd "q" \\\\ \tt\001')" host.example
check "explain --json: the odd name intact" jq_ok '.decision.user == "d \"q\" \\\\ \tt\u0001"'
check "explain --json: a host name is a source key" jq_ok \
	'.decision.source == "host:host.example" and .step[0].verdict == "skip"'
human "explain of an odd name" explain "$(printf 'd\tq\001')" 192.0.2.10
check "explain: control bytes shown escaped" has '^  user: +d\\x09q\\x01$'

# ---- load: trust for u0, then failures ---------------------------------------

"$load" -s "$sock" -m cycles -c 1 -d 1 -u 1 -a 3 -f 0 >"$dir/load1.out" 2>&1
check "ag-load: successes for u0 from 198.18.0.0..2" [ $? -eq 0 ]

human "show user after successes" show user u0
check "show user: a user block, then the trusted table" is "user: trusted: " "$(blocks)"
check "show user: stored" has '^  stored: +yes$'
check "show user: 3 trusted sources" has '^  trusted_sources: +3$'
check "show user: the trusted table's columns" has '^  user +source +last_success_ago +expires_in$'
check "show user: the trusted sources" is "198.18.0.0/32 198.18.0.1/32 198.18.0.2/32 " \
	"$(col trusted 2 | tr ' ' '\n' | sort | tr '\n' ' ')"
check "show user: each row with its times" is 3 \
	"$(grep -Ec '^  u0 +198\.18\.0\.[0-2]/32 +[0-9]+ms +[0-9]+ms$' "$out")"
json "show user after successes" show user u0
check "show user --json: a state array" jq_ok '.state | type == "array"'
check "show user --json: user record" jq_ok '[.state[] | select(.scope == "user")]
	| length == 1 and .[0].user == "u0" and .[0].trusted_sources == 3 and .[0].stored == "yes"'
check "show user --json: 3 trusted records" jq_ok '[.state[] | select(.scope == "trusted") | .source]
	| sort == ["198.18.0.0/32", "198.18.0.1/32", "198.18.0.2/32"]'
check "show user --json: most recent success first" jq_ok '[.state[] | select(.scope == "trusted")
	| .last_success_ago | rtrimstr("ms") | tonumber] | . == sort'
check "show user --json: trust expires within trust_ttl (30d)" jq_ok 'all(.state[]
	| select(.scope == "trusted"); .expires_in | rtrimstr("ms") | tonumber | . > 0 and . <= 2592000000)'

human "show pair, trusted" show pair u0 198.18.0.1
check "show pair: blocks in order" is "pair: user: source: agg: " "$(blocks)"
check "show pair: trusted" has '^  trusted: +1$'
check "show pair: the last success" has '^  last_success_ago: +[0-9]+ms$'
json "show pair, trusted" show pair u0 198.18.0.1
check "show pair --json: the pair record" jq_ok '.state[0] | .scope == "pair" and .user == "u0"
	and .source == "198.18.0.1/32" and .trusted == 1 and .failures == 0'

json "explain a trusted pair" explain u0 198.18.0.1
check "explain --json: trusted pair allowed" jq_ok \
	'.decision | .verdict == "allow" and .class == "trusted" and .trusted == "yes"'
check "explain --json: rates and cap skipped for a trusted pair" jq_ok '[.step[]
	| select(.rule | IN("user_cap", "source_rate", "user_rate")) | .verdict] == ["skip", "skip", "skip"]'
check "explain --json: backoff applies to a trusted pair" jq_ok \
	'.step[] | select(.rule == "backoff") | .verdict == "allow"'

"$load" -s "$sock" -m cycles -c 1 -d 1 -u 4 -a 8 -f 100 >"$dir/load2.out" 2>&1
check "ag-load: failures for u0..u3 from 198.18.0.0..7" [ $? -eq 0 ]

# Trusted pairs skip the source rate: only failures store a source's netblock.
human "show source" show source 198.18.0.1
check "show source: source and agg blocks" is "source: agg: " "$(blocks)"
check "show source: the source" has '^  source: +198\.18\.0\.1/32$'
check "show source: the agg" has '^  agg: +198\.18\.0\.0/24$'
json "show source" show source 198.18.0.1
check "show source --json: scopes" jq_ok '[.state[].scope] == ["source", "agg"]'

json "explain a capped user" explain u1 198.18.0.99
check "explain --json: denied by user_cap" jq_ok '.decision | .verdict == "deny"
	and .rule == "user_cap" and .retry_ms > 0 and .class == "failing" and .trusted == "no"'
check "explain --json: the user_cap step denies with the retry" jq_ok '
	(.step[] | select(.rule == "user_cap")) as $s | $s.verdict == "deny"
	and $s.retry_ms == .decision.retry_ms and ($s.detail | test("cap_until_in=[0-9]+ms"))'
check "explain --json: the rule is the first step that denies" jq_ok \
	'.decision.rule == ([.step[] | select(.verdict == "deny" and .rule != "shed")][0].rule)'
human "explain a capped user" explain u1 198.18.0.99
check "explain: verdict deny" has '^  verdict: +deny$'
check "explain: rule user_cap" has '^  rule: +user_cap$'
check "explain: retry_ms" has '^  retry_ms: +[1-9][0-9]*$'
check "explain: the user_cap row" has \
	'^  user_cap +deny +[1-9][0-9]* +ucfail=[0-9]+ max=2 cap_until_in=[0-9]+ms$'
col step 2 >"$dir/verdicts"
check_steps_human "explain a capped user"

# ---- top ---------------------------------------------------------------------

json "top" top
check "top --json: offenders" jq_ok '.offender | type == "array" and length > 0'
check "top --json: each offender's fields" jq_ok 'all(.offender[]; (.scope | IN("user", "source"))
	and (.name | type == "string") and (.denials | type == "number")
	and (.failures | type == "number") and (.held | IN("yes", "no")))'
check "top --json: sorted by denials" jq_ok '[.offender[].denials] | . == (sort | reverse)'
check "top --json: the top record, 10 shown by default" jq_ok '.top.by == "denials"
	and .top.since == "start" and .top.shown == (.offender | length)
	and .top.shown == ([.top.offenders, 10] | min)'
json "top 100" top 100
check "top --json: every offender shown" jq_ok \
	'.top.shown == .top.offenders and (.offender | length) == .top.offenders'
check "top --json: the users, held by their cap" jq_ok '[.offender[] | select(.scope == "user")]
	| (map(.name) | sort) == ["u0", "u1", "u2", "u3"] and all(.held == "yes")'
check "top --json: the sources, none held" jq_ok '[.offender[] | select(.scope == "source")]
	| length > 0 and all(.name | test("^198\\.18\\.0\\.[0-7]/32$")) and all(.held == "no")'
json "top --by failures" top 100 --by failures
check "top --json --by failures: sorted by failures" jq_ok '[.offender[].failures] | . == (sort | reverse)'
check "top --json --by failures: says so" jq_ok '.top.by == "failures"'
json "top 2 --since 5m" top 2 --since 5m
check "top --json --since: the span in ms, no since=start" jq_ok '.top.since_ms == 300000
	and (.top | has("since") | not) and .top.shown == 2 and (.offender | length) == 2'
human "top 3" top 3
check "top: an offender table and the top block" is "offender: top: " "$(blocks)"
check "top: the table's columns" has '^  scope +name +denials +failures +held$'
check "top: 3 rows" is 3 "$(grep -Ec '^  (user|source) +[^ ]+ +[0-9]+ +[0-9]+ +(yes|no)$' "$out")"
check "top: by" has '^  by: +denials$'
check "top: since" has '^  since: +start$'
check "top: shown" has '^  shown: +3$'
check "top: offenders" has '^  offenders: +[0-9]+$'
human "top 1 --by failures --since 1h" top 1 --by failures --since 1h
check "top 1: one offender as a block" is "offender: top: " "$(blocks)"
check "top 1: the offender's name" has '^  name: +(u[0-3]|198\.18\.0\.[0-7]/32)$'
check "top 1: since_ms" has '^  since_ms: +3600000$'

# A source on the deny list is held.
json "deny a loading source" deny 198.18.0.3/32 --ttl 10m
json "top with a denied source" top 100
check "top --json: the denied source is held" jq_ok \
	'.offender[] | select(.name == "198.18.0.3/32") | .held == "yes"'
run unlist 198.18.0.3/32

# ---- watch -------------------------------------------------------------------

timeout 10 "$ctl" -s "$sock" watch --count 2 --interval 100 </dev/null 2>"$err" | cat >"$out"
rc=$?
check "watch --count 2 through a pipe: exit 0" [ "$rc" -eq 0 ]
check "watch: nothing on stderr" empty "$err"
check "watch: 2 frames" is 2 "$(grep -c '^authguard watch ' "$out")"
check "watch: the limit" has '^in-flight: [0-9]+ / 12 limit'
check "watch: no escape sequences" sh -c '! grep -q "$(printf "\033")" "$1"' _ "$out"
check "watch: the offenders" has '^  user +u[0-3] +[0-9]+ +[0-9]+ +yes$'

# ---- status and metrics after the load, cross-checked ---------------------------

json "status after load" status
allowed=$(jget .status.allowed)
denied=$(jget .status.denied)
shed=$(jget .status.shed)
succ=$(jget .status.reports_success)
fails_n=$(jget .status.reports_fail)
check "status --json: allowed and denied after the load" \
	[ "${allowed:-0}" -gt 0 -a "${denied:-0}" -gt 0 ]
check "status --json: denied by rule adds up" jq_ok '.status | .denied == .denied_backoff
	+ .denied_source_rate + .denied_user_rate + .denied_user_cap + .denied_deny'
check "status --json: successes and failures reported" [ "${succ:-0}" -gt 0 -a "${fails_n:-0}" -gt 0 ]
check "status --json: trusted pairs" jq_ok '.status.trusted >= 3'
human "status after load" status
check_status_human
check "status: verdicts as --json says" has "^verdicts: +allowed $allowed, denied $denied, shed $shed\$"
check "status: reports as --json says" has "^reports: +success $succ, fail $fails_n, "

human "metrics" metrics
cp "$out" "$dir/metrics.txt"
name_re='[a-zA-Z_:][a-zA-Z0-9_:]*'
label_re='[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*"'
value_re='([-+]?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|[-+]Inf|NaN)'
sample_re="^$name_re(\\{$label_re(,$label_re)*\\})? $value_re\$"
comment_re="^# (HELP $name_re .+|TYPE $name_re (counter|gauge|histogram|summary|untyped))\$"
badlines=$(grep -Ev "$sample_re|$comment_re" "$dir/metrics.txt" | head -3)
check "metrics: every line a sample, HELP or TYPE${badlines:+ (bad: $badlines)}" [ -z "$badlines" ]
check "metrics: samples" [ "$(grep -vc '^#' "$dir/metrics.txt")" -gt 20 ]
missing=$(awk '
	/^# HELP / { help[$3] = 1; next }
	/^# TYPE / { type[$3] = $4; next }
	{
		n = $1; sub(/\{.*/, "", n); f = n
		if (!(f in type)) { sub(/_(bucket|sum|count)$/, "", f) }
		if (!(f in help) || !(f in type)) print n
	}' "$dir/metrics.txt" | sort -u | tr '\n' ' ')
check "metrics: HELP and TYPE before every family${missing:+ (missing: $missing)}" [ -z "$missing" ]
dups=$(grep -v '^#' "$dir/metrics.txt" | sed 's/ [^ ]*$//' | sort | uniq -d | tr '\n' ' ')
check "metrics: no series twice${dups:+ ($dups)}" [ -z "$dups" ]
mval() { awk -v k="$1" 'index($0, k " ") == 1 { print $NF }' "$dir/metrics.txt"; }
check "metrics: allows as status says" \
	is "$allowed" "$(mval 'authguard_decisions_total{verdict="allow"}')"
check "metrics: denials as status says" \
	is "$denied" "$(mval 'authguard_decisions_total{verdict="deny"}')"
check "metrics: successes as status says" \
	is "$succ" "$(mval 'authguard_reports_total{outcome="success"}')"
check "metrics: failures as status says" \
	is "$fails_n" "$(mval 'authguard_reports_total{outcome="fail"}')"
check "metrics: the limit" is 12 "$(mval authguard_inflight_limit)"
check "metrics: up" is 1 "$(mval authguard_up)"
check "metrics: no user name or address" \
	sh -c '! grep -Eq "u[0-3]\"|198\.18\." "$1"' _ "$dir/metrics.txt"

# ---- a peer that is neither root nor in admin_group -------------------------------
# The privileged socket is opened to everyone here, so that the governor's own
# check is what refuses: status and metrics are open, the rest is not.

if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null 2>&1; then
	chmod 0755 "$dir"
	chmod 0666 "$sock"
	# as_nobody ARGS...: authguardctl ARGS as uid/gid 65534, no other groups.
	as_nobody() {
		setpriv --reuid=65534 --regid=65534 --clear-groups "$ctl" -s "$sock" "$@" \
			>"$out" 2>"$err"
		rc=$?
	}
	need="need root${grp:+ or group $grp}"
	as_nobody status
	check "non-admin: status exits 0" [ "$rc" -eq 0 ]
	check "non-admin: the status view" has '^in-flight: +[0-9]+ of 12 '
	as_nobody --json status
	check "non-admin: status --json exits 0" [ "$rc" -eq 0 ]
	check "non-admin: status --json parses" jq_ok '.status.limit == 12'
	as_nobody metrics
	check "non-admin: metrics exits 0" [ "$rc" -eq 0 ]
	check "non-admin: metrics text" has '^authguard_up 1$'
	while IFS= read -r cmdline; do
		case $cmdline in status | metrics) continue ;; esac
		# shellcheck disable=SC2086 # split on purpose
		set -- $cmdline
		as_nobody "$@" </dev/null
		check "non-admin: $cmdline: exit 1 (got $rc)" [ "$rc" -eq 1 ]
		check "non-admin: $cmdline: says '$need'" has "refused by the governor: permission \
denied: $need \\(run as root, or as a member of the governor's admin_group\\)" "$err"
		check "non-admin: $cmdline: nothing on stdout" empty "$out"
	done <"$dir/commands"
	as_nobody reset all
	run --json show user u0
	check "non-admin: a refused reset all changes nothing" jq_ok \
		'.state[0].trusted_sources == 3'
	as_nobody deny 198.18.0.0/15
	run --json lists
	check "non-admin: a refused deny changes nothing" jq_ok \
		'all(.entry[]; .cidr != "198.18.0.0/15")'
	timeout 10 setpriv --reuid=65534 --regid=65534 --clear-groups "$ctl" -s "$sock" \
		watch --count 1 --interval 100 </dev/null >"$out" 2>"$err"
	rc=$?
	check "non-admin: watch exits 0" [ "$rc" -eq 0 ]
	check "non-admin: watch without the offenders" \
		sh -c '! grep -q "^top offenders" "$1"' _ "$out"
	if wait_for 50 grep -q "admin reset refused for uid 65534" "$log"; then
		ok "the governor logs the refusals"
	else
		nok "the governor logs the refusals"
	fi
else
	echo "# not root or no setpriv: the non-admin peer is not checked"
fi

# ---- reset --------------------------------------------------------------------

human "reset pair" reset pair u0 198.18.0.1
check "reset pair: one reset block" is "reset: " "$(blocks)"
check "reset pair: scope" has '^  scope: +pair$'
check "reset pair: user" has '^  user: +u0$'
check "reset pair: source" has '^  source: +198\.18\.0\.1/32$'
check "reset pair: cleared" has '^  cleared: +yes$'
json "show user after reset pair" show user u0
check "reset pair: the pair's trust is gone" jq_ok '
	(.state[] | select(.scope == "user") | .trusted_sources) == 2
	and ([.state[] | select(.scope == "trusted") | .source] | index("198.18.0.1/32") == null)'
json "show pair after reset pair" show pair u0 198.18.0.1
check "reset pair: nothing stored for the pair" jq_ok \
	'.state[0] | .scope == "pair" and .stored == "no" and .failures == 0 and .trusted == 0'
fails "reset pair again" 1 "not found: reset pair: nothing stored" reset pair u0 198.18.0.1

json "reset source" reset source 198.18.0.5
check "reset source --json: the record" jq_ok \
	'.reset == {"scope": "source", "source": "198.18.0.5/32", "cleared": "yes"}'
fails "show source after reset source" 1 "nothing stored for source 198.18.0.5" show source 198.18.0.5
fails "reset source again" 1 "reset source: nothing stored" reset source 198.18.0.5

json "reset user" reset user u2
check "reset user --json: the record" jq_ok \
	'.reset == {"scope": "user", "user": "u2", "cleared": "yes"}'
fails "show user after reset user" 1 "nothing stored for user u2" show user u2
json "explain after reset user" explain u2 198.18.0.99
check "reset user: the cap is gone" jq_ok \
	'.step[] | select(.rule == "user_cap") | .verdict == "allow"'
fails "reset user again" 1 "reset user: nothing stored" reset user u2

human "reset all" reset all
check "reset all: scope all, cleared" \
	is "reset:|  scope:   all|  cleared: yes|" "$(tr '\n' '|' <"$out")"
json "status after reset all" status
check "reset all: nothing tracked, nothing trusted" jq_ok \
	'.status.tracked == 0 and .status.trusted == 0'
json "top after reset all" top
check "reset all: top is empty" jq_ok '.offender == [] and .top.offenders == 0'
fails "show user after reset all" 1 "nothing stored for user u0" show user u0
fails "reset all again" 1 "reset all: nothing stored" reset all
json "lists after reset all" lists
check "reset all keeps the lists" jq_ok '.lists.entries == 4'

# ---- unlist and reload -----------------------------------------------------------

human "unlist" unlist 203.0.113.0/24
check "unlist: the unlist block" \
	is "unlist:|  cidr:    203.0.113.0/24|  removed: yes|" "$(tr '\n' '|' <"$out")"
json "unlist v6" unlist 2001:db8::/32
check "unlist --json: the record" jq_ok '.unlist == {"cidr": "2001:db8::/32", "removed": "yes"}'
fails "unlist again" 1 "not found: no list entry for 203.0.113.0/24" unlist 203.0.113.0/24
fails "deny of a bad CIDR" 1 "invalid CIDR" deny 203.0.113.0/33
json "unlist the conf entry" unlist 10.9.0.0/16
json "lists without it" lists
check "unlist: the conf entry is gone, the runtime one stays" jq_ok \
	'[.entry[].cidr] == ["198.51.100.7/32"]'

human "reload" reload
check "reload: taken" is "reload:|  taken: yes|" "$(tr '\n' '|' <"$out")"
json "lists after reload" lists
check "reload: the conf entry is back, the runtime one survives" jq_ok '[.entry[] | {cidr, origin}]
	| sort == [{"cidr": "10.9.0.0/16", "origin": "conf"}, {"cidr": "198.51.100.7/32", "origin": "runtime"}]'

# The unknown key is on line 7 of the file write_conf writes.
write_conf "no_such_key = 1"
fails "reload of a broken config" 1 "configuration error: reload: $conf:7: .*no_such_key" reload
run --json reload
check "reload --json of a broken config: exit 1" [ "$rc" -eq 1 ]
check "reload --json of a broken config: no JSON on stdout" empty "$out"
check "reload --json of a broken config: file:line on stderr" has "$conf:7:" "$err"
json "status after a refused reload" status
check "a refused reload keeps the governor's config" jq_ok '.status.limit == 12'
write_conf
sed 's/^max_inflight = 12$/max_inflight = 11/' "$conf" >"$conf.new" && mv "$conf.new" "$conf"
json "reload" reload
check "reload --json: taken" jq_ok '.reload == {"taken": "yes"}'
json "status after reload" status
check "reload: the new limit is in force" jq_ok '.status.limit == 11'

# ---- lint: no governor needed -----------------------------------------------------
# The shipped stacks, with stand-ins for Debian's common-* files beside them
# (an @include is looked up next to the file first), so that nothing on this
# machine's /etc/pam.d matters.

mkdir "$dir/pam"
cp "$src"/etc/pam.d/sshd "$src"/etc/pam.d/sudo "$src"/etc/pam.d/login \
	"$src"/etc/pam.d/common-auth "$src"/etc/pam.d/examples/two-backend \
	"$src"/etc/pam.d/examples/two-factor "$dir/pam/"
echo "account required pam_unix.so" >"$dir/pam/common-account"
echo "session required pam_unix.so" >"$dir/pam/common-session"
echo "session required pam_unix.so" >"$dir/pam/common-session-noninteractive"
echo "password required pam_unix.so" >"$dir/pam/common-password"
for f in sshd sudo login common-auth two-backend two-factor; do
	"$ctl" -s "$nosock" lint "$dir/pam/$f" >"$out" 2>"$err"
	rc=$?
	check "lint $f: exit 0 (got $rc)" [ "$rc" -eq 0 ]
	check "lint $f: no finding" empty "$out"
	check "lint $f: nothing on stderr" empty "$err"
done

bad="$dir/pam/broken"
cat >"$bad" <<'EOF'
# a stack with mistakes
auth  required   pam_authguard.so preauth timeout=fast
auth  [success=3 default=bad]  pam_unix.so
auth  [default=die]  pam_authguard.so authfail
auth  required       pam_authguard.so authsucc
@include no-such-common-file
EOF
"$ctl" -s "$nosock" lint "$dir/pam/sshd" "$bad" >"$out" 2>"$err"
rc=$?
check "lint broken: exit 1 (got $rc)" [ "$rc" -eq 1 ]
check "lint broken: findings" [ -s "$out" ]
badfmt=$(grep -Ev '^[^:]+:[0-9]+: \[[a-z-]+\] .+$' "$out" | head -3)
check "lint broken: every line FILE:LINE: [rule] msg${badfmt:+ (bad: $badfmt)}" [ -z "$badfmt" ]
check "lint broken: only the broken file is named" \
	sh -c '! grep -v "^$1:" "$2" | grep -q .' _ "$bad" "$out"
for f in "2 bad-argument argument 'timeout=fast'" "2 preauth-control" "2 account-missing" \
	"3 first-pass" "3 jump" "6 include"; do
	# shellcheck disable=SC2086 # split on purpose
	set -- $f
	_line=$1
	_rule=$2
	shift 2
	check "lint broken: line $_line, [$_rule]${*:+ $*}" has "^$bad:$_line: \\[$_rule\\] $*"
done
check "lint broken: in line order" sh -c 'cut -d: -f2 "$1" | sort -c -n' _ "$out"
"$ctl" lint "$dir/pam/absent" >"$out" 2>"$err"
rc=$?
check "lint of a missing file: exit 1" [ "$rc" -eq 1 ]
check "lint of a missing file: says so" has "lint: $dir/pam/absent: not found" "$err"

# ---- unreachable after all: hung, then gone -------------------------------------------

kill -STOP "$pid"
fails "a hung governor" 3 "timed out \\(no answer within 2 s" status
kill -CONT "$pid"
run status
check "the governor answers again" [ "$rc" -eq 0 ]
kill -KILL "$pid"
wait "$pid" 2>/dev/null
pid=""
check "a dead governor leaves its socket" test -S "$sock"
fails "a socket nobody listens on" 3 "cannot reach the governor at $sock" \
	--json explain alice 192.0.2.1

if [ "$fail" -ne 0 ]; then
	echo "# governor log:"
	sed 's/^/# /' "$log"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
