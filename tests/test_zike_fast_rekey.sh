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
# its next message was refused (ZESP_EPOLICY), the pingpong stopped.
b=$(cd "${builddir:-.}" && pwd)
zike="$b/ike/zike" zesp="$b/tools/zesp" ctl="$b/tools/zikectl"
pp="$b/examples/policy_pingpong"
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
work_begin fast-rekey 3
PSK=correct-horse-battery-staple
pt=$(ms 20000)    # each wait of policy_pingpong: for a message, for an SA
n=10000            # round trips: 40,000 messages, some 350 child SAs

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
pingpong long "$n"
ok $? "$n round trips on orders, none refused"
c=$(grep -c "for policy orders installed" "$work/a.log")
i=$(grep -c "IKE SA rekeyed" "$work/a.log")
[ "$c" -ge 300 ] && [ "$i" -ge 2 ]
ok $? "through $c child SAs installed and $i IKE SA rekeys"
! grep -q "cannot update" "$work/a.log" "$work/b.log"
ok $? "every policy update taken"

if [ "$failed" -ne 0 ]; then     # for the post-mortem in CI's log
    for f in "$work"/*.log "$work"/*.out; do
        echo "== $f"; tail -n 25 "$f"
    done
fi
finish
