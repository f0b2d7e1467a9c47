#!/bin/sh
# A child SA half of which left the SAD behind zike's back (an operator's
# `zesp sa del`, or `zesp expire` past a hard lifetime) is noticed by
# zike (doc/zike.md 4, "A child SA taken out of the SAD"): the other half
# leaves too, the peer is sent a DELETE and removes its half, and the
# policy gets a new child SA, at once for a `start` peer, on the next
# ACQUIRE otherwise.  Before, the policy went on naming the gone outbound
# SA: every send failed (ENOSA, then EACQUIRE), zike ignored the ACQUIRE
# (the policy had an outbound SPI, its child was live) and never rekeyed
# it, until zike restarted; an inbound SA deleted by hand left every
# message of the peer refused the same way.  And a zike started after
# its policy's outbound SA was deleted acts on the policy's ACQUIRE: it
# had counted the SPI the policy still named as an SA, for good.
#
# a starts the IKE SA with b (start: true) until the last part; b knows
# no endpoint of a and makes children on ACQUIRE only.  Child SAs carry
# 300 messages at most (rekeyed before); each child here carries fewer
# until the expiry part.  Each part starts both zikes on empty SADs.
b=$(cd "${builddir:-.}" && pwd)
zike="$b/ike/zike" ctl="$b/tools/zikectl" zesp="$b/tools/zesp"
pp="$b/examples/policy_pingpong"
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
work_begin sa-gone 4
PSK=correct-horse-battery-staple
pt=$(ms 20000)    # each wait of policy_pingpong: for a message, for an SA

. "$(cd "${srcdir:-.}" && pwd)/tests/zike_pair.sh"
zike_pair_conf "{ messages: 300 }"
# has_policy NAME: NAME's zike has made its SAD and its policy orders.
has_policy() {
    ZESP_SAD="$work/$1.sad" "$zesp" policy list 2> /dev/null |
        awk '$1 == "orders" { f = 1 } END { exit !f }'
}
# hard_expired NAME SPI DIR: that SA is past a hard limit.
hard_expired() {
    ZESP_SAD="$work/$1.sad" "$zesp" sa list 2> /dev/null |
        awk -v s="$2" -v d="$3" '$1 == s && $2 == d && / expired/ { f = 1 }
            END { exit !f }'
}
# child NAME PEER: NAME's current child SA of orders, "OUT IN" (its outbound
# SPI, the policy's; its inbound SPI, the peer's outbound one).
child() {
    echo "$(out_spi "$work/$1.sad" orders) $(out_spi "$work/$2.sad" orders)"
}

# fresh TITLE: both zikes started again on empty SADs (each part on its
# own, so that a part failing leaves the next one a working child SA);
# done when traffic flows on their child SA of orders.
part=0
fresh() {
    [ -n "${pid_a:-}" ] && for p in $pid_a $pid_b; do kill "$p"; wait "$p"; done
    pids=""
    for n in a b; do
        [ -f "$work/$n.log" ] && mv "$work/$n.log" "$work/$part-$n.log"
        rm -f "$work/$n.sad"
    done
    part=$((part + 1))
    zike_start b; pid_b=$!
    zike_start a; pid_a=$!
    until_ok 20 zike_active_child a orders &&
        until_ok 20 zike_active_child b orders && pingpong "first-$part"
    ok $? "$1: traffic flows on policy orders"
}

# ---- a's outbound SA deleted by hand: a is a start peer ---------------------
fresh "a's outbound SA"
set -- $(child a b); out=$1 in=$2
ZESP_SAD="$work/a.sad" "$zesp" sa del "$out" --dir out > /dev/null
ok $? "zesp sa del $out --dir out on a"
until_ok 20 gone b "$out" in && until_ok 20 gone b "$in" out
ok $? "b removed its half of the child (in $out, out $in): a sent a DELETE"
gone a "$in" in
ok $? "a removed the inbound half it still had ($in)"
until_ok 20 moved a "$out"
ok $? "a, a start peer, sends on a new child SA before any message asks"
pingpong a-out
ok $? "traffic on policy orders resumes (a new child SA)"
moved a "$out"
ok $? "a's policy orders sends on a new SA ($out, now $(out_spi "$work/a.sad" orders))"

# ---- b's outbound SA deleted by hand: a new child on the next ACQUIRE ------
fresh "b's outbound SA"
set -- $(child b a); out=$1 in=$2
ZESP_SAD="$work/b.sad" "$zesp" sa del "$out" --dir out > /dev/null
ok $? "zesp sa del $out --dir out on b"
until_ok 20 gone a "$out" in && until_ok 20 gone a "$in" out
ok $? "a removed its half of the child (in $out, out $in): b sent a DELETE"
pingpong b-out
ok $? "traffic on policy orders resumes (a new child SA on ACQUIRE)"
moved b "$out"
ok $? "b's policy orders sends on a new SA ($out, now $(out_spi "$work/b.sad" orders))"

# ---- b's inbound SA deleted by hand -----------------------------------------
fresh "b's inbound SA"
set -- $(child b a); out=$1 in=$2
ZESP_SAD="$work/b.sad" "$zesp" sa del "$in" --dir in > /dev/null
ok $? "zesp sa del $in --dir in on b"
until_ok 20 gone a "$in" out && until_ok 20 gone a "$out" in
ok $? "a removed its half of the child (out $in, in $out): b sent a DELETE"
gone b "$out" out
ok $? "b removed the outbound half it still had ($out)"
pingpong b-in
ok $? "traffic on policy orders resumes after the inbound SA's removal"

# ---- zesp expire past a hard lifetime, on both hosts ----------------------
fresh "expiry"
# Both zikes stopped, so that neither rekeys at the soft limit: a burst
# takes the child to its hard limit of 300 messages, and a cron's `zesp
# expire` removes its SAs on both hosts.
set -- $(child a b); out=$1 in=$2
kill -STOP "$pid_a" "$pid_b"
# The pings stop at the limit (the child carried some before): b's
# policy_pingpong, left waiting for the rest, is ended.
"$pp" --timeout-ms "$pt" --sad "$work/b.sad" --policy orders \
    --bind "tcp://127.0.0.1:$(port 2)" --count 300 \
    > "$work/srv-burst.out" 2>&1 &
srv=$!
"$pp" --timeout-ms "$pt" --sad "$work/a.sad" --policy orders \
    --connect "tcp://127.0.0.1:$(port 2)" --count 300 \
    > "$work/cli-burst.out" 2>&1
{ kill "$srv"; wait "$srv"; } 2> /dev/null
until_ok 20 hard_expired a "$out" out
ok $? "a burst took a's outbound SA $out to its hard lifetime"
n_a=$(ZESP_SAD="$work/a.sad" "$zesp" expire 2> /dev/null)
n_b=$(ZESP_SAD="$work/b.sad" "$zesp" expire 2> /dev/null)
kill -CONT "$pid_a" "$pid_b"
gone a "$out" out && gone b "$out" in && gone b "$in" out && gone a "$in" in
ok $? "zesp expire removed the child's SAs on both hosts ($n_a, $n_b)"
pingpong a-expired
ok $? "traffic on policy orders resumes after the expiry"
moved a "$out"
ok $? "a's policy orders sends on a new SA ($out, now $(out_spi "$work/a.sad" orders))"

# ---- zike killed, the policy's outbound SA deleted, zike started again ------
# a without `start`: only an ACQUIRE makes it initiate.  Its new self has
# no child SA of the policy, whose outbound SPI names the deleted SA.
sed -i 's/start: true/start: false/' "$work/a.yaml"
for p in $pid_a $pid_b; do kill "$p"; wait "$p"; done
pids=""
rm -f "$work/a.sad" "$work/b.sad"
mv "$work/a.log" "$work/$part-a.log"; mv "$work/b.log" "$work/$part-b.log"
zike_start b; pid_b=$!
zike_start a; pid_a=$!
# Each zike has made its SAD and policy (pingpong would fail at once on a
# SAD or policy not there yet: under ASan zike starts slowly).
until_ok 20 has_policy a && until_ok 20 has_policy b && pingpong first-acquire
ok $? "a without start: a child SA made on ACQUIRE, traffic flows"
out=$(out_spi "$work/a.sad" orders)
kill -9 "$pid_a"; wait "$pid_a" 2> /dev/null
pids=$pid_b
ZESP_SAD="$work/a.sad" "$zesp" sa del "$out" --dir out > /dev/null
ok $? "a's zike killed, then zesp sa del $out --dir out on a"
zike_start a; pid_a=$!
pingpong a-restarted
ok $? "traffic on policy orders resumes: the restarted zike acts on the ACQUIRE"
moved a "$out"
ok $? "a's policy orders sends on a new SA ($out, now $(out_spi "$work/a.sad" orders))"

grep -q "SA .* (out) of child SA .* left the SAD" "$work/1-a.log" &&
    grep -q "SA .* (in) of child SA .* left the SAD" "$work/3-b.log"
ok $? "the logs say which SA left the SAD"
if [ "$failed" -ne 0 ]; then     # for the post-mortem in CI's log
    for f in "$work"/*.log "$work"/*.out; do
        echo "== $f"; tail -n 25 "$f"
    done
fi
finish
