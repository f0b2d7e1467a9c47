#!/bin/sh
# zike between two hosts: each a network namespace with its own zike, its
# own SAD and its own applications, joined by a veth pair whose addresses
# exist only inside the namespaces.  The daemons negotiate over tcp between
# the hosts, the applications exchange protected traffic through their
# SADs, a rekey under traffic and a kill -9 of one zike lose nothing, and
# SIGTERM removes the SAs on both hosts.  Needs root; skipped otherwise.
b=$(cd "${builddir:-.}" && pwd)
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
[ "$(id -u)" -eq 0 ] || skip_all "not root: network namespaces need it"
command -v ip > /dev/null || skip_all "iproute2 not installed"
na=zha$$ nb=zhb$$
ip netns add "$na" 2> /dev/null || skip_all "cannot create a network namespace"
ip netns add "$nb"
work=$(mktemp -d "${TMPDIR:-/tmp}/zesp-netns.XXXXXX")
chmod 700 "$work"
cleanup() {
    for n in "$na" "$nb"; do
        for p in $(ip netns pids "$n" 2> /dev/null); do kill -9 "$p"; done
        ip netns del "$n" 2> /dev/null
    done
    rm -rf "$work"
}
trap cleanup EXIT
umask 077
ip link add "va$$" type veth peer name "vb$$" &&
    ip link set "va$$" netns "$na" && ip link set "vb$$" netns "$nb" &&
    ip -n "$na" addr add 10.79.0.1/24 dev "va$$" &&
    ip -n "$nb" addr add 10.79.0.2/24 dev "vb$$" &&
    ip -n "$na" link set "va$$" up && ip -n "$nb" link set "vb$$" up &&
    ip -n "$na" link set lo up && ip -n "$nb" link set lo up ||
    skip_all "cannot set up the veth pair"
in_a() { ip netns exec "$na" "$@"; }
in_b() { ip netns exec "$nb" "$@"; }

(cd "$work" && "$b/tools/zesp" keygen --identity a > /dev/null &&
    "$b/tools/zesp" keygen --identity b > /dev/null)
cat > "$work/a.yaml" <<EOT
identity: { id: host-a.example, key: a.key }
listen: tcp://10.79.0.1:5500
control: ipc://$work/a.ctl
sad: $work/a.sad
rekey-overlap: 500
peers:
  - name: host-b
    id: host-b.example
    endpoint: tcp://10.79.0.2:5500
    auth: ed25519
    pubkey: "$(cat "$work/b.pub")"
    start: true
    dpd: 2s
    policies: [orders]
EOT
cat > "$work/b.yaml" <<EOT
identity: { id: host-b.example, key: b.key }
listen: tcp://10.79.0.2:5500
control: ipc://$work/b.ctl
sad: $work/b.sad
rekey-overlap: 500
peers:
  - name: host-a
    id: host-a.example
    auth: ed25519
    pubkey: "$(cat "$work/a.pub")"
    policies: [orders]
EOT
in_b "$b/ike/zike" -c "$work/b.yaml" 2>> "$work/b.log" &
in_a "$b/ike/zike" -c "$work/a.yaml" 2>> "$work/a.log" &
active() { "$b/tools/zikectl" -s "ipc://$work/$1.ctl" list | grep -q "child orders .* active"; }
ike_rekeys() { "$b/tools/zikectl" -s "ipc://$work/$1.ctl" stats | awk '$1 == "ike_rekeys" { print $2 }'; }
sent() { q=$(out_seq "$work/$1.sad" orders); [ "${q:-0}" -ge "$2" ]; }     # host, N
moved() { q=$(out_spi "$work/$1.sad" orders); [ -n "$q" ] && [ "$q" != 0x00000000 ] && [ "$q" != "$2" ]; }
above() { [ "$(ike_rekeys "$1")" -gt "$2" ]; }
until_ok 20 active a && until_ok 20 active b
ok $? "two hosts: IKE SA and child SA over tcp://10.79.0.x"
ip -n "$na" addr show | grep -q 10.79.0.2
ok $((! $?)) "host A does not have host B's address (separate hosts)"
pp="$b/examples/policy_pingpong" pt=$(ms 20000)
in_b "$pp" --timeout-ms "$pt" --sad "$work/b.sad" --policy orders --bind tcp://10.79.0.2:6000 --count 300 > "$work/srv.out" 2>&1 &
srv=$!
in_a "$pp" --timeout-ms "$pt" --sad "$work/a.sad" --policy orders --connect tcp://10.79.0.2:6000 --count 300 --interval-ms 10 > "$work/cli.out" 2>&1 &
cli=$!
# Under traffic, one after another: a child rekey, an IKE rekey, then
# kill -9 of host A's zike, restarted once its port is free.
until_ok 20 sent a 10
q=$(out_spi "$work/a.sad" orders)
"$b/tools/zikectl" -s "ipc://$work/a.ctl" rekey host-b > /dev/null
until_ok 20 moved a "$q" && until_ok 20 sent a 10
r=$(ike_rekeys b)
"$b/tools/zikectl" -s "ipc://$work/b.ctl" rekey host-a ike > /dev/null
until_ok 20 above b "${r:-0}"
pkill -9 -f "zike -c $work/a.yaml"
until_ok 20 not_running "zike -c $work/a.yaml"
in_a "$b/ike/zike" -c "$work/a.yaml" 2>> "$work/a.log" &
wait $cli; rc=$?
wait $srv
[ $rc -eq 0 ]; ok $? "300 request/reply pairs across hosts through a child rekey, an IKE rekey and kill -9 of host A's zike"
until_ok 20 active a; ok $? "host A's restarted zike has a new child SA"
until_ok 20 sh -c "[ \$(ZESP_SAD=$work/a.sad $b/tools/zesp sa list | grep -c '^0x') -eq 2 ]"
ok $? "host A's SAD is back to one SA pair"
pkill -TERM -f "zike -c $work/a.yaml"
until_ok 20 sh -c "[ \$(ZESP_SAD=$work/b.sad $b/tools/zesp sa list | grep -c '^0x') -eq 0 ] && [ \$(ZESP_SAD=$work/a.sad $b/tools/zesp sa list | grep -c '^0x') -eq 0 ]"
ok $? "SIGTERM on host A: both hosts' SADs are empty"
if [ "$failed" -ne 0 ]; then
    for f in a.log b.log cli.out srv.out; do echo "== $f"; tail -n 15 "$work/$f"; done
fi
finish
