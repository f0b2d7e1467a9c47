#!/bin/sh
# zike over IPv6, in a network namespace whose loopback holds addresses
# of two /64s: a peer gets its IKE SA and child SA over tcp to an IPv6
# listen address, and an IKE_SA_INIT flood from two addresses of one /64
# gets half-open-per-source (5) half-open IKE SAs between them, not 5
# each (a holder of a /64 has 2^64 addresses).  Before, zike set no
# ZMQ_IPV6 and could neither listen nor connect on IPv6 ("No such
# device"), and each IPv6 address was a source of its own, for
# half-open-per-source and connections-per-source alike.  Needs root
# (a network namespace); skipped otherwise.
b=$(cd "${builddir:-.}" && pwd)
zike="$b/ike/zike" ctl="$b/tools/zikectl" flood="$b/tests/ike_flood"
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
[ "$(id -u)" -eq 0 ] || skip_all "not root: network namespaces need it"
command -v ip > /dev/null || skip_all "iproute2 not installed"
ns=zv6$$
ip netns add "$ns" 2> /dev/null || skip_all "cannot create a network namespace"
work=$(mktemp -d "${TMPDIR:-/tmp}/zesp-ipv6.XXXXXX")
chmod 700 "$work"
cleanup() {
    for p in $(ip netns pids "$ns" 2> /dev/null); do kill -9 "$p"; done
    ip netns del "$ns" 2> /dev/null
    rm -rf "$work"
}
trap cleanup EXIT
umask 077
ip -n "$ns" link set lo up || skip_all "cannot set up the namespace's loopback"
for a in 2001:db8:1:2::1 2001:db8:1:2::5 2001:db8:1:2:ffff::6 2001:db8:1:3::1; do
    ip -n "$ns" -6 addr add "$a/128" dev lo nodad ||
        skip_all "no IPv6 here (cannot add $a)"
done
in_ns() { ip netns exec "$ns" "$@"; }
PSK=correct-horse-battery-staple
zike_conf v 5500 "max-ike-sas: 64" "half-open-timeout: 600000" \
    "connections-per-source: 3" "peers:" \
    "  - { name: alice, id: alice.example, auth: psk, psk: $PSK, policies: [orders] }"
sed -i 's#^listen: .*#listen: "tcp://[2001:db8:1:2::1]:5500"#' "$work/v.yaml"
zike_conf alice 5501 "peers:" \
    "  - { name: v, id: v.example, endpoint: \"tcp://[2001:db8:1:3::1]:0;[2001:db8:1:2::1]:5500\", auth: psk, psk: $PSK, start: true, policies: [orders] }"
sed -i 's#^listen: .*#listen: "tcp://[2001:db8:1:3::1]:5501"#' "$work/alice.yaml"
in_ns "$zike" -c "$work/v.yaml" 2>> "$work/v.log" &
until_ok 10 "$ctl" -s "ipc://$work/v.ctl" stats
ok $? "zike listens on an IPv6 address ($(grep -m1 listen "$work/v.log"))"

in_ns "$flood" "tcp://[2001:db8:1:2::5]:0;[2001:db8:1:2::1]:5500" 50 "$(ms 3000)" cookies > "$work/flood5.out" 2>&1
in_ns "$flood" "tcp://[2001:db8:1:2:ffff::6]:0;[2001:db8:1:2::1]:5500" 50 "$(ms 3000)" cookies > "$work/flood6.out" 2>&1
h5=$(sed -n 's/.*half-open \([0-9]*\),.*/\1/p' "$work/flood5.out")
h6=$(sed -n 's/.*half-open \([0-9]*\),.*/\1/p' "$work/flood6.out")
[ "${h5:-x}" = 5 ] && [ "${h6:-x}" = 0 ] && [ "$(zike_stat v ike_sas)" = 5 ]
ok $? "two addresses of one /64 get 5 half-open IKE SAs between them ($(cat "$work/flood5.out"); $(cat "$work/flood6.out"))"

in_ns "$zike" -c "$work/alice.yaml" 2>> "$work/alice.log" &
until_ok 20 zike_active_child alice orders && until_ok 20 zike_active_child v orders
ok $? "a peer from another /64 gets its IKE SA and child SA over IPv6 during the flood"

# Four idle connections, two from each of two addresses of one /64, with
# connections-per-source 3: the fourth closes the oldest (before, each
# address was a source of its own, 2 of 3, and none was closed).
ev0=$(zike_stat v ike_dropped_evicted)
evicted_more() { [ "$(zike_stat v ike_dropped_evicted)" -gt "${ev0:-0}" ]; }
for a in 2001:db8:1:2::5 2001:db8:1:2:ffff::6 2001:db8:1:2::5 2001:db8:1:2:ffff::6; do
    in_ns "$flood" "tcp://[$a]:0;[2001:db8:1:2::1]:5500" 1 "$(ms 20000)" > /dev/null 2>&1 &
done
until_ok 10 evicted_more
ok $? "a /64 is one source for connections-per-source too: its 4th connection closed its oldest (evicted $ev0 -> $(zike_stat v ike_dropped_evicted))"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
