#!/bin/sh
# zike as a service: its log lines carry an ISO 8601 time (never epoch
# seconds), or, when stderr is the journal (JOURNAL_STREAM names stderr's
# device:inode), a "<N>" syslog priority and no time nor pid; -v shows the
# proposals offered and chosen, and stays on across a reload.  The SAD's
# mode and group come from sad: { path, mode, group }.  The systemd unit
# has configure's paths and passes systemd-analyze verify.
b=$(cd "${builddir:-.}" && pwd)
s=$(cd "${srcdir:-.}" && pwd)
zike="$b/ike/zike" ctl="$b/tools/zikectl"
. "$s/tests/lib.sh"
work_begin svc 11
PSK=correct-horse-battery-staple

iso='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z zike\[[0-9]+\] (error|warning|notice|info|debug): '
stop() { kill "$1" && wait "$1" 2> /dev/null; }

# ---- log lines ---------------------------------------------------------------
zike_conf bob "$(port 0)" "peers:" \
    "  - { name: alice, id: alice.example, auth: psk, psk: $PSK, policies: [orders] }"
zike_conf alice "$(port 1)" "peers:" \
    "  - { name: bob, id: bob.example, endpoint: \"tcp://127.0.0.1:$(port 0)\", auth: psk, psk: $PSK, start: true, policies: [orders] }"
: > "$work/bob.log"
# A JOURNAL_STREAM naming another stream (inherited by a redirected child)
# is not the journal.
JOURNAL_STREAM=1:2 "$zike" -c "$work/bob.yaml" -v 2> "$work/bob.log" &
bob=$!; pids="$pids $bob"
: > "$work/alice.log"
JOURNAL_STREAM=$(stat -c %d:%i "$work/alice.log") \
    "$zike" -c "$work/alice.yaml" -v 2> "$work/alice.log" &
alice=$!; pids="$pids $alice"
until_ok 20 grep -q "child SA .* for policy orders installed" "$work/alice.log"
ok $? "alice, logging to the journal, establishes a child SA with bob"
until_ok 20 grep -q "child SA .* for policy orders installed" "$work/bob.log"
stop $alice; stop $bob

grep -q '^<5>notice: zike .*listening on' "$work/alice.log" &&
    grep -q '^<6>info: peer bob: initiating IKE SA' "$work/alice.log" &&
    grep -q '^<7>debug: ' "$work/alice.log"
ok $? "journal: lines start with their syslog priority (<5> notice, <6> info, <7> debug)"
! grep -qv '^<[0-7]>[a-z]*: ' "$work/alice.log" &&
    ! grep -qE '[0-9]{4}-[0-9]{2}-[0-9]{2}T|zike\[|[0-9]{10}\.[0-9]{3}' "$work/alice.log"
ok $? "journal: every line has a priority, none a time or a pid"
[ -s "$work/bob.log" ] && ! grep -qvE "$iso" "$work/bob.log"
ok $? "elsewhere: every line starts with an ISO 8601 UTC time in ms, the pid and the level"
t=$(head -n 1 "$work/bob.log" | cut -c1-19 | tr T ' ')
now=$(date -u +%s) then=$(date -u -d "$t" +%s 2> /dev/null)
[ -n "$then" ] && [ $((now - then)) -ge 0 ] && [ $((now - then)) -lt $((600 * scale)) ]
ok $? "the time is now's, in UTC ($t)"

# Neither names an AEAD: both are offered where this CPU has AES
# instructions, AES-GCM first, and the responder takes it.
if grep -qw aes /proc/cpuinfo && grep -qw pclmulqdq /proc/cpuinfo; then
    fast=aes256gcm offer="aes256gcm chacha20-poly1305"
else
    fast=chacha20-poly1305 offer=chacha20-poly1305
fi
grep -q "peer bob: we offer IKE proposal 1: $offer prf-hmac-sha2-256 x25519" "$work/alice.log" &&
    grep -q "peer bob: it chose IKE proposal 1: $fast prf-hmac-sha2-256 x25519" "$work/alice.log" &&
    grep -q "peer bob: we offer ESP proposal 1: $offer esn" "$work/alice.log" &&
    grep -q "peer bob: it chose ESP proposal 1: $fast esn" "$work/alice.log"
ok $? "-v: the initiator logs the proposals it offers and the ones chosen"
grep -q "IKE_SA_INIT: the initiator offers IKE proposal 1: $offer" "$work/bob.log" &&
    grep -q "IKE_SA_INIT: we choose IKE proposal 1: $fast" "$work/bob.log" &&
    grep -q "peer alice: it offers ESP proposal 1: $offer esn" "$work/bob.log" &&
    grep -q "peer alice: we choose ESP proposal 1: $fast esn" "$work/bob.log"
ok $? "-v: the responder logs the proposals offered and its choice"

# Without -v (log: info) no proposal is logged; with -v a reload keeps
# debug on: retransmissions to a peer that never answers go on being logged.
zike_conf lone "$(port 2)" "retransmit: { timeout-ms: $(ms 100), tries: 20 }" "peers:" \
    "  - { name: nobody, id: nobody.example, endpoint: \"tcp://127.0.0.1:$(port 3)\", auth: psk, psk: $PSK, start: true, policies: [p] }"
"$zike" -c "$work/lone.yaml" 2> "$work/quiet.log" &
q=$!; pids="$pids $q"
until_ok 20 grep -q "initiating IKE SA for policy p" "$work/quiet.log"
stop $q
! grep -q "proposal\|retransmitting" "$work/quiet.log"
ok $? "without -v: no proposal nor retransmission logged"
"$zike" -c "$work/lone.yaml" -v 2> "$work/lone.log" &
lone=$!; pids="$pids $lone"
until_ok 20 grep -q "retransmitting IKE_SA_INIT" "$work/lone.log"
kill -HUP $lone
until_ok 20 grep -q "configuration reloaded" "$work/lone.log"
until_ok 20 sh -c "sed -n '/configuration reloaded/,\$p' '$work/lone.log' | grep -q retransmitting"
ok $? "-v survives a reload (SIGHUP): retransmissions still logged after it"
stop $lone

# ---- the SAD's mode and group from zike's configuration ---------------------------
if [ "$(id -u)" -eq 0 ] && getent group daemon > /dev/null; then grp=daemon
else grp=$(id -Gn | tr ' ' '\n' | sed -n '2p'); grp=${grp:-$(id -gn)}; fi
zike_conf grp "$(port 4)"
sed -i "s|^sad: .*|sad: { path: $work/grp.sad, mode: 0660, group: $grp }|" "$work/grp.yaml"
"$zike" -c "$work/grp.yaml" 2> "$work/grp.log" &
g=$!; pids="$pids $g"
until_ok 20 grep -q "listening on" "$work/grp.log"
[ "$(stat -c %a:%G "$work/grp.sad")" = "660:$grp" ]
ok $? "zike makes its SAD with the configured mode and group ($(stat -c %a:%G "$work/grp.sad" 2> /dev/null))"
stop $g
sed -i "s|^sad: .*|sad: { path: $work/grp.sad, mode: 0606 }|" "$work/grp.yaml"
"$zike" -c "$work/grp.yaml" --check > /dev/null 2> "$work/check.err"
rc=$?
[ $rc -eq 3 ] && grep -q "grp.yaml:[0-9]*:[0-9]*: sad.mode: mode 0606 gives other users access" "$work/check.err"
ok $? "zike --check refuses a mode that lets others in (exit $rc)"
sed -i "s|^sad: .*|sad: { path: $work/grp.sad, group: no-such-group-zesp }|" "$work/grp.yaml"
"$zike" -c "$work/grp.yaml" --check > /dev/null 2> "$work/check.err"
rc=$?
[ $rc -eq 3 ] && grep -q "sad.group: group 'no-such-group-zesp' does not exist" "$work/check.err"
ok $? "and a group that does not exist (exit $rc)"
sed -i "s|^sad: .*|sad: { mode: 0600 }|" "$work/grp.yaml"
"$zike" -c "$work/grp.yaml" --check > /dev/null 2> "$work/check.err"
[ $? -eq 3 ] && grep -q "sad: no path" "$work/check.err"
ok $? "and a sad: without a path"

# ---- the SAD's capacity from zike's configuration (sad.capacity) ----------------
# Before, zike always made a SAD of the default 1024 slots.
zike_conf cap "$(port 5)"
sed -i "s|^sad: .*|sad: { path: $work/cap.sad, capacity: 4096 }|" "$work/cap.yaml"
"$zike" -c "$work/cap.yaml" 2> "$work/cap.log" &
c=$!; pids="$pids $c"
until_ok 20 grep -q "listening on" "$work/cap.log"
"$b/tools/zesp" --sad "$work/cap.sad" --json stats > "$work/cap.json" &&
    grep -q '"capacity":4096,' "$work/cap.json"
ok $? "zike makes its SAD with sad.capacity's 4096 slots"
stop $c
sed -i "s|capacity: 4096|capacity: 2K|" "$work/cap.yaml"
timeout $((20 * scale)) "$zike" -c "$work/cap.yaml" 2> "$work/cap.log"
rc=$?
[ $rc -ne 0 ] && grep -q "SAD $work/cap.sad has 4096 SA slots, sad.capacity says 2048: a SAD's capacity is fixed when it is made" "$work/cap.log" &&
    ! grep -q "listening on" "$work/cap.log"
ok $? "an existing SAD of another capacity is refused at start, saying so (exit $rc)"
for bad in "0:0 SA slots: at least 1" "16777217:above the maximum 16777216" \
           "many:'many' is not a non-negative integer" "-1:'-1' is not a non-negative integer"; do
    v=${bad%%:*} why=${bad#*:}
    sed -i "s|^sad: .*|sad: { path: $work/cap2.sad, capacity: $v }|" "$work/cap.yaml"
    "$zike" -c "$work/cap.yaml" --check > /dev/null 2> "$work/check.err"
    rc=$?
    [ $rc -eq 3 ] && grep -q "cap.yaml:[0-9]*:[0-9]*: sad.capacity: .*$why" "$work/check.err" &&
        [ ! -e "$work/cap2.sad" ]
    ok $? "zike --check refuses sad.capacity $v: $why (exit $rc)"
done
# A SAD of one slot cannot hold a child SA (in and out): the install fails
# with "the SA database is full", and zike says which setting sizes it.
zike_conf full "$(port 6)" "peers:" \
    "  - { name: alice, id: alice.example, auth: psk, psk: $PSK, policies: [orders] }"
sed -i "s|^sad: .*|sad: { path: $work/full.sad, capacity: 1 }|" "$work/full.yaml"
zike_conf alice2 "$(port 7)" "peers:" \
    "  - { name: bob, id: full.example, endpoint: \"tcp://127.0.0.1:$(port 6)\", auth: psk, psk: $PSK, start: true, policies: [orders] }"
sed -i "s|^identity: .*|identity: { id: alice.example }|" "$work/alice2.yaml"
"$zike" -c "$work/full.yaml" 2> "$work/full.log" &
f=$!; pids="$pids $f"
"$zike" -c "$work/alice2.yaml" 2> "$work/alice2.log" &
a2=$!; pids="$pids $a2"
until_ok 20 grep -q "is full" "$work/full.log"
grep -q "cannot install SA 0x[0-9a-f]* [a-z]*: the SA database is full" "$work/full.log" &&
    grep -q "warning: SAD $work/full.sad is full: 1 of its 1 SA slots in use .*: set sad.capacity higher" "$work/full.log"
ok $? "an install into a full SAD is logged with its capacity and sad.capacity"
stop $a2; stop $f

# ---- the systemd unit ------------------------------------------------------------
# make's examples/zike.service carries configure's paths; verify checks the
# unit with the executables of this build in their place.
unit="$b/examples/zike.service"
[ -f "$unit" ] && grep -q '^ExecStart=/[^ ]*/sbin/zike -c /[^ ]*/zike/zike.yaml$' "$unit" &&
    ! grep -q '@[a-z]*@\|\$[{(]' "$unit"
ok $? "make writes examples/zike.service with configure's paths"
grep -q '^RuntimeDirectory=zesp$' "$unit" && grep -q '^StateDirectory=zesp$' "$unit" &&
    grep -q '^User=zesp$' "$unit" && grep -q '^CapabilityBoundingSet=$' "$unit" &&
    grep -q '^ExecReload=.*/zikectl -s ipc:///run/zesp/zike.ctl reload$' "$unit"
ok $? "it runs as zesp with no capability, /run/zesp and /var/lib/zesp its own, reloads with zikectl"
if command -v systemd-analyze > /dev/null; then
    sed -e "s|@sbindir@|$b/ike|g" -e "s|@bindir@|$b/tools|g" \
        -e "s|@sysconfdir@|/etc|g" -e "s|@docdir@|/usr/share/doc/zesp|g" \
        "$s/examples/zike.service.in" > "$work/zike.service"
    systemd-analyze verify --man=no "$work/zike.service" > "$work/verify.out" 2>&1
    rc=$?
    [ $rc -eq 0 ] && [ ! -s "$work/verify.out" ]
    ok $? "systemd-analyze verify: clean (exit $rc)"
    [ -s "$work/verify.out" ] && cat "$work/verify.out"
    if systemd-analyze security --offline=true "$work/zike.service" > "$work/security.out" 2>&1; then
        level=$(sed -n 's/.*Overall exposure level for zike.service: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p' "$work/security.out")
        case "$level" in *" OK" | *" SAFE") r=0 ;; *) r=1 ;; esac
        ok $r "systemd-analyze security --offline=true: $level (OK or better)"
    else
        echo "# systemd-analyze security --offline=true cannot run here"
    fi
else
    echo "skip systemd-analyze verify: no systemd-analyze (package systemd)"
    skipped=$((skipped + 1))
fi

if [ "$failed" -ne 0 ]; then
    for f in "$work"/*.log; do echo "== $f"; tail -n 8 "$f"; done
fi
finish
