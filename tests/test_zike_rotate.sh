#!/bin/sh
# A credential rotated and reloaded stops working at once, with real zike
# daemons over tcp on 127.0.0.1.  alice initiates to bob (policy orders);
# alice's pre-shared key is in a file, bob's in his configuration.
#   1. another peer added to bob: the IKE SA and its child SAs are kept,
#      SPIs identical, and traffic flows on them;
#   2. the key changed on both sides, both reloaded: the old IKE SA and
#      its child SAs are gone from both SADs and a new IKE SA under the
#      new key carries traffic;
#   3. the key changed on bob's side only: bob deletes the IKE SA, alice
#      removes her SAs (she got the DELETE), and her new attempt with the
#      key bob no longer has fails: no SA anywhere;
#   4. the identity bob expects of alice changed: the same, the refusal
#      being the unknown identity;
#   5. alice removed from bob's configuration: the same, both sides;
#   6. a group member whose public key changed on the key server is
#      dropped from the group and gets no group key after the reload;
#   7. the key server's public key changed on a member: the member's
#      group SAs leave its SAD at the reload, and it gets none from the
#      server it no longer trusts;
#   8. the group moved to another key server in a member's configuration:
#      the old server's group SA goes and the member joins through the new;
#   9. a policy taken from a peer's list (its credential unchanged): that
#      policy's child SA leaves both SADs, the IKE SA stays.
b=$(cd "${builddir:-.}" && pwd)
zike="$b/ike/zike" ctl="$b/tools/zikectl" zesp="$b/tools/zesp"
pp="$b/examples/policy_pingpong"
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
work_begin rotate 11
pt=$(ms 20000)    # policy_pingpong's bound on each wait for a message

# conf NAME ID PORT [lines...]
conf() {
    n=$1 id=$2 p=$3
    shift 3
    {
        echo "identity: { id: $id$( [ -f "$work/$n.key" ] && echo ", key: $n.key" ) }"
        echo "listen: tcp://127.0.0.1:$p"
        echo "control: ipc://$work/$n.ctl"
        echo "sad: $work/$n.sad"
        echo "retransmit: { timeout-ms: $(ms 250), tries: 4 }"
        for l in "$@"; do echo "$l"; done
    } > "$work/$n.yaml"
}
ctl() { n=$1; shift; "$ctl" -s "ipc://$work/$n.ctl" "$@"; }
# ike_spis NAME PEER: the SPIs of NAME's established IKE SA with PEER.
ike_spis() { ctl "$1" list 2> /dev/null | awk -v p="$2" '$1 == p && $2 == "established" { print $4 }'; }
# sad_spis NAME: every SPI in NAME's SAD, one a line, sorted.
sad_spis() { ZESP_SAD="$work/$1.sad" "$zesp" sa list 2> /dev/null | awk '/^0x/ { print $1 }' | sort; }
sending() { q=$(out_spi "$work/$1.sad" "$2"); [ -n "$q" ] && [ "$q" != 0x00000000 ]; }
# in_sad NAME SPI: NAME's SAD holds an SA of SPI.
in_sad() { [ -n "$2" ] && sad_spis "$1" | grep -qx "$2"; }
no_sas() { [ -z "$(sad_spis "$1")" ]; }
# up NAME PEER POLICY: an established IKE SA and an SA the policy sends on.
up() { [ -n "$(ike_spis "$1" "$2")" ] && sending "$1" "$3"; }
# renewed NAME PEER POLICY OLD-IKE-SPIS: up, under other IKE SPIs.
renewed() { s=$(ike_spis "$1" "$2"); [ -n "$s" ] && [ "$s" != "$4" ] && sending "$1" "$3"; }
# none_of OLD-LIST NAME: no SPI of the list is in NAME's SAD.
none_of() { [ -z "$(sad_spis "$2" | grep -Fx -f "$1")" ]; }
# count NAME PATTERN: lines of NAME's log that match.
count() { c=$(grep -c "$2" "$work/$1.log" 2> /dev/null); echo "${c:-0}"; }
more_than() { [ "$(count "$1" "$2")" -gt "$3" ]; }

printf '%s' "first-key-0123456789" > "$work/alice.psk"
alice_conf() {   # alice_conf: alice's configuration, her key in a file
    conf alice alice.example "$(port 0)" "peers:" \
        "  - { name: bob, id: bob.example, endpoint: \"tcp://127.0.0.1:$(port 1)\", auth: psk, psk: \"file:$work/alice.psk\", start: true, policies: [orders] }"
}
bob_conf() {     # bob_conf PSK [ALICE-ID] [extra peer lines...]
    k=$1 aid=${2:-alice.example}
    shift; [ $# -gt 0 ] && shift
    conf bob bob.example "$(port 1)" "peers:" \
        "  - { name: alice, id: $aid, auth: psk, psk: $k, policies: [orders] }" "$@"
}
alice_conf
bob_conf first-key-0123456789
zike_start bob; zike_start alice
until_ok 30 up alice bob orders && until_ok 30 up bob alice orders
ok $? "alice and bob: IKE SA established, child SAs for orders"

# ---- 1. an unrelated change keeps everything --------------------------------------
ike0=$(ike_spis alice bob)
sad_spis alice > "$work/a0"; sad_spis bob > "$work/b0"
bob_conf first-key-0123456789 alice.example \
    "  - { name: carol, id: carol.example, auth: psk, psk: another-key-4567890123, policies: [audit] }"
ctl bob reload > /dev/null
ok $? "bob reloads with carol added"
grep -q "configuration reloaded: 2 peers" "$work/bob.log" &&
    [ "$(count bob "IKE SA deleted")" -eq 0 ]
ok $? "bob deleted nothing on that reload"
orders_traffic same "$(port 2)"
ok $? "20 messages each way on the SAs of before"
[ "$(ike_spis alice bob)" = "$ike0" ] && [ "$(ike_spis bob alice)" = "$ike0" ] &&
    sad_spis alice | cmp -s - "$work/a0" && sad_spis bob | cmp -s - "$work/b0" &&
    [ "$(count alice "deleted the IKE SA")" -eq 0 ]
ok $? "IKE SPIs ($ike0) and child SPIs ($(tr '\n' ' ' < "$work/a0")) unchanged on both"

# bob_revoked WHY: bob's reload deleted alice's IKE SA for WHY, his SAs
# gone as it returned, and alice's once his DELETE reached her.
bob_revoked() {
    grep -q "peer alice: $1: IKE SA deleted" "$work/bob.log" &&
        no_sas bob && [ -z "$(ike_spis bob alice)" ]
    ok $? "$1: bob's reload deleted the IKE SA, his child SAs gone at once"
    until_ok 30 no_sas alice
    ok $? "$1: alice's SAs gone too, by bob's DELETE"
}

# ---- 2. the key changed on both sides ---------------------------------------------
printf '%s' "second-key-abcdefghij" > "$work/alice.psk"
bob_conf second-key-abcdefghij
ctl alice reload > /dev/null && ctl bob reload > /dev/null
ok $? "both reload with the new key"
grep -q "peer bob: its pre-shared key changed: IKE SA deleted" "$work/alice.log" &&
    ! grep -q "second-key\|first-key" "$work/alice.log" "$work/bob.log"
ok $? "alice says why she deleted the IKE SA, and no key is logged"
until_ok 30 renewed alice bob orders "$ike0" && until_ok 30 renewed bob alice orders "$ike0"
ok $? "a new IKE SA ($(ike_spis alice bob)) under the new key, child SAs for orders"
none_of "$work/a0" alice && none_of "$work/b0" bob &&
    none_of "$work/a0" bob && none_of "$work/b0" alice
ok $? "none of the old child SPIs is left in either SAD"
orders_traffic new "$(port 3)"
ok $? "20 messages each way on the new SAs"

# ---- 3. the key changed on bob's side only -------------------------------------------
fails=$(count bob "authentication failed")
bob_conf third-key-klmnopqrst
ctl bob reload > /dev/null
bob_revoked "its pre-shared key changed"
until_ok 30 more_than bob "peer alice: authentication failed (wrong pre-shared key)" "$fails"
ok $? "alice tries again with the old key: bob refuses it"
[ -z "$(ike_spis alice bob)" ] && [ -z "$(ike_spis bob alice)" ] &&
    no_sas alice && no_sas bob
ok $? "no IKE SA and no child SA on either side"

# ---- 4. the identity bob expects of alice changed ------------------------------------
bob_conf third-key-klmnopqrst
printf '%s' "third-key-klmnopqrst" > "$work/alice.psk"
ctl alice reload > /dev/null
ctl alice initiate bob > /dev/null     # not after the failures' backoff
until_ok 30 up alice bob orders && until_ok 30 up bob alice orders
ok $? "the same key on both again: established"
unknown=$(count bob "unknown peer identity 'alice.example'")
bob_conf third-key-klmnopqrst alice-new.example
ctl bob reload > /dev/null
bob_revoked "its identity changed"
until_ok 30 more_than bob "unknown peer identity 'alice.example'" "$unknown"
[ $? -eq 0 ] && [ -z "$(ike_spis bob alice)" ] && no_sas bob
ok $? "alice's new attempt under her old identity is refused"

# ---- 5. alice removed from bob's configuration ---------------------------------------
bob_conf third-key-klmnopqrst
ctl bob reload > /dev/null
ctl alice initiate bob > /dev/null
until_ok 30 up alice bob orders && until_ok 30 up bob alice orders
ok $? "alice's identity back as bob expects it: established"
conf bob bob.example "$(port 1)" "peers:" \
    "  - { name: carol, id: carol.example, auth: psk, psk: another-key-4567890123, policies: [audit] }"
ctl bob reload > /dev/null
bob_revoked "removed from the configuration"

# ---- 6. a group member's public key changed on the key server -------------------
# gcks serves the group news to m1 and m2.  m2's public key is replaced in
# gcks's configuration (m2 still holds the old secret key): m2 is no
# longer a member, the group gets a new key, and m2 never receives it.
(cd "$work" && for n in gcks m1 m2 m2new; do "$zesp" keygen --identity "$n" > /dev/null; done)
gcks_conf() {    # gcks_conf M2-KEY
    conf gcks gcks.example "$(port 5)" "peers:" \
        "  - { name: m1, id: m1.example, auth: ed25519, pubkey: \"$(cat "$work/m1.pub")\" }" \
        "  - { name: m2, id: m2.example, auth: ed25519, pubkey: \"$(cat "$work/$1.pub")\" }" \
        "groups:" \
        "  - { name: news, senders: [m1.example], receivers: [m1.example, m2.example] }"
}
gcks_conf m2
for n in m1 m2; do
    conf "$n" "$n.example" "$(port $([ $n = m1 ] && echo 6 || echo 7))" "peers:" \
        "  - { name: gcks, id: gcks.example, endpoint: \"tcp://127.0.0.1:$(port 5)\", auth: ed25519, pubkey: \"$(cat "$work/gcks.pub")\" }" \
        "join:" "  - { group: news, server: gcks, role: $([ $n = m1 ] && echo sender || echo receiver) }"
done
zike_start gcks; zike_start m1; zike_start m2
holding() { ctl gcks groups 2> /dev/null | grep -q "serves news: SA 0x[0-9a-f]*, $1 members, $1 hold it"; }
group_spi() { ctl gcks groups | sed -n 's/^serves news: SA \(0x[0-9a-f]*\),.*/\1/p'; }
until_ok 30 holding 2
ok $? "m1 and m2 registered with the key server and hold the group SA"
spi0=$(group_spi)
fails=$(count gcks "peer m2: authentication failed")
gcks_conf m2new
ctl gcks reload > /dev/null
grep -q "peer m2: its public key changed: IKE SA deleted" "$work/gcks.log"
ok $? "the key server deletes m2's IKE SA: its public key changed"
until_ok 30 holding 1 && [ "$(group_spi)" != "$spi0" ]
ok $? "the group has a new key ($(group_spi), was $spi0) held by m1 alone"
until_ok 30 more_than gcks "peer m2: authentication failed" "$fails"
ok $? "m2 comes back with its old key: refused"
spi1=$(group_spi)
until_ok 30 sh -c "ZESP_SAD='$work/m1.sad' '$zesp' sa list | grep -q '^$spi1 '"
[ $? -eq 0 ] && ! sad_spis m2 | grep -qx "$spi1" && holding 1
ok $? "m1 installed the new group SA $spi1, m2 did not"

# ---- 7. the key server's public key changed on a member -------------------------
# m1 is told that gcks now has m2new's key (gcks still holds its own): the
# group SA gcks handed out is removed at once, and m1's new attempts fail.
refused=$(count m1 "peer gcks: authentication of the responder")
conf m1 m1.example "$(port 6)" "peers:" \
    "  - { name: gcks, id: gcks.example, endpoint: \"tcp://127.0.0.1:$(port 5)\", auth: ed25519, pubkey: \"$(cat "$work/m2new.pub")\" }" \
    "join:" "  - { group: news, server: gcks, role: sender }"
ctl m1 reload > /dev/null
grep -q "peer gcks: its public key changed: IKE SA deleted" "$work/m1.log" &&
    grep -q "group news: key server gcks revoked: its group SAs removed" "$work/m1.log"
ok $? "m1 deletes its IKE SA with gcks and drops the group's SAs: gcks's key changed"
! sad_spis m1 | grep -qx "$spi1"
ok $? "the group SA $spi1 left m1's SAD when the reload returned"
until_ok 30 more_than m1 "peer gcks: authentication of the responder" "$refused"
ok $? "m1 tries gcks again and refuses its old key"
[ -z "$(sad_spis m1)" ]
ok $? "m1's SAD holds no SA: nothing from the untrusted key server ($(sad_spis m1 | tr '\n' ' '))"

# ---- 8. the group moved to another key server ------------------------------------
# m1 trusts gcks again and rejoins; then its configuration names gcks2 as
# news's key server (gcks still a peer, nothing revoked).
m1_conf() {      # m1_conf SERVER: m1 with both key servers, joined through SERVER
    conf m1 m1.example "$(port 6)" "peers:" \
        "  - { name: gcks, id: gcks.example, endpoint: \"tcp://127.0.0.1:$(port 5)\", auth: ed25519, pubkey: \"$(cat "$work/gcks.pub")\" }" \
        "  - { name: gcks2, id: gcks2.example, endpoint: \"tcp://127.0.0.1:$(port 8)\", auth: ed25519, pubkey: \"$(cat "$work/gcks2.pub")\" }" \
        "join:" "  - { group: news, server: $1, role: sender }"
}
(cd "$work" && "$zesp" keygen --identity gcks2 > /dev/null)
conf gcks2 gcks2.example "$(port 8)" "peers:" \
    "  - { name: m1, id: m1.example, auth: ed25519, pubkey: \"$(cat "$work/m1.pub")\" }" \
    "groups:" "  - { name: news, senders: [m1.example], receivers: [m1.example] }"
zike_start gcks2
m1_conf gcks
ctl m1 reload > /dev/null
until_ok 30 holding 1
ok $? "m1 trusts gcks again and holds its group SA"
spi_a=$(group_spi)
until_ok 30 in_sad m1 "$spi_a"
ok $? "m1 installed gcks's group SA $spi_a"
m1_conf gcks2
ctl m1 reload > /dev/null
! sad_spis m1 | grep -qx "$spi_a"
ok $? "m1 removed gcks's group SA when news moved to gcks2"
spi_b() { ctl gcks2 groups 2> /dev/null | sed -n 's/^serves news: SA \(0x[0-9a-f]*\), 1 members, 1 hold it.*/\1/p'; }
m1_holds_gcks2() { in_sad m1 "$(spi_b)"; }
until_ok 30 m1_holds_gcks2
ok $? "m1 registered with gcks2 and installed its group SA $(spi_b)"
until_ok 30 holding 0
ok $? "m1 left gcks when news moved: gcks counts no member"

# ---- 8b. the join removed ---------------------------------------------------------
# m1's reload takes news out of join: its group SA and the news policy
# leave its SAD, and gcks2 is told: m1 is no member, and the key it held
# is replaced.
spi_c=$(spi_b)
conf m1 m1.example "$(port 6)" "peers:" \
    "  - { name: gcks2, id: gcks2.example, endpoint: \"tcp://127.0.0.1:$(port 8)\", auth: ed25519, pubkey: \"$(cat "$work/gcks2.pub")\" }"
ctl m1 reload > /dev/null
! in_sad m1 "$spi_c" && ! ZESP_SAD="$work/m1.sad" "$zesp" policy list | grep -q "^news "
ok $? "m1 removed the group SA $spi_c and the news policy when news left its join"
gcks2_alone() { ctl gcks2 groups 2> /dev/null | grep -q "serves news: SA 0x[0-9a-f]*, 0 members" && [ "$(ctl gcks2 groups | sed -n 's/^serves news: SA \(0x[0-9a-f]*\),.*/\1/p')" != "$spi_c" ]; }
until_ok 30 gcks2_alone
ok $? "gcks2 no longer counts m1 a member and made a new key"

# ---- 9. a policy no longer allowed for a peer --------------------------------------
# carol starts an IKE SA to dave with a child SA for audit; dave's reload
# takes audit from carol's policies (same key, same identity).
conf carol carol.example "$(port 9)" "peers:" \
    "  - { name: dave, id: dave.example, endpoint: \"tcp://127.0.0.1:$(port 10)\", auth: psk, psk: \"file:$work/alice.psk\", start: true, policies: [audit] }"
dave_conf() {    # dave_conf POLICIES: dave lets carol have them
    conf dave dave.example "$(port 10)" "peers:" \
        "  - { name: carol, id: carol.example, auth: psk, psk: \"file:$work/alice.psk\", policies: [$1] }"
}
dave_conf "orders, audit"
zike_start dave; zike_start carol
until_ok 30 up carol dave audit && until_ok 30 sending dave audit
ok $? "carol and dave: an IKE SA and a child SA for audit"
ike0=$(ike_spis carol dave)
sad_spis dave > "$work/audit.spis"
dave_conf orders
ctl dave reload > /dev/null
grep -q "peer carol: policy audit no longer allowed: child SA" "$work/dave.log" &&
    [ -s "$work/audit.spis" ] && none_of "$work/audit.spis" dave
ok $? "dave's audit SAs left his SAD when the reload returned"
until_ok 30 none_of "$work/audit.spis" carol && ! sending carol audit
ok $? "carol removed hers at dave's DELETE"
[ "$(ike_spis carol dave)" = "$ike0" ] && [ -n "$ike0" ]
ok $? "the IKE SA stays: carol's credential did not change"

if [ "$failed" -ne 0 ]; then
    for f in "$work"/*.log; do echo "== $f"; tail -n 15 "$f"; done
fi
finish
