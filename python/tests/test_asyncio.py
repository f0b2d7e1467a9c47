"""zmq.asyncio sockets: arecv and asend wait without blocking the loop."""
import asyncio
import errno
import sys

import pytest
import zmq
import zmq.asyncio

import zesp

from conftest import WAIT, Peers


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, WAIT))


@pytest.fixture
def actx():
    """An asyncio context, destroyed (its sockets closed) even when a test
    fails: a context left to the garbage collector would wait for them."""
    c = zmq.asyncio.Context()
    yield c
    c.destroy(linger=0)


def async_pair(actx):
    a, b = actx.socket(zmq.PAIR), actx.socket(zmq.PAIR)
    for s in (a, b):
        s.linger = 0
        # A receive that blocked the thread would end here, not hang.
        s.rcvtimeo = s.sndtimeo = int(WAIT * 1000)
    a.bind("tcp://127.0.0.1:*")
    b.connect(a.last_endpoint.decode())
    return a, b


def test_arecv_waits_while_the_loop_runs_other_tasks(actx):
    p = Peers()

    async def main():
        a, b = async_pair(actx)
        ticks = 0
        waiting = asyncio.Event()

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                if ticks == 3:
                    waiting.set()
                await asyncio.sleep(0)

        t = asyncio.ensure_future(ticker())
        receiving = asyncio.ensure_future(p.bob.arecv(b, "to-alice"))
        # The ticker runs while arecv waits: the loop is not blocked.
        await waiting.wait()
        assert not receiving.done()
        await p.alice.asend(a, "to-bob", clear=[b"svc"], body=[b"async hello"])
        msg = await receiving
        assert msg.bytes() == b"async hello" and msg.clear == [b"svc"]
        assert ticks >= 3
        # Many in flight, both ways.
        for i in range(50):
            await p.bob.asend(b, "to-alice", body=b"%d" % i)
        got = [(await p.alice.arecv(a, "to-bob")).bytes() for _ in range(50)]
        assert got == [b"%d" % i for i in range(50)]
        t.cancel()

    run(main())


def test_arecv_times_out_with_again_and_refusals_still_raise(actx):
    p = Peers()

    async def main():
        a, b = async_pair(actx)
        with pytest.raises(zesp.Again):
            await p.bob.arecv(b, "to-alice", timeout=0.05)
        await p.alice.asend(a, "to-bob", body=b"x")
        with pytest.raises(zesp.NoPolicyError):
            await p.bob.arecv(b, "not-a-policy")

    run(main())


def test_the_blocking_calls_refuse_an_asyncio_socket(actx):
    p = Peers()
    a, b = async_pair(actx)
    with pytest.raises(TypeError, match="arecv"):
        p.bob.recv(b, "to-alice")
    with pytest.raises(TypeError, match="asend"):
        p.alice.send(a, "to-bob", body=b"x")
    try:    # not refused: it cannot block (it may find no peer yet)
        p.alice.send(a, "to-bob", body=b"x", dontwait=True)
    except zesp.Again:
        pass


def test_a_cancelled_arecv_consumes_nothing(actx):
    # A receive cancelled while it waits (task.cancel(), wait_for's timeout)
    # or just as its wait ends must leave the message in the socket: every
    # message is then received exactly once, in order.
    p = Peers()
    sent, got, cancelled = [], [], 0

    async def main():
        nonlocal cancelled
        a, b = async_pair(actx)
        for i in range(40):
            body = b"m%d" % i
            # Cancelled while nothing is there: it read nothing.
            idle = asyncio.ensure_future(p.bob.arecv(b, "to-alice"))
            await asyncio.sleep(0)
            idle.cancel()
            with pytest.raises(asyncio.CancelledError):
                await idle
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(p.bob.arecv(b, "to-alice"), 0.001)
            await p.alice.asend(a, "to-bob", body=body)
            sent.append(body)
            # Cancelled after 0..3 turns of the loop: as it waits, as the
            # message arrives, or after it took it (then it is returned).
            t = asyncio.ensure_future(p.bob.arecv(b, "to-alice"))
            for _ in range(i % 4):
                await asyncio.sleep(0)
            t.cancel()
            try:
                msg = await t
            except asyncio.CancelledError:
                cancelled += 1
                msg = await p.bob.arecv(b, "to-alice", timeout=WAIT)
            got.append(msg.bytes())
            msg.close()
        with pytest.raises(zesp.Again):        # nothing left over
            await p.bob.arecv(b, "to-alice", timeout=0)

    run(main())
    assert got == sent
    assert cancelled > 0


def test_the_sockets_own_timeouts_raise_zesp_again(actx):
    # RCVTIMEO / SNDTIMEO passing raise zesp.Again, as they do for recv and
    # send: pyzmq's wait raises its own zmq.Again, no zesp.Error.
    p = Peers()

    async def main():
        a, b = async_pair(actx)
        b.rcvtimeo = 1
        with pytest.raises(zesp.Again) as e:
            await p.bob.arecv(b, "to-alice")
        assert e.value.code == errno.EAGAIN and e.value.sentence
        lone = actx.socket(zmq.PAIR)    # no peer: never room to send
        lone.linger, lone.sndtimeo = 0, 1
        lone.bind("tcp://127.0.0.1:*")
        with pytest.raises(zesp.Again):
            await p.alice.asend(lone, "to-bob", body=b"x")
        # Still usable after.
        await p.alice.asend(a, "to-bob", body=b"after")
        b.rcvtimeo = int(WAIT * 1000)
        assert (await p.bob.arecv(b, "to-alice")).bytes() == b"after"

    run(main())


async def _waiting(task):
    """Until task waits on its socket (its first turn taken)."""
    for _ in range(10):
        await asyncio.sleep(0)
    assert not task.done()


def test_closing_the_socket_under_a_waiting_call_raises_a_zesp_error(actx):
    # pyzmq cancels the waits on a socket it closes: arecv and asend raise
    # what a call on a closed socket raises (zesp.Error), not
    # CancelledError, which would say their task was cancelled (and end a
    # caller that awaits them as cancelled too).
    p = Peers()

    async def main():
        a, b = async_pair(actx)
        receiving = asyncio.ensure_future(p.bob.arecv(b, "to-alice"))
        await _waiting(receiving)
        b.close()
        with pytest.raises(zesp.Error):
            await receiving
        assert not receiving.cancelled()
        lone = actx.socket(zmq.PAIR)
        lone.linger = 0
        lone.bind("tcp://127.0.0.1:*")
        sending = asyncio.ensure_future(p.alice.asend(lone, "to-bob", body=b"x"))
        await _waiting(sending)
        lone.close()
        with pytest.raises(zesp.Error):
            await sending
        assert not sending.cancelled()
        if sys.version_info >= (3, 11):   # Task.cancelling() tells them apart
            c = actx.socket(zmq.PAIR)
            c.linger = 0
            c.bind("tcp://127.0.0.1:*")
            both = asyncio.ensure_future(p.bob.arecv(c, "to-alice"))
            await _waiting(both)
            both.cancel()
            c.close()
            with pytest.raises(asyncio.CancelledError):
                await both
        # The loop and the SADs go on.
        a2, b2 = async_pair(actx)
        await p.alice.asend(a2, "to-bob", body=b"still")
        assert (await p.bob.arecv(b2, "to-alice")).bytes() == b"still"

    run(main())


def test_asend_timeout_ends_when_the_socket_says_room_but_the_peer_is_full(actx):
    # A ROUTER_MANDATORY socket says POLLOUT while any peer has room, and
    # refuses (EAGAIN) a message to a peer whose pipe is full: each wait
    # ends at once and each send is refused.  timeout is a deadline for
    # the whole call (it was each wait's: never reached), and timeout=0
    # tries once more after the wait (it looped without yielding: the
    # event loop stopped).
    p = Peers()

    async def main():
        r = actx.socket(zmq.ROUTER)
        r.linger, r.sndhwm, r.router_mandatory = 0, 1, 1
        r.bind("inproc://full-peer")
        peers = []
        for name in (b"x", b"y"):
            d = actx.socket(zmq.DEALER)
            d.linger, d.rcvhwm, d.identity = 0, 1, name
            d.connect("inproc://full-peer")
            peers.append(d)
        for _ in range(1000):   # fill x's pipe; it never reads
            try:
                p.alice.send(r, "to-bob", envelope=[b"x"], body=b"f",
                             dontwait=True)
            except zesp.Again:
                break
        else:
            pytest.fail("x's pipe never filled")
        p.alice.send(r, "to-bob", envelope=[b"y"], body=b"y", dontwait=True)
        assert r.getsockopt(zmq.EVENTS) & zmq.POLLOUT     # y has room
        with pytest.raises(zesp.Again):
            await p.alice.asend(r, "to-bob", envelope=[b"x"], body=b"z",
                                timeout=0.01)
        with pytest.raises(zesp.Again):
            await p.alice.asend(r, "to-bob", envelope=[b"x"], body=b"z",
                                timeout=0)
        # y's message came through; x's waiting ones too, once it reads.
        got = await p.bob.arecv(peers[1], "to-alice", timeout=WAIT)
        assert got.bytes() == b"y"

    run(main())


def test_several_coroutines_receive_on_one_socket(actx):
    # Three arecv wait on one socket: each message goes to exactly one,
    # a waiter woken for a message another took waits on (no hang, no
    # loss).  asend's buffer changed after it returned: the message sent
    # is what it held then (small, and large enough to be read in place).
    p = Peers()

    async def main():
        a, b = async_pair(actx)
        for size in (8, 3 * 16384):
            waiters = [asyncio.ensure_future(p.bob.arecv(b, "to-alice"))
                       for _ in range(3)]
            await _waiting(waiters[2])
            buf = bytearray(b"0" * size)
            await p.alice.asend(a, "to-bob", body=buf)
            buf[:] = b"1" * size
            done, pending = await asyncio.wait(
                waiters, return_when=asyncio.FIRST_COMPLETED)
            assert [t.result().bytes() for t in done] == [b"0" * size]
            for t in pending:
                assert not t.done()
            await p.alice.asend(a, "to-bob", body=buf)
            buf[:] = b"2" * size
            await p.alice.asend(a, "to-bob", body=buf)
            buf[:] = b"3" * size
            got = sorted(m.bytes() for m in await asyncio.gather(*pending))
            assert got == [b"1" * size, b"2" * size]
        with pytest.raises(zesp.Again):
            await p.bob.arecv(b, "to-alice", timeout=0)

    run(main())


def test_arecv_and_asend_refuse_a_blocking_socket(ctx):
    # A zmq.Socket's poll blocks the thread (the event loop) and answers an
    # int, which cannot be awaited: refused at once, as recv and send
    # refuse an asyncio socket.
    p = Peers()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    for s in (a, b):
        s.linger = 0
    a.bind("tcp://127.0.0.1:*")

    async def main():
        with pytest.raises(TypeError, match="zmq.asyncio"):
            await p.bob.arecv(b, "to-alice", timeout=0.01)
        with pytest.raises(TypeError, match="zmq.asyncio"):
            await p.alice.asend(a, "to-bob", body=b"x", timeout=0.01)

    run(main())
