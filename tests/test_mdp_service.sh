#!/bin/sh
# A worker serves only requests bound to its own service
# (doc/topologies.md 1).  Two services, payments and refunds, whose
# workers receive on one policy (finance: one SA for both, as one team's
# group SA would be): a hostile broker (mdp_broker --misroute 1) hands a
# request that the client bound to "payments" to the refunds worker,
# frames unchanged.  The binding and the policy both hold, so only the
# worker's comparison of the bound service with its own can refuse it;
# the next request, routed honestly, is answered by the payments worker.
# Real processes over tcp on 127.0.0.1.
#
# A client takes only the answer to its own request (doc/topologies.md
# 1): the reply SA is one every client of the host holds, so a hostile
# broker (mdp_broker --swap-replies 1) keeps client A's genuine answer
# back (A never receives it: fresh to the host's replay window) and hands
# it to client B, just before B's own.  The request id that B's request
# carries, encrypted, and the worker echoes, is not in A's answer: B
# refuses it, counts it, and takes its own.
b=$(cd "${builddir:-.}" && pwd)
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
for p in examples/mdp_broker examples/mdp_client examples/mdp_worker tools/zesp; do
    [ -x "$b/$p" ] || skip_all "$p not built"
done
work_begin mdpsvc
zesp="$b/tools/zesp" ex="$b/examples"
up=$("$zesp" keygen) down=$("$zesp" keygen)

# sad NAME UP_DIRECTION DOWN_DIRECTION: a host's SAD, manual keys.
sad() {
    mkdir -p -m 700 "$work/state-$1"
    cat > "$work/$1.yaml" <<EOT
state_dir: $work/state-$1
sas:
  - { spi: 0x7001, direction: $2, key: "$up" }
  - { spi: 0x7002, direction: $3, key: "$down" }
policies:
  - { name: finance, $([ "$2" = out ] && echo "out: 0x7001" || echo "in: [0x7001]") }
  - { name: replies, $([ "$3" = out ] && echo "out: 0x7002" || echo "in: [0x7002]") }
EOT
    "$zesp" --sad "$work/$1.sad" --state-dir "$work/state-$1" state init > /dev/null &&
        "$zesp" --sad "$work/$1.sad" load "$work/$1.yaml" > /dev/null
}
sad client out in && sad workers in out || exit 1
fe="tcp://127.0.0.1:$(port 0)" bk="tcp://127.0.0.1:$(port 1)"

"$ex/mdp_broker" --front "$fe" --back "$bk" --misroute 1 > "$work/broker.out" 2>&1 &
broker=$!
pids="$broker"
until_ok 30 grep -q "routing on" "$work/broker.out"
# The refunds worker first: the broker's first service, the misrouted
# request's destination.
"$ex/mdp_worker" --sad "$work/workers.sad" --back "$bk" --service refunds \
    --policy finance --reply replies --name refunds > "$work/refunds.out" 2> "$work/refunds.err" &
refunds=$!
pids="$pids $refunds"
until_ok 30 grep -q "worker 1 ready for refunds" "$work/broker.out"
"$ex/mdp_worker" --sad "$work/workers.sad" --back "$bk" --service payments \
    --policy finance --reply replies --name payments > "$work/payments.out" 2> "$work/payments.err" &
payments=$!
pids="$pids $payments"
until_ok 30 grep -q "worker 2 ready for payments" "$work/broker.out"
ok $? "broker up, a refunds and a payments worker ready"

# Request 0 is misrouted; its answer, if any, comes within the client's
# bound; request 1 is routed honestly.
"$ex/mdp_client" --sad "$work/client.sad" --front "$fe" --service payments \
    --policy finance --reply replies --count 2 --timeout-ms "$(ms 5000)" > "$work/client.out" 2>&1
grep -q "mdp_client: 2 requests" "$work/client.out"
ok $? "the client sent both requests"
until_ok 30 grep -q "refused a request" "$work/refunds.err"
ok $? "the refunds worker refused the request bound to payments"
! grep -q "refunds/[0-9]* answered" "$work/client.out" &&
    grep -q "1 answered, 1 unanswered" "$work/client.out"
ok $? "the client got no answer from the refunds worker"
grep -q "payments/[0-9]* answered 1" "$work/client.out"
ok $? "the payments worker answered the request routed to it"
# A service name is any bytes a worker chose (without hop SAs anyone who
# reaches --back): one holding a line feed and a line of the broker's own
# must show as one escaped line, not write the broker's log, whose "ready"
# lines scripts wait on.
"$ex/mdp_worker" --sad "$work/workers.sad" --back "$bk" --reply replies --name forger \
    --service "$(printf 'x\nmdp_broker: worker 9 ready for payments')" > /dev/null 2>&1 &
pids="$pids $!"
until_ok 30 grep -q "worker 3 ready for x" "$work/broker.out"
! grep -q '^mdp_broker: worker 9 ready for payments$' "$work/broker.out" &&
    grep -q 'ready for x\\x0amdp_broker: worker 9 ready for payments$' "$work/broker.out"
ok $? "a service name cannot write a line of the broker's log"
kill -TERM "$refunds" "$payments" "$broker" 2> /dev/null
wait "$refunds" "$payments" "$broker" 2> /dev/null
grep -q "tampered" "$work/broker.out" && grep -q "1 tampered" "$work/broker.out"
ok $? "the broker misrouted one request"
grep -q "answered 0, refused 1" "$work/refunds.out"
ok $? "the refunds worker answered nothing, refused one"

# -- A broker that hands one client's answer to another.
fe="tcp://127.0.0.1:$(port 2)" bk="tcp://127.0.0.1:$(port 3)"
"$ex/mdp_broker" --front "$fe" --back "$bk" --swap-replies 1 > "$work/swap.out" 2>&1 &
broker=$!
pids="$pids $broker"
until_ok 30 grep -q "routing on" "$work/swap.out"
"$ex/mdp_worker" --sad "$work/workers.sad" --back "$bk" --service payments \
    --policy finance --reply replies --name honest > "$work/honest.out" 2> "$work/honest.err" &
honest=$!
pids="$pids $honest"
until_ok 30 grep -q "worker 1 ready for payments" "$work/swap.out"
# The one worker answers A's request before it is handed B's: the broker
# holds A's answer before B's comes, whatever the timing.
"$ex/mdp_client" --sad "$work/client.sad" --front "$fe" --service payments \
    --policy finance --reply replies --count 1 --timeout-ms "$(ms 2000)" > "$work/a.out" 2>&1
grep -q "1 requests, 0 answered, 1 unanswered" "$work/a.out"
ok $? "client A never got its answer: the broker kept it back"
"$ex/mdp_client" --sad "$work/client.sad" --front "$fe" --service payments \
    --policy finance --reply replies --count 2 --timeout-ms "$(ms 20000)" > "$work/b.out" 2>&1
grep -q "2 requests, 2 answered, 0 unanswered, 1 answers refused" "$work/b.out"
ok $? "client B refused A's answer and took its own for each request"
grep -q "refused an answer: not to the request outstanding" "$work/b.out"
ok $? "client B says why"
kill -TERM "$honest" "$broker" 2> /dev/null
wait "$honest" "$broker" 2> /dev/null
grep -q "3 replies, 0 dropped, .* 1 replies swapped" "$work/swap.out"
ok $? "the broker handed one kept answer to another client"

if [ "$failed" -ne 0 ]; then
    for f in broker.out client.out refunds.out refunds.err payments.out payments.err \
        swap.out honest.out honest.err a.out b.out; do
        echo "== $f"; tail -n 15 "$work/$f" 2>/dev/null
    done
fi
finish
