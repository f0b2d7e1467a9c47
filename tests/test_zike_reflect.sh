#!/bin/sh
# Reflection (RFC 7296 3.1), with real daemons: alice and bob talk through
# tests/ike_reflector, which relays every IKE message and sends each one
# also back to the zike that sent it.  Every kind zike sends is reflected
# both ways: IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA (child SA rekeys and
# an IKE SA rekey), INFORMATIONAL (liveness checks, DELETE of child SAs and
# of the old IKE SA) and the group exchanges (GSA_REGISTRATION, and
# GSA_INBAND_REKEY pushes of a group key bob serves to alice); an
# IKE_SA_INIT goes back a second time with the other role's flags (a
# request as its own answer, a response as a new request; alice names
# her IKE AEAD, so that her offer is one a single answer can echo).
# Checked:
# each daemon drops what comes back (ike_dropped_reflected), ends with the
# SAs the real exchanges made, and traffic flows; then the reflector sends
# back every message of the current IKE SA once more while nothing else
# happens: each daemon's counter rises by exactly that number and its IKE
# SAs, child SAs, SAD and policies are unchanged.
b=$(cd "${builddir:-.}" && pwd)
zike="$b/ike/zike" ctl="$b/tools/zikectl" zesp="$b/tools/zesp"
pp="$b/examples/policy_pingpong" refl="$b/tests/ike_reflector"
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
work_begin zr 13
PSK=correct-horse-battery-staple
ctl() { n=$1; shift; "$ctl" -s "ipc://$work/$n.ctl" "$@"; }
stat_of() { ctl "$1" stats | awk -v k="$2" '$1 == k { print $2 }'; }

cat > "$work/bob.yaml" <<EOT
identity: { id: bob.example }
listen: tcp://127.0.0.1:$(port 1)
control: ipc://$work/bob.ctl
sad: $work/bob.sad
retransmit: { timeout-ms: $(ms 300), tries: 6 }
rekey-overlap: 500
peers:
  - { name: alice, id: alice.example, auth: psk, psk: $PSK, dpd: 1s, policies: [orders] }
groups:
  - { name: news, senders: [alice.example], receivers: [alice.example] }
EOT
cat > "$work/alice.yaml" <<EOT
identity: { id: alice.example }
listen: tcp://127.0.0.1:$(port 0)
control: ipc://$work/alice.ctl
sad: $work/alice.sad
retransmit: { timeout-ms: $(ms 300), tries: 6 }
rekey-overlap: 500
peers:
  - { name: bob, id: bob.example, endpoint: "tcp://127.0.0.1:$(port 2)", auth: psk, psk: $PSK, start: true, dpd: 1s, ike: chacha20-poly1305, policies: [orders] }
join:
  - { group: news, server: bob, role: both }
EOT
"$refl" "tcp://127.0.0.1:$(port 2)" "tcp://127.0.0.1:$(port 1)" $((300 * scale)) > "$work/refl.out" 2> "$work/refl.err" &
rpid=$!; pids="$pids $rpid"
"$zike" -c "$work/bob.yaml" 2> "$work/bob.log" &
pids="$pids $!"
"$zike" -c "$work/alice.yaml" 2> "$work/alice.log" &
pids="$pids $!"

active() { ctl "$1" list 2> /dev/null | grep -q "child orders .* active"; }
registered() { ctl alice groups 2> /dev/null | grep -q "joined news: registered"; }
until_ok 30 active alice && until_ok 30 active bob
ok $? "IKE_SA_INIT, IKE_AUTH and the first child SA, every message reflected"
until_ok 30 registered
ok $? "alice registered with bob's group, the registration reflected"
# Every other exchange, one after the other.
ctl alice rekey bob > /dev/null
until_ok 20 sh -c "[ \$(ZESP_SAD=$work/alice.sad $zesp sa list | grep -c '^0x') -le 4 ] && $ctl -s ipc://$work/alice.ctl stats | grep -q '^rekeys  *[1-9]'"
ok $? "alice rekeyed the child SA"
ctl bob rekey alice > /dev/null
until_ok 20 sh -c "$ctl -s ipc://$work/bob.ctl stats | awk '\$1 == \"rekeys\" && \$2 >= 2 { f = 1 } END { exit !f }'"
ok $? "bob rekeyed the child SA"
ctl alice rekey bob ike > /dev/null
until_ok 20 sh -c "[ \"\$($ctl -s ipc://$work/bob.ctl stats | awk '\$1 == \"ike_rekeys\" { print \$2 }')\" -ge 1 ]"
ok $? "alice rekeyed the IKE SA"
ctl bob rekey-group news > /dev/null
until_ok 20 sh -c "$ctl -s ipc://$work/bob.ctl groups | grep -q '1 hold it, 1 rekeys'"
ok $? "bob pushed a new group key to alice"
one_ike() { [ "$(ctl "$1" list | grep -c "^$2 ")" -eq 1 ] && ctl "$1" list | grep -q "^$2 .*established"; }
until_ok 20 one_ike alice bob && until_ok 20 one_ike bob alice
ok $? "one IKE SA each, established: nothing reflected tore it down"
until_ok 20 sh -c "grep -c '^reflect to=.* exchange=37' $work/refl.out | awk '\$1 < 8 { exit 1 }'"
for k in "34 0" "34 1" "35 0" "35 1" "36 0" "36 1" "37 0" "37 1" "40 0" "40 1" "42 0" "42 1"; do
    set -- $k
    nb=$(grep -c "^reflect to=responder exchange=$1 response=$2" "$work/refl.out")
    na=$(grep -c "^reflect to=initiator exchange=$1 response=$2" "$work/refl.out")
    [ $((na + nb)) -ge 1 ]
    ok $? "exchange $1 $( [ "$2" = 1 ] && echo response || echo request): $na sent back to alice, $nb to bob"
done
fa=$(grep -c "^flip to=initiator exchange=34 response=1" "$work/refl.out")
fb=$(grep -c "^flip to=responder exchange=34 response=0" "$work/refl.out")
[ "$fa" -ge 1 ] && [ "$fb" -ge 1 ]
ok $? "IKE_SA_INIT with the flags flipped: $fa requests sent back to alice as answers, $fb responses to bob as requests"
ra=$(grep -c "^reflect to=initiator\|^flip to=initiator" "$work/refl.out")
rb=$(grep -c "^reflect to=responder\|^flip to=responder" "$work/refl.out")
settled() {
    da=$(stat_of alice ike_dropped_reflected) db=$(stat_of bob ike_dropped_reflected)
    ua=$(stat_of alice ike_dropped_unknown_sa) ub=$(stat_of bob ike_dropped_unknown_sa)
    [ $((da + ua)) -ge "$ra" ] && [ $((db + ub)) -ge "$rb" ]
}
until_ok 10 settled
ok $? "every message sent back was dropped: alice $da of $ra as reflected ($ua for a gone IKE SA), bob $db of $rb ($ub)"
[ "$da" -ge $((ra - 2)) ] && [ "$db" -ge $((rb - 2)) ]
ok $? "nearly all of them for what they are: reflected"
grep -q "dropped an IKE .*reflected" "$work/alice.log" && grep -q "dropped an IKE .*reflected" "$work/bob.log"
ok $? "the drops are logged"
until_ok 10 active alice && until_ok 10 active bob
ok $? "the policy has an active child SA on both sides"
# Each side sends on an SA the other accepts for the policy.
pol() { ZESP_SAD="$work/$1.sad" "$zesp" policy list | awk '$1 == "orders"'; }
crossed() {
    ao=$(pol alice | awk '{ print $3 }') bo=$(pol bob | awk '{ print $3 }')
    [ "$ao" != 0x00000000 ] && [ "$bo" != 0x00000000 ] &&
        pol bob | cut -d' ' -f4- | grep -q "$ao" &&
        pol alice | cut -d' ' -f4- | grep -q "$bo"
}
until_ok 10 crossed
ok $? "each side's outbound SA for the policy is one the other accepts"
"$pp" --timeout-ms "$(ms 20000)" --sad "$work/bob.sad" --policy orders --bind "tcp://127.0.0.1:$(port 5)" --count 30 > "$work/srv.out" 2>&1 &
srv=$!
"$pp" --timeout-ms "$(ms 20000)" --sad "$work/alice.sad" --policy orders --connect "tcp://127.0.0.1:$(port 5)" --count 30 > "$work/cli.out" 2>&1
ok $? "traffic flows on the policy: 30 messages each way"
wait $srv

# ---- the current IKE SA's messages sent back again, nothing else happening ----
# Live reflection stops first, and each message it sent back is dropped
# (counted) before the baseline: liveness checks go on meanwhile.
kill -USR2 $rpid
until_ok 10 grep -q "^quiet" "$work/refl.out"
ra=$(grep -c "^reflect to=initiator\|^flip to=initiator" "$work/refl.out")
rb=$(grep -c "^reflect to=responder\|^flip to=responder" "$work/refl.out")
until_ok 10 settled
# The group key replaced above is retired (its deactivation delay): then
# nothing but the replay can change a state.
no_old() { ! ctl alice groups | grep -q "(old)" && ! ctl bob groups | grep -q "(old)"; }
until_ok 20 no_old
snapshot() {
    # zikectl list's summary lines: its detail lines say how long ago.
    { ctl "$1" list | grep -E '^[^ ]|^  child '; ctl "$1" groups | sed 's/, [0-9]* updates//';
      ZESP_SAD="$work/$1.sad" "$zesp" policy list;
      ZESP_SAD="$work/$1.sad" "$zesp" sa list | awk '{ print $1, $2, $3, $6 }'; } 2>&1
}
snapshot alice > "$work/a.before"; snapshot bob > "$work/b.before"
da0=$(stat_of alice ike_dropped_reflected) db0=$(stat_of bob ike_dropped_reflected)
kill -USR1 $rpid
until_ok 10 grep -q "^replayed" "$work/refl.out"
pa=$(grep -c "^replay to=initiator" "$work/refl.out")
pb=$(grep -c "^replay to=responder" "$work/refl.out")
[ "$pa" -ge 3 ] && [ "$pb" -ge 3 ]
ok $? "the reflector sends back $pa messages of the current IKE SA to alice, $pb to bob"
until_ok 10 sh -c "[ \$($ctl -s ipc://$work/alice.ctl stats | awk '\$1 == \"ike_dropped_reflected\" { print \$2 }') -ge $((da0 + pa)) ]"
until_ok 10 sh -c "[ \$($ctl -s ipc://$work/bob.ctl stats | awk '\$1 == \"ike_dropped_reflected\" { print \$2 }') -ge $((db0 + pb)) ]"
da=$(stat_of alice ike_dropped_reflected) db=$(stat_of bob ike_dropped_reflected)
[ "$da" -eq $((da0 + pa)) ] && [ "$db" -eq $((db0 + pb)) ]
ok $? "each dropped exactly those as reflected: alice $((da - da0)), bob $((db - db0))"
snapshot alice > "$work/a.after"; snapshot bob > "$work/b.after"
cmp -s "$work/a.before" "$work/a.after" && cmp -s "$work/b.before" "$work/b.after"
ok $? "IKE SAs, child SAs, groups, policies and SAD unchanged on both sides"
"$pp" --timeout-ms "$(ms 20000)" --sad "$work/bob.sad" --policy orders --bind "tcp://127.0.0.1:$(port 5)" --count 30 > "$work/srv.out" 2>&1 &
srv=$!
"$pp" --timeout-ms "$(ms 20000)" --sad "$work/alice.sad" --policy orders --connect "tcp://127.0.0.1:$(port 5)" --count 30 > "$work/cli.out" 2>&1
ok $? "traffic still flows: 30 messages each way"
wait $srv

if [ "$failed" -ne 0 ]; then
    for f in "$work"/*.log "$work"/refl.*; do echo "== $f"; tail -n 15 "$f"; done
    diff "$work/a.before" "$work/a.after"; diff "$work/b.before" "$work/b.after"
fi
finish
