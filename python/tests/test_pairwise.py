"""Pairwise SAs between two pyzmq sockets: frames, buffers, zero copy."""
import array
import errno
import gc

import pytest
import zmq

import zesp
from zesp._native import ffi, lib

from conftest import Peers, socket, tcp_pair


@pytest.mark.parametrize("transform", ["chacha20-poly1305", "aes256gcm",
                                       "null-chacha20-poly1305"])
def test_both_ways_over_tcp(ctx, transform):
    if not zesp.transform_available(transform):
        pytest.skip(transform + " unavailable here")
    p = Peers(transform)
    a, b = tcp_pair(ctx)
    for i in range(20):
        p.alice.send(a, "to-bob", clear=[b"svc"], body=[b"ping %d" % i])
        with p.bob.recv(b, "to-alice") as msg:
            assert bytes(msg.body[0]) == b"ping %d" % i
            assert msg.clear == [b"svc"] and msg.envelope == []
            assert (msg.spi, msg.seq, msg.peer, msg.sender_id) == (p.ab, i + 1, "alice", 0)
            assert msg.policy == "to-alice"
        p.bob.send(b, "to-alice", body=b"pong %d" % i)
        msg = p.alice.recv(a, "to-bob")
        assert msg.bytes() == b"pong %d" % i and msg.peer == "bob"
    assert p.bob.sa(p.ab, zesp.IN).messages == 20
    p.close()


def test_the_wire_carries_clear_frames_readable_and_the_body_not(ctx, peers):
    a, tap = tcp_pair(ctx)
    peers.alice.send(a, "to-bob", clear=[b"payments"], body=[b"card 4242 4242"])
    frames = tap.recv_multipart()
    assert frames[0] == b"payments" and len(frames) == 2
    assert b"4242" not in frames[1]
    assert int.from_bytes(frames[1][:4], "big") == peers.ab   # ESP: SPI first


def test_several_frames_any_buffer_and_an_envelope(ctx, peers):
    router = socket(ctx, zmq.ROUTER)
    router.bind("tcp://127.0.0.1:*")
    dealer = socket(ctx, zmq.DEALER)
    dealer.connect(router.last_endpoint.decode())
    body = [b"one", bytearray(b"two"), memoryview(b"three"),
            array.array("i", [1, 2, 3]), b""]
    peers.alice.send(dealer, "to-bob", clear=(b"svc", b"v2"), body=body)
    msg = peers.bob.recv(router, "to-alice")
    client = msg.envelope
    assert len(client) == 1 and client[0]           # the ROUTER's routing id
    assert msg.clear == [b"svc", b"v2"]
    assert [bytes(v) for v in msg.body] == [b"one", b"two", b"three",
                                           array.array("i", [1, 2, 3]).tobytes(), b""]
    # The reply goes back by the routing id, an envelope frame.
    peers.bob.send(router, "to-alice", envelope=client, clear=b"svc", body=b"ok")
    back = peers.alice.recv(dealer, "to-bob")
    assert back.clear == [b"svc"] and back.bytes() == b"ok"


def test_an_empty_buffer_is_a_frame_whatever_the_body(ctx, peers):
    """envelope=b"" and clear=b"" are one empty frame each, with a body of
    bytes as with any other: the empty delimiter a REP socket needs."""
    rep = socket(ctx, zmq.REP)
    rep.bind("tcp://127.0.0.1:*")
    dealer = socket(ctx, zmq.DEALER)
    dealer.connect(rep.last_endpoint.decode())
    bodies = [b"bytes", bytearray(b"bytearray"), [b"bytes in a list"]]
    for body in bodies:
        peers.alice.send(dealer, "to-bob", envelope=b"", clear=b"", body=body)
    peers.alice.send(dealer, "to-bob", envelope=[b""], clear=bytearray(), body=b"x")
    for want in [b"bytes", b"bytearray", b"bytes in a list", b"x"]:
        with peers.bob.recv(rep, "to-alice") as msg:
            assert (msg.bytes(), msg.clear) == (want, [b""])
        peers.bob.send(rep, "to-alice", body=want)
        with peers.alice.recv(dealer, "to-bob") as back:
            assert (back.envelope, back.bytes()) == ([b""], want)


def test_a_large_body_is_a_view_of_the_decrypted_bytes_not_a_copy(ctx, peers):
    a, b = tcp_pair(ctx)
    big = bytes(range(256)) * 4096                  # 1 MiB
    peers.alice.send(a, "to-bob", body=memoryview(big))
    msg = peers.bob.recv(b, "to-alice")
    view = msg.body[0]
    assert isinstance(view, memoryview) and view.readonly and view.nbytes == len(big)
    where = int(ffi.cast("uintptr_t", ffi.from_buffer(view)))
    frame = lib.zesp_msg_body(msg._msg, 0)
    assert where == int(ffi.cast("uintptr_t", frame.data))   # the message's own bytes
    assert view == big


def test_small_bodies_are_memoryviews_too(ctx, peers):
    a, b = tcp_pair(ctx)
    peers.alice.send(a, "to-bob", body=b"x" * 64)
    view = peers.bob.recv(b, "to-alice").body[0]
    assert isinstance(view, memoryview) and view.readonly and view == b"x" * 64


def test_a_view_keeps_the_memory_alive_after_the_message_is_gone(ctx, peers):
    a, b = tcp_pair(ctx)
    views = []
    for i in range(8):
        payload = bytes([i]) * 100000
        peers.alice.send(a, "to-bob", body=payload)
        views.append(peers.bob.recv(b, "to-alice").body[0][10:99990])
    gc.collect()
    # Reuse the heap hard: a freed buffer would now hold other bytes.
    junk = [bytearray(100000) for _ in range(64)]
    for i, v in enumerate(views):
        assert v == bytes([i]) * 99980
    del junk


def test_close_releases_the_views_it_gave(ctx, peers):
    a, b = tcp_pair(ctx)
    peers.alice.send(a, "to-bob", body=[b"s" * 10, b"L" * 100000])
    with peers.bob.recv(b, "to-alice") as msg:
        small, large = msg.body
        kept = large[:5]
        assert small == b"s" * 10
    assert msg.closed
    for v in (small, large):
        with pytest.raises(ValueError):
            v[0]
    assert kept == b"LLLLL"                         # a slice still holds it
    with pytest.raises(ValueError, match="closed"):
        msg.bytes()


@pytest.mark.parametrize("size", [20, 1000, 20000])
def test_the_plaintext_is_wiped_when_the_message_is_released(ctx, peers, size):
    # The binding keeps the zesp_msg it releases as this thread's spare for
    # the next receive (its frames untouched until then): what it held must
    # not be the plaintext any more.  Small bodies (copied to Python) and a
    # large one (viewed in place, released with its last view) alike.
    a, b = tcp_pair(ctx)
    secret = (b"attack at dawn " * (size // 15 + 1))[:size]
    gc.collect()                    # no other message released under us
    peers.alice.send(a, "to-bob", body=secret)
    msg = peers.bob.recv(b, "to-alice")
    view = msg.body[0]
    f = lib.zesp_msg_body(msg._msg, 0)
    where, n = int(ffi.cast("uintptr_t", f.data)), f.size
    assert n == size and ffi.buffer(f.data, n)[:] == secret
    msg.close()
    del msg, view, f
    gc.collect()
    # Still this thread's spare (the receive took the spare there was, the
    # release made it the spare again): its memory is allocated, readable.
    assert ffi.buffer(ffi.cast("char *", where), n)[:] == bytes(n)
    # And the spare serves the next receive as before.
    peers.alice.send(a, "to-bob", body=secret)
    with peers.bob.recv(b, "to-alice") as again:
        assert again.bytes() == secret


def test_send_on_an_spi_and_the_unchecked_receive(ctx, peers):
    a, b = tcp_pair(ctx)
    peers.alice.send(a, spi=peers.ab, body=b"by spi")
    msg = peers.bob.recv(b, zesp.UNCHECKED)
    assert msg.bytes() == b"by spi" and msg.policy is None
    with pytest.raises(TypeError):
        peers.alice.send(a, body=b"neither policy nor spi")
    with pytest.raises(TypeError):
        peers.alice.send(a, zesp.UNCHECKED, body=b"x")
    with pytest.raises(TypeError):
        peers.bob.recv(b)       # the policy is required


def test_dontwait_and_timeouts_raise_again(ctx, peers):
    a, b = tcp_pair(ctx)
    with pytest.raises(zesp.Again) as e:
        peers.bob.recv(b, "to-alice", dontwait=True)
    assert e.value.code == errno.EAGAIN
    b.rcvtimeo = 10
    with pytest.raises(zesp.Again):
        peers.bob.recv(b, "to-alice")


def test_a_raw_libzmq_handle_works_too(ctx, peers):
    a, b = tcp_pair(ctx)
    peers.alice.send(a.underlying, "to-bob", body=b"raw")
    assert peers.bob.recv(b.underlying, "to-alice").bytes() == b"raw"
    with pytest.raises(TypeError):
        peers.alice.send(object(), "to-bob", body=b"x")
