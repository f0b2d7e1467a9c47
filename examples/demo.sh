#!/bin/sh
# The multihop demo (README): four "hosts" on this machine, each with its
# own zike and its own SAD file: a key server, a client host and two worker
# hosts.  The client's requests go through a broker that cannot read them
# to whichever worker is free, the answers come back the same way; the
# group keys are changed while traffic flows; the broker, playing the
# attacker, changes one request's body, another's service name, and
# replays a third.  Prints a summary and stops everything it started.
# Run from the build directory, or set ZESP_BUILD to it.  Exit 0 when all
# went as it should.  Each step waits for what it needs (a registration, a
# worker, a policy on its SA), within bounds multiplied by
# ZESP_TEST_TIMEOUT_SCALE (default 1), as in the tests.
set -u
build=$(cd "${ZESP_BUILD:-.}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/zesp-demo.XXXXXX")
base=${ZESP_DEMO_PORT:-$((20000 + $$ % 20000))}
scale=${ZESP_TEST_TIMEOUT_SCALE:-1}
case $scale in '' | *[!0-9]*) scale=1 ;; esac
[ "$scale" -ge 1 ] || scale=1
pids=""
running() { for p in $pids; do kill -0 "$p" 2> /dev/null && return 0; done; return 1; }
stop_all() {
    for p in $pids; do kill "$p" 2> /dev/null; done
    wait_for 5 eval '! running'
    for p in $pids; do kill -9 "$p" 2> /dev/null; done
    rm -rf "$work"
}
trap stop_all EXIT
trap 'exit 1' INT TERM
umask 077
say() { printf '\n== %s\n' "$*"; }
ctl() { "$build/tools/zikectl" -s "ipc://$work/$1.ctl" "$2" ${3:+"$3"}; }
wait_for() {  # seconds (scaled), command...
    end=$(($(date +%s) + $1 * scale)); shift
    while ! "$@" > /dev/null 2>&1; do
        [ "$(date +%s)" -lt $end ] || return 1
        sleep 0.1
    done
}
policy_sa() {  # host, policy: the SA it sends on
    "$build/tools/zesp" --sad "$work/$1.sad" policy list 2> /dev/null |
        awk -v p="$2" '$1 == p { print $3 }'
}
sends_on_current() {  # host, group: past the senders' activation delay
    c=$(ctl ks groups | sed -n "s/^serves $2: SA \(0x[0-9a-f]*\),.*/\1/p")
    [ -n "$c" ] && [ "$(policy_sa "$1" "$2")" = "$c" ]
}
sent() {  # host, policy: how many messages it sent on the policy's SA
    "$build/tools/zesp" --sad "$work/$1.sad" sa list 2> /dev/null |
        awk -v s="$(policy_sa "$1" "$2")" '$1 == s && $2 == "out" { print $7 }'
}
sent_at_least() { n=$(sent "$1" "$2"); [ "${n:-0}" -ge "$3" ]; }
rej() {  # host, kind: the refusals of that kind on the host, rekeys or not
    "$build/tools/zesp" --sad "$work/$1.sad" --json stats 2> /dev/null |
        tr -d '\n' | sed -n 's/^{"sad":{[^{]*"rejected":{\([^}]*\)}.*/\1/p' |
        tr ',' '\n' | sed -n "s/^\"$2\":\([0-9]*\)$/\1/p"
}
refused() {  # at least $1 refusals by the worker hosts, of the three kinds
    n=0
    for h in w1 w2; do
        for k in icv binding replay; do n=$((n + $(rej $h $k))); done
    done
    [ $n -ge "$1" ]
}

say "1. identities and configuration (examples/demo/*.yaml)"
for h in ks client w1 w2; do
    (cd "$work" && "$build/tools/zesp" keygen --identity "$h" > /dev/null) || exit 1
done
# Z85 keys may hold '&', which sed would read as "the match".
pub() { sed 's/[&|\\]/\\&/g' "$work/$1.pub"; }
fill() {  # template, name, port, requests role, replies role
    sed -e "s|@WORK@|$work|g" -e "s|@PORT_KS@|$base|g" -e "s|@NAME@|$2|g" \
        -e "s|@PORT@|$3|g" -e "s|@REQUESTS@|$4|g" -e "s|@REPLIES@|$5|g" \
        -e "s|@KS_PUB@|$(pub ks)|g" -e "s|@CLIENT_PUB@|$(pub client)|g" \
        -e "s|@W1_PUB@|$(pub w1)|g" -e "s|@W2_PUB@|$(pub w2)|g" \
        "$here/demo/$1" > "$work/$2.yaml"
}
fill keyserver.yaml ks "$base" - -
fill member.yaml client $((base + 1)) sender receiver
fill member.yaml w1 $((base + 2)) receiver sender
fill member.yaml w2 $((base + 3)) receiver sender
echo "key server ks; client host; worker hosts w1 and w2; each its own SAD in $work"

say "2. the zike daemons negotiate (IKEv2, then G-IKEv2 group registration)"
for h in ks client w1 w2; do
    "$build/ike/zike" -c "$work/$h.yaml" 2>> "$work/$h.log" &
    pids="$pids $!"
done
registered() { ctl ks groups | grep -q "serves $1: SA 0x[0-9a-f]*, $2 members, $2 hold it"; }
if ! wait_for 20 registered payments 3 || ! wait_for 10 registered payments-replies 3; then
    echo "demo: the hosts did not register with the key server" >&2
    tail -n 5 "$work"/*.log >&2
    exit 1
fi
ctl ks groups | grep serves
# The senders' activation delay: each sends once its policy uses the SA.
if ! wait_for 20 sends_on_current client payments ||
    ! wait_for 20 sends_on_current w1 payments-replies ||
    ! wait_for 20 sends_on_current w2 payments-replies; then
    echo "demo: the senders' policies have no group SA" >&2
    exit 1
fi

say "3. broker (no keys, misbehaving on purpose) and workers"
fr="tcp://127.0.0.1:$((base + 10))" bk="tcp://127.0.0.1:$((base + 11))"
"$build/examples/mdp_broker" --front "$fr" --back "$bk" \
    --tamper 30 --tamper-service 50 --replay 70 > "$work/broker.out" 2>&1 &
broker=$!; pids="$pids $broker"
"$build/examples/mdp_worker" --sad "$work/w1.sad" --back "$bk" --service payments \
    --reply payments-replies --name w1 --processes 2 > "$work/w1.out" 2> "$work/w1.err" &
w1=$!; pids="$pids $w1"
"$build/examples/mdp_worker" --sad "$work/w2.sad" --back "$bk" --service payments \
    --reply payments-replies --name w2 > "$work/w2.out" 2> "$work/w2.err" &
w2=$!; pids="$pids $w2"
echo "broker: changes request 30's body and request 50's service name, sends request 70 twice"
echo "worker host w1: 2 processes sharing its SAD; worker host w2: 1 process"
if ! wait_for 20 grep -q "worker 3 ready" "$work/broker.out"; then
    echo "demo: the workers did not say READY to the broker" >&2
    exit 1
fi

say "4. 100 requests end to end; the group keys change while they flow"
"$build/examples/mdp_client" --sad "$work/client.sad" --front "$fr" --service payments \
    --policy payments --reply payments-replies --count 100 --interval-ms 20 \
    --timeout-ms $((2000 * scale)) > "$work/client.out" 2>&1 &
client=$!; pids="$pids $client"
wait_for 30 sent_at_least client payments 40
ctl ks rekey-group payments > /dev/null && ctl ks rekey-group payments-replies > /dev/null &&
    echo "rekeyed both groups at request $(sent client payments)"
wait $client
wait_for 20 refused 3     # the replayed copy may be refused after the last answer
kill "$broker" "$w1" "$w2" 2> /dev/null
wait "$broker" "$w1" "$w2" 2> /dev/null
cat "$work/client.out" "$work/broker.out"
grep -h "answered" "$work/w1.out" "$work/w2.out"
grep -h "refused a request" "$work/w1.err" "$work/w2.err" | sed 's/^/  /'

say "5. summary"
icv=$(($(rej w1 icv) + $(rej w2 icv)))
bind=$(($(rej w1 binding) + $(rej w2 binding)))
replay=$(($(rej w1 replay) + $(rej w2 replay)))
answered=$(sed -n 's/.* \([0-9]*\) answered, .*/\1/p' "$work/client.out")
rekeys=$(ctl ks groups | sed -n 's/serves payments: .* \([0-9]*\) rekeys.*/\1/p')
workers=$(sed -n 's/.* \([0-9]*\) workers answered/\1/p' "$work/client.out")
echo "requests answered:          ${answered:-0} of 100 (by $workers worker processes on 2 hosts)"
echo "group rekeys of payments:   ${rekeys:-0} (under traffic)"
echo "refused by the workers:     $icv changed body (ICV), $bind changed service name (binding), $replay replay"
echo "SAs on worker host w1:"
"$build/tools/zesp" --sad "$work/w1.sad" sa list | sed 's/^/  /'
if [ "${answered:-0}" -eq 98 ] && [ "$icv" -eq 1 ] && [ "$bind" -eq 1 ] &&
    [ "$replay" -eq 1 ] && [ "${rekeys:-0}" -ge 1 ] && [ "${workers:-0}" -eq 3 ]; then
    echo
    echo "demo: OK: 98 requests answered end to end through a broker that could not read them, across a group rekey; the tampered body, the tampered service name and the replay were refused"
    exit 0
fi
echo "demo: FAILED (the programs' output is above; the daemons' logs follow)" >&2
tail -n 5 "$work"/*.log >&2
exit 1
