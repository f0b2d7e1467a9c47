#!/bin/sh
# zike under an unauthenticated IKE_SA_INIT flood whose sender answers
# every COOKIE, as any ZeroMQ client can (its own connection brings the
# cookie back): the half-open IKE SAs of one source address stop at
# half-open-per-source, the rest are dropped before any X25519, and a
# legitimate peer from another address still gets its IKE SA and child SA.
# Requests whose X25519 value is of small order count against their source
# too, though they fail (before, they were never stopped).
# Before that limit one address filled max-ike-sas and every other
# initiator was refused with TEMPORARY_FAILURE until the flood's SAs
# timed out.  Those refusals, past max-ike-sas, are counted and their log
# line rate-limited, and so are IKE_SA_INIT requests refused as malformed,
# which cost their sender nothing (before, a log line each).
b=$(cd "${builddir:-.}" && pwd)
zike="$b/ike/zike" ctl="$b/tools/zikectl" flood="$b/tests/ike_flood"
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
work_begin dos 23
PSK=correct-horse-battery-staple

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
established() { "$ctl" -s "ipc://$work/$1.ctl" list | grep -q "established"; }

# The flood's half-open SAs are kept 10 minutes: what follows depends on
# the limit, not on their timing out.
zike_conf v "$(port 0)" "max-ike-sas: 64" "half-open-limit: 4" \
    "half-open-timeout: 600000" "peers:" \
    "  - { name: alice, id: alice.example, auth: psk, psk: $PSK, policies: [orders] }"
zike_conf alice "$(port 1)" "peers:" \
    "  - { name: v, id: v.example, endpoint: \"tcp://127.0.0.1:$(port 0)\", auth: psk, psk: $PSK, start: true, policies: [orders] }"
zike_start v
vpid=${pids##* }
until_ok 10 "$ctl" -s "ipc://$work/v.ctl" stats
ok $? "zike runs"
before=$(rss "$vpid")
# From 127.0.0.3 (libzmq's "source;destination" endpoint), then 127.0.0.4.
"$flood" "tcp://127.0.0.3:0;127.0.0.1:$(port 0)" 200 "$(ms 3000)" cookies > "$work/flood3.out" 2>&1
"$flood" "tcp://127.0.0.4:0;127.0.0.1:$(port 0)" 200 "$(ms 3000)" cookies > "$work/flood4.out" 2>&1
after=$(rss "$vpid")
grep -q "half-open 5," "$work/flood3.out" && grep -q "half-open 5," "$work/flood4.out"
ok $? "an address that answers every cookie gets 5 half-open IKE SAs, no more ($(cat "$work/flood3.out"))"
[ "$(zike_stat v ike_sas)" = 10 ] && [ "$(zike_stat v ike_dropped_source_limit)" -ge 390 ]
ok $? "zike holds 10 IKE SAs after 400 requests from two addresses, $(zike_stat v ike_dropped_source_limit) dropped (RSS ${before:-?} kB -> ${after:-?} kB)"
zike_start alice
until_ok 20 established v && until_ok 20 zike_active_child alice orders
ok $? "a legitimate peer from another address gets its IKE SA and child SA during the flood"
! grep -q "error notify 43" "$work/alice.log"
ok $? "and was never refused with TEMPORARY_FAILURE"

# IKE_SA_INIT requests whose X25519 value is 0 (of small order: free to
# send, and refused by libsodium only after zike's two X25519 operations)
# count against their source like any other: 5 answered (INVALID_SYNTAX),
# the rest dropped unanswered before any X25519.  Before, each such
# attempt left no half-open SA, so half-open-per-source never stopped
# them: one address had zike spend two X25519 per message, without end.
lim0=$(zike_stat v ike_dropped_source_limit)
"$flood" "tcp://127.0.0.5:0;127.0.0.1:$(port 0)" 300 "$(ms 3000)" weak > "$work/flood5.out" 2>&1
lim1=$(zike_stat v ike_dropped_source_limit)
grep -q "cookies 300, half-open 0, refused 0, invalid 5$" "$work/flood5.out"
ok $? "an address sending X25519 value 0 has 5 requests answered, no more ($(cat "$work/flood5.out"))"
[ $((${lim1:-0} - ${lim0:-0})) -eq 295 ]
ok $? "its other 295 dropped at half-open-per-source (ike_dropped_source_limit ${lim0:-?} -> ${lim1:-?})"
"$flood" "tcp://127.0.0.5:0;127.0.0.1:$(port 0)" 1 "$(ms 3000)" cookies > "$work/flood5b.out" 2>&1
grep -q "responses 0," "$work/flood5b.out"
ok $? "and a valid request from it waits for their half-open-timeout ($(cat "$work/flood5b.out"))"
established v
ok $? "the legitimate peer's IKE SA is still there"

# At max-ike-sas every further IKE_SA_INIT is refused (TEMPORARY_FAILURE):
# counted one by one, logged at most once a second with how many went
# unlogged, as drops are.  Before, each refusal was a log line of its own.
zike_conf w "$(port 2)" "max-ike-sas: 4" "half-open-limit: 1000" \
    "half-open-per-source: 1000" "half-open-timeout: 600000"
zike_start w
until_ok 10 "$ctl" -s "ipc://$work/w.ctl" stats
t0=$(now_s)
"$flood" "tcp://127.0.0.1:$(port 2)" 300 "$(ms 3000)" > "$work/floodw.out" 2>&1
t1=$(now_s)
refused=$(zike_stat w ike_refused)
lines=$(grep -c "IKE_SA_INIT refused" "$work/w.log")
grep -q "refused 296" "$work/floodw.out" && [ "${refused:-0}" -eq 296 ]
ok $? "296 of 300 requests past max-ike-sas refused and counted (ike_refused ${refused:-?}; $(cat "$work/floodw.out"))"
[ "$lines" -ge 1 ] && [ "$lines" -le $((t1 - t0 + 2)) ]
ok $? "refusals logged $lines times over $((t1 - t0)) s, at most once a second"
grep "IKE_SA_INIT refused" "$work/w.log" | tail -n 1 | grep -q "more unlogged"
ok $? "the log says how many refusals went unlogged"

# IKE_SA_INIT requests without an SA payload: each answered with
# INVALID_SYNTAX and counted, logged at most once a second with how many
# went unlogged.  Before, each was a NOTICE line of its own, at the default
# log level, from anyone who could reach listen.
t0=$(now_s)
"$flood" "tcp://127.0.0.1:$(port 2)" 300 "$(ms 3000)" malformed > "$work/floodm.out" 2>&1
t1=$(now_s)
invalid=$(zike_stat w ike_init_invalid)
lines=$(grep -c "IKE_SA_INIT.*malformed" "$work/w.log")
grep -q "responses 300," "$work/floodm.out" && [ "${invalid:-0}" -eq 300 ]
ok $? "300 malformed IKE_SA_INIT requests answered and counted (ike_init_invalid ${invalid:-?}; $(cat "$work/floodm.out"))"
[ "$lines" -ge 1 ] && [ "$lines" -le $((t1 - t0 + 2)) ]
ok $? "malformed IKE_SA_INIT requests logged $lines times over $((t1 - t0)) s, at most once a second"
grep "IKE_SA_INIT.*malformed" "$work/w.log" | tail -n 1 | grep -q "more unlogged"
ok $? "the log says how many malformed requests went unlogged"

if [ "$failed" -ne 0 ]; then
    for f in "$work"/*.log "$work"/*.out; do echo "== $f"; tail -n 8 "$f"; done
fi
finish
