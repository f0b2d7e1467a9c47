#!/bin/sh
# The broker in the middle, as an attacker (doc/threat-model.md, "The
# broker in the middle"): tests/hostile_broker.py holds no key and
# reflects, replays, cuts and strips what it routes between the real
# mdp_client and mdp_workers, over tcp on 127.0.0.1, each host with its
# own SAD (manual group keys).  After each forgery it routes the request
# honestly: the forgery must be refused and the real request answered.
#
# Two layouts of keys: requests and answers under two group SAs
# (payments and payments-replies, as doc/topologies.md 1 and the demo
# have them), and one group SA for both ("team": every host sends and
# receives, as one team's group would be).  In the second a worker can
# open another worker's answer: only what the body says tells an answer
# from a request.
b=$(cd "${builddir:-.}" && pwd)
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
for p in examples/mdp_client examples/mdp_worker tools/zesp tests/lax_worker; do
    [ -x "$b/$p" ] || skip_all "$p not built"
done
py=/usr/bin/python3
"$py" -c "import zmq" 2> /dev/null || skip_all "pyzmq not installed"
work_begin brokeratk
zesp="$b/tools/zesp" ex="$b/examples"
hostile="$(cd "${srcdir:-.}" && pwd)/tests/hostile_broker.py"
req=$("$zesp" keygen) rep=$("$zesp" keygen) team=$("$zesp" keygen)

# host NAME YAML-LINES: a host's SAD from manual keys.
host() {
    mkdir -p -m 700 "$work/state-$1"
    { echo "state_dir: $work/state-$1"; echo "$2"; } > "$work/$1.yaml"
    "$zesp" --sad "$work/$1.sad" --state-dir "$work/state-$1" state init > /dev/null &&
        "$zesp" --sad "$work/$1.sad" load "$work/$1.yaml" > /dev/null
}
g() {  # SPI DIRECTION KEY SENDER_ID: one group SA
    echo "  - { spi: $1, direction: $2, key: \"$3\", group: true, sender_id: $4 }"
}
# Two groups: the client sends requests (Sender ID 1), the worker hosts
# answer (Sender IDs 1 and 2).
host client "sas:
$(g 0x7001 out "$req" 1)
$(g 0x7002 in "$rep" 1)
$(g 0x7002 in "$rep" 2)
policies:
  - { name: payments, out: 0x7001 }
  - { name: payments-replies, in: [0x7002] }" &&
for w in 1 2; do
    host "w$w" "sas:
$(g 0x7001 in "$req" 1)
$(g 0x7002 out "$rep" "$w")
policies:
  - { name: payments, in: [0x7001] }
  - { name: payments-replies, out: 0x7002 }" || exit 1
done || exit 1
# One group: client 1, worker hosts 2 and 3, each a sender and a
# receiver of the others.
for h in 1 2 3; do
    name=$(case $h in 1) echo tclient ;; *) echo "tw$((h - 1))" ;; esac)
    lines=$(g 0x7101 out "$team" $h)
    for o in 1 2 3; do
        [ $o -eq $h ] || lines="$lines
$(g 0x7101 in "$team" $o)"
    done
    host "$name" "sas:
$lines
policies:
  - { name: team, out: 0x7101, in: [0x7101] }" || exit 1
done
# One host, client and workers alike, one SA both ways on one SPI (a loop
# back, doc/configuration.md): the client can open its own request.
host solo "sas:
  - { spi: 0x7201, direction: out, key: \"$team\" }
  - { spi: 0x7201, direction: in, key: \"$team\" }
policies:
  - { name: solo, out: 0x7201, in: [0x7201] }" || exit 1
ok 0 "SADs of six hosts loaded"

n=0
# start ATTACK: a hostile broker on two fresh ports ($fe, $bk).
start() {
    n=$((n + 1))
    fe="tcp://127.0.0.1:$(port $((2 * n)))" bk="tcp://127.0.0.1:$(port $((2 * n + 1)))"
    out="$work/broker-$1.out"
    "$py" "$hostile" "$fe" "$bk" "$1" > "$out" 2>&1 &
    pids="$pids $!"
    until_ok 30 grep -q "hostile_broker: ready" "$out"
}
# worker HOST TAG POLICY REPLY: a worker of payments; waits until the
# broker has it.
worker() {
    "$ex/mdp_worker" --sad "$work/$1.sad" --back "$bk" --service payments \
        --policy "$3" --reply "$4" --name "$1" > "$work/$2.out" 2> "$work/$2.err" &
    eval "pid_$2=$!"
    pids="$pids $!"
    wk=$((wk + 1))
    until_ok 30 grep -q "hostile_broker: worker $wk ready" "$out"
}
# client HOST TAG POLICY REPLY [TIMEOUT_MS]: one request, its result in
# $work/TAG.out.
client() {
    "$ex/mdp_client" --sad "$work/$1.sad" --front "$fe" --service payments \
        --policy "$3" --reply "$4" --count 1 --timeout-ms "$(ms "${5:-10000}")" \
        > "$work/$2.out" 2>&1
}
# stopped TAG: the worker stopped, once it said what it did (in TAG.out).
stopped() {
    eval "kill -TERM \$pid_$1; wait \$pid_$1"
}

# -- 1. A request sent back to its client as the answer.
for layout in groups team; do
    if [ $layout = groups ]; then c=client w=w1 pol=payments rp=payments-replies
    else c=tclient w=tw1 pol=team rp=team; fi
    start reflect; wk=0
    worker $w "ref_$layout" $pol $rp
    client $c "refc_$layout" $pol $rp
    grep -q "1 requests, 1 answered, 0 unanswered, 1 answers refused" "$work/refc_$layout.out" &&
        grep -q "hostile_broker: sent a request back to its client" "$out"
    ok $? "$layout: the client refuses its own request as an answer, takes the real one"
    stopped "ref_$layout"
done

# On the loop back the client's host can open its own request, which
# carries the request id the client waits for.  The request goes to no
# worker (one on that host would take it first, or refuse it as a replay
# after the client: either way, not an event to wait on).
start reflect-only
client solo refc_loop solo solo 2000
grep -q "1 requests, 0 answered, 1 unanswered, 1 answers refused" "$work/refc_loop.out" &&
    grep -q "hostile_broker: sent a request back to its client" "$out"
ok $? "loop back: the client refuses its own request as an answer"

# -- 2. One worker's answer handed to another worker as a request.
for layout in groups team; do
    if [ $layout = groups ]; then c=client w1=w1 w2=w2 pol=payments rp=payments-replies
    else c=tclient w1=tw1 w2=tw2 pol=team rp=team; fi
    start reply-as-request; wk=0
    worker $w1 "ra1_$layout" $pol $rp
    worker $w2 "ra2_$layout" $pol $rp
    client $c "rac_$layout" $pol $rp
    grep -q "1 requests, 1 answered, 0 unanswered" "$work/rac_$layout.out"
    ok $? "$layout: the client's request answered"
    # The second worker refuses it, or answers it: one of the two, then.
    until_ok 30 sh -c "grep -q 'refused a request' '$work/ra2_$layout.err' ||
        grep -q 'answer from worker 2' '$out'"
    grep -q "hostile_broker: sent an answer to another worker as a request" "$out" &&
        stopped "ra2_$layout" && grep -q "answered 0, refused 1" "$work/ra2_$layout.out"
    ok $? "$layout: a worker refuses another worker's answer as a request"
    stopped "ra1_$layout"
done

# -- One request handed to both processes of a worker host: they share
# the host's replay window (replay_scope host, doc/topologies.md 4).
start every-worker; wk=0
"$ex/mdp_worker" --sad "$work/w1.sad" --back "$bk" --service payments \
    --policy payments --reply payments-replies --name w1 --processes 2 \
    > "$work/each.out" 2> "$work/each.err" &
pid_each=$!
pids="$pids $!"
until_ok 30 grep -q "hostile_broker: worker 2 ready" "$out"
client client eachc payments payments-replies
grep -q "1 requests, 1 answered, 0 unanswered" "$work/eachc.out"
ok $? "the request handed to two processes is answered"
until_ok 30 grep -q "refused a request" "$work/each.err"
stopped each
[ "$(sed -n 's/.*answered \([0-9]*\), refused \([0-9]*\)$/\1 \2/p' "$work/each.out" |
    awk '{ a += $1; r += $2 } END { print a, r }')" = "1 1" ] &&
    grep -q "hostile_broker: sent the request to another worker too" "$out"
ok $? "one process of the host answers it, the other refuses it as a replay"

# -- 3. No ESP frame at all: text in clear, or the service frame alone.
start plaintext; wk=0
worker w1 plain payments payments-replies
client client plainc payments payments-replies
grep -q "1 requests, 1 answered, 0 unanswered, 2 answers refused" "$work/plainc.out"
ok $? "the client refuses answers without an ESP frame, takes the real one"
stopped plain && grep -q "answered 1, refused 2" "$work/plain.out"
ok $? "the worker refuses requests without an ESP frame, answers the real one"

# -- 4. A request cut: its service frame dropped, its ESP frame cut
# short, a frame of the broker's put behind it.
start truncate; wk=0
worker w1 cut payments payments-replies
client client cutc payments payments-replies
grep -q "1 requests, 1 answered, 0 unanswered" "$work/cutc.out"
ok $? "the request sent whole is answered"
stopped cut && grep -q "answered 1, refused 3" "$work/cut.out"
ok $? "the worker refuses the three cut requests"

# -- 5. Answers a client's host accepted, handed to a client started
# after it (the same SAs; a restarted client, or another process).
start old-reply; wk=0
worker w1 old payments payments-replies
client client old1 payments payments-replies
client client old2 payments payments-replies
grep -q "1 answered" "$work/old1.out" &&
    grep -q "1 requests, 1 answered, 0 unanswered, 1 answers refused" "$work/old2.out" &&
    grep -q "hostile_broker: sent an old answer to a new client" "$out"
ok $? "a client started later refuses the answer its host took before"
stopped old

# -- 6. A request handed first to a worker of another service that
# shares the policy ("refunds", on host w2) and serves it, its answer
# bound to its own service: the client asked payments, and refuses an
# answer bound to another service, then takes the real one.  Before, it
# took the refunds worker's answer as the answer from payments.
start other-service; wk=0
"$b/tests/lax_worker" "$work/w2.sad" "$bk" refunds payments payments-replies \
    > "$work/lax.out" 2> "$work/lax.err" &
pids="$pids $!"
wk=$((wk + 1))
until_ok 30 grep -q "hostile_broker: worker $wk ready" "$out"
worker w1 svc payments payments-replies
client client svcc payments payments-replies
grep -q "1 requests, 1 answered, 0 unanswered, 1 answers refused, 1 workers answered" "$work/svcc.out" &&
    grep -q "w1/1 answered 1" "$work/svcc.out" &&
    grep -q "refused an answer: bound to another service than payments" "$work/svcc.out" &&
    grep -q "hostile_broker: sent the request to a worker of another service" "$out" &&
    grep -q "lax_worker: answered" "$work/lax.out"
ok $? "the client refuses an answer bound to another service, takes the real one"
stopped svc

if [ "$failed" -ne 0 ]; then
    for f in "$work"/*.out "$work"/*.err; do
        echo "== $f"; tail -n 8 "$f"
    done
fi
finish
