#!/bin/sh
# The examples use the endpoints their command lines name
# (examples/endpoint.h): an IPv6 address works, as it does for zike (without
# ZMQ_IPV6, ZeroMQ refused it: "No such device"), and an endpoint ZeroMQ
# cannot use is said, with exit status 1, by every example, where four of
# them went on unconnected (a client waited out its timeout and called
# its requests unanswered).  Real processes over tcp on ::1.
b=$(cd "${builddir:-.}" && pwd)
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
ex="$b/examples" zesp="$b/tools/zesp"
for p in publisher subscriber mdp_client mdp_worker mdp_broker pubsub_proxy \
    policy_pingpong; do
    [ -x "$ex/$p" ] || skip_all "examples/$p not built"
done
[ -x "$zesp" ] || skip_all "tools/zesp not built"
work_begin exendpoints
ab=$("$zesp" keygen) ba=$("$zesp" keygen)

# sad NAME OUT_SPI IN_SPI: manual keys, policy talk sending on OUT_SPI and
# taking IN_SPI.
sad() {
    mkdir -p -m 700 "$work/state-$1"
    cat > "$work/$1.yaml" <<EOT
state_dir: $work/state-$1
sas:
  - { spi: 0x7101, direction: $([ "$2" = 0x7101 ] && echo out || echo in), key: "$ab" }
  - { spi: 0x7102, direction: $([ "$2" = 0x7102 ] && echo out || echo in), key: "$ba" }
policies:
  - { name: talk, out: $2, in: [$3] }
EOT
    "$zesp" --sad "$work/$1.sad" --state-dir "$work/state-$1" state init > /dev/null &&
        "$zesp" --sad "$work/$1.sad" load "$work/$1.yaml" > /dev/null
}
sad alice 0x7101 0x7102 && sad bob 0x7102 0x7101 || exit 1
A="$work/alice.sad" B="$work/bob.sad"

# -- an endpoint ZeroMQ cannot use: said, exit 1, at once
bad="bogus://nowhere"
# refused NAME CMD...: CMD exits 1 and says it cannot use $bad.
refused() {
    name=$1
    shift
    "$@" > "$work/bad.out" 2>&1
    rc=$?
    [ $rc -eq 1 ] && grep -q "cannot [a-z ]* $bad: Protocol not supported" "$work/bad.out"
    ok $? "$name: an endpoint ZeroMQ cannot use is said, exit 1 (got $rc: $(head -c 200 "$work/bad.out"))"
}
t=$(ms 20000)
refused publisher "$ex/publisher" --sad "$A" --policy talk --connect "$bad" \
    --topic t --count 1 --wait-ms "$t"
refused subscriber "$ex/subscriber" --sad "$A" --connect "$bad" --topic t \
    --count 1 --timeout-ms "$t"
refused mdp_client "$ex/mdp_client" --sad "$A" --front "$bad" --service s \
    --policy talk --count 1 --timeout-ms "$t"
refused mdp_worker "$ex/mdp_worker" --sad "$A" --back "$bad" --service s \
    --reply talk
refused mdp_broker "$ex/mdp_broker" --front "$bad" --back "tcp://127.0.0.1:$(port 0)"
refused pubsub_proxy "$ex/pubsub_proxy" --xsub "tcp://127.0.0.1:$(port 1)" --xpub "$bad"
refused policy_pingpong "$ex/policy_pingpong" --sad "$A" --policy talk \
    --connect "$bad" --count 1 --timeout-ms "$t"

# -- IPv6: two processes exchange messages over tcp on ::1
if ! /usr/bin/python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2> /dev/null; then
    echo "skip: this host has no ::1"
    skipped=$((skipped + 1))
else
    ep="tcp://[::1]:$(port 2)"
    "$ex/policy_pingpong" --sad "$B" --policy talk --bind "$ep" --count 20 \
        --timeout-ms "$t" > "$work/bob.out" 2>&1 &
    bob=$!
    pids="$bob"
    "$ex/policy_pingpong" --sad "$A" --policy talk --connect "$ep" --count 20 \
        --timeout-ms "$t" > "$work/alice.out" 2>&1
    rc=$?
    wait $bob
    [ $? -eq 0 ] && [ $rc -eq 0 ]
    ok $? "policy_pingpong over tcp on ::1: 20 messages each way ($(tail -n 1 "$work/alice.out"); $(tail -n 1 "$work/bob.out"))"
    "$zesp" --sad "$B" stats | grep -q "^0x00007101 in *20 "
    ok $? "bob's SAD counts the 20 messages it took on ::1"
fi
finish
