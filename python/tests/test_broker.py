"""The C broker of examples/ (mdp_broker) checking every hop, as users copy
it: what fails on one message must not cost the next ones.  Three hosts
keyed by hand (YAML loaded into shared SAD files by `zesp load`): a
client, the broker host (integrity-only hop SAs only) and a worker."""
import os
import secrets

import pytest

from conftest import (WAIT, Proc, build_program, free_port, key, loaded_sad,
                      until, zesp_tool)


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
    front, back = ("tcp://127.0.0.1:%d" % free_port() for _ in range(2))
    broker = Proc([build_program("examples/mdp_broker"), "--front", front,
                   "--back", back, "--sad", hosts.sad["broker"], "--hop-in",
                   "hop-c", "--hop-out", "hop-w"], os.path.join(work, "broker.log"))
    procs.append(broker)
    procs.append(Proc([build_program("examples/mdp_worker"), "--sad",
                       hosts.sad["worker"], "--back", back, "--service",
                       "payments", "--reply", "payments", "--name", "W",
                       "--hop", "hop-w"], os.path.join(work, "worker.log")))
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
