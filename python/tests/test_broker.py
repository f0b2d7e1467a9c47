"""The C broker and proxy of examples/ (mdp_broker, pubsub_proxy), as users
copy them: what fails on one message must not cost the next ones.

The broker checking every hop: three hosts keyed by hand (YAML loaded into
shared SAD files by `zesp load`): a client, the broker host (integrity-only
hop SAs only) and a worker.  Junk and dead workers: the broker and the
proxy route on clear frames and read nothing else, so plain ZeroMQ peers
stand for clients, workers and publishers there."""
import os
import secrets
import signal
import sys

import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from conftest import (RECV_TIMEOUT_MS, WAIT, Proc, build_program, free_port,
                      key, loaded_sad, socket, until, zesp_tool)


def sa(spi, direction, k, peer, transform="null-chacha20-poly1305",
       hard_messages=0):
    life = (", lifetime: { hard: { messages: %d } }" % hard_messages
            if hard_messages else "")
    return ('  - { spi: %#x, direction: %s, transform: %s, key: "hex:%s", '
            'peer: %s%s }\n' % (spi, direction, transform, k.hex(), peer, life))


def policy(name, peer, out, inbound):
    return "  - { name: %s, peer: %s, out: %#x, in: [%s] }\n" % (
        name, peer, out, ", ".join("%#x" % s for s in inbound))


def write(folder, name, text):
    path = os.path.join(folder, name + ".yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


def spi():
    return 0x10000 + secrets.randbelow(1 << 28)


class Hosts:
    """client <-hop-c-> broker <-hop-w-> worker, end to end client <->
    worker on policy payments.  expire: "hop-w" or "hop-c", the broker's
    outbound hop SA that stops after 2 messages."""

    def __init__(self, work, expire):
        self.work = work
        ecw, ewc, self.c1, self.c2, self.w1, self.w2 = (spi() for _ in range(6))
        k = {s: key() for s in (ecw, ewc, self.c1, self.c2, self.w1, self.w2)}
        e2e = "chacha20-poly1305"
        c2 = dict(hard_messages=2 if expire == "hop-c" else 0)
        w1 = dict(hard_messages=2 if expire == "hop-w" else 0)
        client = ("sas:\n" + sa(ecw, "out", k[ecw], "worker", e2e) +
                  sa(ewc, "in", k[ewc], "worker", e2e) +
                  sa(self.c1, "out", k[self.c1], "broker") +
                  sa(self.c2, "in", k[self.c2], "broker") + "policies:\n" +
                  policy("payments", "worker", ecw, [ewc]) +
                  policy("hop-c", "broker", self.c1, [self.c2]))
        worker = ("sas:\n" + sa(ewc, "out", k[ewc], "client", e2e) +
                  sa(ecw, "in", k[ecw], "client", e2e) +
                  sa(self.w2, "out", k[self.w2], "broker") +
                  sa(self.w1, "in", k[self.w1], "broker") + "policies:\n" +
                  policy("payments", "client", ewc, [ecw]) +
                  policy("hop-w", "broker", self.w2, [self.w1]))
        broker = ("sas:\n" + sa(self.c2, "out", k[self.c2], "client", **c2) +
                  sa(self.c1, "in", k[self.c1], "client") +
                  sa(self.w1, "out", k[self.w1], "worker", **w1) +
                  sa(self.w2, "in", k[self.w2], "worker") + "policies:\n" +
                  policy("hop-c", "client", self.c2, [self.c1]) +
                  policy("hop-w", "worker", self.w1, [self.w2]))
        self.sad = {n: loaded_sad(work, n, write(work, n, t))
                    for n, t in (("client", client), ("worker", worker),
                                 ("broker", broker))}

    def new_hop_sa(self, expire):
        """A new outbound hop SA for the broker, its inbound twin at the
        neighbour, each policy moved onto it (what a rekey installs)."""
        new, k = spi(), key()
        neighbour, old_out, back = (("worker", self.w1, self.w2)
                                    if expire == "hop-w" else
                                    ("client", self.c2, self.c1))
        b = write(self.work, "broker-new", "sas:\n" +
                  sa(new, "out", k, neighbour) + "policies:\n" +
                  policy(expire, neighbour, new, [back]))
        n = write(self.work, neighbour + "-new", "sas:\n" +
                  sa(new, "in", k, "broker") + "policies:\n" +
                  policy(expire, "broker", back, [old_out, new]))
        zesp_tool("--sad", self.sad[neighbour], "load", n)
        zesp_tool("--sad", self.sad["broker"], "load", b)


def hop_broker(hosts, work):
    """mdp_broker on the broker host, checking both hops; and its front
    and back endpoints."""
    front, back = ("tcp://127.0.0.1:%d" % free_port() for _ in range(2))
    broker = Proc([build_program("examples/mdp_broker"), "--front", front,
                   "--back", back, "--sad", hosts.sad["broker"], "--hop-in",
                   "hop-c", "--hop-out", "hop-w"], os.path.join(work, "broker.log"))
    return broker, front, back


def hop_worker(hosts, back, work):
    """mdp_worker W on the worker host, its hop SA with the broker."""
    return Proc([build_program("examples/mdp_worker"), "--sad",
                 hosts.sad["worker"], "--back", back, "--service", "payments",
                 "--reply", "payments", "--name", "W", "--hop", "hop-w"],
                os.path.join(work, "worker.log"))


def client(hosts, front, count, timeout_ms, log):
    c = Proc([build_program("examples/mdp_client"), "--sad", hosts.sad["client"],
              "--front", front, "--service", "payments", "--policy", "payments",
              "--hop", "hop-c", "--count", str(count), "--timeout-ms",
              str(timeout_ms)], log)
    # Each request waits for its answer up to timeout_ms, then the next.
    assert c.wait(timeout=WAIT + count * timeout_ms / 1000) == 0, c.text()
    return c.text()


@pytest.mark.parametrize("expire", ["hop-w", "hop-c"])
def test_a_message_the_broker_cannot_wrap_does_not_cost_it_the_worker(work, procs, expire):
    # The broker's outbound hop SA towards the worker (a request) or the
    # client (a reply) reaches its hard lifetime: that message is dropped.
    # Once a new SA is in place, the worker must still be the broker's:
    # before, the broker forgot the worker it had taken for the request (or
    # whose reply it dropped), and nothing was answered any more.
    hosts = Hosts(work, expire)
    broker, front, back = hop_broker(hosts, work)
    procs.append(broker)
    procs.append(hop_worker(hosts, back, work))
    until(lambda: "worker 1 ready" in broker.text(), "the worker's READY")
    out = client(hosts, front, 2, 20000, os.path.join(work, "c1.log"))
    assert "2 requests, 2 answered" in out, out
    # The third message on the SA: refused by its lifetime, dropped.
    out = client(hosts, front, 1, 2000, os.path.join(work, "c2.log"))
    assert "1 requests, 0 answered, 1 unanswered" in out, out
    until(lambda: "cannot wrap for " + expire in broker.text(), "the broker's drop")
    hosts.new_hop_sa(expire)
    out = client(hosts, front, 3, 20000, os.path.join(work, "c3.log"))
    assert "3 requests, 3 answered, 0 unanswered" in out, out


# Someone who can connect to the broker's --back but holds no hop key:
# says READY for "payments", then HEARTBEAT every 200 ms, and never answers.
ROGUE = """
import sys, time, zmq
s = zmq.Context().socket(zmq.DEALER)
s.linger = 0
s.connect(sys.argv[1])
s.send_multipart([b"READY", b"payments"])
while True:
    if s.poll(200):
        print("handed", len(s.recv_multipart()), "frames", flush=True)
    s.send_multipart([b"HEARTBEAT", b"payments"])
"""


def test_a_worker_that_cannot_wrap_its_ready_in_the_hop_sa_is_handed_no_request(work, procs):
    # Before, READY and HEARTBEAT were plain frames even with hop SAs: the
    # rogue, idle the longest, was handed the first request and kept it
    # for as long as it said HEARTBEAT, and that request was never
    # answered.  Now only READY wrapped in the worker hop SA counts.
    hosts = Hosts(work, None)
    broker, front, back = hop_broker(hosts, work)
    procs.append(broker)
    rogue = Proc([sys.executable, "-c", ROGUE, back], os.path.join(work, "rogue.log"))
    procs.append(rogue)
    # The rogue's READY has reached the broker: registered (old broker) or
    # refused (now).
    until(lambda: "worker 1 ready" in broker.text() or
          "hop check refused a message" in broker.text(), "the rogue's READY")
    procs.append(hop_worker(hosts, back, work))
    until(lambda: "worker %d ready" % (1 if "refused" in broker.text() else 2)
          in broker.text(), "the worker's READY")
    out = client(hosts, front, 3, 20000, os.path.join(work, "c.log"))
    assert "3 requests, 3 answered, 0 unanswered" in out, out
    assert "worker 2 ready" not in broker.text(), broker.text()
    assert rogue.text() == "", rogue.text()


# A worker of plain ZeroMQ: READY for "payments", then each request
# [client | service | body] answered [client | service | its name], and
# the size of each body it was handed printed; HEARTBEAT every argv[3] ms.
WORKER = """
import sys, time, zmq
s = zmq.Context().socket(zmq.DEALER)
s.linger = 0
s.connect(sys.argv[1])
beat = int(sys.argv[3]) / 1000
s.send_multipart([b"READY", b"payments"])
at = time.monotonic() + beat
while True:
    if s.poll(min(200, beat * 500)):
        client, service, body = s.recv_multipart()
        print("got", len(body), flush=True)
        s.send_multipart([client, service, sys.argv[2].encode()])
    if time.monotonic() >= at:
        s.send_multipart([b"HEARTBEAT", b"payments"])
        at = time.monotonic() + beat
"""


def plain_worker(back, name, work, heartbeat_ms=2500):
    return Proc([sys.executable, "-c", WORKER, back, name, str(heartbeat_ms)],
                os.path.join(work, "worker-%s.log" % name))


def plain_broker(work, *options):
    front, back = ("tcp://127.0.0.1:%d" % free_port() for _ in range(2))
    broker = Proc([build_program("examples/mdp_broker"), "--front", front,
                   "--back", back, *options], os.path.join(work, "broker.log"))
    return broker, front, back


def dropped(ctx, s, connect):
    """s connected to connect, watched: a function telling whether its
    connection has been dropped by the other side."""
    mon = s.get_monitor_socket(zmq.EVENT_DISCONNECTED)
    s.connect(connect)
    return lambda: mon.poll(0) and recv_monitor_message(mon)["event"] == zmq.EVENT_DISCONNECTED


MIB = 1 << 20


@pytest.mark.parametrize("limit,size,ok_size", [
    ("4096", 4097, 4096),
    # The default: 16 MiB, room for the benchmarks' 1 MiB and ESP overhead.
    (None, 16 * MIB + 1, MIB + 64)])
def test_the_broker_drops_a_connection_sending_a_frame_over_the_limit(ctx, work, procs, limit, size, ok_size):
    # Before, the broker took frames of any size from anyone who could
    # connect, queued them and handed them to workers.
    broker, front, back = plain_broker(work, *(["--max-message", limit] if limit else []))
    procs.append(broker)
    procs.append(plain_worker(back, "W", work))
    until(lambda: "worker 1 ready" in broker.text(), "the worker's READY")
    junk = socket(ctx, zmq.DEALER)
    gone = dropped(ctx, junk, front)
    junk.send_multipart([b"payments", b"x" * size])
    until(gone, "the broker to drop the connection of a frame of %d bytes" % size)
    client = socket(ctx, zmq.DEALER)
    client.connect(front)
    client.send_multipart([b"payments", b"y" * ok_size])
    assert client.recv_multipart() == [b"payments", b"W"]
    # The worker was handed the legitimate request only.
    assert procs[-1].text() == "got %d\n" % ok_size


def broker_connections(endpoint):
    """The states (hex, /proc/net/tcp) of the TCP connections accepted on
    endpoint (tcp://127.0.0.1:PORT), the listening socket left out.  The
    broker sets ZMQ_IPV6 (examples/endpoint.h), so libzmq may listen on an
    IPv6 socket with 127.0.0.1 mapped (::ffff:127.0.0.1, /proc/net/tcp6)."""
    port = "%04X" % int(endpoint.rsplit(":", 1)[1])
    local = {"/proc/net/tcp": "0100007F:" + port,
             "/proc/net/tcp6": "0000000000000000FFFF00000100007F:" + port}
    states = []
    for table, address in local.items():
        try:
            with open(table, encoding="ascii") as f:
                rows = [line.split() for line in f.readlines()[1:]]
        except FileNotFoundError:      # a kernel without IPv6
            continue
        states += [r[3] for r in rows if r[1] == address and r[3] != "0A"]
    return states


def test_a_worker_killed_while_idle_costs_no_request(ctx, work, procs):
    # Before, the broker handed the next request to the dead worker, which
    # its ROUTER dropped silently: that request was never answered.
    broker, front, back = plain_broker(work)
    procs.append(broker)
    first = plain_worker(back, "dead", work)
    procs.append(first)
    until(lambda: "worker 1 ready" in broker.text(), "the first worker's READY")
    procs.append(plain_worker(back, "alive", work))
    until(lambda: "worker 2 ready" in broker.text(), "the second worker's READY")
    first.p.send_signal(signal.SIGKILL)
    first.wait()
    # The broker has closed the dead worker's connection (no longer
    # ESTABLISHED, 01, nor CLOSE_WAIT, 08): it has seen it go.
    until(lambda: [s for s in broker_connections(back) if s in ("01", "08")] == ["01"],
          "the broker to close the dead worker's connection")
    client = socket(ctx, zmq.DEALER)
    client.connect(front)
    for i in range(5):
        client.send_multipart([b"payments", b"request %d" % i])
    answers = []
    for _ in range(5):
        assert client.poll(RECV_TIMEOUT_MS), "answered: %r" % answers
        answers.append(client.recv_multipart())
    assert answers == [[b"payments", b"alive"]] * 5
    assert procs[-1].text() == "got 9\n" * 5


# The broker's and its workers' heartbeat in the tests below: a worker
# silent for 3 of them (1.5 s) expires, long enough for a busy machine.
BEAT_MS = 500


def test_a_worker_whose_host_is_gone_is_handed_no_request(ctx, work, procs):
    # A host that vanishes leaves its TCP connection open: the broker's
    # sends to it still succeed.  SIGSTOP stands for it.  Before, the
    # broker went on handing requests to that worker (the first, idle the
    # longest, took request 0), and they were never answered: nothing told
    # it the worker was gone.  Now the worker expires without heartbeats,
    # and the request it held goes to the next worker.
    broker, front, back = plain_broker(work, "--heartbeat-ms", str(BEAT_MS))
    procs.append(broker)
    gone = plain_worker(back, "gone", work, BEAT_MS)
    procs.append(gone)
    until(lambda: "worker 1 ready" in broker.text(), "the first worker's READY")
    procs.append(plain_worker(back, "alive", work, BEAT_MS))
    until(lambda: "worker 2 ready" in broker.text(), "the second worker's READY")
    gone.p.send_signal(signal.SIGSTOP)
    try:
        client = socket(ctx, zmq.DEALER)
        client.connect(front)
        for i in range(5):
            client.send_multipart([b"payments", b"request %d" % i])
        answers = []
        for _ in range(5):
            assert client.poll(RECV_TIMEOUT_MS), "answered: %r\n%s" % (
                answers, broker.text())
            answers.append(client.recv_multipart())
        assert answers == [[b"payments", b"alive"]] * 5
        until(lambda: "is gone (no heartbeat" in broker.text(),
              "the broker to say the silent worker expired")
    finally:
        gone.p.send_signal(signal.SIGCONT)


def test_workers_that_left_are_forgotten(ctx, work, procs):
    # 70 workers say READY and leave, then one stays and serves.  Before,
    # the broker kept each one it had seen in a list of 64 it never
    # pruned: the 65th and later were never announced.  Now each that
    # stops beating is forgotten (and its place is free).
    broker, front, back = plain_broker(work, "--heartbeat-ms", str(BEAT_MS))
    procs.append(broker)
    for i in range(70):
        w = socket(ctx, zmq.DEALER)
        w.connect(back)
        w.send_multipart([b"READY", b"payments"])
        until(lambda: "worker %d ready" % (i + 1) in broker.text(),
              "worker %d's READY" % (i + 1))
        w.close()
    until(lambda: broker.text().count("is gone (") == 70,
          "the broker to forget the 70 that left")
    procs.append(plain_worker(back, "stays", work, BEAT_MS))
    until(lambda: "worker 71 ready" in broker.text(), "the last worker's READY")
    client = socket(ctx, zmq.DEALER)
    client.connect(front)
    client.send_multipart([b"payments", b"hello"])
    assert client.poll(RECV_TIMEOUT_MS), broker.text()
    assert client.recv_multipart() == [b"payments", b"stays"]


PUBLISHER_SUBSCRIBED = b"\x01prices"


@pytest.mark.parametrize("limit,size", [("4096", 4097), (None, 16 * MIB + 1)])
def test_the_proxy_drops_a_connection_sending_a_frame_over_the_limit(ctx, work, procs, limit, size):
    # Before, the proxy forwarded frames of any size to every subscriber.
    xsub, xpub = ("tcp://127.0.0.1:%d" % free_port() for _ in range(2))
    proxy = Proc([build_program("examples/pubsub_proxy"), "--xsub", xsub,
                  "--xpub", xpub, *(["--max-message", limit] if limit else [])],
                 os.path.join(work, "proxy.log"))
    procs.append(proxy)
    sub = socket(ctx, zmq.SUB)
    sub.subscribe(b"prices")
    sub.connect(xpub)
    until(lambda: "subscribe prices" in proxy.text(), "the subscription at the proxy")
    # XPUB publishers: each hears the subscription once the proxy's is on
    # its connection, so nothing it publishes is dropped for want of one.
    junk = socket(ctx, zmq.XPUB)
    gone = dropped(ctx, junk, xsub)
    assert junk.poll(RECV_TIMEOUT_MS) and junk.recv() == PUBLISHER_SUBSCRIBED
    junk.send_multipart([b"prices", b"x" * size])
    until(gone, "the proxy to drop the connection of a frame of %d bytes" % size)
    honest = socket(ctx, zmq.XPUB)
    honest.connect(xsub)
    assert honest.poll(RECV_TIMEOUT_MS) and honest.recv() == PUBLISHER_SUBSCRIBED
    honest.send_multipart([b"prices", b"ok"])
    assert sub.poll(RECV_TIMEOUT_MS)
    assert sub.recv_multipart() == [b"prices", b"ok"]
