#!/bin/sh
# What anyone who can connect to zike's listen endpoint can make it hold
# (doc/zike.md 1): zike reads the connection's ZMTP itself, so a message of
# many frames, a frame over 16 KiB, or anything that is not ZMTP 3 NULL from
# a DEALER closes the connection before more than one frame is held; a
# connection that stalls mid-frame is closed; connections are limited, in
# all and per source address, and a full table closes the stalest
# unauthenticated connection, never an authenticated peer's; one that no
# authenticated peer spoke over is closed after unauthenticated-timeout,
# and so is one whose peer's IKE SA ended (terminated, revoked by a reload).
# Before, libzmq's ROUTER held a whole multipart message
# (5,000 frames of 16 KiB: +78 MB) before zike saw a byte of it, and kept a
# stalled connection for good.  Peers, libzmq DEALERs, work over tcp and ipc.
b=$(cd "${builddir:-.}" && pwd)
zike="$b/ike/zike" ctl="$b/tools/zikectl"
peer="/usr/bin/python3 $(cd "${srcdir:-.}" && pwd)/tests/zmtp_peer.py"
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
work_begin listen 14
PSK=correct-horse-battery-staple
# own NAME: the key and policy of peer NAME, its own (zike refuses a key
# or a policy two peers share).
own() { echo "auth: psk, psk: $PSK-$1, policies: [orders-$1]"; }

hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
established() { "$ctl" -s "ipc://$work/$1.ctl" list | grep -q "established"; }
ep="tcp://127.0.0.1:$(port 0)"
t=$((30 * scale))

zike_conf v "$(port 0)" "connections-per-source: 3" "peers:" \
    "  - { name: alice, id: alice.example, auth: psk, psk: $PSK, policies: [orders] }" \
    "  - { name: bob, id: bob.example, $(own bob) }"
zike_start v
vpid=${pids##* }
until_ok 10 "$ctl" -s "ipc://$work/v.ctl" stats
ok $? "zike runs"

# ---- what is not ZMTP as zike's peers speak it: closed ---------------------
for mode in junk curve router; do
    out=$($peer "$ep" $mode --timeout $t 2>&1)
    [ "$out" = closed ]
    ok $? "$mode: connection closed ($out)"
done
[ "$(zike_stat v ike_dropped_framing)" -ge 3 ]
ok $? "and counted: ike_dropped_framing $(zike_stat v ike_dropped_framing)"

out=$($peer "$ep" ping --timeout $t 2>&1)
[ "$out" = pong ]
ok $? "a DEALER's PING is answered with its context ($out)"
m0=$(zike_stat v ike_dropped_malformed)
out=$($peer "$ep" frame 16384 --timeout $t 2>&1)
[ "$out" = pong ] && [ "$(zike_stat v ike_dropped_malformed)" -eq $((m0 + 1)) ]
ok $? "a 16 KiB frame that is no IKE message is dropped, the connection kept ($out)"
f0=$(zike_stat v ike_dropped_framing)
out=$($peer "$ep" frame 16385 --timeout $t 2>&1)
[ "$out" = closed ] && [ "$(zike_stat v ike_dropped_framing)" -eq $((f0 + 1)) ]
ok $? "a frame of 16 KiB + 1 closes the connection ($out)"

# ---- a message of many frames: closed at its first, nothing held --------------
before=$(hwm $vpid)
out=$($peer "$ep" parts 5000 16384 --timeout $t 2>&1)
after=$(hwm $vpid)
case $out in "closed after "*) true ;; *) false ;; esac &&
    [ -n "$before" ] && [ -n "$after" ] && [ $((after - before)) -lt 16384 ] &&
    kill -0 $vpid
ok $? "a message of 5,000 frames of 16 KiB: $out, zike's peak memory +$((${after:-0} - ${before:-0})) kB"

# ---- a connection that stops mid-frame: closed ---------------------------------
out=$($peer "$ep" stall --timeout $t 2>&1)
case $out in "closed after "*) true ;; *) false ;; esac
ok $? "a connection that stops in the middle of a frame is closed ($out)"

# ---- connections per source -----------------------------------------------------
# From 127.0.0.3 (a source of its own): 3 at a time; each one past them
# closes the oldest of that source, none of which is authenticated.
c0=$(zike_stat v ike_dropped_connection_limit)
e0=$(zike_stat v ike_dropped_evicted)
$peer "$ep" hold 5 --source 127.0.0.3 --timeout $t > "$work/hold.out" 2>&1 &
holder=$!
until_ok 30 sh -c "[ \$($ctl -s ipc://$work/v.ctl stats | awk '\$1 == \"ike_dropped_evicted\" { print \$2 }') -ge $((${e0:-0} + 2)) ]" &&
    [ "$(zike_stat v ike_dropped_connection_limit)" -eq "$c0" ]
ok $? "5 connections from one address: the 2 oldest closed for the 2 past connections-per-source"
# Meanwhile peers from other addresses get their IKE SAs, over tcp.
zike_conf alice "$(port 1)" "peers:" \
    "  - { name: v, id: v.example, endpoint: \"$ep\", auth: psk, psk: $PSK, start: true, policies: [orders] }"
zike_start alice
until_ok 20 established v && until_ok 20 zike_active_child alice orders
ok $? "a peer from another address gets its IKE SA and child SA meanwhile"
wait $holder

# ---- a flood of idle connections cannot shut authenticated peers out --------
# max-connections 8: carol authenticates, then 4 addresses open 3 idle,
# handshaken connections each.  Each past the 8th closes the one idle
# longest that no authenticated peer spoke over: carol's stays, and dave,
# arriving after the flood, gets in.  Before, the flood took the 7 free
# places and every later connection was closed at once: dave never got
# his IKE SA, nor would carol after a reconnection.
e="tcp://127.0.0.1:$(port 5)"
econf() {
    zike_conf e "$(port 5)" "max-connections: 8" "connections-per-source: 3" "$1" "peers:" \
        "  - { name: carol, id: carol.example, $(own carol) }" \
        "  - { name: dave, id: dave.example, $(own dave) }" \
        "  - { name: erin, id: erin.example, $(own erin) }" \
        "  - { name: frank, id: frank.example, $(own frank) }"
}
econf "unauthenticated-timeout: 0"
zike_start e
until_ok 10 "$ctl" -s "ipc://$work/e.ctl" stats
for n in carol:6 dave:7 erin:8 frank:9; do
    zike_conf ${n%:*} "$(port ${n#*:})" "peers:" \
        "  - { name: e, id: e.example, endpoint: \"$e\", start: true, $(own ${n%:*}) }"
done
estat() { zike_stat e "$1"; }
zike_start carol
until_ok 20 established carol && until_ok 20 zike_active_child carol orders-carol &&
    until_ok 10 sh -c "$ctl -s ipc://$work/e.ctl stats | grep -q '^listen_authenticated  *1\$'"
ok $? "carol gets her IKE SA; her connection counts as authenticated"
c0=$(estat ike_dropped_connection_limit) flooders=""
flood() {
    for a in "$@"; do
        $peer "$e" idle 3 --source 127.0.0.$a --timeout $((4 * t)) > "$work/flood$a.out" 2>&1 &
        flooders="$flooders $!" pids="$pids $!"
        until_ok 20 grep -q handshaken "$work/flood$a.out" || return 1
    done
}
flood 2 3 4 5
[ "$(estat ike_dropped_evicted)" = 5 ] && [ "$(estat listen_connections)" = 8 ] &&
    [ "$(estat listen_authenticated)" = 1 ] &&
    [ "$(estat ike_dropped_connection_limit)" = "$c0" ]
ok $? "12 idle connections from 4 addresses into 7 free places: the 5 oldest closed, carol's kept (evicted $(estat ike_dropped_evicted), connections $(estat listen_connections), authenticated $(estat listen_authenticated))"
zike_start dave
until_ok 20 established dave && until_ok 20 zike_active_child dave orders-dave
ok $? "dave, connecting after the flood, gets his IKE SA and child SA"
flood 6
zike_start erin
erin_pid=${pids##* }
until_ok 20 established erin && until_ok 20 zike_active_child erin orders-erin &&
    until_ok 10 sh -c "$ctl -s ipc://$work/e.ctl stats | grep -q '^listen_authenticated  *3\$'"
ok $? "a second flood, then erin: she gets in too ($(cat "$work/flood6.out"))"
[ "$(estat ike_dropped_evicted)" = 10 ] && [ "$(estat listen_authenticated)" = 3 ] &&
    established carol && established dave
ok $? "no authenticated connection was closed: evicted $(estat ike_dropped_evicted), authenticated $(estat listen_authenticated)"
# 127.0.0.1 has connections-per-source 3, all authenticated: a fourth is
# refused, and none of theirs closed for it.
out=$($peer "$e" hold 1 --source 127.0.0.1 --timeout $t 2>&1)
[ "$out" = "open 0 closed 1" ] &&
    [ "$(estat ike_dropped_connection_limit)" = $((c0 + 1)) ] &&
    [ "$(estat listen_authenticated)" = 3 ]
ok $? "a source whose connections are all authenticated: the new one is refused ($out)"
# unauthenticated-timeout, set by a reload: the 5 flood connections left
# are closed, the 3 authenticated ones kept.
econf "unauthenticated-timeout: 1000"
"$ctl" -s "ipc://$work/e.ctl" reload > /dev/null &&
    until_ok 10 sh -c "$ctl -s ipc://$work/e.ctl stats | grep -q '^listen_connections  *3\$'" &&
    [ "$(estat ike_dropped_unauthenticated)" = 5 ] &&
    [ "$(estat listen_authenticated)" = 3 ] &&
    established carol && established dave && established erin
ok $? "unauthenticated-timeout 1000 ms: the 5 idle flood connections closed, the 3 authenticated kept (unauthenticated $(estat ike_dropped_unauthenticated), connections $(estat listen_connections))"
kill $flooders
# A DEALER that connects and stays quiet (frank's zike, its IKE SA not
# wanted yet) is closed and connects again; asked, it gets its SA.
kill $erin_pid
until_ok 10 sh -c "$ctl -s ipc://$work/e.ctl stats | grep -q '^listen_connections  *2\$'"
u0=$(estat ike_dropped_unauthenticated)
zike_conf frank "$(port 9)" "peers:" \
    "  - { name: e, id: e.example, endpoint: \"$e\", $(own frank) }"
zike_start frank
until_ok 20 sh -c "[ \$($ctl -s ipc://$work/e.ctl stats | awk '\$1 == \"ike_dropped_unauthenticated\" { print \$2 }') -ge $((u0 + 2)) ]" &&
    "$ctl" -s "ipc://$work/frank.ctl" initiate e > /dev/null &&
    until_ok 20 established frank &&
    until_ok 10 sh -c "$ctl -s ipc://$work/e.ctl stats | grep -q '^listen_authenticated  *3\$'"
ok $? "a quiet DEALER: closed, connected again, and then gets its IKE SA (unauthenticated $(estat ike_dropped_unauthenticated))"

# ---- the mark lasts as long as an IKE SA vouches for the connection -----------
# grace and heidi authenticate over their DEALERs' connections to r (their
# zikes start IKE SAs only when asked).  An IKE SA rekey keeps heidi's
# mark (the new IKE SA takes over the connection); zikectl terminate takes
# grace's away, the connection kept, and her next IKE SA gives it back on
# the same connection; a reload that changes her PSK (and sets
# unauthenticated-timeout to 1 s) takes it away again and her connection
# is closed; heidi's is kept.  Before, the mark was never cleared: a
# terminated or revoked peer's connection kept its place for good, never
# evicted nor timed out, and counted in listen_authenticated.
r="tcp://127.0.0.1:$(port 10)"
rconf() {
    zike_conf r "$(port 10)" "unauthenticated-timeout: $1" "peers:" \
        "  - { name: grace, id: grace.example, auth: psk, psk: $2, policies: [orders-grace] }" \
        "  - { name: heidi, id: heidi.example, $(own heidi) }"
}
rstat() { zike_stat r "$1"; }
rstat_is() { [ "$(rstat "$1")" = "$2" ]; }
rstat_over() { [ "$(rstat "$1")" -gt "$2" ]; }
rconf 0 "$PSK-grace"
zike_start r
until_ok 10 "$ctl" -s "ipc://$work/r.ctl" stats
for n in grace:11 heidi:12; do
    zike_conf ${n%:*} "$(port ${n#*:})" "peers:" \
        "  - { name: r, id: r.example, endpoint: \"$r\", $(own ${n%:*}) }"
    zike_start ${n%:*}
    until_ok 10 "$ctl" -s "ipc://$work/${n%:*}.ctl" stats &&
        "$ctl" -s "ipc://$work/${n%:*}.ctl" initiate r > /dev/null
done
until_ok 20 established grace && until_ok 20 established heidi &&
    until_ok 10 rstat_is listen_authenticated 2 && rstat_is listen_connections 2
ok $? "grace and heidi authenticated over their connections to listen (authenticated $(rstat listen_authenticated))"
k0=$(rstat ike_rekeys)
"$ctl" -s "ipc://$work/r.ctl" rekey heidi ike > /dev/null &&
    until_ok 20 rstat_over ike_rekeys "$k0" && until_ok 20 rstat_is ike_sas 2 &&
    rstat_is listen_authenticated 2 && established heidi
ok $? "heidi's IKE SA rekeyed, the old one gone: her connection still authenticated (rekeys $(rstat ike_rekeys), authenticated $(rstat listen_authenticated))"
"$ctl" -s "ipc://$work/r.ctl" terminate grace > /dev/null &&
    until_ok 10 rstat_is ike_sas 1 &&
    until_ok 10 rstat_is listen_authenticated 1 && rstat_is listen_connections 2
ok $? "zikectl terminate grace: her connection kept but no longer authenticated (authenticated $(rstat listen_authenticated), connections $(rstat listen_connections))"
"$ctl" -s "ipc://$work/grace.ctl" initiate r > /dev/null &&
    until_ok 20 rstat_is ike_sas 2 && until_ok 10 rstat_is listen_authenticated 2 &&
    rstat_is listen_connections 2
ok $? "grace's next IKE SA, over the same connection: authenticated again (authenticated $(rstat listen_authenticated), connections $(rstat listen_connections))"
u0=$(rstat ike_dropped_unauthenticated)
rconf 1000 "other-$PSK"
"$ctl" -s "ipc://$work/r.ctl" reload > /dev/null &&
    until_ok 10 rstat_is listen_authenticated 1 &&
    until_ok 10 rstat_over ike_dropped_unauthenticated "$u0" &&
    rstat_is listen_authenticated 1 && rstat_is ike_sas 1 && established heidi
ok $? "a reload that changes grace's PSK: her connection unauthenticated, then closed after unauthenticated-timeout; heidi's kept (unauthenticated $(rstat ike_dropped_unauthenticated), authenticated $(rstat listen_authenticated))"

# ---- ipc: the same ZMTP, the source is the user ---------------------------------
{
    echo "identity: { id: w.example }"
    echo "listen: ipc://$work/w.ike"
    echo "control: ipc://$work/w.ctl"
    echo "sad: $work/w.sad"
    echo "peers:"
    echo "  - { name: bob, id: bob.example, auth: psk, psk: $PSK, policies: [orders] }"
} > "$work/w.yaml"
zike_start w
until_ok 10 "$ctl" -s "ipc://$work/w.ctl" stats
out=$($peer "ipc://$work/w.ike" junk --timeout $t 2>&1)
[ "$out" = closed ]
ok $? "ipc: what is not ZMTP is closed ($out)"
zike_conf bob "$(port 2)" "peers:" \
    "  - { name: w, id: w.example, endpoint: \"ipc://$work/w.ike\", auth: psk, psk: $PSK, start: true, policies: [orders] }"
zike_start bob
until_ok 20 established w && until_ok 20 zike_active_child bob orders
ok $? "ipc: a peer gets its IKE SA and child SA"

# ---- zike's own connections to peer endpoints: the same bounds -------------
# The endpoint, or whoever answers in its place, plays a ROUTER and sends a
# message of 5,000 frames, then half a frame: zike closes each connection
# and connects again.  Before, its DEALER held the whole message.
$peer "tcp://127.0.0.1:$(port 3)" serve parts 5000 16384 --timeout $t > "$work/serve.out" 2>&1 &
server=$!
until_ok 10 grep -q listening "$work/serve.out"
zike_conf x "$(port 4)" "peers:" \
    "  - { name: evil, id: evil.example, endpoint: \"tcp://127.0.0.1:$(port 3)\", auth: psk, psk: $PSK, start: true, policies: [orders] }"
zike_start x
xpid=${pids##* }
until_ok 10 "$ctl" -s "ipc://$work/x.ctl" stats
before=$(hwm $xpid)
wait $server
after=$(hwm $xpid)
[ "$(grep -c "^closed after [0-9]* of 5000 frames" "$work/serve.out")" = 2 ] &&
    grep -q "^reconnected" "$work/serve.out" &&
    [ -n "$before" ] && [ -n "$after" ] && [ $((after - before)) -lt 16384 ]
ok $? "a peer endpoint sending 5,000 frames: closed, connected again, closed ($(tr '\n' ' ' < "$work/serve.out")), zike's peak memory +$((${after:-0} - ${before:-0})) kB"
$peer "tcp://127.0.0.1:$(port 3)" serve stall --timeout $t > "$work/stall.out" 2>&1 &
server=$!
wait $server
[ "$(grep -c "^closed after" "$work/stall.out")" = 2 ] && grep -q "^reconnected" "$work/stall.out"
ok $? "a peer endpoint stalling mid-frame: closed, connected again ($(tr '\n' ' ' < "$work/stall.out"))"

if [ "$failed" -ne 0 ]; then
    for f in "$work"/*.log "$work"/*.out; do echo "== $f"; tail -n 8 "$f"; done
fi
finish
