#!/usr/bin/env python3
"""A ZMTP 3 client that zike's listen endpoint should refuse or bound, for
tests/test_zike_listen.sh.  It speaks ZMTP over a plain socket, so that it
can send what libzmq never would:

  zmtp_peer.py ENDPOINT MODE [ARG...] [--source ADDR] [--timeout S]

ENDPOINT is tcp://HOST:PORT or ipc://PATH; --source binds the tcp
connection to ADDR first.  Modes, each printing one line:

  junk             HTTP instead of a greeting          -> "closed" / "open"
  curve            a CURVE greeting                    -> "closed" / "open"
  router           READY as a ROUTER, not a DEALER     -> "closed" / "open"
  ping             PING with a context                 -> "pong" / "no pong"
  frame SIZE       one frame of SIZE junk bytes, then PING
                                                   -> "pong" / "closed"
  parts N SIZE     one message of N frames of SIZE bytes
                                   -> "closed after K of N frames" / "open"
  stall            a frame's header and half its body, then nothing
                                   -> "closed after T s" / "open"
  hold N           N connections that wait after the greeting
                                   -> "open K closed M"
  idle N           N connections, one after the other, each done with its
                   handshake, then kept open and silent until --timeout
                                   -> "handshaken K closed M"
  serve parts N SIZE | serve stall
                   listen on ENDPOINT as a ROUTER would, for zike's own
                   connection to a peer: after the handshake, a message of
                   N frames of SIZE bytes, or half a frame; then again for
                   the connection zike makes next (--connections, 2)
                   -> a line per connection: "closed after K of N frames"
                      or "closed after T s", or "open"; "reconnected" when
                      zike connected again, "no reconnection" if not

"open" means the timeout passed with the connection still open.
"""
import argparse
import select
import socket
import struct
import sys
import time

GREETING_NULL = (b"\xff" + b"\0" * 8 + b"\x7f" + b"\x03\x00" +
                 b"NULL".ljust(20, b"\0") + b"\0" + b"\0" * 31)


def connect(endpoint, source):
    if endpoint.startswith("ipc://"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(endpoint[6:])
        return s
    host, port = endpoint[6:].rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if source:
        s.bind((source, 0))
    s.connect((host, int(port)))
    return s


def closed_within(s, timeout):
    """Whether the peer closes the connection within timeout seconds,
    reading (and dropping) whatever it sends meanwhile."""
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([s], [], [], left)
        if not r:
            return False
        try:
            if not s.recv(65536):
                return True
        except OSError:
            return True


def read_exact(s, n, timeout):
    s.settimeout(timeout)
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def command(name, body=b""):
    payload = bytes([len(name)]) + name + body
    return bytes([0x04, len(payload)]) + payload


def ready(socket_type):
    return command(b"READY", bytes([11]) + b"Socket-Type" +
                   struct.pack(">I", len(socket_type)) + socket_type)


def frame(body, more=False):
    flags = 0x01 if more else 0
    if len(body) <= 255:
        return bytes([flags, len(body)]) + body
    return bytes([flags | 0x02]) + struct.pack(">Q", len(body)) + body


def read_frame(s, timeout):
    flags = read_exact(s, 1, timeout)[0]
    size = (struct.unpack(">Q", read_exact(s, 8, timeout))[0] if flags & 2
            else read_exact(s, 1, timeout)[0])
    return flags, read_exact(s, size, timeout)


def send_frames(s, n, size, end):
    """A message of n frames of size bytes; how many went before the
    connection closed (None: all went)."""
    s.setblocking(False)
    sent = 0
    for i in range(n):
        view = memoryview(frame(b"\x55" * size, more=i + 1 < n))
        while view and time.monotonic() < end:
            try:
                view = view[s.send(view):]
            except BlockingIOError:
                select.select([s], [s], [], 0.1)
            except OSError:
                s.setblocking(True)
                return sent
        if view:
            break
        sent += 1
    s.setblocking(True)
    return None


def serve(o):
    """Be the ROUTER zike connects to, and misbehave."""
    host, port = o.endpoint[6:].rsplit(":", 1)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, int(port)))
    ls.listen(4)
    print("listening", flush=True)
    for k in range(o.connections):
        r, _, _ = select.select([ls], [], [], o.timeout)
        if not r:
            print("no reconnection" if k else "no connection", flush=True)
            return 0
        s, _ = ls.accept()
        if k:
            print("reconnected", flush=True)
        s.sendall(GREETING_NULL)
        read_exact(s, 64, o.timeout)
        s.sendall(ready(b"ROUTER"))
        flags, body = read_frame(s, o.timeout)
        assert flags & 4 and b"DEALER" in body, body
        end = time.monotonic() + o.timeout
        if o.stall:
            s.sendall(frame(b"\x55" * 1000)[:509])
            start = time.monotonic()
            print(f"closed after {time.monotonic() - start:.1f} s"
                  if closed_within(s, o.timeout) else "open", flush=True)
        else:
            n, size = o.args
            sent = send_frames(s, n, size, end)
            if sent is None and closed_within(
                    s, max(0.0, end - time.monotonic())):
                sent = n
            print(f"closed after {sent} of {n} frames"
                  if sent is not None else "open", flush=True)
        s.close()
    return 0


def handshake(s, timeout, socket_type=b"DEALER"):
    """Greeting and READY both ways; the server's READY must say ROUTER."""
    s.sendall(GREETING_NULL)
    greeting = read_exact(s, 64, timeout)
    assert greeting[0] == 0xff and greeting[10] == 3, greeting
    s.sendall(ready(socket_type))
    flags, body = read_frame(s, timeout)
    assert flags & 4 and body[1:6] == b"READY" and b"ROUTER" in body, body


def pong(s, timeout):
    s.sendall(command(b"PING", b"\0\0" + b"ctx-1234"))
    flags, body = read_frame(s, timeout)
    return flags & 4 and body == b"\x04PONG" + b"ctx-1234"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("endpoint")
    ap.add_argument("mode")
    ap.add_argument("args", nargs="*")
    ap.add_argument("--source")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--connections", type=int, default=2)
    o = ap.parse_args()
    t = o.timeout
    if o.mode == "serve":
        o.stall = o.args[:1] == ["stall"]
        o.args = o.args[1:]
    o.args = [int(a) for a in o.args]

    if o.mode == "serve":
        return serve(o)
    if o.mode == "hold":
        conns = [connect(o.endpoint, o.source) for _ in range(o.args[0])]
        for s in conns:
            s.sendall(GREETING_NULL[:10])
        # A connection zike takes gets its greeting; one it refuses, EOF.
        opened = closed = 0
        for s in conns:
            try:
                read_exact(s, 64, t)
                opened += 1
            except (ConnectionError, OSError):
                closed += 1
        print(f"open {opened} closed {closed}")
        return 0

    if o.mode == "idle":
        conns, closed = [], 0
        for _ in range(o.args[0]):
            s = connect(o.endpoint, o.source)
            try:
                handshake(s, t)
                conns.append(s)
            except (ConnectionError, OSError):
                closed += 1
        print(f"handshaken {len(conns)} closed {closed}", flush=True)
        time.sleep(t)                # holding them: the test ends us
        return 0

    s = connect(o.endpoint, o.source)
    if o.mode == "junk":
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        print("closed" if closed_within(s, t) else "open")
    elif o.mode == "curve":
        s.sendall(GREETING_NULL[:12] + b"CURVE".ljust(20, b"\0") +
                  GREETING_NULL[32:])
        print("closed" if closed_within(s, t) else "open")
    elif o.mode == "router":
        s.sendall(GREETING_NULL)
        read_exact(s, 64, t)
        s.sendall(ready(b"ROUTER"))
        print("closed" if closed_within(s, t) else "open")
    elif o.mode == "ping":
        handshake(s, t)
        print("pong" if pong(s, t) else "no pong")
    elif o.mode == "frame":
        handshake(s, t)
        s.sendall(frame(b"\x55" * o.args[0]))
        try:
            print("pong" if pong(s, t) else "no pong")
        except (ConnectionError, OSError):
            print("closed")
    elif o.mode == "parts":
        n, size = o.args
        handshake(s, t)
        end = time.monotonic() + t
        sent = send_frames(s, n, size, end)
        if sent is None and closed_within(s, max(0.0, end - time.monotonic())):
            sent = n
        print(f"closed after {sent} of {n} frames"
              if sent is not None else "open")
    elif o.mode == "stall":
        handshake(s, t)
        s.sendall(frame(b"\x55" * 1000)[:509])
        start = time.monotonic()
        if closed_within(s, t):
            print(f"closed after {time.monotonic() - start:.1f} s")
        else:
            print("open")
    else:
        ap.error(f"unknown mode {o.mode}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
