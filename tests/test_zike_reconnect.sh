#!/bin/sh
# zike's requests to a peer that reached it through `listen` follow the
# peer when its DEALER comes back on a new connection (doc/zike.md 1): a
# network blip (a relay between them dropping every connection) closes
# the connection zike learnt the peer on, and libzmq connects the peer
# again on a new one.  Before, zike went on sending its requests (a
# rekey, a liveness check) to the closed connection, and the peer, alive
# and connected, counted as dead once they were all lost.  Now a request
# goes to the peer's endpoint when its connection closed, and to the
# connection its newest authenticated message came on.
#
# And the peer's link, made again, is authenticated at once: its zike
# sends a liveness check on it (at most one a second per link).  Before,
# with a long `dpd` the new connection stayed unauthenticated (a flood
# could displace it, unauthenticated-timeout closed it) and zike's
# requests to a peer without an endpoint went nowhere until the peer's
# next request.
#
# And nothing b sent on a connection that broke goes out on the next one:
# a connecting ZMQ_STREAM socket kept its pipe across connections, so
# b's greeting or request queued when the relay closed the connection came
# before b's new greeting, and a closed the new connection as breaking ZMTP.
#
# And a link a reload cannot make (out of descriptors) is made a second
# after it can be, not at the next reload; the reload goes on past it.
# And with endpoints both ways, neither zike closes the other's link.
b=$(cd "${builddir:-.}" && pwd)
zike="$b/ike/zike" ctl="$b/tools/zikectl"
relay="/usr/bin/python3 $(cd "${srcdir:-.}" && pwd)/tests/tcp_relay.py"
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
work_begin reconnect 6
PSK=correct-horse-battery-staple

ctl_a() { "$ctl" -s "ipc://$work/a.ctl" "$@"; }
lines() { grep -c "$2" "$work/$1" 2> /dev/null; }
# more_lines NAME PATTERN N: more than N lines of $work/NAME match.
more_lines() { [ "$(lines "$1" "$2")" -gt "$3" ]; }
stat_is() { [ "$(zike_stat "$1" "$2")" = "$3" ]; }
stat_over() { [ "$(zike_stat "$1" "$2")" -gt "$3" ]; }
# rekeyed NAME PEER: NAME's rekey of its child SA with PEER answered (its
# count of rekeys went up); $r0 and $r1 the count before and after.
rekeyed() {
    r0=$(zike_stat "$1" rekeys)
    "$ctl" -s "ipc://$work/$1.ctl" rekey "$2" > /dev/null &&
        until_ok 30 stat_over "$1" rekeys "$r0"
    rc=$?
    r1=$(zike_stat "$1" rekeys)
    return $rc
}
# relay_drop: every connection through the relay dropped, and the peer's
# link connected again through it.
relay_drop() {
    d=$(lines relay.out dropped)
    kill -USR1 "$relay_pid"
    until_ok 30 more_lines relay.out dropped "$d" &&
        until_ok 30 sh -c "tail -n 1 $work/relay.out | grep -q 'pairs 1'"
}
# relay_hold: every connection through the relay dropped and the network
# kept down (new connections closed at once), until relay_release, after
# which b's link connects again; a has no connection from b meanwhile.
relay_hold() {
    h=$(lines relay.out held)
    kill -USR2 "$relay_pid"
    until_ok 30 more_lines relay.out held "$h" &&
        until_ok 30 stat_is a listen_connections 0
}
relay_release() {
    h=$(lines relay.out released)
    kill -USR2 "$relay_pid"
    until_ok 30 more_lines relay.out released "$h" &&
        until_ok 30 sh -c "tail -n 1 $work/relay.out | grep -q 'pairs 1'"
}
# b's checks on its link made again, so far.
checks() { lines b.log "our connection to tcp://127.0.0.1:$(port 2) came back"; }

# a answers b, and knows b's endpoint; b reaches a through the relay.
# Liveness checks every hour only: none comes by itself.  a_conf ENDPOINT
# [MS]: a retransmits after MS (500): where a request must reach b first
# time, longer, so that only a request sent where b is not is retransmitted
# (a loaded machine may take more than 500 ms to answer).
a_conf() {
    zike_conf a "$(port 0)" "retransmit: { timeout-ms: ${2:-500}, tries: 5 }" "peers:" \
        "  - { name: b, id: b.example, $1 auth: psk, psk: $PSK, dpd: 1h, policies: [orders] }"
}
a_conf "endpoint: \"tcp://127.0.0.1:$(port 1)\","
zike_conf b "$(port 1)" "peers:" \
    "  - { name: a, id: a.example, endpoint: \"tcp://127.0.0.1:$(port 2)\", auth: psk, psk: $PSK, dpd: 1h, start: true, policies: [orders] }"
$relay "$(port 2)" "$(port 0)" > "$work/relay.out" 2>&1 &
relay_pid=$!
pids="$pids $relay_pid"
until_ok 10 grep -q ready "$work/relay.out"
zike_start a
a_pid=$!
zike_start b
until_ok 30 zike_active_child a orders && until_ok 30 zike_active_child b orders
ok $? "b's IKE SA and child SA with a, through the relay"

until_ok 30 stat_is a listen_authenticated 1
ok $? "b's link is an authenticated connection to a's listen"
# a checks its own link to b once it is up (at once, or when it comes up
# later on a loaded machine): b's answer there makes it where a last heard
# b.  Waited for, so that it does not come in the middle of part 1, where
# a must last have heard b on b's connection.
until_ok 30 stat_is b listen_authenticated 1
ok $? "a's link is an authenticated connection to b's listen"

# ---- 1: the connection a learnt b on closed; a knows b's endpoint ---------
# a, the responder, checked its own link to b at once, and b answers
# there.  Once b's link through the relay comes back, b checks it, and a's
# requests go where b spoke last: b's connection to a's listen.
c0=$(checks)
relay_drop
ok $? "b's connection dropped and made again through the relay"
until_ok 30 more_lines b.log "our connection to tcp://127.0.0.1:$(port 2) came back" "$c0" &&
    until_ok 30 stat_is a listen_connections 1 && until_ok 30 stat_is a listen_authenticated 1
ok $? "b's check on it authenticated it at a, the only connection there"
relay_hold
ok $? "the relay dropped b's connection and keeps the network down"
rekeyed a b
ok $? "a's rekey of the child SA is answered (rekeys $r0 -> $r1)"
until_ok 30 grep -q "its connection to our listen endpoint closed: requests go to tcp://127.0.0.1:$(port 1)" "$work/a.log"
ok $? "a says its requests went to b's endpoint"
c0=$(checks)
relay_release
ok $? "the network is back, and b's link connected again through the relay"
until_ok 30 stat_is a listen_authenticated 1
ok $? "b's new connection is authenticated at a without waiting for dpd (listen_authenticated $(zike_stat a listen_authenticated))"
[ "$(checks)" -gt "$c0" ]
ok $? "b logged its liveness check on the link that came back"

# ---- 2: a does not know b's endpoint: its requests follow b's messages ----
# a retransmits only after 20 s (60 at most, scaled as the waits are).
slow_rt=$((20000 * scale))
[ "$slow_rt" -le 60000 ] || slow_rt=60000
a_conf "" "$slow_rt"
ctl_a reload > /dev/null
relay_hold && relay_release
ok $? "b's connection dropped and made again a second time"
# b's liveness check on its new connection comes before any request of a.
until_ok 30 stat_is a listen_authenticated 1
ok $? "b's new connection is authenticated at a again (listen_authenticated $(zike_stat a listen_authenticated))"
t0=$(zike_stat a retransmits)
rekeyed a b
ok $? "a's own rekey reaches b on b's new connection (rekeys $r0 -> $r1)"
stat_is a retransmits "$t0"
ok $? "with no retransmission (retransmits $t0 -> $(zike_stat a retransmits))"
# a's request in flight when b's connection closed goes again on b's new
# one as soon as b speaks there.  Before, it waited for a's retransmission
# timeout, longer than the 10 s given here.
relay_hold
ok $? "b's connection dropped, the network kept down"
r0=$(zike_stat a rekeys)
ctl_a rekey b > /dev/null
relay_release
ok $? "the network is back"
until_ok 10 stat_over a rekeys "$r0"
ok $? "a's rekey, asked while b was away, is answered as b comes back (rekeys $r0 -> $(zike_stat a rekeys))"
relay_drop
ok $? "b's connection dropped and made again a third time"
rekeyed b a
ok $? "b's rekey is answered by a"
# (a counted that rekey as it answered, before b had the answer.)
rekeyed a b
ok $? "a's own rekey then reaches b (rekeys $r0 -> $r1)"

# ---- 3: a flapping link: at most one check a second --------------------
c0=$(checks) f0=$(now_s)
for i in 1 2 3 4; do relay_drop || break; done && relay_hold && relay_release
ok $? "b's link dropped and made again 5 times"
until_ok 30 stat_is a listen_authenticated 1
ok $? "b's last connection is authenticated at a"
c1=$(checks) took=$(($(now_s) - f0 + 1))
[ $((c1 - c0)) -le $((took + 1)) ]
ok $? "b sent $((c1 - c0)) checks for 5 connections in about $took s"
stat_is a dead_peers 0 && stat_is b dead_peers 0
ok $? "neither counted the other dead (dead_peers $(zike_stat a dead_peers), $(zike_stat b dead_peers))"
stat_is a ike_dropped_framing 0
ok $? "no connection of b's broke ZMTP at a's listen in 8 drops (ike_dropped_framing $(zike_stat a ike_dropped_framing))"

# ---- 4: reloads keep what they do not change --------------------------
# a's link to b (direct, no relay) made by a reload is checked at once, as
# one made again: b's listen authenticates it without waiting for dpd.
a_conf "endpoint: \"tcp://127.0.0.1:$(port 1)\","
ctl_a reload > /dev/null
until_ok 30 stat_is b listen_authenticated 1
ok $? "a's link made by a reload is authenticated at b at once (listen_authenticated $(zike_stat b listen_authenticated))"
until_ok 30 grep -q "our connection to tcp://127.0.0.1:$(port 1) came back" "$work/a.log"
ok $? "a logged its liveness check on it"
# link_port: the local port of a's connection to b's listen.
link_port() { ss -Htn state established "( dport = :$(port 1) )" | awk '{ print $3; exit }'; }
p0=$(link_port)
ctl_a reload > /dev/null && ctl_a reload > /dev/null
p1=$(link_port)
[ -n "$p0" ] && [ "$p0" = "$p1" ] && stat_is b listen_authenticated 1
ok $? "a reload that keeps b's endpoint keeps a's connection to it ($p0 -> $p1) and its authentication"
# a's requests now go out on its link; a reload that takes b's endpoint
# away sends them to b's connection to a's listen, where b spoke last.
rekeyed a b
ok $? "a's rekey goes out on its link (rekeys $r0 -> $r1)"
a_conf ""
ctl_a reload > /dev/null
rekeyed a b
ok $? "after a reload without b's endpoint, a's rekey reaches b on b's connection (rekeys $r0 -> $r1)"

# ---- 5: a link a reload cannot make ------------------------------------
# With one descriptor left to a (its limit lowered), a reload that adds c
# first and gives b its endpoint back makes c's link and cannot make b's.
# Before, b stayed without a link until the next reload; now a makes it a
# second after a's descriptors come back, and b's listen authenticates it.
# A second such reload rotates b's PSK: the link it cannot make does not
# stop the revocation.  (b listens on port 1; nothing on port 3.)
# zike is not dumpable (no core with its keys): only root reads its
# /proc/PID/fd, which this part needs to leave it one descriptor.
if ls "/proc/$a_pid/fd" > /dev/null 2>&1; then
nofile_hard=$(prlimit --pid "$a_pid" --nofile --noheadings --output HARD)
# one_fd_left: a's limit lowered to leave it one free descriptor number.
one_fd_left() {
    lim=$(ls /proc/"$a_pid"/fd | sort -n | awk '
        { open[$1] = 1 }
        END { free = 0; for (l = 0; ; l++) { if (!(l in open)) free++;
                                             if (free == 1) { print l + 1; exit } } }')
    prlimit --pid "$a_pid" --nofile="$lim:$nofile_hard"
}
fds_back() { prlimit --pid "$a_pid" --nofile="$nofile_hard:$nofile_hard"; }
# hup_reload: a reloads on SIGHUP (no control connection: no descriptor).
hup_reload() {
    n=$(lines a.log "configuration reloaded")
    kill -HUP "$a_pid" && until_ok 30 more_lines a.log "configuration reloaded" "$n"
}
c_peer() {
    echo "  - { name: $1, id: $1.example, endpoint: \"tcp://127.0.0.1:$(port 3)\", auth: psk, psk: $PSK-$1, dpd: 1h }"
}
b_peer() {
    echo "  - { name: b, id: b.example, endpoint: \"tcp://127.0.0.1:$(port 1)\", auth: psk, psk: $1, dpd: 1h, policies: [orders] }"
}
zike_conf a "$(port 0)" "retransmit: { timeout-ms: 500, tries: 5 }" "peers:" \
    "$(c_peer c)" "$(b_peer $PSK)"
until_ok 30 stat_is b listen_connections 0
ok $? "b's listen has no connection from a (listen_connections $(zike_stat b listen_connections))"
one_fd_left && hup_reload
ok $? "a reloaded with one descriptor left"
fds_back
grep -q "peer b: no socket for its endpoint" "$work/a.log"
ok $? "a said it could not make b's link"
until_ok 30 grep -q "peer b: its link to tcp://127.0.0.1:$(port 1) made at last, connecting" "$work/a.log"
ok $? "a made b's link without another reload"
until_ok 30 stat_is b listen_authenticated 1
ok $? "b's listen authenticated a's link (listen_authenticated $(zike_stat b listen_authenticated))"
rekeyed a b
ok $? "a's rekey goes out on it (rekeys $r0 -> $r1)"

zike_conf a "$(port 0)" "retransmit: { timeout-ms: 500, tries: 5 }" "peers:" \
    "$(c_peer c)" "$(c_peer c2)" "$(c_peer d)" "$(b_peer rotated-$PSK)"
s0=$(lines a.log "no socket for its endpoint")
one_fd_left && hup_reload
ok $? "a reloaded with one descriptor left, b's PSK rotated"
fds_back
more_lines a.log "no socket for its endpoint" "$s0"
ok $? "a said it could not make a link"
grep -q "peer b: .*IKE SA deleted, its child SAs removed" "$work/a.log"
ok $? "the reload went on and revoked b's IKE SA"
until_ok 30 sh -c "! \"$ctl\" -s ipc://$work/a.ctl list | grep -q 'child orders .* active'"
ok $? "a holds no child SA with b"
else
    echo "skip: part 5 reads zike's /proc/$a_pid/fd, which only root may (zike is not dumpable)"
fi

# ---- 6: endpoints both ways: each side's link stays authenticated -------
# p and q each reach the other's listen over a link of their own.  q's
# link is authenticated at p when q speaks over it (q, the responder,
# checks it as soon as the IKE SA is established; before, p closed it
# unauthenticated-timeout after it opened, and q checked it when it came
# back); p's requests going over p's own link do not take that away.
# Before, the mark followed p's route: when p's link came back (or a
# reload made it), p moved its route there and q's link to p was
# unauthenticated again, closed after unauthenticated-timeout, made
# again, checked, and the same at q: each side closed the other's link
# every timeout.
pq_conf() {
    zike_conf "$1" "$(port "$2")" "unauthenticated-timeout: $((5000 * scale))" "peers:" \
        "  - { name: $3, id: $3.example, endpoint: \"tcp://$5:$(port "$4")\", auth: psk, psk: $PSK, dpd: 1h, $6 policies: [pq] }"
}
pq_conf p 4 q 5 127.0.0.1 "start: true,"
pq_conf q 5 p 4 127.0.0.1 ""
# q listens on every address, so that p can be given another endpoint of
# q's without a name to resolve (a build host may have no /etc/hosts).
sed -i "s|^listen: .*|listen: tcp://*:$(port 5)|" "$work/q.yaml"
zike_start p
zike_start q
until_ok 30 zike_active_child p pq && until_ok 30 zike_active_child q pq
ok $? "p and q, endpoints both ways, hold their child SAs"
until_ok 30 stat_is p listen_authenticated 1 && until_ok 30 stat_is q listen_authenticated 1
ok $? "each one's listen holds the other's link, authenticated"
# q, the responder, checked its link at once: p did not close it first.
stat_is p ike_dropped_unauthenticated 0 && stat_is q ike_dropped_unauthenticated 0
ok $? "neither closed the other's link (ike_dropped_unauthenticated $(zike_stat p ike_dropped_unauthenticated), $(zike_stat q ike_dropped_unauthenticated))"
# A reload that gives p a new link to q (the same port, another address
# of this host's loopback).
pq_conf p 4 q 5 127.0.0.2 "start: true,"
n=$(lines p.log "our connection to tcp://127.0.0.2:$(port 5) came back")
"$ctl" -s "ipc://$work/p.ctl" reload > /dev/null
until_ok 30 more_lines p.log "our connection to tcp://127.0.0.2:$(port 5) came back" "$n"
ok $? "p's new link to q is checked"
stat_is p listen_authenticated 1
ok $? "q's link to p is still authenticated at p (listen_authenticated $(zike_stat p listen_authenticated))"
u0=$(zike_stat p ike_dropped_unauthenticated)
rekeyed p q
ok $? "p's rekey goes out on its new link (rekeys $r0 -> $r1)"
stat_is p listen_authenticated 1 && stat_is q listen_authenticated 1 &&
    stat_is p ike_dropped_unauthenticated "$u0"
ok $? "both links still authenticated, none closed at p (ike_dropped_unauthenticated $u0 -> $(zike_stat p ike_dropped_unauthenticated))"

if [ "$failed" -ne 0 ]; then
    for f in a.log b.log p.log q.log relay.out; do echo "== $f"; tail -n 20 "$work/$f" | sed 's/^/# /'; done
fi
finish
