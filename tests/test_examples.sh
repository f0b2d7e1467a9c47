#!/bin/sh
# The multihop examples (doc/topologies.md), across hosts: five network
# namespaces on one bridge, each with its own zike and SAD (127.0.0.1 with
# distinct ports where namespaces cannot be made):
#   h1  the group key server
#   h2  the broker host: mdp_broker (plain, hostile, and checking every
#       hop) and pubsub_proxy; its zike only makes the hop SAs
#   h3  the client host: mdp_client, publisher
#   h4  worker host A: mdp_worker with 2 processes sharing the SAD, subscriber
#   h5  worker host B: mdp_worker, subscriber
# 1. request-reply through a broker that routes by a clear, bound service
#    name; 2. what a hostile broker changes or replays is refused;
# 3. publish-subscribe through a proxy, two subscribers on one host each with
#    its own replay windows; 4. load-balanced workers: processes
#    sharing a host's SA, hosts sharing the service's group SA; 5. a broker
#    that checks every hop with integrity-only SAs (an SA bundle) and drops
#    forged and replayed traffic, holding no end-to-end key.
b=$(cd "${builddir:-.}" && pwd)
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
for p in mdp_broker mdp_client mdp_worker publisher subscriber pubsub_proxy; do
    [ -x "$b/examples/$p" ] || skip_all "examples/$p not built"
done
hosts_begin examples 5
zesp="$b/tools/zesp" zikectl="$b/tools/zikectl" ex="$b/examples"
ctl() { n=$1; shift; "$zikectl" -s "ipc://$work/h$n.ctl" "$@"; }
(cd "$work" && for n in 1 2 3 4 5; do "$zesp" keygen --identity "h$n" > /dev/null; done)
pub() { cat "$work/$1.pub"; }
h1=$(ip_of 1) h2=$(ip_of 2)
peer() {  # name, host, [extra]
    echo "  - { name: $1, id: $1.example, auth: ed25519, pubkey: \"$(pub "$1")\"$3 }"
}
head_of() {  # host number
    cat <<EOT
identity: { id: h$1.example, key: $work/h$1.key }
listen: tcp://$(ip_of "$1"):56${1}0
control: ipc://$work/h$1.ctl
sad: $work/h$1.sad
peers:
EOT
}
{
    head_of 1
    for n in 3 4 5; do peer "h$n"; done
    cat <<EOT
groups:
  - { name: payments, activation-delay: 1s, deactivation-delay: 2s, senders: [h3.example], receivers: [h4.example, h5.example] }
  - { name: replies, activation-delay: 1s, deactivation-delay: 2s, senders: [h4.example, h5.example], receivers: [h3.example] }
  - { name: prices, activation-delay: 1s, deactivation-delay: 2s, senders: [h3.example], receivers: [h4.example, h5.example] }
EOT
} > "$work/h1.yaml"
# The broker host: integrity-only hop SAs with the client host and host A.
{
    head_of 2
    peer h3 "" ", esp: null-chacha20-poly1305, policies: [hop-c]"
    peer h4 "" ", esp: null-chacha20-poly1305, policies: [hop-w]"
} > "$work/h2.yaml"
hop_peer() {  # the broker host, for the hop SA of policy $1
    echo "  - { name: h2, id: h2.example, endpoint: \"tcp://$h2:5620\", auth: ed25519, pubkey: \"$(pub h2)\", esp: null-chacha20-poly1305, start: true, policies: [$1] }"
}
ks="  - { name: h1, id: h1.example, endpoint: \"tcp://$h1:5610\", auth: ed25519, pubkey: \"$(pub h1)\" }"
{
    head_of 3
    echo "$ks"
    hop_peer hop-c
    cat <<EOT
join:
  - { group: payments, server: h1, role: sender }
  - { group: replies, server: h1, role: receiver }
  - { group: prices, server: h1, role: sender }
EOT
} > "$work/h3.yaml"
for n in 4 5; do
    {
        head_of $n
        echo "$ks"
        [ $n -eq 4 ] && hop_peer hop-w
        cat <<EOT
join:
  - { group: payments, server: h1, role: receiver }
  - { group: replies, server: h1, role: sender }
  - { group: prices, server: h1, role: receiver }
EOT
    } > "$work/h$n.yaml"
done
for n in 1 2 3 4 5; do
    on $n "$b/ike/zike" -c "$work/h$n.yaml" 2>> "$work/h$n.log" &
done
holding() { ctl 1 groups | grep -q "serves $1: SA 0x[0-9a-f]*, $2 members, $2 hold it"; }
hop() { ctl "$1" list | grep -q "child $2 .* active"; }
sending() {  # host, group: the host's policy sends on the group's current SA
    c=$(ctl 1 groups | sed -n "s/^serves $2: SA \(0x[0-9a-f]*\),.*/\1/p")
    [ -n "$c" ] && [ "$(out_spi "$work/h$1.sad" "$2")" = "$c" ]
}
ready() {  # file, N: a broker announced N workers
    grep -q "worker $2 ready" "$1"
}
until_ok 30 holding payments 3 && until_ok 20 holding replies 3 && until_ok 20 holding prices 3 &&
    until_ok 20 hop 3 hop-c && until_ok 20 hop 4 hop-w
ok $? "five hosts: group SAs registered with the key server, hop SAs with the broker host"
# The senders' activation delay over, each sender's policy uses its SA.
until_ok 20 sending 3 payments && until_ok 20 sending 3 prices &&
    until_ok 20 sending 4 replies && until_ok 20 sending 5 replies

# -- 1 and 4: request-reply through a broker, load-balanced workers
fr="tcp://$h2:6100" bk="tcp://$h2:6101"
on 2 "$ex/mdp_broker" --front "$fr" --back "$bk" > "$work/broker.out" 2>&1 &
on 4 "$ex/mdp_worker" --sad "$work/h4.sad" --back "$bk" --service payments \
    --reply replies --name A --processes 2 > "$work/wA.out" 2> "$work/wA.err" &
on 5 "$ex/mdp_worker" --sad "$work/h5.sad" --back "$bk" --service payments \
    --reply replies --name B > "$work/wB.out" 2> "$work/wB.err" &
until_ok 30 ready "$work/broker.out" 3
on 3 "$ex/mdp_client" --sad "$work/h3.sad" --front "$fr" --service payments \
    --policy payments --reply replies --count 300 --timeout-ms "$(ms 20000)" > "$work/client1.out" 2>&1
grep -q "300 requests, 300 answered, 0 unanswered, 0 answers refused, 3 workers answered" "$work/client1.out"
ok $? "300 requests through the broker, all answered end to end (service name clear and bound)"
grep -q "A/1 answered" "$work/client1.out" && grep -q "A/2 answered" "$work/client1.out" &&
    grep -q "B/1 answered" "$work/client1.out"
ok $? "2 processes on host A sharing its SAD and 1 on host B, one group SA: each answered"
sed 's/^/# /' "$work/client1.out"
"$zesp" --sad "$work/h4.sad" sa list | grep -q " in .* client\|h3" ; in_ok=$?
"$zesp" --sad "$work/h2.sad" sa list > "$work/h2.sas"
[ $in_ok -eq 0 ] && ! grep -q "chacha20-poly1305 .*yes [0-9]" "$work/h2.sas" &&
    [ "$(grep -c '^0x' "$work/h2.sas")" -eq 4 ] && [ "$(grep -c 'null-chacha20-poly1305' "$work/h2.sas")" -eq 4 ]
ok $? "the broker host holds only its 4 integrity-only hop SAs: no end-to-end key"

# -- 2: a hostile broker
fr2="tcp://$h2:6102" bk2="tcp://$h2:6103"
on 2 "$ex/mdp_broker" --front "$fr2" --back "$bk2" --tamper 5 --tamper-service 10 \
    --tamper-seq 12 --replay 15 > "$work/broker2.out" 2>&1 &
on 5 "$ex/mdp_worker" --sad "$work/h5.sad" --back "$bk2" --service payments \
    --reply replies --name B2 > "$work/wB2.out" 2> "$work/wB2.err" &
until_ok 30 ready "$work/broker2.out" 1
# The host's refusals of one kind since its SAD was made, rekeys or not.
rej() {
    "$zesp" --sad "$work/h$1.sad" --json stats | tr -d '\n' |
        sed -n 's/^{"sad":{[^{]*"rejected":{\([^}]*\)}.*/\1/p' | tr ',' '\n' |
        sed -n "s/^\"$2\":\([0-9]*\)$/\1/p"
}
before="$(rej 5 icv) $(rej 5 binding) $(rej 5 replay)"
on 3 "$ex/mdp_client" --sad "$work/h3.sad" --front "$fr2" --service payments \
    --policy payments --reply replies --count 20 --timeout-ms "$(ms 3000)" > "$work/client2.out" 2>&1
after="$(rej 5 icv) $(rej 5 binding) $(rej 5 replay)"
grep -q "20 requests, 17 answered, 3 unanswered" "$work/client2.out" &&
    [ "$before" = "0 0 0" ] && [ "$after" = "2 1 1" ]
ok $? "a hostile broker: changed body and sequence number (ICV), changed service name (binding) and replay refused by the worker ($after)"

# -- 3: publish-subscribe through a proxy
xs="tcp://$h2:6110" xp="tcp://$h2:6111"
on 2 "$ex/pubsub_proxy" --xsub "$xs" --xpub "$xp" > "$work/proxy.out" &
for n in 4 5 4b; do
    on ${n%b} "$ex/subscriber" --sad "$work/h${n%b}.sad" --connect "$xp" --topic prices \
        --count 50 --timeout-ms "$(ms 60000)" > "$work/sub$n.out" 2>&1 &
done
until_ok 30 has_subscribers "$work/proxy.out" prices 3
on 3 "$ex/publisher" --sad "$work/h3.sad" --policy prices --connect "$xs" \
    --topic prices --count 50 --interval-ms 10 --wait-ms "$(ms 30000)" > "$work/pub.out" 2>&1
until_ok 60 sh -c "grep -q 'accepted' $work/sub4.out && grep -q 'accepted' $work/sub5.out && grep -q 'accepted' $work/sub4b.out"
grep -q "50 accepted, 0 refused" "$work/sub4.out" && grep -q "50 accepted, 0 refused" "$work/sub5.out"
ok $? "50 messages through an XSUB/XPUB proxy to subscribers on 2 hosts"
grep -q "50 accepted, 0 refused" "$work/sub4b.out"
ok $? "a second subscriber on host A accepts all 50 too: each subscriber keeps its own replay windows"
grep -q "prices #49 (from h3, sender 1" "$work/sub4.out"
ok $? "the subscriber knows the publisher's host and Sender ID"

# -- 5: a broker that checks every hop (SA bundle), with a man in the
#    middle that replays the client's 7th message, and a forged message
fr3="tcp://$h2:6120" bk3="tcp://$h2:6121" tp="tcp://$(ip_of 3):6122"
on 2 "$ex/mdp_broker" --front "$fr3" --back "$bk3" --sad "$work/h2.sad" \
    --hop-in hop-c --hop-out hop-w > "$work/broker3.out" 2> "$work/broker3.err" &
on 4 "$ex/mdp_worker" --sad "$work/h4.sad" --back "$bk3" --service payments \
    --reply replies --name H --hop hop-w > "$work/wH.out" 2> "$work/wH.err" &
on 3 "$b/tests/group_peer" tap --front "$tp" --back "$fr3" --count 7 &
until_ok 30 ready "$work/broker3.out" 1
w_before=$(rej 4 replay)
on 3 "$ex/mdp_client" --sad "$work/h3.sad" --front "$tp" --service payments \
    --policy payments --reply replies --hop hop-c --count 40 --timeout-ms "$(ms 20000)" > "$work/client3.out" 2>&1
grep -q "40 requests, 40 answered, 0 unanswered, 0 answers refused" "$work/client3.out"
ok $? "40 requests wrapped in hop SAs (client-broker, broker-worker), all answered end to end"
[ "$(rej 2 replay)" -eq 1 ] && [ "$(rej 4 replay)" -eq "$w_before" ]
ok $? "the replayed message was dropped by the broker's hop check, never reached the worker"
on 3 "$b/tests/group_peer" inject --connect "$fr3" --topic payments
# The broker stops once it has refused the forged message.
until_ok 30 grep -q "hop check refused a message: no security association" "$work/broker3.err"
pkill -TERM -f "mdp_broker --front $fr3"
until_ok 30 grep -q "replies" "$work/broker3.out"
grep -q "40 requests forwarded, 40 replies, 2 dropped" "$work/broker3.out"
ok $? "the checking broker forwarded 40 requests and 40 replies, dropped a forged and a replayed message"
grep -q "hop check refused a message: replayed" "$work/broker3.err" &&
    grep -q "hop check refused a message: no security association" "$work/broker3.err"
ok $? "it says why"

if [ "$failed" -ne 0 ]; then
    for f in h1.log h2.log h3.log h4.log broker.out broker2.out broker3.out broker3.err client1.out client2.out client3.out wA.err wB.err wB2.err wH.err sub4.out pub.out h2.sas; do
        echo "== $f"; tail -n 15 "$work/$f" 2>/dev/null
    done
fi
for n in 1 2 3 4 5; do pkill -TERM -f "zike -c $work/h$n.yaml"; done
finish
