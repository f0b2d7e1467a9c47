#!/bin/sh
# Group SAs across hosts (doc/zike.md 9).  Six hosts, each a network
# namespace on one bridge with its own zike, its own SAD and its own
# applications (all on 127.0.0.1 with distinct ports where namespaces are
# not available):
#   h1  the group key server (zike), an XSUB/XPUB proxy and a ROUTER/DEALER
#       broker, neither of which holds a key
#   h2  publisher of "prices", client of "payments"
#   h3  publisher of "prices", signed publisher of "alerts"
#   h4..h6  subscribers of "prices", workers of "payments" (h4 also
#       receives "alerts")
# Checks: registration; two publishers interleaved through the proxy with no
# (SPI, Sender ID, sequence) reused on the wire and a group rekey in the
# middle without a message lost; any worker answering a request and the
# reply protected back; source authentication; a member that leaves and a
# member removed from the configuration read nothing sent afterwards; a
# member host that dies is found by liveness checks and the group rekeyed;
# a member's zike killed and restarted registers again and keeps receiving.
b=$(cd "${builddir:-.}" && pwd)
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
[ -x "$b/tests/group_peer" ] || skip_all "tests/group_peer not built"
hosts_begin groups 6
zesp="$b/tools/zesp" zikectl="$b/tools/zikectl" gp="$b/tests/group_peer"
ctl() { n=$1; shift; "$zikectl" -s "ipc://$work/h$n.ctl" "$@"; }

(cd "$work" && for n in 1 2 3 4 5 6; do "$zesp" keygen --identity "h$n" > /dev/null; done &&
    "$zesp" keygen --identity sign3 > /dev/null)
pub() { cat "$work/$1.pub"; }
h1=$(ip_of 1)
gcks_conf() {   # $1: receivers of prices
    cat <<EOT
identity: { id: h1.example, key: $work/h1.key }
listen: tcp://$h1:5510
control: ipc://$work/h1.ctl
sad: $work/h1.sad
retransmit: { timeout-ms: $(ms 250), tries: 3 }
peers:
EOT
    for n in 2 3 4 5 6; do
        echo "  - { name: h$n, id: h$n.example, auth: ed25519, pubkey: \"$(pub h$n)\", dpd: 1s }"
    done
    cat <<EOT
groups:
  - name: prices
    activation-delay: 1s
    deactivation-delay: 3s
    senders: [h2.example, h3.example]
    receivers: [$1]
  - name: payments
    senders: [h2.example]
    receivers: [h4.example, h5.example, h6.example]
  - name: replies
    senders: [h4.example, h5.example, h6.example]
    receivers: [h2.example]
  - name: alerts
    source-auth: true
    senders: [{ id: h3.example, sign-pubkey: "$(pub sign3)" }]
    receivers: [h4.example]
EOT
}
gcks_conf "h4.example, h5.example, h6.example" > "$work/h1.yaml"
member_conf() {  # $1: host number, then join lines
    n=$1; shift
    cat <<EOT
identity: { id: h$n.example, key: $work/h$n.key }
listen: tcp://$(ip_of "$n"):55${n}0
control: ipc://$work/h$n.ctl
sad: $work/h$n.sad
peers:
  - { name: gcks, id: h1.example, endpoint: "tcp://$h1:5510", auth: ed25519, pubkey: "$(pub h1)", dpd: 5s }
join:
EOT
    for j in "$@"; do echo "  - $j"; done
}
member_conf 2 "{ group: prices, server: gcks, role: sender }" \
    "{ group: payments, server: gcks, role: sender }" \
    "{ group: replies, server: gcks, role: receiver }" > "$work/h2.yaml"
member_conf 3 "{ group: prices, server: gcks, role: sender }" \
    "{ group: alerts, server: gcks, role: sender, sign-key: $work/sign3.key }" > "$work/h3.yaml"
for n in 4 5 6; do
    set -- "{ group: prices, server: gcks, role: receiver }" \
        "{ group: payments, server: gcks, role: receiver }" \
        "{ group: replies, server: gcks, role: sender }"
    [ $n -eq 4 ] && set -- "$@" "{ group: alerts, server: gcks, role: receiver }"
    member_conf $n "$@" > "$work/h$n.yaml"
done
bad=0
for n in 1 2 3 4 5 6; do
    "$b/ike/zike" --check -c "$work/h$n.yaml" > /dev/null 2>> "$work/check.log" || bad=1
done
ok $bad "the six configurations check"

for n in 1 2 3 4 5 6; do
    on $n "$b/ike/zike" -c "$work/h$n.yaml" 2>> "$work/h$n.log" &
done
holding() {  # group members: all registered and holding the current SA
    ctl 1 groups | grep -q "serves $1: SA 0x[0-9a-f]*, $2 members, $2 hold it"
}
sending() {  # host, group: the host's policy sends on the group's current SA
    c=$(ctl 1 groups | sed -n "s/^serves $2: SA \(0x[0-9a-f]*\),.*/\1/p")
    [ -n "$c" ] && [ "$(out_spi "$work/h$1.sad" "$2")" = "$c" ]
}
wire() {  # at least N ESP frames through the proxy
    [ "$(grep -c . "$work/wire.log")" -ge "$1" ]
}
connected() {  # at least N workers' connections up at the broker
    [ "$(grep -c "worker connected" "$work/broker.out")" -ge "$1" ]
}
until_ok 30 holding prices 5 && until_ok 20 holding payments 4 &&
    until_ok 20 holding replies 4 && until_ok 20 holding alerts 2
ok $? "members on five hosts registered with the key server (G-IKEv2 GSA_REGISTRATION)"
ctl 1 groups > "$work/groups.txt" &&
    grep -q "^serves alerts: .*, source-auth signature$" "$work/groups.txt" &&
    grep -q "^serves prices: .*, source-auth false$" "$work/groups.txt"
ok $? "zikectl groups shows each group's source-auth (alerts signature, prices false)"
sids=$(ctl 1 groups | sed -n '/^serves prices/,/^serves/s/.*member h\([23]\) sender.*sender-id \([0-9]*\).*/\1:\2/p' | sort -u | tr '\n' ' ')
[ "$sids" = "2:1 3:2 " ]
ok $? "each publisher has its own Sender ID (host:id $sids)"
# The senders' activation delay over, each sender's policy uses its SA.
until_ok 20 sending 2 prices && until_ok 20 sending 3 prices &&
    until_ok 20 sending 2 payments && until_ok 20 sending 3 alerts &&
    until_ok 20 sending 4 replies && until_ok 20 sending 5 replies &&
    until_ok 20 sending 6 replies

# -- two publishers, interleaved, through a proxy that holds no key; a
#    group rekey in the middle: it is asked for once traffic flows, and
#    each publisher sends its second half only on the new SA
on 1 "$gp" proxy --xsub "tcp://$h1:6001" --xpub "tcp://$h1:6002" \
    --log "$work/wire.log" > "$work/proxy.out" &
for n in 4 5 6; do
    on $n "$gp" sub --sad "$work/h$n.sad" --connect "tcp://$h1:6002" --topic prices \
        --tag p1 --count 3000 --senders 2 --timeout-ms "$(ms 60000)" > "$work/sub$n.p1" 2>&1 &
done
until_ok 30 has_subscribers "$work/proxy.out" prices 3
on 2 "$gp" pub --sad "$work/h2.sad" --policy prices --connect "tcp://$h1:6001" \
    --topic prices --tag p1 --count 3000 --interval-us 1000 --switch-at 1500 \
    --timeout-ms "$(ms 60000)" > "$work/pub2.p1" 2>&1 &
p2=$!
on 3 "$gp" pub --sad "$work/h3.sad" --policy prices --connect "tcp://$h1:6001" \
    --topic prices --tag p1 --count 3000 --interval-us 1000 --switch-at 1500 \
    --timeout-ms "$(ms 60000)" > "$work/pub3.p1" 2>&1 &
p3=$!
until_ok 30 wire 100
old=$(ctl 1 groups | sed -n 's/serves prices: SA 0x\([0-9a-f]*\).*/\1/p')
ctl 1 rekey-group prices > /dev/null
wait $p2 $p3
until_ok 60 sh -c "grep -q 'sub p1' $work/sub4.p1 && grep -q 'sub p1' $work/sub5.p1 && grep -q 'sub p1' $work/sub6.p1"
all=0
for n in 4 5 6; do
    grep -q "sub p1: accepted 6000 dup 0 other 0 rejected-nosa 0 rejected-other 0 senders 2" "$work/sub$n.p1" || all=1
done
ok $all "3 subscribers on 3 hosts each got all 6000 messages of 2 publishers, none twice, through a group rekey"
new=$(ctl 1 groups | sed -n 's/serves prices: SA 0x\([0-9a-f]*\).*/\1/p')
[ -n "$old" ] && [ "$old" != "$new" ] && grep -q "^$old" "$work/wire.log" && grep -q "^$new" "$work/wire.log"
ok $? "traffic moved from group SA $old to $new under load"
[ "$(grep -c . "$work/wire.log")" -eq 6000 ] && [ -z "$(sort "$work/wire.log" | uniq -d | head -1)" ]
ok $? "6000 ESP frames on the wire, no (SPI, IV) = (SPI, Sender ID, sequence) twice"
[ "$(cut -c9-12 "$work/wire.log" | sort -u | wc -l)" -eq 2 ]
ok $? "the IVs carry two Sender IDs"
grep "from h" "$work/sub4.p1" | sed 's/^/# /'

# -- request/reply: any worker, reply protected back
on 1 "$gp" broker --front "tcp://$h1:6003" --back "tcp://$h1:6004" > "$work/broker.out" &
for n in 4 5 6; do
    on $n "$gp" worker --sad "$work/h$n.sad" --policy replies \
        --connect "tcp://$h1:6004" --name "w$n" 2> "$work/worker$n.err" &
done
until_ok 30 connected 3
on 2 "$gp" client --sad "$work/h2.sad" --policy payments --connect "tcp://$h1:6003" \
    --count 300 --timeout-ms "$(ms 20000)" > "$work/client.out" 2>&1
ok $? "300 requests through a ROUTER/DEALER broker, each answered and verified"
[ "$(grep -c 'answered' "$work/client.out")" -eq 3 ]
ok $? "all three worker hosts answered (reply SA tells which)"
sed 's/^/# /' "$work/client.out"

# -- source authentication: the reader learns which member sent
on 4 "$gp" sub --sad "$work/h4.sad" --connect "tcp://$h1:6002" --topic alerts \
    --tag a1 --count 100 --timeout-ms "$(ms 60000)" > "$work/sub4.a1" 2>&1 &
s4=$!
until_ok 30 has_subscribers "$work/proxy.out" alerts 1
on 3 "$gp" pub --sad "$work/h3.sad" --policy alerts --connect "tcp://$h1:6001" \
    --topic alerts --tag a1 --count 100 --interval-us 1000 \
    --timeout-ms "$(ms 60000)" > "$work/pub3.a1" 2>&1
wait $s4
grep -q "sub a1: accepted 100 dup 0" "$work/sub4.a1" && grep -q "from h3 sender-id 1 got 100" "$work/sub4.a1"
ok $? "signed group: 100 messages accepted, each proven to come from h3"
ZESP_SAD="$work/h4.sad" "$zesp" sa list > "$work/h4.sas" 2>&1
grep -qi "sign" "$work/h4.sas"
ok $? "h4's SAD marks the alerts SA as signed"

# -- removal: h5 leaves, h6 is revoked; neither reads what follows
ctl 5 leave prices > /dev/null
gcks_conf "h4.example, h5.example" > "$work/h1.yaml"
ctl 1 reload > /dev/null
until_ok 30 holding prices 3
ok $? "h5 left and h6 was removed: the key server rekeyed for the 3 others"
grep -q "member h6 removed by the configuration" "$work/h1.log" && grep -q "member h5 leaves" "$work/h1.log"
ok $? "the key server logs why"
until_ok 20 sh -c "$zikectl -s ipc://$work/h5.ctl groups | grep -q 'joined prices: not registered, .* SAs\$'"
ok $? "h5 dropped its prices SAs"
# h2 sends on the new key, past its activation delay; the p1
# subscribers are gone from the proxy, the new ones there.
until_ok 20 sending 2 prices && until_ok 30 has_subscribers "$work/proxy.out" prices 0
for n in 4 5 6; do
    on $n "$gp" sub --sad "$work/h$n.sad" --connect "tcp://$h1:6002" --topic prices \
        --tag p2 --count 500 --timeout-ms "$(ms 60000)" > "$work/sub$n.p2" 2>&1 &
done
until_ok 30 has_subscribers "$work/proxy.out" prices 3
on 2 "$gp" pub --sad "$work/h2.sad" --policy prices --connect "tcp://$h1:6001" \
    --topic prices --tag p2 --count 500 --interval-us 500 --timeout-ms "$(ms 60000)" > /dev/null 2>&1
until_ok 60 sh -c "grep -q 'sub p2' $work/sub4.p2 && grep -q 'sub p2' $work/sub5.p2 && grep -q 'sub p2' $work/sub6.p2"
grep -q "sub p2: accepted 500 dup 0" "$work/sub4.p2"
ok $? "the remaining member h4 got all 500 messages after the removals"
grep -q "sub p2: accepted 0 " "$work/sub5.p2" && grep -q "sub p2: accepted 0 " "$work/sub6.p2" &&
    grep -q "rejected-nosa 500" "$work/sub6.p2"
ok $? "the removed members read none of them (h6: 500 refused, no SA for the new key)"
for n in 5 6; do sed 's/^/# /' "$work/sub$n.p2"; done

# -- a member host dies: the key server notices, rekeys, the service goes on
rk=$(ctl 1 groups | sed -n 's/serves payments: .* \([0-9]*\) rekeys.*/\1/p')
host_kill 6 "h6\.(yaml|sad)"
until_ok 60 holding payments 3
ok $? "h6 died: the key server found it dead and rekeyed payments for the other 3"
[ "$(ctl 1 groups | sed -n 's/serves payments: .* \([0-9]*\) rekeys.*/\1/p')" -gt "$rk" ] &&
    grep -q "group payments: new group SA .*: a member is gone" "$work/h1.log"
ok $? "the key server logs the rekey and why"
until_ok 20 sending 2 payments && until_ok 20 sending 4 replies &&
    until_ok 20 sending 5 replies
on 2 "$gp" client --sad "$work/h2.sad" --policy payments --connect "tcp://$h1:6003" \
    --count 100 --timeout-ms "$(ms 20000)" > "$work/client2.out" 2>&1 &&
    [ "$(grep -c 'answered' "$work/client2.out")" -eq 2 ]
ok $? "100 more requests, answered by the two worker hosts left"

# -- a member's zike is killed and restarted: the SAD kept its SAs, the new
#    zike registers again and adopts them; nothing is read twice
pkill -9 -f "zike -c $work/h4.yaml"
until_ok 20 not_running "zike -c $work/h4.yaml"   # its port is free
on 4 "$b/ike/zike" -c "$work/h4.yaml" 2>> "$work/h4.log" &
until_ok 60 sh -c "$zikectl -s ipc://$work/h4.ctl groups | grep -q 'joined prices: registered'"
ok $? "h4's restarted zike registered again"
until_ok 30 has_subscribers "$work/proxy.out" prices 0 &&
    until_ok 20 sending 2 prices
on 4 "$gp" sub --sad "$work/h4.sad" --connect "tcp://$h1:6002" --topic prices \
    --tag p3 --count 300 --timeout-ms "$(ms 60000)" > "$work/sub4.p3" 2>&1 &
s4=$!
until_ok 30 has_subscribers "$work/proxy.out" prices 1
on 2 "$gp" pub --sad "$work/h2.sad" --policy prices --connect "tcp://$h1:6001" \
    --topic prices --tag p3 --count 300 --interval-us 500 --timeout-ms "$(ms 60000)" > /dev/null 2>&1
wait $s4
grep -q "sub p3: accepted 300 dup 0" "$work/sub4.p3"
ok $? "after the restart h4 receives all 300 new messages"

if [ "$failed" -ne 0 ]; then
    for f in h1.log h2.log h3.log h4.log h6.log check.log client2.out sub4.p3 sub4.p1 pub2.p1 pub3.p1 worker4.err sub4.a1 pub3.a1 h4.sas proxy.out broker.out; do
        echo "== $f"; tail -n 25 "$work/$f" 2>/dev/null
    done
fi
for n in 1 2 3 4 5 6; do pkill -TERM -f "zike -c $work/h$n.yaml"; done
finish
