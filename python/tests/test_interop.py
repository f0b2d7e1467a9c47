"""Python and the C programs of examples/, each sending to the other:
hosts keyed by hand (YAML loaded into shared SAD files by `zesp load`)."""
import os
import sys
import time

import pytest
import zmq

import zesp

from conftest import (SRCDIR, WAIT, Proc, build_program, free_port, key,
                      loaded_sad, socket, until, yaml_pair, zesp_tool)


def test_c_pings_python_answers_and_the_other_way_round(ctx, work, procs):
    pingpong = build_program("examples/policy_pingpong")
    ya, yb = yaml_pair(work, "alice", "bob", "to-bob", "to-alice")
    alice, bob = loaded_sad(work, "alice", ya), loaded_sad(work, "bob", yb)

    # C (alice) sends pings, Python (bob) verifies each and answers.
    s = socket(ctx, zmq.PAIR)
    s.bind("tcp://127.0.0.1:*")
    c = Proc([pingpong, "--sad", alice, "--policy", "to-bob", "--connect",
              s.last_endpoint.decode(), "--count", "25"],
             os.path.join(work, "pingpong-c.log"))
    procs.append(c)
    with zesp.SAD.open(bob) as sad:
        for i in range(25):
            with sad.recv(s, "to-alice") as msg:
                assert msg.bytes() == b"ping %d" % i and msg.peer == "alice"
                sad.send(s, "to-alice", body=b"pong " + msg.bytes())
    assert c.wait() == 0, c.text()
    assert "25 messages each way on policy to-bob, last from bob" in c.text()

    # Python (alice) pings, C (bob) answers.
    port = free_port()
    c = Proc([pingpong, "--sad", bob, "--policy", "to-alice", "--bind",
              "tcp://127.0.0.1:%d" % port, "--count", "25"],
             os.path.join(work, "pingpong-c2.log"))
    procs.append(c)
    s2 = socket(ctx, zmq.PAIR)
    s2.connect("tcp://127.0.0.1:%d" % port)
    with zesp.SAD.open(alice) as sad:
        for i in range(25):
            sad.send(s2, "to-bob", body=b"ping %d" % i)
            with sad.recv(s2, "to-bob") as msg:
                assert msg.bytes() == b"pong ping %d" % i and msg.peer == "bob"
    assert c.wait() == 0, c.text()


def python_example(name):
    if not SRCDIR:
        pytest.skip("ZESP_SRCDIR not set")
    return [sys.executable, os.path.join(SRCDIR, "examples", "python", name)]


def broker(work, procs):
    """The C broker, which holds no SAD and no key: it cannot read."""
    front, back = ("tcp://127.0.0.1:%d" % free_port() for _ in range(2))
    procs.append(Proc([build_program("examples/mdp_broker"), "--front", front,
                       "--back", back], os.path.join(work, "broker.log")))
    return front, back


def mdp_hosts(work):
    yc, yw = yaml_pair(work, "client", "worker", "payments", "payments")
    return loaded_sad(work, "client", yc), loaded_sad(work, "worker", yw)


def test_a_c_client_through_the_c_broker_to_a_python_worker(work, procs):
    client_sad, worker_sad = mdp_hosts(work)
    front, back = broker(work, procs)
    worker = Proc(python_example("mdp_worker.py") +
                  ["--sad", worker_sad, "--back", back, "--service", "payments",
                   "--name", "py"], os.path.join(work, "worker.log"))
    procs.append(worker)
    client = Proc([build_program("examples/mdp_client"), "--sad", client_sad,
                   "--front", front, "--service", "payments", "--policy",
                   "payments", "--count", "30", "--timeout-ms", "20000"],
                  os.path.join(work, "client.log"))
    assert client.wait() == 0, client.text()
    out = client.text()
    assert "30 requests, 30 answered, 0 unanswered, 0 answers refused, 1 workers answered" in out, out
    assert "py/1 answered 30" in out


def test_a_python_worker_serves_only_its_own_service(work, procs):
    """refunds and payments share one policy; a hostile broker hands the
    refunds worker a request the client bound to payments, unchanged:
    binding and policy hold, the worker must compare the service."""
    client_sad, worker_sad = mdp_hosts(work)
    front, back = ("tcp://127.0.0.1:%d" % free_port() for _ in range(2))
    broker = Proc([build_program("examples/mdp_broker"), "--front", front,
                   "--back", back, "--misroute", "1"],
                  os.path.join(work, "broker.log"))
    procs.append(broker)
    refunds = Proc(python_example("mdp_worker.py") +
                   ["--sad", worker_sad, "--back", back, "--service", "refunds",
                    "--policy", "payments", "--name", "refunds"],
                   os.path.join(work, "refunds.log"))
    procs.append(refunds)
    until(lambda: "worker 1 ready for refunds" in broker.text(), "refunds READY")
    procs.append(Proc([build_program("examples/mdp_worker"), "--sad", worker_sad,
                       "--back", back, "--service", "payments", "--reply",
                       "payments", "--name", "payments"],
                      os.path.join(work, "payments.log")))
    until(lambda: "worker 2 ready for payments" in broker.text(), "payments READY")
    client = Proc([build_program("examples/mdp_client"), "--sad", client_sad,
                   "--front", front, "--service", "payments", "--policy",
                   "payments", "--count", "2", "--timeout-ms", "5000"],
                  os.path.join(work, "client.log"))
    assert client.wait() == 0, client.text()
    until(lambda: "refused a request" in refunds.text(), "the refusal")
    out = client.text()
    assert "2 requests, 1 answered, 1 unanswered" in out, out
    assert "refunds/1 answered" not in out, out


def test_a_python_client_through_the_c_broker_to_a_c_worker(work, procs):
    client_sad, worker_sad = mdp_hosts(work)
    front, back = broker(work, procs)
    procs.append(Proc([build_program("examples/mdp_worker"), "--sad", worker_sad,
                       "--back", back, "--service", "payments", "--reply",
                       "payments", "--name", "C"], os.path.join(work, "cworker.log")))
    client = Proc(python_example("mdp_client.py") +
                  ["--sad", client_sad, "--front", front, "--service", "payments",
                   "--policy", "payments", "--count", "30", "--timeout-ms", "20000"],
                  os.path.join(work, "pyclient.log"))
    assert client.wait() == 0, client.text()
    out = client.text()
    assert "30 requests, 30 answered, 0 unanswered, 0 answers refused, 1 workers answered" in out, out
    assert "C/1 answered 30" in out


def test_a_python_client_takes_only_the_answer_to_its_own_request(work, procs):
    """The reply SA is one every client of the host holds: a hostile
    broker keeps client A's genuine answer back (fresh to the host's replay
    window, A never got it) and hands it to client B just before B's own.
    Only the request id, encrypted in the request and echoed by the
    worker, tells B's answer from A's: B refuses A's and takes its own."""
    client_sad, worker_sad = mdp_hosts(work)
    front, back = ("tcp://127.0.0.1:%d" % free_port() for _ in range(2))
    broker = Proc([build_program("examples/mdp_broker"), "--front", front,
                   "--back", back, "--swap-replies", "1"],
                  os.path.join(work, "broker.log"))
    procs.append(broker)
    procs.append(Proc(python_example("mdp_worker.py") +
                      ["--sad", worker_sad, "--back", back, "--service", "payments",
                       "--name", "py"], os.path.join(work, "worker.log")))
    until(lambda: "worker 1 ready for payments" in broker.text(), "the worker's READY")

    def client(name, count, timeout_ms):
        c = Proc(python_example("mdp_client.py") +
                 ["--sad", client_sad, "--front", front, "--service", "payments",
                  "--policy", "payments", "--count", str(count),
                  "--timeout-ms", str(timeout_ms)], os.path.join(work, name + ".log"))
        c.wait()
        return c.text()

    # The one worker answers A's request before it is handed B's: the
    # broker holds A's answer before B's comes, whatever the timing.
    out = client("a", 1, 2000)
    assert "1 requests, 0 answered, 1 unanswered, 0 answers refused" in out, out
    out = client("b", 2, 20000)
    assert "2 requests, 2 answered, 0 unanswered, 1 answers refused" in out, out
    assert "refused an answer: not to the request outstanding" in out, out
    broker.stop()
    assert "1 replies swapped" in broker.text(), broker.text()


def test_publish_subscribe_through_the_c_proxy_both_ways(ctx, work, procs):
    yp, ys = yaml_pair(work, "pub", "sub", "prices", "prices")
    pub_sad, sub_sad = loaded_sad(work, "pub", yp), loaded_sad(work, "sub", ys)
    xsub, xpub = ("tcp://127.0.0.1:%d" % free_port() for _ in range(2))
    procs.append(Proc([build_program("examples/pubsub_proxy"), "--xsub", xsub,
                       "--xpub", xpub], os.path.join(work, "proxy.log")))

    # Python publishes (an XPUB socket: it sees the subscription arrive,
    # so it sends only once the path is there), C subscribes.
    sub = Proc([build_program("examples/subscriber"), "--sad", sub_sad, "--connect",
                xpub, "--topic", "prices", "--count", "40", "--timeout-ms", "20000",
                "--quiet", "1"], os.path.join(work, "csub.log"))
    procs.append(sub)
    pub = socket(ctx, zmq.XPUB)
    pub.connect(xsub)
    assert pub.recv() == b"\x01prices"
    with zesp.SAD.open(pub_sad) as sad:
        for i in range(40):
            sad.send(pub, "prices", clear=[b"prices"], body=b"prices #%d" % i)
    assert sub.wait() == 0, sub.text()
    assert "40 accepted, 0 refused" in sub.text()
    pub.close()

    # C publishes (it waits for subscriptions by itself), Python subscribes.
    s = socket(ctx, zmq.SUB)
    s.subscribe(b"prices")
    s.connect(xpub)
    with zesp.SAD.open(sub_sad, own_windows=True) as sad:
        # Subscribed once the proxy forwards what we subscribe to: a probe
        # publisher of our own proves the path before the C one starts.
        probe = socket(ctx, zmq.PUB)
        probe.connect(xsub)
        poller = zmq.Poller()
        poller.register(s, zmq.POLLIN)
        end = time.monotonic() + WAIT
        while not poller.poll(50):
            assert time.monotonic() < end, "the proxy never forwarded"
            probe.send_multipart([b"prices", b"probe"])
        assert s.recv_multipart() == [b"prices", b"probe"]
        probe.close()
        while poller.poll(200):              # drain further probes
            s.recv_multipart()
        c = Proc([build_program("examples/publisher"), "--sad", pub_sad, "--policy",
                  "prices", "--connect", xsub, "--topic", "prices", "--count", "40",
                  "--interval-ms", "1"], os.path.join(work, "cpub.log"))
        procs.append(c)
        # The C publisher waits a fixed half second for its subscription
        # before sending: should that not be enough here, its first
        # messages are dropped by its PUB socket, never by zesp.  What
        # arrives must be whole, verified and in order, up to the last.
        got = []
        while not got or got[-1] != 39:
            with sad.recv(s, "prices") as msg:
                assert msg.clear == [b"prices"] and msg.peer == "pub"
                text = msg.bytes()
                assert text.startswith(b"prices #")
                got.append(int(text[8:]))
        assert got == list(range(got[0], 40)) and len(got) >= 20, got
        assert c.wait() == 0, c.text()


def hostile_broker(work, procs, attack):
    """tests/hostile_broker.py: a broker with no key that attacks.  A port
    free_port found may be taken before the broker binds it (by another
    test's connection, whose source port the kernel picks from the same
    range): a broker that exits before it is ready is started again on
    other ports, and the last one's log is shown if none is."""
    for attempt in range(5):
        front, back = ("tcp://127.0.0.1:%d" % free_port() for _ in range(2))
        log = os.path.join(work, "hostile-%s-%d.log" % (attack, attempt))
        b = Proc(["/usr/bin/python3", os.path.join(SRCDIR, "tests", "hostile_broker.py"),
                  front, back, attack], log)
        procs.append(b)
        until(lambda: "hostile_broker: ready" in b.text() or b.p.poll() is not None,
              "the hostile broker")
        if "hostile_broker: ready" in b.text():
            return b, front, back
    pytest.fail("the hostile broker never bound its ports:\n" + b.text())


def host_sad(work, name, yaml):
    """Host name's SAD loaded from yaml (its sas and policies), with a
    state directory of its own, as each host has."""
    state = os.path.join(work, name + ".state")
    os.mkdir(state, 0o700)
    path = os.path.join(work, name + ".yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write("state_dir: %s\n%s" % (state, yaml))
    os.chmod(path, 0o600)
    sad = os.path.join(work, name + ".sad")
    zesp_tool("--sad", sad, "--state-dir", state, "state", "init")
    zesp_tool("--sad", sad, "--state-dir", state, "load", path)
    return sad


def on_host(sad, program):
    """program run on the host of sad (host_sad's): with that host's state
    directory, not the one $ZESP_STATE_DIR names for the whole suite."""
    return ["env", "ZESP_STATE_DIR=" + sad[:-len(".sad")] + ".state"] + program


def team_sads(work, hosts):
    """One group SA for requests and answers alike: host i (from 1) sends
    as Sender ID i and receives every other; policy team; the SAD paths."""
    k = key().hex()
    paths = []
    for i, name in enumerate(hosts, 1):
        lines = ['  - { spi: 0x7101, direction: out, key: "hex:%s", group: true, '
                 'sender_id: %d }' % (k, i)]
        lines += ['  - { spi: 0x7101, direction: in, key: "hex:%s", group: true, '
                  'sender_id: %d }' % (k, o) for o in range(1, len(hosts) + 1) if o != i]
        paths.append(host_sad(work, "team-" + name, "sas:\n%s\npolicies:\n"
                              "  - { name: team, out: 0x7101, in: [0x7101] }\n"
                              % "\n".join(lines)))
    return paths


def team_worker(work, sad, back, name):
    """examples/python's worker of payments on policy team, on sad's host,
    logging to <name>.log."""
    return Proc(on_host(sad, python_example("mdp_worker.py") +
                        ["--sad", sad, "--back", back, "--service", "payments",
                         "--policy", "team", "--name", name]),
                os.path.join(work, name + ".log"))


def payments_client(work, sad, front, policy="team", timeout_ms=20000):
    """examples/python's client: one payments request on policy, from
    sad's host, logging to client.log."""
    return Proc(on_host(sad, python_example("mdp_client.py") +
                        ["--sad", sad, "--front", front, "--service",
                         "payments", "--policy", policy, "--count", "1",
                         "--timeout-ms", str(timeout_ms)]),
                os.path.join(work, "client.log"))


def test_a_python_worker_serves_no_answer_as_a_request(work, procs):
    """One group SA carries requests and answers, so worker 2 can open
    worker 1's answer, [ANSWER | request id | text]: a broker hands it
    over as a request. Only the kind in the body tells it from one."""
    client_sad, w1_sad, w2_sad = team_sads(work, ["client", "w1", "w2"])
    broker, front, back = hostile_broker(work, procs, "reply-as-request")
    for n, sad in (("1", w1_sad), ("2", w2_sad)):
        w = team_worker(work, sad, back, "w" + n)
        procs.append(w)
        until(lambda: "worker %s ready" % n in broker.text(), "worker %s" % n)
    client = payments_client(work, client_sad, front)
    assert client.wait() == 0, client.text()
    w2 = procs[-1]
    until(lambda: "refused a request" in w2.text() or
          "answer from worker 2" in broker.text(), "worker 2 to refuse or answer")
    assert "sent an answer to another worker as a request" in broker.text()
    assert "answer from worker 2" not in broker.text(), w2.text()
    assert "refused a request: not a request" in w2.text(), w2.text()


def test_a_python_client_takes_not_its_own_request_as_the_answer(work, procs):
    """An SA loaded in and out on one SPI (a loop back): the client's host
    opens its own request, which carries the id the client waits for."""
    k = key().hex()
    sad = host_sad(work, "loop",
                   'sas:\n  - { spi: 0x7201, direction: out, key: "hex:%s" }\n'
                   '  - { spi: 0x7201, direction: in, key: "hex:%s" }\n'
                   'policies:\n  - { name: solo, out: 0x7201, in: [0x7201] }\n'
                   % (k, k))
    broker, front, _ = hostile_broker(work, procs, "reflect-only")
    client = payments_client(work, sad, front, policy="solo", timeout_ms=2000)
    client.wait()
    out = client.text()
    assert "sent a request back to its client" in broker.text()
    assert "1 requests, 0 answered, 1 unanswered, 1 answers refused" in out, out


def test_a_python_client_takes_no_answer_bound_to_another_service(work, procs):
    """refunds and payments share one policy; a hostile broker hands the
    client's payments request first to a refunds worker that serves it
    anyway (tests/lax_worker), its answer bound to refunds, then to the
    payments worker: the client takes the second only."""
    lax = build_program("tests/lax_worker")
    client_sad, w1_sad, w2_sad = team_sads(work, ["client", "w1", "w2"])
    broker, front, back = hostile_broker(work, procs, "other-service")
    procs.append(Proc(on_host(w2_sad, [lax, w2_sad, back, "refunds", "team",
                                       "team"]),
                      os.path.join(work, "lax.log")))
    until(lambda: "worker 1 ready" in broker.text(), "the refunds worker")
    procs.append(team_worker(work, w1_sad, back, "w1"))
    until(lambda: "worker 2 ready" in broker.text(), "the payments worker")
    client = payments_client(work, client_sad, front)
    assert client.wait() == 0, client.text()
    out = client.text()
    assert "sent the request to a worker of another service" in broker.text()
    assert "refused an answer: bound to another service than payments" in out, out
    assert "1 requests, 1 answered, 0 unanswered, 1 answers refused" in out, out
    assert "w1/1 answered 1" in out, out
