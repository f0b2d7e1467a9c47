"""Each refusal raises its own exception, with the library's code and
sentence, and leaves the socket ready for the next message.

A man in the middle sits between alice and bob: alice's messages reach a
tap socket, and the test forwards them to bob as they were, twice, changed
or not at all."""
import pytest

import zesp
from zesp._native import lib

from conftest import Peers, key, tcp_pair


class Middle:
    """alice -> (a, tap) ... (fwd, b) -> bob."""

    def __init__(self, ctx, peers):
        self.peers = peers
        self.a, self.tap = tcp_pair(ctx)
        self.fwd, self.b = tcp_pair(ctx)

    def capture(self, body=b"hello", clear=(b"svc",)):
        self.peers.alice.send(self.a, "to-bob", clear=list(clear), body=body)
        return self.tap.recv_multipart()

    def deliver(self, frames):
        self.fwd.send_multipart(frames)

    def refused(self, cls, code, frames, policy="to-alice"):
        self.deliver(frames)
        with pytest.raises(cls) as e:
            self.peers.bob.recv(self.b, policy)
        assert type(e.value) is cls
        assert e.value.code == code
        assert e.value.sentence == zesp.strerror(code)
        self.still_in_step()
        return e.value

    def still_in_step(self):
        frames = self.capture(b"next one")
        self.deliver(frames)
        assert self.peers.bob.recv(self.b, "to-alice").bytes() == b"next one"


@pytest.fixture
def mitm(ctx, peers):
    return Middle(ctx, peers)


def flip(frames, i, at):
    f = bytearray(frames[i])
    f[at] ^= 0x01
    out = list(frames)
    out[i] = bytes(f)
    return out


def test_a_replay_is_refused(mitm):
    frames = mitm.capture()
    mitm.deliver(frames)
    assert mitm.peers.bob.recv(mitm.b, "to-alice").bytes() == b"hello"
    mitm.refused(zesp.ReplayError, lib.ZESP_EREPLAY, frames)
    assert mitm.peers.bob.sa(mitm.peers.ab, zesp.IN).rejected["replay"] == 1


def test_a_message_below_the_replay_window_is_refused(ctx):
    p = Peers()
    p.bob.delete_sa(p.ab, zesp.IN)
    p.bob.add_sa(p.ab, zesp.IN, p.k1, peer="alice", replay_window=64)
    m = Middle(ctx, p)
    first = m.capture(b"first")
    for i in range(70):
        m.deliver(m.capture(b"later %d" % i))
        m.peers.bob.recv(m.b, "to-alice")
    e = m.refused(zesp.TooOldError, lib.ZESP_EOLD, first)
    assert isinstance(e, zesp.ReplayError)


def test_a_changed_body_fails_the_integrity_check(mitm):
    frames = mitm.capture()
    mitm.refused(zesp.IntegrityError, lib.ZESP_EICV, flip(frames, 1, 20))


def test_a_changed_clear_frame_breaks_the_binding(mitm):
    frames = mitm.capture(clear=(b"payments",))
    e = mitm.refused(zesp.BindingError, lib.ZESP_EBINDING, [b"paymentz", frames[1]])
    assert isinstance(e, zesp.IntegrityError)


def test_an_unknown_spi_and_garbage(mitm):
    frames = mitm.capture()
    mitm.refused(zesp.NoSAError, lib.ZESP_ENOSA, flip(frames, 1, 0))
    mitm.refused(zesp.MalformedError, lib.ZESP_EMALFORMED, [b"svc", b"\x00\x01\x02"])


def test_a_message_under_another_policys_sa_is_refused(ctx, peers):
    # carol also holds an SA to bob's host, for another policy: her message
    # reaches the socket bob receives alice's policy on.
    k = key()
    carol = zesp.SAD.private()
    carol.add_sa(0xCA01, zesp.OUT, k)
    carol.set_policy("to-bob", out=0xCA01)
    peers.bob.add_sa(0xCA01, zesp.IN, k, peer="carol")
    peers.bob.set_policy("to-carol", inbound=[0xCA01], peer="carol")
    c, b = tcp_pair(ctx)
    carol.send(c, "to-bob", body=b"not for this socket")
    with pytest.raises(zesp.PolicyError) as e:
        peers.bob.recv(b, "to-alice")
    assert e.value.code == lib.ZESP_EPOLICY
    assert peers.bob.stats().rejected["policy"] == 1
    # The same message on the policy it belongs to is accepted.
    carol.send(c, "to-bob", body=b"for carol's")
    assert peers.bob.recv(b, "to-carol").bytes() == b"for carol's"
    # Unchecked, anyone's would do: the reason the policy is required.
    carol.send(c, "to-bob", body=b"unchecked")
    assert peers.bob.recv(b, zesp.UNCHECKED).peer == "carol"


def test_a_message_too_big_for_the_receivers_sad(ctx):
    p = Peers(max_message=4096)
    m = Middle(ctx, p)
    big = zesp.SAD.private()
    big.add_sa(p.ab, zesp.OUT, p.k1, next_seq=1000)
    big.set_policy("to-bob", out=p.ab)
    big.send(m.a, "to-bob", clear=[b"svc"], body=b"x" * 20000)
    m.refused(zesp.TooBigError, lib.ZESP_ETOOBIG, m.tap.recv_multipart())
    with pytest.raises(zesp.TooBigError):
        p.alice.send(m.a, "to-bob", body=b"x" * 20000)


def test_send_side_refusals(ctx):
    sad = zesp.SAD.private()
    a, _ = tcp_pair(ctx)
    sad.add_sa(0x10, zesp.OUT, key(), hard=zesp.Lifetime(messages=2))
    sad.set_policy("short", out=0x10)
    sad.send(a, "short", body=b"1")
    sad.send(a, "short", body=b"2")
    with pytest.raises(zesp.ExpiredError) as e:
        sad.send(a, spi=0x10, body=b"3")
    assert e.value.code == lib.ZESP_EEXPIRED
    # On the policy, an expired SA is none: the key daemon is asked.
    with pytest.raises(zesp.AcquireError):
        sad.send(a, "short", body=b"3")
    sad.add_sa(0x11, zesp.OUT, key(), esn=False, next_seq=0xffffffff)
    sad.send(a, spi=0x11, body=b"the last number")
    with pytest.raises(zesp.SequenceExhaustedError):
        sad.send(a, spi=0x11, body=b"none left")
    sad.set_policy("no-sa-yet")
    with pytest.raises(zesp.AcquireError) as e:
        sad.send(a, "no-sa-yet", body=b"x")
    assert e.value.code == lib.ZESP_EACQUIRE
    with pytest.raises(zesp.NoPolicyError):
        sad.send(a, "no-such-policy", body=b"x")
    with pytest.raises(zesp.NoSAError):
        sad.send(a, spi=0x99, body=b"x")


def test_receiving_on_a_policy_that_does_not_exist(mitm):
    mitm.deliver(mitm.capture())
    with pytest.raises(zesp.NoPolicyError):
        mitm.peers.bob.recv(mitm.b, "to-nobody")
    mitm.still_in_step()


def test_an_exception_as_a_refusal_is_read_leaves_the_pool_sound(mitm):
    # A refused message's zesp_msg is freed after the call returns; an
    # exception raised before that (a tracer's, a signal handler's at that
    # line) leaves it to its ffi.gc pointer, which wipes it: never given
    # back twice, never read by another receive while a frame holds it.
    import sys
    from zesp import _message, _sad
    from zesp._native import ffi as _ffi
    frames = flip(mitm.capture(b"refused body"), 1, 20)
    line = next(i for i, text in enumerate(
        open(_sad.__file__).read().splitlines(), 1)
        if "ffi.gc(m, None)" in text)

    class Boom(Exception):
        pass

    def tracer(frame, event, arg):
        if frame.f_code.co_filename == _sad.__file__:
            frame.f_trace_lines = True
            if event == "line" and frame.f_lineno == line:
                raise Boom()
            return tracer
        return None

    mitm.deliver(frames)
    sys.settrace(tracer)
    try:
        with pytest.raises(Boom) as kept:
            mitm.peers.bob.recv(mitm.b, "to-alice")
    finally:
        sys.settrace(None)
    addresses = [int(_ffi.cast("uintptr_t", e[0])) for e in _message.pool]
    assert len(addresses) == len(set(addresses))
    # The next messages decrypt into their own memory, kept exception or not.
    for text in (b"first after", b"second after"):
        mitm.deliver(mitm.capture(text))
        with mitm.peers.bob.recv(mitm.b, "to-alice") as msg:
            assert msg.bytes() == text
    del kept
    mitm.still_in_step()
