#!/bin/sh
# A reload that changes a peer's child SA proposal (its `esp` transform,
# its `lifetime`) while child SAs carry traffic, with real zike daemons
# over tcp on 127.0.0.1.  alice initiates to bob (policy orders), both
# first with integrity-only child SAs (esp: null-chacha20-poly1305):
#   1. both reload with esp: chacha20-poly1305 and alice asks for a rekey
#      (the way a changed esp applied before); 2. both reload with
#      null-chacha20-poly1305 again; 3. and with chacha20-poly1305 again,
#      no rekey asked: each time the policy soon sends with the new
#      transform at both ends, no SA of the other kind is left in either
#      SAD, traffic flows, none lost, and the IKE SA is kept;
#   4. both reload with a lifetime of 20 minutes (it was an hour): the
#      policy soon sends on an SA that ends within 20 minutes at both ends;
#   5. back to integrity only on both sides, then bob alone reloads with
#      chacha20-poly1305: alice refuses his rekey, the integrity-only SAs
#      are kept and carry traffic, nothing lost; alice's reload then
#      rekeys them to chacha20-poly1305;
#   6. both reload with esn: false and lanes: false, then back to both
#      true (the defaults): each time the policy soon sends on an SA with
#      the new ESN and lanes at both ends, none of the old kind is left,
#      and traffic flows.  Before, the child SAs kept the ESN and lanes
#      they were made with until their own rekey;
#   7. where this CPU runs AES-GCM (the IKE SA negotiated it then), both
#      reload with ike: chacha20-poly1305, then with ike: aes256gcm: each
#      time the IKE SA is rekeyed (new SPIs, the same at both ends) and
#      traffic flows.  Before, the IKE SA kept its AEAD through every
#      rekey, for as long as it lived;
#   8. bob frozen while alice's rekey waits for his answer, alice reloads
#      with esn: false: bob's answer (ESN, as she asked) is not taken,
#      bob is told to delete the child SA it made, and a child SA without
#      ESN carries the traffic at both ends.  Before, bob sent on a child
#      SA alice did not have.
# Before, the child SAs the old file made were kept until their own
# rekey, up to an hour later: the reload said nothing, and traffic went
# on unencrypted that the new file wants encrypted; and when a rekey did
# change the kind of SA (integrity only, encrypting), the new SAs were
# never listed in the policy beside the old ones, and every message under
# them was refused until the next rekey.
b=$(cd "${builddir:-.}" && pwd)
zike="$b/ike/zike" ctl="$b/tools/zikectl" zesp="$b/tools/zesp"
pp="$b/examples/policy_pingpong"
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
work_begin reload-esp 13
pt=$(ms 20000)    # policy_pingpong's bound on each wait for a message

# conf NAME PORT [lines...]: zike_conf with this test's retransmissions
# and overlap.
conf() {
    n=$1 p=$2
    shift 2
    zike_conf "$n" "$p" "retransmit: { timeout-ms: $(ms 250), tries: 4 }" \
        "rekey-overlap: 500" "$@"
}
ctl() { n=$1; shift; "$ctl" -s "ipc://$work/$n.ctl" "$@"; }
ike_spis() { ctl "$1" list 2> /dev/null | awk -v p="$2" '$1 == p && $2 == "established" { print $4 }'; }
sas() { ZESP_SAD="$work/$1.sad" "$zesp" sa list 2> /dev/null | awk '/^0x/'; }
# out_transform NAME POLICY: the transform of the SA the policy sends on.
out_transform() {
    s=$(out_spi "$work/$1.sad" "$2")
    sas "$1" | awk -v s="$s" '$1 == s && $2 == "out" { print $3 }'
}
# sends_with NAME POLICY TRANSFORM
sends_with() { [ "$(out_transform "$1" "$2")" = "$3" ]; }
# no_sa_with NAME TRANSFORM: no SA of NAME's SAD has that transform.
no_sa_with() { ! sas "$1" | awk '{ print $3 }' | grep -qx "$2"; }
# sends_within NAME POLICY SECONDS: the policy sends on an SA whose hard
# lifetime is at most SECONDS.
sends_within() {
    s=$(out_spi "$work/$1.sad" "$2")
    [ -n "$s" ] && [ "$s" != 0x00000000 ] || return 1
    h=$(ctl "$1" --json list 2> /dev/null | tr '{' '\n' |
        awk -v s="\"spi_out\":\"$s\"" 'index($0, s) { f = 1; next }
            f && /"seconds":/ { sub(/.*"seconds":/, ""); sub(/[,}].*/, ""); print; exit }')
    [ -n "$h" ] && [ "$h" -gt 0 ] && [ "$h" -le "$3" ]
}

# both ESP [LIFETIME [MORE]]: alice's and bob's configurations, MORE
# (", key: value...") added to each one's peer.
both() {
    life=${2:+, lifetime: { seconds: $2 \}}${3:-}
    conf alice "$(port 0)" "peers:" \
        "  - { name: bob, id: bob.example, endpoint: \"tcp://127.0.0.1:$(port 1)\", auth: psk, psk: shared-key-0123456789, start: true, esp: $1$life, policies: [orders] }"
    conf bob "$(port 1)" "peers:" \
        "  - { name: alice, id: alice.example, auth: psk, psk: shared-key-0123456789, esp: $1$life, policies: [orders] }"
}
both null-chacha20-poly1305
zike_start bob; bob_pid=$!; zike_start alice
until_ok 30 sends_with alice orders null-chacha20-poly1305 &&
    until_ok 30 sends_with bob orders null-chacha20-poly1305
ok $? "alice and bob: integrity-only child SAs for orders"
orders_traffic before "$(port 2)"
ok $? "20 messages each way on them"
ike0=$(ike_spis alice bob)

# kind PART ESP OTHER [rekey]: both reload with ESP (and alice asks for a
# rekey): orders sends with ESP at both ends, no SA of OTHER is left, and
# traffic flows on the new SAs.
kind() {
    both "$2"
    ctl bob reload > /dev/null && ctl alice reload > /dev/null &&
        { [ -z "${4:-}" ] || ctl alice rekey bob > /dev/null; }
    ok $? "$1: both reload with esp: $2${4:+, alice rekeys}"
    until_ok 30 sends_with alice orders "$2" &&
        until_ok 30 sends_with bob orders "$2"
    ok $? "$1: orders sends with $2 at both ends"
    until_ok 30 no_sa_with alice "$3" && until_ok 30 no_sa_with bob "$3"
    ok $? "$1: no $3 SA left in either SAD"
    orders_traffic "$1" "$(port "$5")"
    ok $? "$1: 20 messages each way on the new SAs"
}
kind encrypting chacha20-poly1305 null-chacha20-poly1305 rekey 3
kind integrity null-chacha20-poly1305 chacha20-poly1305 "" 4
kind encrypting-again chacha20-poly1305 null-chacha20-poly1305 "" 5
[ "$(ike_spis alice bob)" = "$ike0" ] && [ "$(ike_spis bob alice)" = "$ike0" ]
ok $? "the IKE SA ($ike0) is kept through it all"

# ---- lifetime shortened, both sides ------------------------------------------
both chacha20-poly1305 20m
ctl bob reload > /dev/null && ctl alice reload > /dev/null
ok $? "both reload with lifetime: 20m"
until_ok 30 sends_within alice orders 1200 &&
    until_ok 30 sends_within bob orders 1200
ok $? "orders sends on an SA that ends within 20 minutes at both ends"
orders_traffic shorter "$(port 6)"
ok $? "20 messages each way"

# ---- esp changed on one side, then on the other ----------------------------------
kind integrity-again null-chacha20-poly1305 chacha20-poly1305 "" 7
refused=$(grep -c "CREATE_CHILD_SA for orders failed" "$work/bob.log")
both chacha20-poly1305 20m       # alice's file too, but only bob reloads
ctl bob reload > /dev/null
ok $? "only bob reloads with esp: chacha20-poly1305"
until_ok 30 sh -c "[ \$(grep -c 'CREATE_CHILD_SA for orders failed' '$work/bob.log') -gt $refused ]"
ok $? "alice, still integrity only, refuses bob's rekey"
sends_with alice orders null-chacha20-poly1305 &&
    sends_with bob orders null-chacha20-poly1305
ok $? "the integrity-only SAs are kept meanwhile"
orders_traffic meanwhile "$(port 8)"
ok $? "20 messages each way on them: nothing lost"
ctl alice reload > /dev/null
ok $? "alice reloads too"
until_ok 30 sends_with alice orders chacha20-poly1305 &&
    until_ok 30 sends_with bob orders chacha20-poly1305 &&
    until_ok 30 no_sa_with alice null-chacha20-poly1305 &&
    until_ok 30 no_sa_with bob null-chacha20-poly1305
ok $? "her reload rekeys them: chacha20-poly1305 at both ends, nothing else left"
orders_traffic rolled "$(port 9)"
ok $? "20 messages each way on the new SAs"

# ---- esn and lanes changed, both sides ------------------------------------------
# out_flags NAME POLICY: the ESN and SENDER columns ("yes lanes", "no -")
# of the SA the policy sends on.
out_flags() {
    s=$(out_spi "$work/$1.sad" "$2")
    sas "$1" | awk -v s="$s" '$1 == s && $2 == "out" { print $4, $5 }'
}
sends_flagged() { [ "$(out_flags "$1" "$2")" = "$3" ]; }
# only_flagged NAME FLAGS: every SA of NAME's SAD has them.
only_flagged() { [ -z "$(sas "$1" | awk -v f="$2" '$4 " " $5 != f')" ]; }
flags() {       # flags PART MORE FLAGS PORT
    both chacha20-poly1305 20m "$2"
    ctl bob reload > /dev/null && ctl alice reload > /dev/null
    with=${2#, }
    ok $? "$1: both reload with ${with:-esn and lanes by default}"
    until_ok 30 sends_flagged alice orders "$3" &&
        until_ok 30 sends_flagged bob orders "$3"
    ok $? "$1: orders sends on an SA with ESN and sender '$3' at both ends"
    until_ok 30 only_flagged alice "$3" && until_ok 30 only_flagged bob "$3"
    ok $? "$1: no SA of the old ESN or lanes left in either SAD"
    orders_traffic "$1" "$(port "$4")"
    ok $? "$1: 20 messages each way on the new SAs"
}
sends_flagged alice orders "yes lanes" && sends_flagged bob orders "yes lanes"
ok $? "orders sends on SAs with ESN and lanes (the defaults)"
flags no-esn-lanes ", esn: false, lanes: false" "no -" 10
flags esn-lanes-again "" "yes lanes" 11

# ---- the IKE SA's AEAD changed, both sides ----------------------------------------
# ike_rekeyed WAS: alice and bob hold one IKE SA, and not WAS.
ike_rekeyed() {
    n=$(ike_spis alice bob)
    [ -n "$n" ] && [ "$n" != "$1" ] && [ "$(ike_spis bob alice)" = "$n" ]
}
ike_aead() {    # ike_aead PART AEAD PORT
    was=$(ike_spis alice bob)
    both chacha20-poly1305 20m ", ike: $2"
    ctl bob reload > /dev/null && ctl alice reload > /dev/null
    ok $? "$1: both reload with ike: $2"
    until_ok 30 ike_rekeyed "$was"
    ok $? "$1: the IKE SA is rekeyed, the same new one at both ends"
    orders_traffic "$1" "$(port "$3")"
    ok $? "$1: 20 messages each way"
}
ike=""
if grep -qw aes /proc/cpuinfo && grep -qw pclmulqdq /proc/cpuinfo; then
    ike_aead ike-chacha chacha20-poly1305 12
    ike_aead ike-aes aes256gcm 13
    ike=", ike: aes256gcm"
else
    echo "# no AES-GCM on this CPU: the IKE SA's AEAD part skipped"
    skipped=$((skipped + 6))
fi

# ---- an answer that a reload made unfit ------------------------------------------
# bob is frozen (SIGSTOP) while alice's rekey request waits for him; she
# reloads with esn: false, then bob answers what she asked before (ESN).
# She takes nothing of it and deletes bob's half, then asks for a child
# SA without ESN, which bob, whose file did not change, grants.
log_after() { tail -n "+$(($2 + 1))" "$work/$1.log"; }
seen_after() { log_after "$1" "$2" | grep -q "$3"; }
# one_child NAME: NAME's SAD holds one child SA's two SAs: no retired
# child's DELETE is on its way (a request of alice's in flight to a bob
# frozen would hold her rekey back).
one_child() { [ "$(sas "$1" | wc -l)" -eq 2 ]; }
until_ok 30 one_child alice && until_ok 30 one_child bob
ok $? "held: one child SA at each end, nothing on its way"
amark=$(wc -l < "$work/alice.log") bmark=$(wc -l < "$work/bob.log")
kill -STOP "$bob_pid"
ctl alice rekey bob > /dev/null &&
    until_ok 30 seen_after alice "$amark" "rekeying child SA for policy orders"
rc=$?
both chacha20-poly1305 20m ", esn: false$ike"   # bob's file: not reloaded
ctl alice reload > /dev/null && [ $rc -eq 0 ]
rc=$?
kill -CONT "$bob_pid"
ok $rc "held: alice reloads with esn: false while her rekey waits for bob"
until_ok 30 seen_after alice "$amark" "DELETE of its half of child SA"
ok $? "held: alice takes nothing of bob's answer and deletes his half"
made=$(log_after bob "$bmark" |
    sed -n 's/.*child SA \(0x[0-9a-f]*\/0x[0-9a-f]*\) for policy orders installed (rekey).*/\1/p' |
    head -n 1)
[ -n "$made" ] && until_ok 30 seen_after bob "$bmark" "child SA $made (orders) removed"
ok $? "held: bob removes the child SA his answer made (${made:-none seen})"
until_ok 30 sends_flagged alice orders "no lanes" &&
    until_ok 30 sends_flagged bob orders "no lanes"
ok $? "held: a new child SA without ESN carries orders at both ends"
until_ok 30 only_flagged alice "no lanes" && until_ok 30 only_flagged bob "no lanes"
ok $? "held: no SA with ESN left in either SAD"
orders_traffic held "$(port 14)"
ok $? "held: 20 messages each way on the new SAs"

finish
