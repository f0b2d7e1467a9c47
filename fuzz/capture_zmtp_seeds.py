#!/usr/bin/env python3
"""Seeds for the zmtp fuzz target (fuzz/zmtp_fuzz.c): the bytes a real
libzmq DEALER sends to zike's listen endpoint, captured on a ZMQ_STREAM
socket over TCP on 127.0.0.1 that answers as zike does (its greeting at
once, its READY once the DEALER's greeting is in).  Each seed is the
target's control byte (and piece lengths), then the stream.

    python3 fuzz/capture_zmtp_seeds.py fuzz/corpus/zmtp
"""
import os
import sys
import time

import zmq

# zmtp_greeting() and the READY that zike sends (ike/zmtp.c).
GREETING = b"\xff" + bytes(8) + b"\x7f\x03\x00NULL" + bytes(48)
READY = b"\x04\x1c\x05READY\x0bSocket-Type\x00\x00\x00\x06ROUTER"


def frames(stream):
    """The complete frames after the greeting: (flags, body) each."""
    out, at = [], 64
    while at + 2 <= len(stream):
        flags = stream[at]
        if flags & 2:
            if at + 9 > len(stream):
                break
            size, head = int.from_bytes(stream[at + 1:at + 9], "big"), 9
        else:
            size, head = stream[at + 1], 2
        if at + head + size > len(stream):
            break
        out.append((flags, stream[at + head:at + head + size]))
        at += head + size
    return out


def capture(want_frames, messages=(), **options):
    """What a DEALER with options sends, until want_frames frames (READY
    included) have come after its greeting."""
    ctx = zmq.Context()
    stream = ctx.socket(zmq.STREAM)
    dealer = ctx.socket(zmq.DEALER)
    for s in (stream, dealer):
        s.linger = 0
    for name, value in options.items():
        dealer.setsockopt(getattr(zmq, name), value)
    stream.bind("tcp://127.0.0.1:*")
    dealer.connect(stream.getsockopt(zmq.LAST_ENDPOINT).decode())
    for m in messages:
        dealer.send_multipart(m if isinstance(m, list) else [m])
    got, rid, answered = b"", None, False
    deadline = time.monotonic() + 10
    while len(frames(got)) < want_frames:
        if time.monotonic() > deadline or not stream.poll(1000):
            if time.monotonic() > deadline:
                sys.exit("capture: the DEALER stopped short: %r" % got)
            continue
        rid, data = stream.recv_multipart()
        if not data and not answered and not got:
            stream.send_multipart([rid, GREETING])
            continue
        got += data
        if len(got) >= 64 and not answered:
            stream.send_multipart([rid, READY])
            answered = True
    stream.send_multipart([rid, b""])  # hang up
    dealer.close()
    stream.close()
    ctx.term()
    return got


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "fuzz/corpus/zmtp"
    os.makedirs(out, exist_ok=True)
    ike = bytes(range(28))            # an IKE header's length of bytes
    hello = capture(2, [ike])
    seeds = {
        "dealer-message": b"\x00" + hello,
        "dealer-bytewise": b"\x01\x01" + hello,
        "dealer-pieces": b"\x03\x0a\x01\x07" + hello,
        "dealer-ready-refused": b"\x20" + hello,
        "dealer-message-refused": b"\x40" + hello,
        "dealer-identity": b"\x00" + capture(2, [ike],
                                             ROUTING_ID=b"peer-1"),
        # ZMTP 3.1's heartbeat: a PING after 100 ms of silence.
        "dealer-ping": b"\x00" + capture(2, [], HEARTBEAT_IVL=100,
                                         HEARTBEAT_TTL=2000),
        "dealer-long-frame": b"\x00" + capture(2, [bytes(300)]),
        "dealer-long-frame-max256": b"\x18" + capture(2, [bytes(300)]),
        "dealer-two-frames": b"\x00" + capture(3, [[b"a", b"b"]]),
    }
    # An empty message, one of 255 bytes and one of 256: at the bounds of
    # each max_message the target can choose.
    three = capture(4, [b"", b"x" * 255, b"y" * 256])
    for control, name in ((0x00, ""), (0x08, "-max0"), (0x10, "-max255"),
                          (0x18, "-max256")):
        seeds["dealer-three-messages" + name] = bytes([control]) + three
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        print("%s: %d bytes" % (name, len(data)))


if __name__ == "__main__":
    main()
