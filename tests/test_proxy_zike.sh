#!/bin/sh
# A checking proxy in front of a group keyed by zike (doc/topologies.md 2,
# doc/zike.md 9.7).  Four hosts, each a network namespace with its own zike
# and SAD (all on 127.0.0.1 where namespaces are not available):
#   h1  the key server of "prices" (source-auth: signature) and the
#       checking proxies (examples/pubsub_proxy --verify), which hold no key
#   h2, h3  publishing members, each signing with its own key
#   h4  a subscribing member
# The proxy's senders file is what `zikectl senders prices` prints on the
# key server: one entry per sender, valid under any SPI.  Checked: both
# publishers' messages pass and arrive; the group is rekeyed (zikectl
# rekey-group) and messages under the new SPI still pass and arrive; h3,
# which holds the group key, signs messages as h2's Sender ID with its own
# key and the proxy drops and counts each, the subscriber never offered
# one.  The old way, a file pinned to the SPI of the day, drops every
# genuine message after the rekey, until the proxy is given a new file and
# SIGHUP (a bad file on SIGHUP leaves the old one in force).
b=$(cd "${builddir:-.}" && pwd)
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
for p in tests/group_peer examples/pubsub_proxy tools/zikectl; do
    [ -x "$b/$p" ] || skip_all "$p not built"
done
hosts_begin pxzike 4
port_block || exit 1
zesp="$b/tools/zesp" zikectl="$b/tools/zikectl" gp="$b/tests/group_peer"
. "$(cd "${srcdir:-.}" && pwd)/tests/group_hosts.sh"

# hN: IKE identities; sN: the members' signing keys
(cd "$work" && for n in 1 2 3 4; do
    "$zesp" keygen --identity "h$n" > /dev/null && "$zesp" keygen --identity "s$n" > /dev/null
done)
h1=$(ip_of 1)
ike_port=$(port 0) xs="tcp://$h1:$(port 1)" xp="tcp://$h1:$(port 2)"
ys="tcp://$h1:$(port 3)" yp="tcp://$h1:$(port 4)"
cat > "$work/h1.yaml" <<EOT
identity: { id: h1.example, key: $work/h1.key }
listen: tcp://$h1:$ike_port
control: ipc://$work/h1.ctl
sad: $work/h1.sad
retransmit: { timeout-ms: $(ms 250), tries: 3 }
peers:
$(for n in 2 3 4; do
    echo "  - { name: h$n, id: h$n.example, auth: ed25519, pubkey: \"$(pub h$n)\", dpd: 1s }"
done)
groups:
  - name: prices
    source-auth: signature
    activation-delay: 1s
    deactivation-delay: 3s
    senders:
      - { id: h2.example, sign-pubkey: "$(pub s2)" }
      - { id: h3.example, sign-pubkey: "$(pub s3)" }
    receivers: [h4.example]
  - name: quotes
    source-auth: mac
    senders: [{ id: h2.example, sign-pubkey: "$(pub s2)" }]
    receivers: [{ id: h4.example, member-id: 101, sign-pubkey: "$(pub s4)" }]
EOT
for n in 2 3 4; do
    case $n in 4) role=receiver ;; *) role=sender ;; esac
    cat > "$work/h$n.yaml" <<EOT
identity: { id: h$n.example, key: $work/h$n.key }
listen: tcp://$(ip_of "$n"):$(port $((4 + n)))
control: ipc://$work/h$n.ctl
sad: $work/h$n.sad
retransmit: { timeout-ms: $(ms 250), tries: 3 }
peers:
  - { name: gcks, id: h1.example, endpoint: "tcp://$h1:$ike_port", auth: ed25519, pubkey: "$(pub h1)", dpd: 1s }
join:
  - { group: prices, server: gcks, role: $role, sign-key: $work/s$n.key }
EOT
done
bad=0
for n in 1 2 3 4; do
    "$b/ike/zike" --check -c "$work/h$n.yaml" > /dev/null 2>> "$work/check.log" || bad=1
done
ok $bad "the four configurations check (prices: source-auth signature)"

for n in 1 2 3 4; do on $n "$b/ike/zike" -c "$work/h$n.yaml" 2>> "$work/h$n.log" & done
until_ok 60 holding 3 && until_ok 20 sending 2 && until_ok 20 sending 3
ok $? "h2, h3 and h4 registered with the key server and the senders send on its SA"

# -- what the proxy needs, from the key server: public keys, no SPI
ctl 1 senders prices > "$work/senders.yaml" 2> "$work/senders.err"
ok $? "zikectl senders prices answers"
grep -qF "  - { spi: any, sender_id: 1, sign_key: \"z85:$(pub s2)\" }  # h2.example" "$work/senders.yaml" &&
    grep -qF "  - { spi: any, sender_id: 2, sign_key: \"z85:$(pub s3)\" }  # h3.example" "$work/senders.yaml" &&
    [ "$(grep -c 'sign_key' "$work/senders.yaml")" -eq 2 ]
st=$?
ok $st "it lists h2 as Sender ID 1 and h3 as Sender ID 2, each with its sign-pubkey, under any SPI"
sed 's/^/# /' "$work/senders.yaml"
# Without that file nothing below can pass: say why now, not after each wait.
if [ $st -ne 0 ]; then
    sed 's/^/# /' "$work/senders.err"
    finish
    exit 1
fi
ctl 1 senders quotes > /dev/null 2> "$work/refused.err"
[ $? -eq 1 ] && grep -q "group quotes: source-auth mac: only a signed group's senders can be checked" "$work/refused.err"
ok $? "refused for a group with source MACs (receivers alone check those)"
ctl 1 senders nosuch > /dev/null 2> "$work/refused.err"
[ $? -eq 1 ] && grep -q "not serving a group named 'nosuch'" "$work/refused.err"
ok $? "refused for a group it does not serve"

# proxy N FILE: a checking proxy on the Nth pair of endpoints
proxy() {
    if [ "$1" = 1 ]; then s=$xs p=$xp; else s=$ys p=$yp; fi
    on 1 "$b/examples/pubsub_proxy" --xsub "$s" --xpub "$p" --verify "$2" \
        > "$work/proxy$1.out" 2>&1 &
}
sub() {  # host tag count senders proxy: a subscriber of prices on host
    if [ "$5" = 1 ]; then p=$xp; else p=$yp; fi
    on $1 "$gp" sub --sad "$work/h$1.sad" --connect "$p" --topic prices \
        --tag $2 --count $3 --senders $4 --timeout-ms "$(ms 60000)" > "$work/sub$1.$2" 2>&1
}
publish() {  # host tag count proxy
    if [ "$4" = 1 ]; then s=$xs; else s=$ys; fi
    on $1 "$gp" pub --sad "$work/h$1.sad" --policy prices --connect "$s" \
        --topic prices --tag $2 --count $3 --interval-us 500 --timeout-ms "$(ms 60000)" \
        > "$work/pub$1.$2" 2>&1
}
drops() {  # proxy N has printed exactly M drops for WHY
    [ "$(grep -c "dropped: $3" "$work/proxy$1.out")" -eq "$2" ]
}

proxy 1 "$work/senders.yaml"
until_ok 30 grep -q "checking the signatures of 2 senders" "$work/proxy1.out"
sub 4 a 50 2 1 & s4=$!
until_ok 30 has_subscribers "$work/proxy1.out" prices 1
publish 2 a 50 1 & p2=$!
publish 3 a 50 1
wait $p2 $s4
grep -q "sub a: accepted 100 dup 0 other 0 rejected-nosa 0 rejected-other 0 senders 2" "$work/sub4.a" &&
    grep -q "from h2 sender-id 1 got 50" "$work/sub4.a" && grep -q "from h3 sender-id 2 got 50" "$work/sub4.a" &&
    ! grep -q "dropped:" "$work/proxy1.out"
ok $? "the proxy forwarded all 100 of h2's and h3's messages, and h4 accepted them"

# -- a new key, a new SPI: the same file still holds
old=$(serving)
until_ok 30 has_subscribers "$work/proxy1.out" prices 0
ctl 1 rekey-group prices > /dev/null
until_ok 20 moved_from "$old" && until_ok 30 holding 3 && until_ok 20 sending 2 && until_ok 20 sending 3
new=$(serving)
ok $? "the group was rekeyed: SA $old, now $new, and both senders send on it"
sub 4 b 50 2 1 & s4=$!
until_ok 30 has_subscribers "$work/proxy1.out" prices 1
publish 2 b 50 1 & p2=$!
publish 3 b 50 1
wait $p2 $s4
grep -q "sub b: accepted 100 dup 0 other 0 rejected-nosa 0 rejected-other 0 senders 2" "$work/sub4.b" &&
    ! grep -q "dropped:" "$work/proxy1.out"
ok $? "after the rekey the proxy forwarded all 100 messages under SA $new, and h4 accepted them"

# -- h3 holds the group key and signs as h2 (Sender ID 1) with its own key
until_ok 30 has_subscribers "$work/proxy1.out" prices 0
sub 4 f 30 1 1 & s4=$!
until_ok 30 has_subscribers "$work/proxy1.out" prices 1
on 3 "$gp" forge --sad "$work/h3.sad" --policy prices --connect "$xs" --topic prices \
    --tag f --count 30 --sender 1 --key "$work/s3.key" --timeout-ms "$(ms 60000)" \
    > "$work/forge.f" 2>&1 &&
    until_ok 30 drops 1 30 "source signature or MAC does not verify.* (sender 1)"
ok $? "h3's 30 forgeries as Sender ID 1 were dropped at the proxy, for their signature"
grep -q "forwarded 200, dropped 30$" "$work/proxy1.out"
ok $? "the proxy counts them: forwarded 200, dropped 30"
publish 2 f 30 1
wait $s4
grep -q "sub f: accepted 30 dup 0 other 0 rejected-nosa 0 rejected-other 0 senders 1" "$work/sub4.f" &&
    grep -q "sub f: rejected-source 0" "$work/sub4.f" && grep -q "from h2 sender-id 1 got 30" "$work/sub4.f"
ok $? "h4 was never offered a forgery, and accepted h2's own 30"

# -- the old way: a file pinned to the first SPI drops everything now
sed "s/spi: any/spi: $old/" "$work/senders.yaml" > "$work/pinned.yaml"
proxy 2 "$work/pinned.yaml"
until_ok 30 grep -q "checking the signatures of 2 senders" "$work/proxy2.out"
sub 4 c 20 1 2 & s4=$!
until_ok 30 has_subscribers "$work/proxy2.out" prices 1
publish 2 c 20 2
until_ok 30 drops 2 20 "no security association with that SPI (sender 1)"
ok $? "a file pinned to SA $old: the proxy drops all 20 genuine messages under SA $new"
# SIGHUP: a bad file leaves the old in force; a good one is taken whole.
echo "senders: [ { spi: any, sender_id: 1 } ]" > "$work/pinned.yaml"
p=$(pgrep -f "pubsub_proxy --xsub $ys ") && kill -HUP $p
until_ok 30 grep -q "pubsub_proxy: not reloaded, still checking 2 senders: .*pinned.yaml:1:.*'sign_key' is required" "$work/proxy2.out"
ok $? "SIGHUP with a bad file: the proxy says why and keeps its senders"
sed "s/spi: any/spi: $new/" "$work/senders.yaml" > "$work/pinned.yaml"
kill -HUP $p
until_ok 30 grep -q "pubsub_proxy: reloaded .*pinned.yaml: checking the signatures of 2 senders" "$work/proxy2.out"
ok $? "SIGHUP with a file pinned to SA $new: reloaded"
publish 2 c 20 2
wait $s4
grep -q "sub c: accepted 20 dup 0 other 0 rejected-nosa 0 rejected-other 0 senders 1" "$work/sub4.c" &&
    drops 2 20 "no security association"
ok $? "then the proxy forwards h2's next 20 messages, and h4 accepted them"

if [ "$failed" -ne 0 ]; then
    for f in check.log h1.log h2.log h3.log h4.log senders.err refused.err proxy1.out proxy2.out \
        sub4.a sub4.b forge.f sub4.f sub4.c pub2.a pub3.a pub2.b pub2.c; do
        echo "== $f"; tail -n 25 "$work/$f" 2> /dev/null
    done
fi
for e in "$xs" "$ys"; do p=$(pgrep -f "pubsub_proxy --xsub $e ") && kill $p; done
for n in 1 2 3 4; do p=$(pid_of $n) && kill $p; done
finish
