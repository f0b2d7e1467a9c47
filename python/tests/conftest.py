"""Fixtures of the zesp Python suite (run by tests/test_python.sh, which
sets ZESP_BUILDDIR, ZESP_SRCDIR and a private ZESP_STATE_DIR).

Tests decide on events, never on elapsed time: every wait below is a poll
for a state, bounded by WAIT seconds (generous: the machine is busy)."""
import os
import secrets
import subprocess
import time
from typing import Callable, Iterator, List, Optional

import pytest
import zmq

import zesp

WAIT = 30.0                  # upper bound of any wait for an event, seconds
RECV_TIMEOUT_MS = 20000      # a receive that should succeed never waits longer

BUILDDIR = os.environ.get("ZESP_BUILDDIR", "")
SRCDIR = os.environ.get("ZESP_SRCDIR", "")


def key() -> bytes:
    """A fresh 36-byte KEYMAT."""
    return secrets.token_bytes(36)


def until(cond: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Poll cond until it holds; fail the test after timeout seconds."""
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            pytest.fail("timed out waiting for " + what)
        time.sleep(0.02)


@pytest.fixture
def ctx() -> Iterator[zmq.Context]:
    c = zmq.Context()
    yield c
    c.destroy(linger=0)


def socket(ctx: zmq.Context, kind: int) -> zmq.Socket:
    s = ctx.socket(kind)
    s.rcvtimeo = RECV_TIMEOUT_MS
    s.sndtimeo = RECV_TIMEOUT_MS
    s.linger = 0
    return s


def tcp_pair(ctx: zmq.Context, a_kind: int = zmq.PAIR, b_kind: int = zmq.PAIR):
    """a binds on 127.0.0.1, b connects: (a, b)."""
    a, b = socket(ctx, a_kind), socket(ctx, b_kind)
    a.bind("tcp://127.0.0.1:*")
    b.connect(a.last_endpoint.decode())
    return a, b


class Peers:
    """Two hosts keyed by hand: alice and bob, each a private SAD with an
    SA each way and a policy naming them ("to-bob" at alice's, "to-alice"
    at bob's)."""

    def __init__(self, transform: str = "chacha20-poly1305", **sad_opts) -> None:
        self.ab, self.ba = 0x1000 + secrets.randbelow(1 << 20), 0x2000000 + secrets.randbelow(1 << 20)
        k1, k2 = key(), key()
        self.alice = zesp.SAD.private(**sad_opts)
        self.bob = zesp.SAD.private(**sad_opts)
        self.alice.add_sa(self.ab, zesp.OUT, k1, transform=transform, peer="bob")
        self.alice.add_sa(self.ba, zesp.IN, k2, transform=transform, peer="bob")
        self.alice.set_policy("to-bob", out=self.ab, inbound=[self.ba], peer="bob")
        self.bob.add_sa(self.ab, zesp.IN, k1, transform=transform, peer="alice")
        self.bob.add_sa(self.ba, zesp.OUT, k2, transform=transform, peer="alice")
        self.bob.set_policy("to-alice", out=self.ba, inbound=[self.ab], peer="alice")
        self.k1, self.k2 = k1, k2

    def close(self) -> None:
        self.alice.close()
        self.bob.close()


@pytest.fixture
def peers() -> Iterator[Peers]:
    p = Peers()
    yield p
    p.close()


@pytest.fixture
def work(tmp_path_factory) -> str:
    """A private folder (0700) for SAD files, YAML and keys."""
    d = tmp_path_factory.mktemp("zesp")
    os.chmod(d, 0o700)
    return str(d)


def build_program(relative: str) -> str:
    """A program of the build tree (examples/..., tools/...), or skip."""
    if not BUILDDIR:
        pytest.skip("ZESP_BUILDDIR not set (run through tests/test_python.sh)")
    path = os.path.join(BUILDDIR, relative)
    if not os.access(path, os.X_OK):
        pytest.skip(relative + " not built")
    return path


def zesp_tool(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """The zesp command-line tool of the build tree."""
    return subprocess.run([build_program("tools/zesp"), *args], check=check,
                          capture_output=True, text=True, timeout=WAIT)


def yaml_pair(folder: str, name_a: str, name_b: str, policy_a: str,
              policy_b: str, transform: str = "chacha20-poly1305") -> List[str]:
    """Two mirrored manual-keying files (doc/configuration.md): host a's
    policy_a and host b's policy_b, an SA each way; their paths."""
    ab, ba = 0x3000 + secrets.randbelow(1 << 20), 0x4000000 + secrets.randbelow(1 << 20)
    k1, k2 = key().hex(), key().hex()

    def one(me: str, peer: str, policy: str, out: int, out_key: str,
            inb: int, in_key: str) -> str:
        path = os.path.join(folder, "sad-%s.yaml" % me)
        with open(path, "w", encoding="utf-8") as f:
            f.write("""sas:
  - {{ spi: {out:#x}, direction: out, transform: {t}, key: "hex:{ok}", peer: {peer} }}
  - {{ spi: {inb:#x}, direction: in, transform: {t}, key: "hex:{ik}", peer: {peer} }}
policies:
  - {{ name: {policy}, peer: {peer}, out: {out:#x}, in: [{inb:#x}] }}
""".format(out=out, inb=inb, t=transform, ok=out_key, ik=in_key, peer=peer,
           policy=policy))
        os.chmod(path, 0o600)
        return path

    return [one(name_a, name_b, policy_a, ab, k1, ba, k2),
            one(name_b, name_a, policy_b, ba, k2, ab, k1)]


def loaded_sad(folder: str, name: str, yaml: str) -> str:
    """A shared SAD file made and loaded by `zesp load`, as a host does."""
    path = os.path.join(folder, name + ".sad")
    zesp_tool("--sad", path, "load", yaml)
    return path


class Proc:
    """A program of the build tree running in the background."""

    def __init__(self, args: List[str], log: str) -> None:
        self.log = log
        self.out = open(log, "w", encoding="utf-8")
        self.p = subprocess.Popen(args, stdout=self.out, stderr=subprocess.STDOUT,
                                  text=True)

    def wait(self, timeout: float = WAIT) -> int:
        try:
            return self.p.wait(timeout=timeout)
        finally:
            self.out.close()

    def text(self) -> str:
        if not self.out.closed:
            self.out.flush()
        with open(self.log, encoding="utf-8") as f:
            return f.read()

    def stop(self) -> Optional[int]:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.out.close()
        return self.p.returncode


@pytest.fixture
def procs() -> Iterator[List[Proc]]:
    """Background programs, stopped at the end of the test."""
    running: List[Proc] = []
    yield running
    for p in running:
        p.stop()


_ports_given: set = set()


def _ephemeral_top() -> int:
    """The last port the kernel picks for a connection's own end."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
            return int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 65535


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (for C programs that
    take an endpoint), never the same one twice in this process.  Taken
    above the kernel's range for connections' own ends (Linux: 32768 to
    60999) where there is room: a port from that range could become some
    test's connection's source port before our program binds it (Address
    already in use); the shell tests' blocks lie below it (tests/lib.sh)."""
    import random
    import socket as pysocket
    top = _ephemeral_top()
    for _ in range(200):
        if top < 65000:
            port = random.randint(top + 1, 65535)
        else:
            with pysocket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        if port in _ports_given:
            continue
        with pysocket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _ports_given.add(port)
        return port
    raise RuntimeError("no free TCP port on 127.0.0.1")
