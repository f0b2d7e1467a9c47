#!/bin/sh
# A child SA that carries no message is rekeyed by its lifetime in
# seconds all the same (doc/zike.md 4): zike asks the SAD whether an SA
# is due, and the SAD says so once its soft time passed, message or not.
# Before, the soft-expired flag was set only by a message: an idle
# policy was never rekeyed, its SAs reached their hard lifetime, and
# every later send failed for good (EEXPIRED, then EACQUIRE: zike ignored
# the ACQUIRE, the policy still naming an outbound SA).
#
# a starts the IKE SA with b; child SAs live 4 s (soft 80 to 90 % of it).
b=$(cd "${builddir:-.}" && pwd)
zike="$b/ike/zike" zesp="$b/tools/zesp" ctl="$b/tools/zikectl"
pp="$b/examples/policy_pingpong"
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
work_begin idle-rekey 3
PSK=correct-horse-battery-staple
pt=$(ms 20000)    # each wait of policy_pingpong: for a message, for an SA

. "$(cd "${srcdir:-.}" && pwd)/tests/zike_pair.sh"
zike_pair_conf "{ seconds: 4 }"

zike_start b
zike_start a
until_ok 20 zike_active_child a orders && until_ok 20 zike_active_child b orders &&
    pingpong first
ok $? "traffic flows on policy orders"
out_a=$(out_spi "$work/a.sad" orders) out_b=$(out_spi "$work/b.sad" orders)

# No message from here on: the rekey comes from the lifetime alone.
until_ok 20 moved a "$out_a" && until_ok 20 moved b "$out_b"
ok $? "idle, both policies move to a new child SA ($out_a, $out_b)"
until_ok 20 gone a "$out_a" out && until_ok 20 gone b "$out_b" out
ok $? "the old child SA leaves after the overlap"
pingpong after
ok $? "traffic flows again past the first child SA's hard lifetime"

if [ "$failed" -ne 0 ]; then     # for the post-mortem in CI's log
    for f in "$work"/*.log "$work"/*.out; do
        echo "== $f"; tail -n 25 "$f"
    done
fi
finish
