#!/bin/sh
# A subscriber sends the proxy nothing but subscriptions
# (examples/pubsub_proxy.c): anything else it sends is dropped, never
# passed up to the publishers.  XSUB forwards any message a subscriber's
# socket sends to every publisher, whose XPUB keeps what it has not read
# without limit (the publisher example reads nothing once it publishes):
# any subscriber could grow every publisher's memory (measured before:
# 300 MiB sent upstream, a publisher 17 MiB to 341 MiB resident).  Real
# processes on 127.0.0.1: a publisher (an XPUB that records all it is
# given), the proxy, and a subscriber (an XSUB) that subscribes, waits
# until the publisher has its subscription, sends four messages that are
# not subscriptions, then subscribes to "done".
b=$(cd "${builddir:-.}" && pwd)
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
[ -x "$b/examples/pubsub_proxy" ] || skip_all "examples/pubsub_proxy not built"
py=/usr/bin/python3
"$py" -c "import zmq" 2> /dev/null || skip_all "pyzmq not installed"
work_begin proxyup
port=$(port 0)
xs="tcp://127.0.0.1:$port" xp="tcp://127.0.0.1:$((port + 1))"

cat > "$work/pub.py" <<'EOT'
import sys, zmq
ep, limit_ms, out = sys.argv[1], int(sys.argv[2]), open(sys.argv[3], "w")
s = zmq.Context().socket(zmq.XPUB)
s.setsockopt(zmq.RCVTIMEO, limit_ms)
s.connect(ep)
print("connected", file=out, flush=True)
while True:
    m = s.recv_multipart()          # zmq.Again past the bound: fails
    print(repr(m), file=out, flush=True)
    if m == [b"\x01done"]:
        break
EOT
cat > "$work/sub.py" <<'EOT'
import sys, time, zmq
s = zmq.Context().socket(zmq.XSUB)
s.connect(sys.argv[1])
s.send(b"\x01prices")
# The rest once the publisher has this: its connection to the proxy is
# up, so nothing below is lost for want of it.
end = time.monotonic() + int(sys.argv[2]) / 1000
while "x01prices" not in open(sys.argv[3]).read():
    if time.monotonic() > end:
        sys.exit("the publisher never got the subscription")
    time.sleep(0.01)
s.send(b"junk")
s.send_multipart([b"\x01x", b"junk2"])
s.send(b"")
s.send_multipart([b"a", b"b"])
s.send(b"\x01done")
s.setsockopt(zmq.LINGER, int(sys.argv[2]))
s.close()
EOT

"$b/examples/pubsub_proxy" --xsub "$xs" --xpub "$xp" > "$work/proxy.out" 2>&1 &
pids="$pids $!"
until_ok 30 ports_listened "$port"
"$py" "$work/pub.py" "$xs" "$(ms 30000)" "$work/pub.out" > "$work/pub.err" 2>&1 &
pub=$!
pids="$pids $pub"
until_ok 30 grep -q connected "$work/pub.out"
"$py" "$work/sub.py" "$xp" "$(ms 30000)" "$work/pub.out" > "$work/sub.err" 2>&1
wait "$pub"
ok $? "the publisher was given the subscription to done"
grep -q "^\[b'\\\\x01prices'\]$" "$work/pub.out" &&
    grep -q "^\[b'\\\\x01x'\]$" "$work/pub.out"
ok $? "the subscriptions reached the publisher"
! grep -q -e junk -e "b''" -e "b'a'" "$work/pub.out"
ok $? "nothing but subscriptions reached the publisher"
until_ok 30 grep -q "not a subscription (2 frames); dropped 4" "$work/proxy.out"
[ "$(grep -c 'dropped from a subscriber: not a subscription (1 frames)' "$work/proxy.out")" -eq 3 ]
ok $? "the proxy dropped the 4 messages that are not subscriptions, counting each"

if [ "$failed" -ne 0 ]; then
    for f in proxy.out pub.out pub.err sub.err; do
        echo "== $f"; tail -n 15 "$work/$f" 2>/dev/null
    done
fi
finish
