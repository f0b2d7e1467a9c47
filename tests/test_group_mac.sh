#!/bin/sh
# A group with source MACs run by zike end to end (doc/zike.md 9.6).
# Five hosts, each a network namespace with its own zike and SAD (all on
# 127.0.0.1 where namespaces are not available):
#   h1  the key server of "prices" (source-auth: mac) and an XSUB/XPUB
#       proxy that holds no key
#   h2  a sender
#   h3  a sender that also receives (its member ID is its Sender ID)
#   h4  a receiver (member ID 101)
#   h5  a receiver added to the group later by a reload (member ID 102)
# Checked: bad receivers lists are refused with the reason; members derive
# their pairwise keys from their join's sign-key and install source-MAC
# SAs; h2's messages reach h3 and h4 through the proxy and are accepted;
# h3, which holds the group key, passes off messages as h2's with the best
# MAC it can make and h4 refuses every one for its MAC while accepting
# h2's own; a reload that adds h5 makes a new group SA, so that the senders
# tag for h5 too and h5 reads what follows.
b=$(cd "${builddir:-.}" && pwd)
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
[ -x "$b/tests/group_peer" ] || skip_all "tests/group_peer not built"
hosts_begin gmac 5
zesp="$b/tools/zesp" zikectl="$b/tools/zikectl" gp="$b/tests/group_peer"
. "$(cd "${srcdir:-.}" && pwd)/tests/group_hosts.sh"

# hN: IKE identities; sN: the members' identity keys for source MACs
(cd "$work" && for n in 1 2 3 4 5; do
    "$zesp" keygen --identity "h$n" > /dev/null && "$zesp" keygen --identity "s$n" > /dev/null
done)
h1=$(ip_of 1)
gcks_conf() {   # then the receivers' lines
    cat <<EOT
identity: { id: h1.example, key: $work/h1.key }
listen: tcp://$h1:5810
control: ipc://$work/h1.ctl
sad: $work/h1.sad
retransmit: { timeout-ms: $(ms 250), tries: 3 }
peers:
EOT
    for n in 2 3 4 5; do
        echo "  - { name: h$n, id: h$n.example, auth: ed25519, pubkey: \"$(pub h$n)\", dpd: 1s }"
    done
    cat <<EOT
groups:
  - name: prices
    source-auth: mac
    activation-delay: 1s
    deactivation-delay: 3s
    senders:
      - { id: h2.example, sign-pubkey: "${s2_pub:-$(pub s2)}" }
      - { id: h3.example, sign-pubkey: "${s3_pub:-$(pub s3)}" }
    receivers:
EOT
    for r in "$@"; do echo "      - $r"; done
}
r3="h3.example" r4="{ id: h4.example, member-id: 101, sign-pubkey: \"$(pub s4)\" }"
r5="{ id: h5.example, member-id: 102, sign-pubkey: \"$(pub s5)\" }"
gcks_conf "$r3" "$r4" > "$work/h1.yaml"
for n in 2 3 4 5; do
    case $n in 2) role=sender ;; 3) role=both ;; *) role=receiver ;; esac
    cat > "$work/h$n.yaml" <<EOT
identity: { id: h$n.example, key: $work/h$n.key }
listen: tcp://$(ip_of "$n"):58${n}0
control: ipc://$work/h$n.ctl
sad: $work/h$n.sad
retransmit: { timeout-ms: $(ms 250), tries: 3 }
peers:
  - { name: gcks, id: h1.example, endpoint: "tcp://$h1:5810", auth: ed25519, pubkey: "$(pub h1)", dpd: 1s }
join:
  - { group: prices, server: gcks, role: $role, sign-key: $work/s$n.key }
EOT
done
bad=0
for n in 1 2 3 4 5; do
    "$b/ike/zike" --check -c "$work/h$n.yaml" > /dev/null 2>> "$work/check.log" || bad=1
done
ok $bad "the five configurations check (source-auth: mac)"

# refused NAME MESSAGE RECEIVER...: the key server's file with these
# receivers is refused, saying MESSAGE
refused() {
    name=$1 msg=$2
    shift 2
    gcks_conf "$@" > "$work/bad.yaml"
    "$b/ike/zike" --check -c "$work/bad.yaml" > "$work/bad.out" 2>&1
    rc=$?
    [ $rc -eq 3 ] && grep -q -- "$msg" "$work/bad.out"
    st=$?
    [ $st -eq 0 ] || { echo "# exit $rc:"; sed 's/^/# /' "$work/bad.out"; }
    ok $st "refused: $name"
}
refused "a receiver without sign-pubkey" "receivers\[1\].sign-pubkey: missing (source-auth: mac)" \
    "$r3" "{ id: h4.example, member-id: 101 }"
refused "a receiver without member-id" "receivers\[1\].member-id: missing" \
    "$r3" "{ id: h4.example, sign-pubkey: \"$(pub s4)\" }"
refused "a member ID twice" "member ID 101 twice" \
    "$r4" "{ id: h5.example, member-id: 101, sign-pubkey: \"$(pub s5)\" }"
refused "a member ID that is a sender's Sender ID" "member-id: 2 is the Sender ID of 'h3.example'" \
    "{ id: h4.example, member-id: 2, sign-pubkey: \"$(pub s4)\" }"
refused "one key for two members" "one key, one member" \
    "$r4" "{ id: h5.example, member-id: 102, sign-pubkey: \"$(pub s4)\" }"
# A member registers over an IKE SA: an identity that is no peer's (a
# typo) was a receiver that could never join, accepted without a word.
refused "a receiver that is no peer" "receivers\[2\]: 'h4.exmaple' is no peer's id" \
    "$r3" "$r4" "{ id: h4.exmaple, member-id: 102, sign-pubkey: \"$(pub s5)\" }"
refused "33 receivers" "at most 32 with source-auth: mac" $(seq -f "r%g.example" 1 33)
# A member's key of small order (this one has order 8) leaves X25519 no
# secret: libsodium refuses it, so every member would fail to derive its
# keys and install the group SA.  The key server refuses it at load.
low='-$@GfjX:N8X&Zvz4g)d.dJ?W^eig}]prirSLb[+i'
refused "a receiver's sign-pubkey of small order" \
    "receivers\[1\].sign-pubkey: not an Ed25519 public key" \
    "$r3" "{ id: h4.example, member-id: 101, sign-pubkey: \"$low\" }"
s2_pub=$low
refused "a sender's sign-pubkey of small order" \
    "senders\[0\].sign-pubkey: not an Ed25519 public key" "$r3" "$r4"
s2_pub=
# One key, one member, senders too, and a key with its sign bit flipped is
# the same key: -A's secret is -a, so the holder of A signs for -A, and
# both have the one X25519 key, so it derives every pairwise MAC key of -A.
# Either would let one member send under two Sender IDs.
s3_pub=$(pub s2)
refused "one key for two senders" "senders\[1\].sign-pubkey: .*one key, one member" "$r4"
s3_pub=
neg() {  # Z85 Ed25519 public key: its negation (the top bit flipped)
    printf '%s' "$1" | basenc --z85 -d > "$work/k.bin"
    last=$(od -An -tu1 -j31 -N1 "$work/k.bin" | tr -d ' ')
    { head -c 31 "$work/k.bin"; printf "\\$(printf %o $((last ^ 128)))"; } | basenc --z85 -w0
}
s3_pub=$(neg "$(pub s2)")
refused "a sender's key, negated, for another sender" "one key, one member" "$r4"
s3_pub=
refused "a receiver's key, negated, for another receiver" "one key, one member" \
    "$r4" "{ id: h5.example, member-id: 102, sign-pubkey: \"$(neg "$(pub s4)")\" }"
refused "a sender's key, negated, for a receiver" "one key, one member" \
    "$r4" "{ id: h5.example, member-id: 102, sign-pubkey: \"$(neg "$(pub s2)")\" }"
gcks_conf "$r4" | sed 's/source-auth: mac/source-auth: maybe/' > "$work/bad.yaml"
"$b/ike/zike" --check -c "$work/bad.yaml" > "$work/bad.out" 2>&1
[ $? -eq 3 ] && grep -q "expected signature, mac or false, found 'maybe'" "$work/bad.out"
ok $? "refused: source-auth other than signature, mac or false"

for n in 1 2 3 4; do on $n "$b/ike/zike" -c "$work/h$n.yaml" 2>> "$work/h$n.log" & done
until_ok 60 holding 3 && until_ok 20 sending 2 && until_ok 20 sending 3
ok $? "h2, h3 and h4 registered with the key server and the senders send on its SA"
ctl 1 groups | grep -q "^serves prices: .*, source-auth mac$" &&
    ctl 1 --json groups | grep -q '"source_auth": *"mac"'
ok $? "zikectl groups shows the group's source-auth, mac (text and JSON)"
ZESP_SAD="$work/h4.sad" "$zesp" sa list > "$work/h4.sas" 2>&1
spi=$(serving)
grep -q "^$spi in .* 1,mac *h2 " "$work/h4.sas" && grep -q "^$spi in .* 2,mac *h3 " "$work/h4.sas"
ok $? "h4 holds a source-MAC window for each sender of SA $spi"
ZESP_SAD="$work/h3.sad" "$zesp" sa list > "$work/h3.sas" 2>&1
grep -q "^$spi out .* 2,mac " "$work/h3.sas" && grep -q "^$spi in .* 1,mac *h2 " "$work/h3.sas" &&
    ! grep -q "^$spi in .* 2,mac" "$work/h3.sas"
ok $? "h3 sends as Sender ID 2 and reads h2, not itself"

on 1 "$gp" proxy --xsub "tcp://$h1:6201" --xpub "tcp://$h1:6202" > "$work/proxy.out" &
sub() {  # host tag count: a subscriber of prices on host
    on $1 "$gp" sub --sad "$work/h$1.sad" --connect "tcp://$h1:6202" --topic prices \
        --tag $2 --count $3 --timeout-ms "$(ms 60000)" > "$work/sub$1.$2" 2>&1
}
publish() {  # host tag count
    on $1 "$gp" pub --sad "$work/h$1.sad" --policy prices --connect "tcp://$h1:6201" \
        --topic prices --tag $2 --count $3 --interval-us 500 --timeout-ms "$(ms 60000)" \
        > "$work/pub$1.$2" 2>&1
}

# -- a sender's messages reach both receivers, each checking its own MAC
sub 3 a 200 & s3=$!
sub 4 a 200 & s4=$!
until_ok 30 has_subscribers "$work/proxy.out" prices 2
publish 2 a 200
wait $s3 $s4
all=0
for n in 3 4; do
    grep -q "sub a: accepted 200 dup 0 other 0 rejected-nosa 0 rejected-other 0 senders 1" "$work/sub$n.a" &&
        grep -q "from h2 sender-id 1 got 200" "$work/sub$n.a" || all=1
done
ok $all "h3 and h4 accepted all 200 of h2's messages through the proxy, each proven from h2"
until_ok 30 has_subscribers "$work/proxy.out" prices 0
sub 4 b 100 & s4=$!
until_ok 30 has_subscribers "$work/proxy.out" prices 1
publish 3 b 100
wait $s4
grep -q "sub b: accepted 100 dup 0 .* rejected-other 0 senders 1" "$work/sub4.b" &&
    grep -q "from h3 sender-id 2 got 100" "$work/sub4.b"
ok $? "h4 accepted all 100 of h3's messages (a sender that also receives)"

# -- h3 holds the group key and passes off 50 messages as h2's
until_ok 30 has_subscribers "$work/proxy.out" prices 0
sub 4 f 100 & s4=$!
until_ok 30 has_subscribers "$work/proxy.out" prices 1
on 3 "$gp" forge --sad "$work/h3.sad" --policy prices --connect "tcp://$h1:6201" \
    --topic prices --tag f --count 50 --sender 1 --key "$work/s3.key" \
    --mac-id 101 --mac-pub "$(pub s4)" --timeout-ms "$(ms 60000)" > "$work/forge.f" 2>&1
ok $? "h3 sent 50 messages as Sender ID 1 (h2's) under the group key, MACs from its own key"
publish 2 f 50
wait $s4
grep -q "sub f: accepted 50 dup 0 other 0 rejected-nosa 0 rejected-other 50 senders 1" "$work/sub4.f" &&
    grep -q "sub f: rejected-source 50" "$work/sub4.f" && grep -q "from h2 sender-id 1 got 50" "$work/sub4.f"
ok $? "h4 refused all 50 forgeries for their MAC and accepted h2's own 50"
sed 's/^/# /' "$work/sub4.f"

# -- membership change: h5 added by a reload; senders must tag for it
old=$(serving)
gcks_conf "$r3" "$r4" "$r5" > "$work/h1.yaml"
ctl 1 reload > /dev/null
until_ok 20 moved_from "$old"
grep -q "group prices: new group SA .*: its configuration changed" "$work/h1.log"
ok $? "adding a receiver made a new group SA (was $old, now $(serving))"
on 5 "$b/ike/zike" -c "$work/h5.yaml" 2>> "$work/h5.log" &
until_ok 60 holding 4 && until_ok 20 sending 2
ok $? "h5 registered; all four members hold the new SA and h2 sends on it"
until_ok 30 has_subscribers "$work/proxy.out" prices 0
sub 4 c 100 & s4=$!
sub 5 c 100 & s5=$!
until_ok 30 has_subscribers "$work/proxy.out" prices 2
publish 2 c 100
wait $s4 $s5
grep -q "sub c: accepted 100 dup 0 other 0 rejected-nosa 0 rejected-other 0" "$work/sub4.c" &&
    grep -q "sub c: accepted 100 dup 0 other 0 rejected-nosa 0 rejected-other 0" "$work/sub5.c"
ok $? "h4 and the new receiver h5 each accepted all 100 of h2's next messages"
for n in 4 5; do sed 's/^/# /' "$work/sub$n.c"; done

if [ "$failed" -ne 0 ]; then
    for f in h1.log h2.log h3.log h4.log h5.log check.log h4.sas h3.sas sub3.a sub4.a pub2.a sub4.b pub3.b forge.f sub4.f pub2.f sub4.c sub5.c pub2.c proxy.out; do
        echo "== $f"; tail -n 25 "$work/$f" 2> /dev/null
    done
fi
p=$(pgrep -f "group_peer proxy --xsub tcp://$h1:6201") && kill $p
for n in 1 2 3 4 5; do p=$(pid_of $n) && kill $p; done
finish
