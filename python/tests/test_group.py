"""Group SAs: many senders on one key (a Sender ID each), PUB/SUB through
the C proxy of examples/ (it holds no key), subscribers on one host sharing
its SAD with their own replay windows, and signed groups."""
import ctypes
import ctypes.util
import os
import time

import pytest
import zmq

import zesp
from zesp._native import lib

from conftest import WAIT, Proc, build_program, free_port, key, socket, tcp_pair

SPI = 0x6001
TOPIC = b"prices"


def publisher_sad(k, sender_id, sign_key=None):
    sad = zesp.SAD.private()
    sad.add_sa(SPI, zesp.OUT, k, group=True, sender_id=sender_id, sign_key=sign_key)
    sad.set_policy("prices", out=SPI)
    return sad


def install_receiver(sad, k, senders, sign_keys=None):
    for sid in senders:
        sad.add_sa(SPI, zesp.IN, k, group=True, sender_id=sid, peer="pub%d" % sid,
                   sign_key=sign_keys[sid] if sign_keys else None)
    sad.set_policy("prices", inbound=[SPI])


def until_each_hears(pub_sads, pubs, subs, wait=WAIT):
    """Slow joiners: every publisher sends probes until every subscriber
    has received one of each (ZeroMQ drops what PUB sends before a
    subscription arrives)."""
    heard = {(i, j): False for i in range(len(pubs)) for j in range(len(subs))}
    poller = zmq.Poller()
    for s, _ in subs:
        poller.register(s, zmq.POLLIN)
    end = time.monotonic() + wait
    while not all(heard.values()):
        assert time.monotonic() < end, "subscribers never heard the publishers"
        for sad, pub in zip(pub_sads, pubs):
            sad.send(pub, "prices", clear=[TOPIC], body=b"probe")
        poller.poll(50)
        for j, (s, sad) in enumerate(subs):
            while True:
                try:
                    msg = sad.recv(s, "prices", dontwait=True)
                except zesp.Again:
                    break
                heard[(msg.sender_id - 1, j)] = True


def test_two_publishers_through_a_proxy_to_subscribers_on_two_hosts(ctx, work, procs,
                                                                   monkeypatch):
    proxy = build_program("examples/pubsub_proxy")
    xsub, xpub = "tcp://127.0.0.1:%d" % free_port(), "tcp://127.0.0.1:%d" % free_port()
    procs.append(Proc([proxy, "--xsub", xsub, "--xpub", xpub],
                      os.path.join(work, "proxy.log")))
    k = key()
    pub_sads = [publisher_sad(k, 1), publisher_sad(k, 2)]
    pubs = []
    for _ in pub_sads:
        p = socket(ctx, zmq.PUB)
        p.connect(xsub)
        pubs.append(p)
    # Host A: one SAD file, two subscriber processes' worth of sockets,
    # each with its own replay windows; host B: its own SAD.
    host_a = os.path.join(work, "host-a.sad")
    with zesp.SAD.open(host_a, create=True) as setup:
        install_receiver(setup, k, [1, 2])
    # Host B keeps its keys' sequence records in a state directory of its
    # own, as another host does: host A's would tell it that what A
    # accepted was accepted (a SAD put back), and it would refuse it.
    host_b_state = os.path.join(work, "host-b-state")
    os.mkdir(host_b_state, 0o700)
    monkeypatch.setenv("ZESP_STATE_DIR", host_b_state)
    host_b = zesp.SAD.private()
    install_receiver(host_b, k, [1, 2])
    monkeypatch.undo()
    subs = []
    for sad in (zesp.SAD.open(host_a, own_windows=True),
                zesp.SAD.open(host_a, own_windows=True), host_b):
        s = socket(ctx, zmq.SUB)
        s.subscribe(TOPIC)
        s.connect(xpub)
        subs.append((s, sad))
    until_each_hears(pub_sads, pubs, subs)

    n = 40
    for i in range(n):
        for sid, (sad, pub) in enumerate(zip(pub_sads, pubs), 1):
            sad.send(pub, "prices", clear=[TOPIC], body=b"%d from %d" % (i, sid))
    for s, sad in subs:
        got = {1: [], 2: []}
        while len(got[1]) < n or len(got[2]) < n:
            msg = sad.recv(s, "prices")
            if msg.bytes() == b"probe":
                continue
            assert msg.clear == [TOPIC] and msg.spi == SPI
            assert msg.peer == "pub%d" % msg.sender_id
            got[msg.sender_id].append(msg.bytes())
        for sid in (1, 2):
            assert got[sid] == [b"%d from %d" % (i, sid) for i in range(n)]
    # Every subscriber accepted each message once: no replay refused.
    for s, sad in subs:
        assert sad.stats().rejected["replay"] == 0


def test_one_sender_id_replay_does_not_touch_the_other(ctx):
    k = key()
    p1, p2 = publisher_sad(k, 1), publisher_sad(k, 2)
    rx = zesp.SAD.private()
    install_receiver(rx, k, [1, 2])
    a, tap = tcp_pair(ctx)
    fwd, b = tcp_pair(ctx)
    p1.send(a, "prices", clear=[TOPIC], body=b"one")
    m1 = tap.recv_multipart()
    p2.send(a, "prices", clear=[TOPIC], body=b"two")
    m2 = tap.recv_multipart()
    for frames in (m1, m2):
        fwd.send_multipart(frames)
        rx.recv(b, "prices")                # both seq 1, each its own window
    fwd.send_multipart(m1)
    with pytest.raises(zesp.ReplayError):
        rx.recv(b, "prices")
    assert rx.sa(SPI, zesp.IN, sender_id=1).rejected["replay"] == 1
    assert rx.sa(SPI, zesp.IN, sender_id=2).rejected["replay"] == 0


def ed25519_keypair():
    path = ctypes.util.find_library("sodium")
    if not path:
        pytest.skip("libsodium not found for test keys")
    sodium = ctypes.CDLL(path)
    assert sodium.sodium_init() >= 0
    pk, sk = ctypes.create_string_buffer(32), ctypes.create_string_buffer(64)
    assert sodium.crypto_sign_keypair(pk, sk) == 0
    return pk.raw, sk.raw


def test_a_signed_group_proves_the_sender_and_refuses_a_forger(ctx):
    k = key()
    pk1, sk1 = ed25519_keypair()
    pk2, sk2 = ed25519_keypair()
    honest = publisher_sad(k, 1, sign_key=sk1)
    # Sender 2 holds the group key too, and claims to be sender 1.
    forger = publisher_sad(k, 1, sign_key=sk2)
    rx = zesp.SAD.private()
    install_receiver(rx, k, [1, 2], sign_keys={1: pk1, 2: pk2})
    a, b = tcp_pair(ctx)
    honest.send(a, "prices", clear=[TOPIC], body=b"signed")
    msg = rx.recv(b, "prices")
    assert msg.bytes() == b"signed" and msg.sender_id == 1
    forger.delete_sa(SPI, zesp.OUT)
    forger.add_sa(SPI, zesp.OUT, k, group=True, sender_id=1, sign_key=sk2, next_seq=100)
    forger.send(a, "prices", clear=[TOPIC], body=b"forged")
    with pytest.raises(zesp.SignatureError) as e:
        rx.recv(b, "prices")
    assert e.value.code == lib.ZESP_ESIGNATURE
    assert isinstance(e.value, zesp.IntegrityError)
    honest.send(a, "prices", clear=[TOPIC], body=b"still fine")
    assert rx.recv(b, "prices").bytes() == b"still fine"
