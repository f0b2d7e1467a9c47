"""The fast paths of send and recv behave exactly as the general ones.

send: one body frame of bytes in a list, no clear or envelope frames given,
takes its own few checks; every other shape the general ones.  recv: a
message of one body frame under COPY_THRESHOLD owns its zesp_msg itself
(released by close() or as it is freed), any other holds it through a
hold (a _Share) its views share.  Each case below runs through both."""
import gc
import os
import secrets
import subprocess
import sys
import threading

import pytest
import zmq
import zmq.asyncio

import zesp
from zesp._message import COPY_THRESHOLD
from zesp._native import ffi, lib

from conftest import socket, tcp_pair, until

# Bodies of one frame as send takes them: the first is the fast path.
BODIES = [
    pytest.param(lambda b: [b], id="fast-list-of-bytes"),
    pytest.param(lambda b: b, id="bytes"),
    pytest.param(lambda b: (b,), id="tuple-of-bytes"),
    pytest.param(lambda b: [bytearray(b)], id="list-of-bytearray"),
    pytest.param(lambda b: [memoryview(b)], id="list-of-memoryview"),
]


@pytest.mark.parametrize("shape", BODIES)
def test_every_shape_of_one_body_arrives_the_same(ctx, peers, shape):
    a, b = tcp_pair(ctx)
    for i, extra in enumerate([{}, {"clear": []}, {"envelope": []},
                               {"clear": (), "envelope": ()}]):
        peers.alice.send(a, "to-bob", body=shape(b"body %d" % i), **extra)
        with peers.bob.recv(b, "to-alice") as msg:
            assert msg.bytes() == b"body %d" % i and len(msg.body) == 1
            assert msg.clear == [] and msg.envelope == []
            assert (msg.spi, msg.seq, msg.peer) == (peers.ab, i + 1, "alice")


@pytest.mark.parametrize("shape", BODIES)
def test_send_refusals_are_the_same_on_every_path(ctx, peers, shape):
    a, b = tcp_pair(ctx)
    body = shape(b"x")
    with pytest.raises(zesp.NoPolicyError):
        peers.alice.send(a, "no-such-policy", body=body)
    with pytest.raises(TypeError):
        peers.alice.send(a, zesp.UNCHECKED, body=body)
    with pytest.raises(TypeError):
        peers.alice.send(a, body=body)              # neither policy nor spi
    with pytest.raises(TypeError):
        peers.alice.send(object(), "to-bob", body=body)
    lonely = socket(ctx, zmq.PUSH)                  # no peer: no room
    with pytest.raises(zesp.Again):
        peers.alice.send(lonely, "to-bob", body=body, dontwait=True)
    actx = zmq.asyncio.Context()
    try:
        s = actx.socket(zmq.PAIR)
        with pytest.raises(TypeError):
            peers.alice.send(s, "to-bob", body=body)
        s.close(linger=0)
    finally:
        actx.term()
    # And the next is sent as ever.
    peers.alice.send(a, "to-bob", body=body)
    with peers.bob.recv(b, "to-alice") as msg:
        assert msg.bytes() == b"x" and msg.peer == "alice"
    peers.alice.close()
    with pytest.raises(ValueError):
        peers.alice.send(a, "to-bob", body=body)


def test_a_small_message_owns_its_zesp_msg_a_large_or_framed_one_shares_it(ctx, peers):
    a, b = tcp_pair(ctx)
    small, large = b"s" * (COPY_THRESHOLD - 1), b"L" * COPY_THRESHOLD
    cases = [(dict(body=[small]), True), (dict(body=[large]), False),
             (dict(body=[b"one", b"two"]), False), (dict(body=[]), False),
             (dict(body=[b""]), True),
             (dict(clear=[b"svc"], body=[small]), True)]
    for kwargs, owned in cases:
        peers.alice.send(a, "to-bob", **kwargs)
        msg = peers.bob.recv(b, "to-alice")
        assert (msg._raw is not None) == owned
        assert [bytes(v) for v in msg.body] == kwargs["body"]
        assert msg.clear == kwargs.get("clear", [])
        assert (msg.policy, msg.peer, msg.sender_id) == ("to-alice", "alice", 0)
        msg.close()


def test_small_and_large_messages_say_the_same_of_themselves(ctx, peers):
    # The owned (small) and the shared (large) holds, one message after the
    # other: every attribute as libzesp gives it.
    a, b = tcp_pair(ctx, zmq.DEALER, zmq.ROUTER)
    seen = []
    for size in (10, COPY_THRESHOLD):
        peers.alice.send(a, "to-bob", clear=[b"c1", b"c2"], body=[b"y" * size])
        with peers.bob.recv(b, "to-alice") as msg:
            seen.append((len(msg.envelope), msg.clear, msg.spi, msg.peer,
                         msg.sender_id, msg.policy, msg.bytes() == b"y" * size))
            assert "spi=0x%08x seq=%d" % (peers.ab, msg.seq) in repr(msg)
    assert seen[0] == seen[1] == (1, [b"c1", b"c2"], peers.ab, "alice", 0,
                                  "to-alice", True)


def _body_memory(msg):
    f = lib.zesp_msg_body(msg._msg, 0)
    return int(ffi.cast("uintptr_t", f.data)), f.size


def test_a_small_message_is_wiped_by_close_and_by_being_dropped(ctx, peers):
    a, b = tcp_pair(ctx)
    secret = b"attack at dawn, small"
    gc.disable()                # released by close() and by refcount alone
    try:
        peers.alice.send(a, "to-bob", body=[secret])
        msg = peers.bob.recv(b, "to-alice")
        view = msg.body[0]
        where, n = _body_memory(msg)
        assert ffi.buffer(ffi.cast("char *", where), n)[:] == secret
        msg.close()
        # Released at once: this thread's spare now, wiped.
        assert ffi.buffer(ffi.cast("char *", where), n)[:] == bytes(n)
        with pytest.raises(ValueError):
            bytes(view)
        with pytest.raises(ValueError):
            msg.spi
        msg.close()             # twice is fine
        del msg, view

        peers.alice.send(a, "to-bob", body=[secret])
        msg = peers.bob.recv(b, "to-alice")
        where, n = _body_memory(msg)
        body = msg.body
        del msg                 # never closed: released as it goes
        assert ffi.buffer(ffi.cast("char *", where), n)[:] == bytes(n)
        assert bytes(body[0]) == secret     # the copy is the caller's
    finally:
        gc.enable()


def test_close_wipes_a_small_message_while_an_old_error_is_kept(ctx, peers):
    # close() gives the zesp_msg back only if nothing else holds it; a
    # receive that raised (zesp.Again; an exception in its call, as a
    # handler's) left its frame holding the zesp_msg it gave back to the
    # pool, and an exception kept (a log record's, sys.last_exc) keeps
    # that frame: the next message received into it was not wiped by
    # close().
    a, b = tcp_pair(ctx)
    secret = b"attack at dawn, after an error"
    for kind in ("again", "raised in the call"):
        peers.alice.send(a, "to-bob", body=[b"before"])
        peers.bob.recv(b, "to-alice").close()      # the pool's newest
        try:
            peers.bob.recv(b if kind == "again" else -1, "to-alice",
                           dontwait=True)
        except (zesp.Again, OverflowError) as e:
            kept = e
        peers.alice.send(a, "to-bob", body=[secret])
        msg = peers.bob.recv(b, "to-alice")
        where, n = _body_memory(msg)
        msg.close()
        assert ffi.buffer(ffi.cast("char *", where), n)[:] == bytes(n), \
            "%s: close() left the body unwiped" % kind
        assert kept.__traceback__ is not None
        del kept


@pytest.mark.parametrize("finalizer", ["none", "closes it", "reads it"])
def test_a_message_collected_in_a_cycle_gives_its_zesp_msg_back_once(ctx, peers, finalizer):
    # The cycle collector runs the finalizers of all its garbage before it
    # frees any: a small Message's __del__ (or close(), called by another
    # finalizer of that garbage) gave its zesp_msg back to the pool, and
    # its ffi.gc pointer, garbage too, gave it back again (its destructor):
    # the next two receives shared one zesp_msg, the first one's view
    # reading the second's body.  A finalizer run after the Message's that
    # read it read the pool's zesp_msg, lent to a later receive.
    a, b = socket(ctx, zmq.PAIR), socket(ctx, zmq.PAIR)
    a.bind("inproc://cycle-" + finalizer.replace(" ", "-"))
    b.connect("inproc://cycle-" + finalizer.replace(" ", "-"))
    mine = b"the message's own clear frame.. " * 8
    later = b"a later message's clear frame.. " * 8
    x_body, y_body = b"X" * COPY_THRESHOLD, b"Y" * COPY_THRESHOLD
    seen = []

    class Job:
        def __del__(self):
            if finalizer == "closes it":
                self.msg.close()
            elif finalizer == "reads it":
                for _ in range(2):
                    peers.alice.send(a, "to-bob", clear=[later], body=[b"l"])
                    peers.bob.recv(b, "to-alice").close()
                try:
                    seen.append(self.msg.clear)
                except ValueError:  # closed
                    seen.append(None)

    gc.collect()
    gc.disable()
    try:
        for order in (0, 1):        # the Job's finalizer first, then last
            peers.alice.send(a, "to-bob", clear=[mine], body=[b"mine"])
            job, msg = Job(), peers.bob.recv(b, "to-alice")
            job.msg = msg
            garbage = [msg, job] if order else [job, msg]
            job.garbage = garbage       # a cycle holding both
            del job, msg, garbage
            gc.collect()
            peers.alice.send(a, "to-bob", body=[x_body])
            peers.alice.send(a, "to-bob", body=[y_body])
            x = peers.bob.recv(b, "to-alice")
            y = peers.bob.recv(b, "to-alice")
            assert bytes(x.body[0]) == x_body, \
                "order %d: message X's view reads another message's body" % order
            assert bytes(y.body[0]) == y_body
            x.close()
            y.close()
    finally:
        gc.enable()
    assert all(s in (None, [mine]) for s in seen), seen


def test_a_small_message_released_in_another_thread(ctx, peers):
    a, b = tcp_pair(ctx)
    for i in range(3):
        peers.alice.send(a, "to-bob", body=[b"m%d" % i])
    msgs = [peers.bob.recv(b, "to-alice") for _ in range(2)]
    got = []

    def worker():
        got.extend(m.bytes() for m in msgs)
        msgs.clear()            # the last holds go in this thread
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert got == [b"m0", b"m1"]
    with peers.bob.recv(b, "to-alice") as msg:
        assert msg.bytes() == b"m2" and msg.seq == 3


def test_refusals_on_receive_leave_the_next_message_to_the_fast_path(ctx, peers):
    a, tap = tcp_pair(ctx)
    b = socket(ctx, zmq.PAIR)
    b.bind("tcp://127.0.0.1:*")
    c = socket(ctx, zmq.PAIR)
    c.connect(b.last_endpoint.decode())
    peers.alice.send(a, "to-bob", body=[b"once"])
    first = tap.recv_multipart()
    peers.alice.send(a, "to-bob", body=[b"twice"])
    second = tap.recv_multipart()
    c.send_multipart(first)
    c.send_multipart(first)                         # a replay
    bad = list(second)
    bad[-1] = bytes(bad[-1][:-1]) + bytes([bad[-1][-1] ^ 1])
    c.send_multipart(bad)                           # a forgery
    c.send_multipart(second)
    with peers.bob.recv(b, "to-alice") as msg:
        assert msg.bytes() == b"once" and msg._raw is not None
    with pytest.raises(zesp.ReplayError):
        peers.bob.recv(b, "to-alice")
    with pytest.raises(zesp.IntegrityError):
        peers.bob.recv(b, "to-alice")
    with peers.bob.recv(b, "to-alice") as msg:
        assert msg.bytes() == b"twice" and msg.seq == 2


COPY_SCRIPT = r"""
import copy, gc, pickle, zmq, zesp
spi = 0x5151
tx, rx = zesp.SAD.private(), zesp.SAD.private()
tx.add_sa(spi, zesp.OUT, bytes(range(36))); tx.set_policy("p", out=spi)
rx.add_sa(spi, zesp.IN, bytes(range(36))); rx.set_policy("p", inbound=[spi])
ctx = zmq.Context()
a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
a.bind("inproc://copy"); b.connect("inproc://copy")
for size in (5, 20000):
    for i in range(2):
        tx.send(a, "p", clear=[b"c"], body=[b"m" * size])
        m = rx.recv(b, "p")
        c = copy.copy(m)
        assert c.bytes() == m.bytes() == b"m" * size and c.spi == spi
        first, second = (m, c) if i == 0 else (c, m)
        del first
        gc.collect()
        assert second.bytes() == b"m" * size and second.clear == [b"c"]
        del m, c, second
        gc.collect()
    tx.send(a, "p", body=[b"x"])
    m = rx.recv(b, "p")
    for f in (copy.deepcopy, pickle.dumps):
        try:
            f(m)
        except TypeError:
            pass
        else:
            raise SystemExit("%s of a Message did not refuse" % f.__name__)
    assert m.bytes() == b"x"
    del m
for i in range(50):            # the spare, and the heap, still sound
    tx.send(a, "p", body=[b"%d" % i])
    assert rx.recv(b, "p").bytes() == b"%d" % i
print("sound")
"""


def test_a_copied_message_shares_its_memory_safely():
    # In a child: a double release would corrupt the heap, not fail an
    # assert.  copy.copy gives a second Message on the same memory, either
    # may go first; deepcopy and pickle refuse, as they always did.
    out = subprocess.run([sys.executable, "-c", COPY_SCRIPT], env=os.environ,
                         capture_output=True, text=True, timeout=120)
    assert (out.returncode, out.stdout.strip()) == (0, "sound"), out.stderr


def _native_bytes_in_use():
    """Bytes malloc has handed out and not had back (glibc's mallinfo2:
    every arena, and the chunks it mapped)."""
    import ctypes

    class Mallinfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
            "fsmblks", "uordblks", "fordblks", "keepcost")]
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except AttributeError:
        pytest.skip("no mallinfo2 (glibc 2.33 or later) to count the heap")
    mallinfo2.restype = Mallinfo2
    gc.collect()
    m = mallinfo2()
    return m.uordblks + m.hblkhd


def test_a_refused_message_leaves_no_large_buffer_held(ctx, peers):
    # The thread's spare zesp_msg is kept only when small.  A refused
    # message shows no frame to size, yet it held its ESP frame, and a
    # frame ZeroMQ shares (a PUB's fan-out in this process) had a buffer of
    # its size made to decrypt into, which zesp_msg keeps and only grows.
    # Anyone who reaches the socket can send such a frame (any SPI).
    pub = socket(ctx, zmq.PUB)
    pub.bind("inproc://fan-out")
    subs = [socket(ctx, zmq.SUB) for _ in range(2)]
    for s in subs:
        s.subscribe(b"")
        s.connect("inproc://fan-out")

    heard = set()

    def both_subscribed():
        pub.send(b"hello")
        for i, s in enumerate(subs):
            while s.poll(0):
                s.recv()
                heard.add(i)
        return len(heard) == 2
    until(both_subscribed, "the subscriptions")
    large = 8 << 20
    before = _native_bytes_in_use()
    pub.send(bytes(large))      # no SA: refused, by both subscribers
    with pytest.raises(zesp.NoSAError):
        peers.bob.recv(subs[0], "to-alice")
    subs[1].recv()              # a plain subscriber: the frame is free now
    for i in range(3):          # the spare goes on serving small messages
        peers.alice.send(pub, "to-bob", body=[b"small %d" % i])
        with peers.bob.recv(subs[0], "to-alice") as msg:
            assert msg.bytes() == b"small %d" % i
        subs[1].recv()
    assert _native_bytes_in_use() - before < large // 2



def test_a_message_of_many_empty_frames_leaves_no_large_buffer_held(ctx, peers):
    # A zesp_msg is kept for later receives only if its frames are small
    # together, and it keeps the arrays it grew: a message of many empty
    # body frames (4 bytes each in the ESP frame, a 16-byte entry each in
    # the zesp_msg's array of body frames) counted 0 bytes, so that an SA
    # holder's 1 MiB frame left 4 MiB held for as long as the process
    # received.
    a, b = tcp_pair(ctx)
    peers.alice.send(a, "to-bob", body=[b"first"])
    peers.bob.recv(b, "to-alice").close()
    before = _native_bytes_in_use()
    n = 1 << 18
    peers.alice.send(a, "to-bob", body=[b""] * n)
    with peers.bob.recv(b, "to-alice") as msg:
        assert len(msg.body) == n
    del msg
    for i in range(3):          # the pool goes on serving small messages
        peers.alice.send(a, "to-bob", body=[b"small %d" % i])
        with peers.bob.recv(b, "to-alice") as msg:
            assert msg.bytes() == b"small %d" % i
    assert _native_bytes_in_use() - before < n * 16 // 4



def _read_paused(msg, k, paused, go, hook):
    """Read msg.clear, then msg.peer, in this thread, paused at the k-th
    event of the binding's Message code (hook "trace": each line;
    "profile": each call into C and its return): paused set, then a wait
    for go (the scheduler may stop a thread at any of those points).  What
    each read, None where the message was closed before it read."""
    seen = [0]

    def pause(frame, event, arg):
        if not frame.f_code.co_filename.endswith("_message.py"):
            return None
        if event in ("line", "c_call", "c_return"):
            seen[0] += 1
            if seen[0] == k:
                paused.set()
                go.wait(30)
        return pause

    got = []
    (sys.settrace if hook == "trace" else sys.setprofile)(pause)
    try:
        for read in (lambda: msg.clear, lambda: msg.peer):
            try:
                got.append(read())
            except ValueError:          # closed before it read
                got.append(None)
    finally:
        sys.settrace(None)
        sys.setprofile(None)
    return got


@pytest.mark.parametrize("hook", ["trace", "profile"])
def test_a_message_closed_while_another_thread_reads_it(ctx, peers, hook):
    # close() gave a small message's zesp_msg back to the pool while
    # another thread was reading it: the next receive reused it, freed the
    # frames the reader was reading (it read freed memory, there a later
    # message's clear frame) and wrote its peer's name where the reader
    # read the peer.  Now close() leaves a zesp_msg that another call still
    # holds to be given back by the last one to go.  The reader is paused
    # at each point in turn; the later messages come from carol.
    from conftest import WAIT, key
    carol, k_carol = 0x3000000 + secrets.randbelow(1 << 20), key()
    peers.alice.add_sa(carol, zesp.OUT, k_carol, peer="bob", manual=False)
    peers.bob.add_sa(carol, zesp.IN, k_carol, peer="carol", manual=False)
    peers.bob.set_policy("to-alice", out=peers.ba, inbound=[peers.ab, carol],
                         peer="alice")
    a, b = socket(ctx, zmq.PAIR), socket(ctx, zmq.PAIR)
    a.bind("inproc://closed-while-read-" + hook)   # frames in their own memory
    b.connect("inproc://closed-while-read-" + hook)
    mine = b"the clear frame of the one read " * 8
    later = b"a later message's own clear frm " * 8
    assert len(mine) == len(later)
    k = 0
    while True:
        k += 1
        peers.alice.send(a, "to-bob", clear=[mine], body=[b"small"])
        msg = peers.bob.recv(b, "to-alice")
        paused, go, out = threading.Event(), threading.Event(), []
        t = threading.Thread(
            target=lambda: out.append(_read_paused(msg, k, paused, go, hook)))
        t.start()
        until(lambda: paused.is_set() or not t.is_alive(), "the reader")
        if not paused.is_set():
            t.join()
            break           # it read past its last event: done
        msg.close()
        # The next receive (the pool's newest entry), then a message whose
        # frame takes the memory freed if that entry was msg's.
        peers.alice.send(a, spi=carol, clear=[later], body=[b"next"])
        with peers.bob.recv(b, "to-alice") as nxt:
            assert nxt.clear == [later] and nxt.peer == "carol"
        peers.alice.send(a, spi=carol, clear=[later], body=[b"then"])
        with peers.bob.recv(b, "to-alice"):
            go.set()
            t.join(WAIT)
            assert not t.is_alive()
            clear, peer = out[0]
            assert clear in (None, [mine]), \
                "%s event %d: the reader read %r" % (hook, k, clear)
            assert peer in (None, "alice"), \
                "%s event %d: the reader read peer %r" % (hook, k, peer)
    assert k > 3


def _pool_holds_each_once():
    from zesp._message import pool
    addresses = [int(ffi.cast("uintptr_t", e[0])) for e in pool]
    return len(addresses) == len(set(addresses))


def _resurrecting_cycle(ctx, peers, name, clear, size, what, order):
    """A message of body size (one frame) and clear frame: what ("message"
    or "view") of it held only by a cycle whose finalizer stores it, the
    cycle collected; what the finalizer kept."""
    kept = []

    class Job:
        def __del__(self):
            kept.append(self.thing)

    a, b = socket(ctx, zmq.PAIR), socket(ctx, zmq.PAIR)
    a.bind("inproc://" + name)
    b.connect("inproc://" + name)
    peers.alice.send(a, "to-bob", clear=[clear], body=[b"A" * size])
    msg = peers.bob.recv(b, "to-alice")
    job = Job()
    job.thing = msg if what == "message" else msg.body[0]
    garbage = [msg, job] if order else [job, msg]
    job.garbage = garbage
    del job, msg, garbage
    gc.collect()
    assert len(kept) == 1
    return a, b, kept[0]


@pytest.mark.parametrize("order", [0, 1])
def test_a_message_collected_without_gc_callbacks_gives_its_zesp_msg_back_once(ctx, peers, order):
    # The cycle collector runs without gc.callbacks at interpreter exit
    # (_PyGC_CollectNoFail), and when an application empties them: then
    # `collecting` stays empty, and a small Message's __del__ gave its
    # entry back while its ffi.gc pointer, garbage too, gave it back again:
    # the pool held one zesp_msg twice, and the next two receives shared
    # it (the first one's clear frames were the second's).
    from zesp import _message
    gc.collect()
    gc.disable()
    gc.callbacks.remove(_message._collector)
    try:
        a, b, kept = _resurrecting_cycle(ctx, peers, "nocb-%d" % order,
                                         b"A's clear frame", 64, "message",
                                         order)
    finally:
        gc.callbacks.append(_message._collector)
    try:
        assert _pool_holds_each_once(), "one zesp_msg twice in the pool"
        # The message the finalizer brought back reads as closed (its own
        # body, a copy, still its own), never as another message.
        assert bytes(kept.body[0]) == b"A" * 64
        try:
            assert kept.clear == [b"A's clear frame"]
        except ValueError:
            pass                # closed
        peers.alice.send(a, "to-bob", clear=[b"B's"], body=[b"B" * 64])
        peers.alice.send(a, "to-bob", clear=[b"C's"], body=[b"C" * 64])
        m2 = peers.bob.recv(b, "to-alice")
        m3 = peers.bob.recv(b, "to-alice")
        assert (m2.clear, bytes(m2.body[0])) == ([b"B's"], b"B" * 64)
        assert (m3.clear, bytes(m3.body[0])) == ([b"C's"], b"C" * 64)
        m2.close()
        m3.close()
        assert _pool_holds_each_once()
    finally:
        gc.enable()


@pytest.mark.parametrize("callbacks", [True, False])
@pytest.mark.parametrize("what", ["message", "view"])
def test_a_large_message_or_view_a_finalizer_brings_back_keeps_its_plaintext(ctx, peers, what, callbacks):
    # A large message shares its zesp_msg with its views.  That hold was
    # an ffi.gc pointer, whose destructor cffi runs when the cycle
    # collector finalizes it, before the collector knows whether another
    # finalizer brings the garbage back: a view (or the Message) a
    # finalizer kept read the zesp_msg given back to the pool and filled
    # by the next receive (message A's view read message B's plaintext).
    from zesp import _message
    gc.collect()
    gc.disable()
    if not callbacks:
        gc.callbacks.remove(_message._collector)
    try:
        a, b, kept = _resurrecting_cycle(ctx, peers, "back-%s-%s" % (
            what, callbacks), b"A's clear frame", COPY_THRESHOLD, what, 0)
    finally:
        if not callbacks:
            gc.callbacks.append(_message._collector)
    try:
        assert _pool_holds_each_once()
        peers.alice.send(a, "to-bob", clear=[b"B's"],
                         body=[b"B" * COPY_THRESHOLD])
        m2 = peers.bob.recv(b, "to-alice")
        view = kept if what == "view" else kept.body[0]
        assert bytes(view) == b"A" * COPY_THRESHOLD, \
            "a message brought back by a finalizer reads another's body"
        if what == "message":
            assert kept.clear == [b"A's clear frame"]
        assert bytes(m2.body[0]) == b"B" * COPY_THRESHOLD
        m2.close()
        # Given back once when the last holder goes, wiped.
        del view, kept
        gc.collect()
        assert _pool_holds_each_once()
        for body in (b"C" * COPY_THRESHOLD, b"D" * COPY_THRESHOLD):
            peers.alice.send(a, "to-bob", body=[body])
        c = peers.bob.recv(b, "to-alice")
        d = peers.bob.recv(b, "to-alice")
        assert (bytes(c.body[0]), bytes(d.body[0])) == (
            b"C" * COPY_THRESHOLD, b"D" * COPY_THRESHOLD)
        c.close()
        d.close()
        assert _pool_holds_each_once()
    finally:
        gc.enable()
