#!/bin/sh
# Fast rekeys lose no message (doc/zike.md, "Rekeying"): child SAs of
# orders live 40 messages, so they are rekeyed every few milliseconds,
# often by both zikes at once, while the IKE SA is rekeyed every second
# or two; one policy_pingpong pair runs through several hundred of them.
# Every message is under an SA that zike installed for orders and that
# is still valid, so none may be refused as not serving the policy.
# Before, a policy listed its inbound SAs in the first free of its four
# slots and, full, dropped the first slot as if it held the oldest: it
# often held the newest, the SA the peer's sender had just moved to, and
# its next message was refused (ZESP_EPOLICY), the pingpong stopped
# (old code: 1 of 2 runs of this test failed, 3 of 3 runs of a 10,000
# round-trip pingpong).
b=$(cd "${builddir:-.}" && pwd)
zike="$b/ike/zike" zesp="$b/tools/zesp" ctl="$b/tools/zikectl"
pp="$b/examples/policy_pingpong"
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
work_begin fast-rekey 3
PSK=correct-horse-battery-staple
pt=$(ms 4000)     # each wait of policy_pingpong: for a message, for an SA (a round that loses one ends by it)

. "$(cd "${srcdir:-.}" && pwd)/tests/zike_pair.sh"
zike_pair_conf "{ messages: 40 }"
for s in a b; do
    echo "    ike-lifetime: 2" >> "$work/$s.yaml"
    sed -i 's/rekey-overlap: 500/rekey-overlap: 100/' "$work/$s.yaml"
done

zike_start b
zike_start a
until_ok 20 zike_active_child a orders && until_ok 20 zike_active_child b orders
ok $? "child SAs of orders on both sides"
# In rounds of 500 round trips, each a new pair of processes: 20 rounds.
# No message may be lost: none refused as not serving the policy, and
# none sent under an SA the receiver does not hold ("no security
# association with that SPI").  The second came when zike switched to a
# child it answered at a guess (half the overlap, at most 1 s) rather
# than once the peer was known to hold it (its traffic, its next request,
# its DELETE of the old child), and when the initiator of a rekey removed
# the old inbound SA as soon as its DELETE was answered, before what the
# responder sent on it last had come (doc/zike.md 10).
r=0 lost=0 refused=0
while [ $r -lt 20 ]; do
    r=$((r + 1))
    pingpong "r$r" 500 || {
        lost=$((lost + 1))
        grep -q "does not serve the policy" "$work/srv-r$r.out" "$work/cli-r$r.out" &&
            refused=$((refused + 1))
        cat "$work/srv-r$r.out" "$work/cli-r$r.out" | sed 's/^/# /'
    }
done
[ $refused -eq 0 ]
ok $? "20 rounds of 500 round trips on orders: none refused as not serving the policy ($refused rounds)"
[ $lost -eq 0 ]
ok $? "20 rounds of 500 round trips on orders: none lost a message ($lost rounds did)"
c=$(grep -c "for policy orders installed" "$work/a.log")
i=$(grep -c "IKE SA rekeyed" "$work/a.log")
# At least 100 child SAs (some 300 on a quiet machine, fewer under load):
# the checks above went through many.
[ "$c" -ge 100 ] && [ "$i" -ge 2 ]
ok $? "through $c child SAs installed and $i IKE SA rekeys"
! grep -q "cannot update" "$work/a.log" "$work/b.log"
ok $? "every policy update taken"

if [ "$failed" -ne 0 ]; then     # for the post-mortem in CI's log
    for f in "$work"/*.log "$work"/*.out; do
        echo "== $f"; tail -n 25 "$f"
    done
fi
finish
