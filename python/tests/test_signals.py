"""A signal whose handler returns, arriving while send or recv blocks,
costs no message: the call goes on after the handler, as Python's own
blocking calls do (PEP 475)."""
import gc
import os
import signal
import sys
import threading

import pytest
import zmq

import zesp
from zesp._message import COPY_THRESHOLD

from conftest import WAIT, socket, until


def blocked_in_poll(native_id: int) -> bool:
    """The thread sleeps in poll(2): libzmq waiting for room or a message
    (not for the GIL, which is a futex)."""
    try:
        with open("/proc/self/task/%d/wchan" % native_id, encoding="ascii") as f:
            return "poll" in f.read()
    except OSError:
        return False


def interrupted(call, unblock):
    """Run call() in this (the main) thread; while it sleeps in libzmq,
    signal it (SIGUSR1, a handler that returns) until the handler has run,
    then, once it sleeps again, unblock() from another thread.  call's
    result, and unblock's."""
    main = threading.main_thread()
    if threading.current_thread() is not main:
        pytest.skip("Python runs signal handlers in the main thread only")
    if not os.path.exists("/proc/self/task/%d/wchan" % main.native_id):
        pytest.skip("no /proc/PID/task/TID/wchan to see the call block")
    handled, stop = threading.Event(), threading.Event()
    result = {}

    def interrupter():
        until(lambda: stop.is_set() or blocked_in_poll(main.native_id),
              "the call to block")
        while not stop.is_set() and not handled.is_set():
            if blocked_in_poll(main.native_id):
                signal.pthread_kill(main.ident, signal.SIGUSR1)
            handled.wait(0.01)      # pacing only: each round looks again
        # Unblocked only once the call waits again: one that ended on the
        # signal is not waited for.
        until(lambda: stop.is_set() or blocked_in_poll(main.native_id),
              "the call to wait again")
        if not stop.is_set():
            result["unblock"] = unblock()

    old = signal.signal(signal.SIGUSR1, lambda *_: handled.set())
    t = threading.Thread(target=interrupter)
    t.start()
    try:
        result["call"] = call()
    finally:
        stop.set()
        t.join(WAIT)
        signal.signal(signal.SIGUSR1, old)
    assert handled.is_set()
    return result["call"], result.get("unblock")


def inproc_pair(ctx, name):
    a, b = socket(ctx, zmq.PAIR), socket(ctx, zmq.PAIR)
    a.sndhwm = b.rcvhwm = 1
    a.bind("inproc://" + name)
    b.connect("inproc://" + name)
    return a, b


def test_a_signal_during_a_blocking_send_loses_no_message(ctx, peers):
    a, b = inproc_pair(ctx, "signal-send")
    sent = []
    while True:     # fill the pipe: the next send waits for room
        try:
            peers.alice.send(a, "to-bob", body=[b"queued %d" % len(sent)],
                             dontwait=True)
        except zesp.Again:
            break
        sent.append(b"queued %d" % len(sent))
    sent.append(b"the one interrupted")

    def receive_all():
        return [peers.bob.recv(b, "to-alice").bytes() for _ in sent]

    _, got = interrupted(
        lambda: peers.alice.send(a, "to-bob", body=[b"the one interrupted"]),
        receive_all)
    assert got == sent
    assert peers.bob.sa(peers.ab, zesp.IN).rejected["replay"] == 0


def test_a_signal_during_a_blocking_recv_loses_no_message(ctx, peers):
    a, b = inproc_pair(ctx, "signal-recv")
    msg, _ = interrupted(
        lambda: peers.bob.recv(b, "to-alice"),
        lambda: peers.alice.send(a, "to-bob", body=[b"after the signal"]))
    assert msg.bytes() == b"after the signal"


class Interrupted(Exception):
    """What the handler of the test below raises (as Ctrl-C's does)."""


@pytest.mark.parametrize("size", [100, 20000])
def test_a_handler_raising_as_recv_returns_leaves_no_plaintext(ctx, peers, size):
    # A signal whose handler raises (KeyboardInterrupt, a SIGTERM handler's
    # SystemExit) and that arrives while recv's call into C decrypts runs
    # as that call returns, the message read and decrypted.  The signal is
    # aimed at the helper thread, so that the receive's wait is not cut
    # short: Python runs the handler in the main thread as the call ends.
    main = threading.main_thread()
    if threading.current_thread() is not main:
        pytest.skip("Python runs signal handlers in the main thread only")
    if not os.path.exists("/proc/self/task/%d/wchan" % main.native_id):
        pytest.skip("no /proc/PID/task/TID/wchan to see the call block")
    from zesp._native import ffi, lib
    a, b = inproc_pair(ctx, "raise-as-recv-returns-%d" % size)
    secret = (b"attack at dawn, interrupted " * (size // 28 + 1))[:size]
    # Where the next receive of this thread decrypts a body of this size:
    # where this one did (inproc: the message's own buffer), its message
    # kept, released, for the next receive.
    # No collection in between: one that frees an earlier test's message
    # would put it in the binding's pool ahead of this one's.
    gc.collect()
    gc.disable()
    try:
        peers.alice.send(a, "to-bob", body=[bytes(size)])
        with peers.bob.recv(b, "to-alice") as first:
            where = lib.zesp_msg_body(first._msg, 0).data
        stop = threading.Event()

        def raiser(*_):
            raise Interrupted()

        def helper():
            until(lambda: stop.is_set() or blocked_in_poll(main.native_id),
                  "the receive to block")
            if not stop.is_set():
                signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)
                peers.alice.send(a, "to-bob", body=[secret])

        old = signal.signal(signal.SIGUSR1, raiser)
        t = threading.Thread(target=helper)
        t.start()
        try:
            # The exception kept (as a program that logs it, or the
            # interpreter's sys.last_traceback, keeps it): recv's frame, and
            # what it held, outlive the raise; the wipe is recv's own.
            with pytest.raises(Interrupted) as kept:
                peers.bob.recv(b, "to-alice")
            # Read at once, before any other receive of this thread.
            left = ffi.buffer(where, size)[:]
        finally:
            stop.set()
            t.join(WAIT)
            signal.signal(signal.SIGUSR1, old)
        assert left != secret, "the decrypted body was left behind, never wiped"
        assert kept.tb is not None
        del kept        # its traceback holds this frame: a cycle otherwise
        # The next message is received as usual, where the one interrupted
        # was decrypted (its message released, kept for the next receive):
        # where was that message's body indeed.
        nxt = (b"the next one " * (size // 13 + 1))[:size]
        peers.alice.send(a, "to-bob", body=[nxt])
        with peers.bob.recv(b, "to-alice") as msg:
            assert msg.bytes() == nxt
            assert lib.zesp_msg_body(msg._msg, 0).data == where
    finally:
        gc.enable()


def test_a_receive_refused_its_arguments_releases_no_other_message(ctx, peers):
    # recv wipes, on an exception, the zesp_msg it took for its call into
    # C: never one a Message owns, also when cffi refused the arguments
    # and the call never ran.
    from zesp._native import ffi, lib
    a, b = inproc_pair(ctx, "refused-arguments")
    secret = b"still mine"
    peers.alice.send(a, "to-bob", body=[secret])
    msg = peers.bob.recv(b, "to-alice")
    f = lib.zesp_msg_body(msg._msg, 0)
    where, n = f.data, f.size
    for handle in (-1, 1 << 64):
        with pytest.raises(OverflowError):
            peers.bob.recv(handle, "to-alice")
    peers.bob.close()
    with pytest.raises(ValueError):
        peers.bob.recv(b, "to-alice")
    assert ffi.buffer(where, n)[:] == secret and msg.bytes() == secret
    assert msg.spi == peers.ab
    msg.close()


def handler_receiving(ctx, peers, name, raises):
    """recv blocks; a signal whose handler itself receives (and then
    raises, if raises) is made pending, and two messages are sent: the
    handler runs as recv's call into C returns with the first, and takes
    the second.  recv's result (or its exception) and the handler's
    message."""
    main = threading.main_thread()
    if threading.current_thread() is not main:
        pytest.skip("Python runs signal handlers in the main thread only")
    if not os.path.exists("/proc/self/task/%d/wchan" % main.native_id):
        pytest.skip("no /proc/PID/task/TID/wchan to see the call block")
    a, b = inproc_pair(ctx, name)
    kept, stop = [], threading.Event()

    def receiver(*_):
        kept.append(peers.bob.recv(b, "to-alice"))
        if raises:
            raise Interrupted()

    def helper():
        until(lambda: stop.is_set() or blocked_in_poll(main.native_id),
              "the receive to block")
        if not stop.is_set():
            # Aimed at this thread: the receive's wait is not cut short,
            # the handler runs in the main thread as its call returns.
            signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)
            peers.alice.send(a, "to-bob", body=[b"the one recv read"])
            peers.alice.send(a, "to-bob", body=[b"the handler's own"])

    old = signal.signal(signal.SIGUSR1, receiver)
    t = threading.Thread(target=helper)
    t.start()
    try:
        try:
            got = peers.bob.recv(b, "to-alice")
        except Interrupted as e:
            got = e
    finally:
        stop.set()
        t.join(WAIT)
        signal.signal(signal.SIGUSR1, old)
    assert len(kept) == 1
    return got, kept[0]


def body_memory(msg):
    """The bytes where libzesp decrypted msg's first body frame."""
    from zesp._native import ffi, lib
    f = lib.zesp_msg_body(msg._msg, 0)
    return ffi.buffer(f.data, f.size)[:]


def test_a_handler_receiving_as_recv_returns_keeps_each_its_own(ctx, peers):
    # The handler's receive rewrote what recv's call had answered before
    # recv read it: both took the handler's message, one zesp_msg owned
    # twice (released twice), the one recv read never released.
    got, theirs = handler_receiving(ctx, peers, "receive-in-handler", False)
    assert body_memory(theirs) == b"the handler's own"
    assert theirs.bytes() == b"the handler's own"
    assert got.bytes() == b"the one recv read"
    assert body_memory(got) == b"the one recv read"
    assert got._msg != theirs._msg
    theirs.close()
    assert got.bytes() == b"the one recv read"
    got.close()


def test_a_handler_receiving_then_raising_releases_only_what_recv_read(ctx, peers):
    # recv's release on an exception released this thread's last answer:
    # the handler's message, which its Message owns (its body wiped under
    # it, its memory handed to the next receive), not the one recv read.
    got, theirs = handler_receiving(ctx, peers, "receive-raise-in-handler",
                                    True)
    assert isinstance(got, Interrupted)
    assert body_memory(theirs) == b"the handler's own"
    a, b = inproc_pair(ctx, "after-receive-raise-in-handler")
    peers.alice.send(a, "to-bob", body=[b"the next one"])
    with peers.bob.recv(b, "to-alice") as msg:
        assert msg.bytes() == b"the next one"
        assert msg._msg != theirs._msg
    assert body_memory(theirs) == b"the handler's own"
    theirs.close()



def recv_raising_at_event(sad, sock, policy, k, hook):
    """sad.recv(sock, policy) under a Python tracer (hook "trace": pdb's, a
    debugger's, at each line and return) or profiler ("profile": at each
    call into C and its return) that raises Interrupted at the k-th event
    of recv's frame, as a signal's handler (Ctrl-C's), run inside that
    Python code, raises there.  True if it raised, False if recv returned
    first."""
    code, seen = zesp.SAD.recv.__code__, [0]

    def in_recv(frame, event, arg):
        if frame.f_code is not code:
            return None
        if event != "call":
            seen[0] += 1
            if seen[0] == k:
                raise Interrupted()
        return in_recv

    old_trace, old_profile = sys.gettrace(), sys.getprofile()
    (sys.settrace if hook == "trace" else sys.setprofile)(in_recv)
    try:
        sad.recv(sock, policy)
    except Interrupted:
        return True
    finally:
        sys.settrace(old_trace)
        sys.setprofile(old_profile)
    return False


@pytest.mark.parametrize("hook", ["trace", "profile"])
@pytest.mark.parametrize("size", [100, 20000])
def test_a_raise_at_any_point_of_recv_leaves_its_message_one_owner(ctx, peers, size, hook):
    # A Python tracer or profiler runs Python code at each line or call,
    # and with it a signal's handler, which may raise there: the tracer's
    # line events came after recv gave the Message its zesp_msg too, where
    # recv's except gave it back to the pool and the Message's release
    # gave it back again, so that the next two receives shared it.  After
    # a raise at each event of recv's in turn, two large messages received
    # are each their own: X's view reads X.
    a, b = inproc_pair(ctx, "raise-at-%s-%d" % (hook, size))
    body = (b"the one interrupted " * (size // 20 + 1))[:size]
    x_body, y_body = b"X" * COPY_THRESHOLD, b"Y" * COPY_THRESHOLD
    k = 0
    while True:
        k += 1
        peers.alice.send(a, "to-bob", body=[body])
        if not recv_raising_at_event(peers.bob, b, "to-alice", k, hook):
            break           # past recv's last event: returned
        try:                # raised before the message was read
            peers.bob.recv(b, "to-alice", dontwait=True).close()
        except zesp.Again:
            pass
        peers.alice.send(a, "to-bob", body=[x_body])
        peers.alice.send(a, "to-bob", body=[y_body])
        x = peers.bob.recv(b, "to-alice")
        y = peers.bob.recv(b, "to-alice")
        assert bytes(x.body[0]) == x_body, \
            "%s event %d: message X's view reads another message's body" % (hook, k)
        assert bytes(y.body[0]) == y_body
        x.close()
        y.close()
    assert k > 5        # the hook saw recv's events
