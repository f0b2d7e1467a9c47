#!/bin/sh
# A proxy that checks origin without reading (doc/topologies.md 2,
# doc/wire-format.md 9.6): examples/pubsub_proxy --verify holds the public
# keys of a signed group's senders and no group key.  Real processes on
# 127.0.0.1: alice publishes "prices" under the signed group SA; bob, a
# member who holds the group key but not alice's signing key, publishes
# forgeries under alice's Sender ID; a malformed frame comes from a third
# publisher.  The proxy must drop every forgery and the malformed frame,
# counting each, and forward alice's messages: the subscriber accepts
# them all and is never offered anything else.  The same forgeries
# through the proxy without --verify reach the subscriber, which refuses
# them itself: the check is the proxy's.
b=$(cd "${builddir:-.}" && pwd)
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
for p in examples/publisher examples/subscriber examples/pubsub_proxy tools/zesp tests/group_peer; do
    [ -x "$b/$p" ] || skip_all "$p not built"
done
work=$(mktemp -d "${TMPDIR:-/tmp}/zesp-proxyv.XXXXXX") || exit 1
chmod 700 "$work"
umask 077
trap 'pkill -9 -f "$work/" 2> /dev/null; port_release; rm -rf "$work"' EXIT
port_block || exit 1
zesp="$b/tools/zesp" ex="$b/examples"
(cd "$work" && "$zesp" keygen --identity alice > /dev/null &&
    "$zesp" keygen --identity bob > /dev/null) || exit 1
gk=$("$zesp" keygen)
pk() { cat "$work/$1.pub"; }
SPI=0x00006001

# publisher SAD: NAME SENDER_ID SIGNER (bob signs as sender 1: the forgery).
# The signing key is SIGNER.key as `zesp keygen --identity` wrote it (its
# seed, bare Z85): before, only libsodium's 64-octet form was taken.
publisher_sad() {
    mkdir -p -m 700 "$work/state-$1"
    cat > "$work/$1.yaml" <<EOT
state_dir: $work/state-$1
sas:
  - { spi: $SPI, direction: out, key: "$gk", group: true, sender_id: $2,
      sign_key: "file:$3.key" }
policies:
  - { name: prices, out: $SPI }
EOT
    "$zesp" --sad "$work/$1.sad" --state-dir "$work/state-$1" state init > /dev/null &&
        "$zesp" --sad "$work/$1.sad" load "$work/$1.yaml" > /dev/null
}
publisher_sad alice 1 alice || exit 1
publisher_sad bob 1 bob || exit 1
mkdir -p -m 700 "$work/state-carol"
cat > "$work/carol.yaml" <<EOT
state_dir: $work/state-carol
sas:
  - { spi: $SPI, direction: in, key: "$gk", group: true, sender_id: 1,
      peer: alice, sign_key: "z85:$(pk alice)" }
  - { spi: $SPI, direction: in, key: "$gk", group: true, sender_id: 2,
      peer: bob, sign_key: "z85:$(pk bob)" }
policies:
  - { name: prices, in: [$SPI] }
EOT
"$zesp" --sad "$work/carol.sad" --state-dir "$work/state-carol" state init > /dev/null &&
    "$zesp" --sad "$work/carol.sad" load "$work/carol.yaml" > /dev/null || exit 1
# The proxy's file: public keys only.
cat > "$work/senders.yaml" <<EOT
senders:
  - { spi: $SPI, sender_id: 1, sign_key: "z85:$(pk alice)" }
  - { spi: $SPI, sender_id: 2, sign_key: "z85:$(pk bob)" }
EOT
! grep -q "$gk" "$work/senders.yaml"
ok $? "the proxy's senders file holds no group key"

# First, forgeries through a proxy that does not check: the subscriber is
# offered them, and refuses each itself (bob's numbers 1-5, above the
# window: the signature refuses them, not the replay check).
port=$(port 0)
xs="tcp://127.0.0.1:$port" xp="tcp://127.0.0.1:$((port + 1))"
"$ex/pubsub_proxy" --xsub "$xs" --xpub "$xp" > "$work/proxy2.out" 2>&1 &
"$ex/subscriber" --sad "$work/carol.sad" --connect "$xp" --topic prices \
    --count 1 --timeout-ms "$(ms 60000)" > "$work/sub2.out" 2> "$work/sub2.err" &
until_ok 30 has_subscribers "$work/proxy2.out" prices 1
"$ex/publisher" --sad "$work/bob.sad" --policy prices --connect "$xs" --topic prices \
    --count 5 --interval-ms 0 --wait-ms "$(ms 30000)" > "$work/bob2.out" 2>&1
"$ex/publisher" --sad "$work/alice.sad" --policy prices --connect "$xs" --topic prices \
    --count 1 --interval-ms 0 --wait-ms "$(ms 30000)" > "$work/alice2.out" 2>&1
until_ok 60 grep -q "accepted" "$work/sub2.out"
grep -q "1 accepted, 5 refused" "$work/sub2.out" &&
    [ "$(grep -c 'refused: source signature' "$work/sub2.err")" -eq 5 ]
ok $? "without --verify the forgeries reach the subscriber, which refuses them (bad signature)"
pkill -TERM -f "pubsub_proxy --xsub $xs"

# Then the proxy that checks: bob's next 5 forgeries, a malformed frame
# and alice's messages.
port=$((port + 2))
xs="tcp://127.0.0.1:$port" xp="tcp://127.0.0.1:$((port + 1))"
"$ex/pubsub_proxy" --xsub "$xs" --xpub "$xp" --verify "$work/senders.yaml" > "$work/proxy.out" 2>&1 &
until_ok 30 grep -q "checking the signatures of 2 senders" "$work/proxy.out"
"$ex/subscriber" --sad "$work/carol.sad" --connect "$xp" --topic prices \
    --count 20 --timeout-ms "$(ms 60000)" > "$work/sub.out" 2> "$work/sub.err" &
until_ok 30 has_subscribers "$work/proxy.out" prices 1

# A subscription is any bytes a subscriber chose: one holding a line feed
# and a line of the proxy's own must show as one escaped line, not let
# the subscriber write the proxy's log (whose "subscribe" lines scripts
# wait on before publishing).
"$ex/subscriber" --sad "$work/carol.sad" --connect "$xp" --count 1 --timeout-ms "$(ms 60000)" \
    --topic "$(printf 'x\npubsub_proxy: subscribe forged')" > /dev/null 2>&1 &
until_ok 30 grep -q 'subscribe x' "$work/proxy.out"
! grep -q '^pubsub_proxy: subscribe forged$' "$work/proxy.out" &&
    grep -q 'subscribe x\\x0apubsub_proxy: subscribe forged$' "$work/proxy.out"
ok $? "a subscription cannot write a line of the proxy's log"

# Bob's 5 forgeries first, then the malformed frame, each dropped before
# alice publishes; the subscriber would see them before her messages.
"$ex/publisher" --sad "$work/bob.sad" --policy prices --connect "$xs" --topic prices \
    --count 5 --interval-ms 0 --wait-ms "$(ms 30000)" > "$work/bob.out" 2>&1
until_ok 30 sh -c "[ \$(grep -c 'dropped: source signature' '$work/proxy.out') -eq 5 ]"
ok $? "the proxy dropped bob's 5 forgeries of alice's messages (bad signature)"
"$b/tests/group_peer" malformed --connect "$xs" --topic prices --spi $SPI --sender 1 \
    --timeout-ms "$(ms 30000)"
until_ok 30 grep -q "dropped: malformed ESP message (sender 1); forwarded 0, dropped 6" "$work/proxy.out"
ok $? "the proxy dropped a malformed frame, and counts 6 dropped, 0 forwarded"
"$ex/publisher" --sad "$work/alice.sad" --policy prices --connect "$xs" --topic prices \
    --count 20 --interval-ms 0 --wait-ms "$(ms 30000)" > "$work/alice.out" 2>&1
until_ok 60 grep -q "accepted" "$work/sub.out"
grep -q "20 accepted, 0 refused" "$work/sub.out" && [ ! -s "$work/sub.err" ]
ok $? "the subscriber accepted alice's 20 messages and was offered nothing else"
grep -q "prices #19 (from alice, sender 1" "$work/sub.out"
ok $? "each proven to come from alice"
[ "$(grep -c dropped: "$work/proxy.out")" -eq 6 ]
ok $? "the proxy dropped nothing of alice's"
pkill -TERM -f "pubsub_proxy --xsub $xs"

if [ "$failed" -ne 0 ]; then
    for f in proxy.out sub.out sub.err bob.out alice.out proxy2.out sub2.out sub2.err; do
        echo "== $f"; tail -n 15 "$work/$f" 2>/dev/null
    done
fi
finish
