"""The SA database, and sending and receiving through it."""
from __future__ import annotations

import errno as _errno
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence, Tuple, Union

from . import _socket
from ._errors import Again, error, last_error
from ._message import (COPY_THRESHOLD, Message, _Share, body_of, fresh,
                       pool, recycle)
from ._native import ffi, lib

# The message path, looked up once.
_classes = _socket._classes
_send_body, _send1 = lib.zesp_py_send_body, lib.zesp_py_send1
_recv, _wipe, _free = lib.zesp_py_recv, lib.zesp_py_msg_wipe, lib.zesp_py_msg_free
_new, _unpack = object.__new__, ffi.unpack
_pop, _keep = pool.pop, pool.append
_EAGAIN, _EINTR = _errno.EAGAIN, _errno.EINTR
#: send's default for clear, body and envelope: no frames.  The empty
#: tuple, of which CPython has one: ``clear is _NO_FRAMES`` is the cheapest
#: test of "none given" (an empty list, or any other empty tuple where
#: there are several, takes the general checks).
_NO_FRAMES: Tuple[()] = ()

#: Any object with the buffer protocol: bytes, bytearray, memoryview,
#: array.array, numpy arrays (C-contiguous)...
Buffer = Union[bytes, bytearray, memoryview, Any]
Frames = Union[Buffer, Sequence[Buffer]]
Socket = Any    # zmq.Socket, zmq.asyncio.Socket, or a libzmq socket pointer


class _Unchecked:
    """zesp.UNCHECKED: receive under any inbound SA of the SAD."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "zesp.UNCHECKED"


#: Given as the policy to SAD.recv: accept a message under ANY inbound SA of
#: the SAD (zesp_recv), whichever peer, group or policy it belongs to.  Only
#: for a SAD that holds this socket's SAs alone.
UNCHECKED = _Unchecked()

TRANSFORMS: Dict[str, int] = {
    "chacha20-poly1305": lib.ZESP_CHACHA20_POLY1305,
    "aes256gcm": lib.ZESP_AES256GCM,
    "null-aes256gmac": lib.ZESP_NULL_AES256GMAC,
    "null-chacha20-poly1305": lib.ZESP_NULL_CHACHA20_POLY1305,
}
IN, OUT = "in", "out"
_DIRECTIONS = {IN: lib.ZESP_DIR_IN, OUT: lib.ZESP_DIR_OUT}


@dataclass(frozen=True)
class Lifetime:
    """SA lifetime limits; 0 means no limit."""
    seconds: int = 0
    messages: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class SAInfo:
    """What the SAD says of one SA (its key excepted)."""
    spi: int
    direction: str
    transform: str
    group: bool
    signed: bool
    esn: bool
    replay_window: int
    seq: int
    created: int
    soft_expired: bool
    hard_expired: bool
    soft: Lifetime
    hard: Lifetime
    messages: int
    bytes: int
    rejected: Dict[str, int]
    peer: str
    sender_id: int
    manual: bool = False    # keeps a sequence record (add_sa, load)


@dataclass(frozen=True)
class Policy:
    """A policy: the name sent and received on, its outbound SA and the
    inbound SAs accepted for it; ``rejected`` counts refusals by kind."""
    name: str
    peer: str = ""
    out: int = 0
    inbound: Tuple[int, ...] = ()
    rejected: Dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SADStats:
    """Counters of a SAD; ``rejected`` every refusal on this host by kind."""
    sas: int
    capacity: int
    repairs: int
    keys_locked: bool
    rejected: Dict[str, int]


def _text(cdata: Any) -> str:
    return ffi.string(cdata).decode("utf-8", "replace")


def _exact_text(cdata: Any) -> str:
    """Every byte kept: one that is not UTF-8 as a lone surrogate, which
    str() of the exception shows as \\xNN (zesp.Error)."""
    return ffi.string(cdata).decode("utf-8", "surrogateescape")


def _name(value: str, what: str, limit: int) -> bytes:
    b = value.encode("utf-8")
    if not b or len(b) >= limit or b"\0" in b:
        raise ValueError("zesp: %s %r: 1 to %d bytes, no NUL" % (what, value, limit - 1))
    return b


def _path(path: Union[str, os.PathLike]) -> bytes:
    """A path as C takes it.  C stops at a NUL: "x.sad\\0.old" would be
    x.sad, another file than the one named, so it is refused as Python's
    own calls refuse it."""
    b = os.fsencode(path)
    if b"\0" in b:
        raise ValueError("zesp: path %r: no NUL" % (path,))
    return b


def _rejections(counts: Any) -> Dict[str, int]:
    return {_text(lib.zesp_rejection_name(k)): int(counts[k])
            for k in range(lib.ZESP_REJ_COUNT)}


def _lifetime(dst: Any, value: Optional[Lifetime]) -> None:
    if value is not None:
        dst.seconds, dst.messages, dst.bytes = value.seconds, value.messages, value.bytes


def _opts(capacity: int, policies: int, mode: int, max_message: int,
          max_replay_window: int, acquire_timeout: float) -> Any:
    o = ffi.new("zesp_sad_opts *")
    o.capacity, o.policies, o.mode = capacity, policies, mode
    o.max_message, o.max_replay_window = max_message, max_replay_window
    o.acquire_timeout_ms = int(acquire_timeout * 1000)
    return o


class SAD:
    """An SA database: the host's shared one (SAD.open) or a private one in
    this process (SAD.private).  Thread-safe; use it as a context manager
    or close() it.

    Send on a policy name with send(), receive with recv() on the policy
    you expect the message under.
    """

    __slots__ = ("_sad", "_names", "_acquire", "__weakref__")

    def __init__(self, sad: Any) -> None:
        """Own sad, a zesp_sad * (use SAD.open or SAD.private)."""
        if sad == ffi.NULL:
            raise last_error()
        self._sad = ffi.gc(sad, lib.zesp_sad_free)
        self._names: Dict[Any, Any] = {}
        self._acquire = 0.0

    @classmethod
    def open(cls, path: Optional[Union[str, os.PathLike]] = None, *,
             create: bool = False, own_windows: bool = False,
             group: bool = False, capacity: int = 0, policies: int = 0,
             mode: int = 0, max_message: int = 0, max_replay_window: int = 0,
             acquire_timeout: float = 0.0) -> "SAD":
        """Map the host's shared SAD: path, else $ZESP_SAD, else the
        default path (zesp_sad_open).  create: make it if missing (the
        sizes and mode apply then).  own_windows: keep this process's own
        replay windows (a subscriber among several on the host).  group:
        accept a SAD its group may use.  The file is used only if it is
        provably ours (zesp.SADTrustError otherwise).
        acquire_timeout: seconds a send on a policy with no SA yet waits
        for the key daemon (0: fail at once with zesp.AcquireError).
        """
        flags = ((lib.ZESP_SAD_CREATE if create else 0) |
                 (lib.ZESP_SAD_OWN_WINDOWS if own_windows else 0) |
                 (lib.ZESP_SAD_GROUP if group else 0))
        opts = _opts(capacity, policies, mode, max_message, max_replay_window,
                     acquire_timeout)
        p = _path(path) if path is not None else ffi.NULL
        sad = cls(lib.zesp_sad_open(p, flags, opts))
        if acquire_timeout:
            sad.acquire_timeout = acquire_timeout
        return sad

    @classmethod
    def private(cls, *, capacity: int = 0, policies: int = 0,
                max_message: int = 0, max_replay_window: int = 0,
                acquire_timeout: float = 0.0) -> "SAD":
        """A SAD in this process only (zesp_sad_new): for one program
        keyed by hand, and for tests."""
        sad = cls(lib.zesp_sad_new(_opts(capacity, policies, 0, max_message,
                                         max_replay_window, acquire_timeout)))
        sad._acquire = acquire_timeout      # what the SAD was made with
        return sad

    # -- life
    def close(self) -> None:
        """Unmap the SAD (the shared file stays): at once, or, if another
        thread is sending or receiving through it, as that call returns;
        later calls raise ValueError.  Safe to call twice."""
        # Not ffi.release: a call in progress in another thread holds the
        # pointer as its argument, and the SAD must outlive that call.
        # Dropping our reference frees it as the last one goes.
        self._sad = None

    @property
    def closed(self) -> bool:
        return self._sad is None

    def __enter__(self) -> "SAD":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _live(self) -> Any:
        if self._sad is None:
            raise ValueError("zesp: SAD closed")
        return self._sad

    def _check(self, rc: int, detail: Optional[str] = None) -> None:
        if rc != 0:
            raise last_error(detail)

    @property
    def path(self) -> str:
        """The shared file's path; "" for a private SAD."""
        return _text(lib.zesp_sad_path(self._live()))

    @property
    def acquire_timeout(self) -> float:
        """Seconds a send on a policy with no SA yet waits for the key
        daemon to install one (0: zesp.AcquireError at once)."""
        return self._acquire

    @acquire_timeout.setter
    def acquire_timeout(self, seconds: float) -> None:
        lib.zesp_sad_set_acquire_timeout(self._live(), int(seconds * 1000))
        self._acquire = seconds

    # -- configuration and SAs
    def load(self, path: Union[str, os.PathLike]) -> None:
        """Install the SAs and policies of a YAML file
        (doc/configuration.md), wholly or not at all; zesp.ConfigError
        says FILE:LINE:COLUMN: FIELD: what (its str() escaped as zesp
        prints it, .detail exactly as the library wrote it)."""
        err = ffi.new("char[512]")
        if lib.zesp_config_load(self._live(), _path(path), err, 512) != 0:
            raise last_error(_exact_text(err) or None)

    @staticmethod
    def check_config(path: Union[str, os.PathLike]) -> None:
        """Check a YAML file without installing it (zesp.ConfigError)."""
        err = ffi.new("char[512]")
        if lib.zesp_config_check(_path(path), err, 512) != 0:
            raise last_error(_exact_text(err) or None)

    def add_sa(self, spi: int, direction: str, key: bytes, *,
               transform: str = "chacha20-poly1305", peer: str = "",
               replay_window: int = 0, esn: bool = True, next_seq: int = 0,
               soft: Optional[Lifetime] = None,
               hard: Optional[Lifetime] = None, group: bool = False,
               sender_id: int = 0, sign_key: Optional[bytes] = None,
               manual: bool = True) -> None:
        """Install an SA by hand (zesp_sa_add).  key: the 36-byte KEYMAT
        (key, then salt).  group: a group SA, sender_id this host's (out)
        or the sender's (in); sign_key: Ed25519 secret key (64 bytes, out)
        or public key (32 bytes, in) for a signed group.

        manual (the default): the key keeps a record of its sequence
        numbers in the state directory (doc/sad.md), so that installed
        again, after delete_sa or by the program started again, it never
        repeats an IV nor accepts a replay; without a state directory
        (``zesp state init``) it raises zesp.NoStateError.  A manual key
        that served the other direction on another SPI, in any SAD using
        the state directory, raises zesp.KeyReuseError.  manual=False
        only for a key made for this install alone (fresh from a key
        exchange): it numbers from 1 each time it is installed."""
        p = ffi.new("zesp_sa_params *")
        try:
            p.spi, p.direction = spi, _DIRECTIONS[direction]
            p.transform = TRANSFORMS[transform]
        except KeyError as e:
            raise ValueError("zesp: unknown %s" % e) from None
        if len(key) != lib.ZESP_KEYBYTES:
            raise ValueError("zesp: key: %d bytes wanted" % lib.ZESP_KEYBYTES)
        p.flags = ((0 if esn else lib.ZESP_SA_NO_ESN) |
                   (lib.ZESP_SA_GROUP if group else 0) |
                   (lib.ZESP_SA_SIGNED if sign_key else 0) |
                   (lib.ZESP_SA_MANUAL if manual else 0))
        p.replay_window, p.next_seq, p.sender_id = replay_window, next_seq, sender_id
        _lifetime(p.soft, soft)
        _lifetime(p.hard, hard)
        try:    # wiped however it ends, a refusal of ours included
            ffi.memmove(p.key, key, len(key))
            if peer:
                ffi.memmove(p.peer, _name(peer, "peer", lib.ZESP_PEER_MAX),
                            len(peer.encode()))
            if sign_key:
                if len(sign_key) > lib.ZESP_SIGN_SECRETBYTES:
                    raise ValueError("zesp: sign_key too long")
                ffi.memmove(p.sign_key, sign_key, len(sign_key))
            self._check(lib.zesp_sa_add(self._live(), p))
        finally:
            ffi.memmove(p.key, bytes(lib.ZESP_KEYBYTES), lib.ZESP_KEYBYTES)
            ffi.memmove(p.sign_key, bytes(lib.ZESP_SIGN_SECRETBYTES),
                        lib.ZESP_SIGN_SECRETBYTES)

    def delete_sa(self, spi: int, direction: str) -> None:
        """Remove an SA (a group SA with every sender's window)."""
        self._check(lib.zesp_sa_del(self._live(), spi, _DIRECTIONS[direction]))

    def sa(self, spi: int, direction: str, sender_id: Optional[int] = None) -> SAInfo:
        """What the SAD says of an SA (a group inbound SA: of one sender's
        window; by default the lowest Sender ID's)."""
        info = ffi.new("zesp_sa_info *")
        d = _DIRECTIONS[direction]
        if sender_id is None:
            rc = lib.zesp_sa_info_get(self._live(), spi, d, info)
        else:
            rc = lib.zesp_sa_info_get_sender(self._live(), spi, d, sender_id, info)
        self._check(rc)
        s = info.stats
        names = {v: k for k, v in TRANSFORMS.items()}
        return SAInfo(
            spi=info.spi, direction=direction,
            transform=names.get(info.transform, str(info.transform)),
            group=bool(info.flags & lib.ZESP_SA_GROUP),
            signed=bool(info.flags & lib.ZESP_SA_SIGNED),
            esn=not info.flags & lib.ZESP_SA_NO_ESN,
            replay_window=info.replay_window, seq=info.seq,
            created=info.created, soft_expired=bool(info.soft_expired),
            hard_expired=bool(info.hard_expired),
            soft=Lifetime(info.soft.seconds, info.soft.messages, info.soft.bytes),
            hard=Lifetime(info.hard.seconds, info.hard.messages, info.hard.bytes),
            messages=s.messages, bytes=s.bytes,
            rejected={"malformed": s.rejected_malformed,
                      "replay": s.rejected_replay, "old": s.rejected_old,
                      "icv": s.rejected_icv, "expired": s.rejected_expired,
                      "binding": s.rejected_binding,
                      "toobig": s.rejected_toobig,
                      "signature": s.rejected_signature,
                      "policy": s.rejected_policy},
            peer=_text(info.peer), sender_id=info.sender_id,
            manual=bool(info.flags & lib.ZESP_SA_MANUAL))

    def set_policy(self, name: str, *, out: int = 0,
                   inbound: Sequence[int] = (), peer: str = "") -> None:
        """Create or replace a policy: out, the SPI sent on (0: none yet);
        inbound, the SPIs accepted for it (up to 4)."""
        if len(inbound) > lib.ZESP_POLICY_IN_MAX:
            raise ValueError("zesp: at most %d inbound SAs per policy"
                             % lib.ZESP_POLICY_IN_MAX)
        p = ffi.new("zesp_policy *")
        n = _name(name, "policy", lib.ZESP_NAME_MAX)
        ffi.memmove(p.name, n, len(n))
        if peer:
            b = _name(peer, "peer", lib.ZESP_PEER_MAX)
            ffi.memmove(p.peer, b, len(b))
        p.out_spi = out
        for i, spi in enumerate(inbound):
            p.in_spi[i] = spi
        self._check(lib.zesp_policy_set(self._live(), p))

    def policy(self, name: str) -> Policy:
        """A policy by name (zesp.NoPolicyError if none)."""
        p = ffi.new("zesp_policy *")
        self._check(lib.zesp_policy_get(self._live(), _name(name, "policy", lib.ZESP_NAME_MAX), p))
        return Policy(name=_text(p.name), peer=_text(p.peer), out=p.out_spi,
                      inbound=tuple(s for s in p.in_spi if s),
                      rejected=_rejections(p.rejected))

    def delete_policy(self, name: str) -> None:
        self._check(lib.zesp_policy_del(self._live(), _name(name, "policy", lib.ZESP_NAME_MAX)))

    def stats(self) -> SADStats:
        s = ffi.new("zesp_sad_stats *")
        self._check(lib.zesp_sad_stats_get(self._live(), s))
        return SADStats(sas=s.sas, capacity=s.capacity, repairs=s.repairs,
                        keys_locked=bool(s.keys_locked),
                        rejected=_rejections(s.rejected))

    def expire(self) -> int:
        """Remove SAs past a hard lifetime; how many."""
        n = lib.zesp_sad_expire(self._live())
        if n < 0:
            raise last_error()
        return n

    def flush(self) -> None:
        """Remove every SA and policy."""
        self._check(lib.zesp_sad_flush(self._live()))

    def verify(self) -> None:
        """Check (and repair) the SAD's slots and index."""
        self._check(lib.zesp_sad_verify(self._live()))

    # -- messages
    def _policy(self, policy: Any, unchecked_ok: bool = True) -> Any:
        """policy as C wants it, remembered: a message costs no encoding."""
        c = self._names.get(policy)
        if c is None or not unchecked_ok:
            if policy is UNCHECKED and not unchecked_ok:
                raise TypeError("zesp: send on a policy name; "
                                "zesp.UNCHECKED is for receiving")
            if policy is UNCHECKED:
                c = ffi.NULL
            elif isinstance(policy, str):
                c = _name(policy, "policy", lib.ZESP_NAME_MAX)
            else:
                raise TypeError("zesp: policy: a str, or zesp.UNCHECKED")
            if len(self._names) < 4096:
                self._names[policy] = c
        return c

    def send(self, socket: Socket, policy: Optional[str] = None, *,
             spi: Optional[int] = None, clear: Frames = _NO_FRAMES,
             body: Frames = _NO_FRAMES, envelope: Frames = _NO_FRAMES,
             dontwait: bool = False) -> None:
        """Send one protected message on policy (its current outbound SA)
        or on the SA of spi: envelope frames as they are (a ROUTER's
        routing id), clear frames authenticated (readable by brokers:
        service name, topic), body frames encrypted.  Each of clear, body,
        envelope is a buffer or a sequence of buffers (bytes, bytearray,
        memoryview, numpy arrays...: read where they are, not copied).

        With no SA on the policy yet, the key daemon is asked for one and
        this waits up to the SAD's acquire_timeout, then raises
        zesp.AcquireError.  dontwait: zesp.Again instead of blocking.
        """
        try:
            h = socket.underlying
            is_async = _classes[type(socket)]
        except (AttributeError, KeyError):
            h, is_async = _socket.resolve(socket)
        if is_async and not dontwait:
            raise TypeError("zesp: send on a zmq.asyncio socket could block "
                            "the event loop: use await sad.asend(...)")
        if policy is not None:
            pol, spi = self._names.get(policy) or self._policy(policy, False), 0
        elif spi is not None:
            pol = ffi.NULL
        else:
            raise TypeError("zesp: send: give a policy or an spi")
        # The most usual message, one body frame of bytes and neither clear
        # nor envelope frames given (the defaults: the one empty tuple),
        # costs the fewest checks.
        if clear is _NO_FRAMES and envelope is _NO_FRAMES and type(body) is list \
                and len(body) == 1 and type(body[0]) is bytes:
            b = body[0]
            try:
                rc = _send_body(self._sad, pol, spi, h, b, len(b),
                                1 if dontwait else 0)
            except TypeError:
                self._live()
                raise
            if rc:
                self._failed(pol, spi, h, envelope, clear, body, dontwait)
            return
        # The usual messages, one body frame of bytes and at most one clear
        # frame of bytes, go as they are: no frame array.
        # No frames is an empty list or tuple; an empty buffer is a frame
        # (b"" as envelope: the delimiter a REP socket needs).
        b = body[0] if type(body) is list and len(body) == 1 else body
        if type(b) is bytes and type(envelope) in _SEQUENCES and not envelope:
            if type(clear) in _SEQUENCES and not clear:
                try:
                    rc = _send_body(self._sad, pol, spi, h, b, len(b),
                                    1 if dontwait else 0)
                except TypeError:
                    self._live()
                    raise
                if rc:
                    self._failed(pol, spi, h, envelope, clear, body, dontwait)
                return
            c = clear[0] if type(clear) is list and len(clear) == 1 else clear
            if type(c) is bytes:
                try:
                    rc = _send1(self._sad, pol, spi, h, c, len(c), 1, b,
                                len(b), 1 if dontwait else 0)
                except TypeError:
                    self._live()
                    raise
                if rc:
                    self._failed(pol, spi, h, envelope, clear, body, dontwait)
                return
        if self._send_frames(pol, spi, h, envelope, clear, body, dontwait):
            self._failed(pol, spi, h, envelope, clear, body, dontwait)

    def _send_frames(self, pol: Any, spi: int, h: int, envelope: Frames,
                     clear: Frames, body: Frames, dontwait: bool) -> int:
        """Send through the general helper: 0, or -1 with ffi.errno."""
        groups = [_as_frames(envelope), _as_frames(clear), _as_frames(body)]
        n = sum(len(g) for g in groups)
        frames = ffi.new("zesp_frame[]", max(n, 1))
        keep = []
        i = 0
        for g in groups:
            for obj in g:
                data = ffi.from_buffer(obj)
                keep.append(data)
                frames[i].data, frames[i].size = data, len(data)
                i += 1
        return lib.zesp_py_send(self._live(), pol, spi, h, frames,
                                len(groups[0]), len(groups[1]),
                                len(groups[2]), 1 if dontwait else 0)

    def _failed(self, pol: Any, spi: int, h: int, envelope: Frames,
                clear: Frames, body: Frames, dontwait: bool) -> None:
        """After a send that failed: raise its error.  A signal that
        interrupted it (EINTR) did so before ZeroMQ took the message's
        first frame (zesp_send finishes a message it began): as Python's
        own blocking calls do (PEP 475), the signal's
        handler runs (it may raise: KeyboardInterrupt) and the message
        goes again, under a new sequence number."""
        code = ffi.errno
        while code == _errno.EINTR:
            # The handler runs as this calls back into Python.
            if not self._send_frames(pol, spi, h, envelope, clear, body,
                                     dontwait):
                return
            code = ffi.errno
        self._live()
        raise error(code)

    def recv(self, socket: Socket, policy: Union[str, _Unchecked], *,
             dontwait: bool = False) -> Message:
        """Receive one message and verify it, accepting it only under an
        inbound SA that serves ``policy`` (zesp_recv_policy).

        The policy is required, and that is deliberate: a host's SAD holds
        the SAs of every peer, group and service it talks to, and RFC 4301
        (5.2) has a receiver check that a packet came under an SA of the
        policy it expects.  Without that check, any peer or group member
        that holds an SA to this host, for anything, could deliver messages
        to this socket that it would accept as authentic.  Naming the
        policy refuses those (zesp.PolicyError) before decrypting.  Pass
        zesp.UNCHECKED to accept any inbound SA of the SAD, only for a SAD
        that holds this socket's SAs alone.

        A refused message (zesp.IntegrityError, zesp.ReplayError,
        zesp.PolicyError, ...) has been read and counted; the next recv
        reads the next.  dontwait, or the socket's RCVTIMEO passing:
        zesp.Again.  For zmq.asyncio sockets use ``await arecv()``.
        """
        try:
            h = socket.underlying
            is_async = _classes[type(socket)]
        except (AttributeError, KeyError):
            h, is_async = _socket.resolve(socket)
        if is_async and not dontwait:
            raise TypeError("zesp: recv on a zmq.asyncio socket would block "
                            "the event loop: use await sad.arecv(...)")
        pol = self._names.get(policy)
        if pol is None:
            pol = self._policy(policy)
        flags = 1 if dontwait else 0
        while True:
            # m: the zesp_msg this receive fills, held here before the call
            # into C, so that a receive made as that call returns (a
            # signal's handler) has its own, and an exception raised there
            # (a handler that raises) finds it here, to wipe.
            try:
                entry = _pop()
            except IndexError:
                entry = fresh()
            m, out = entry
            shared = False
            msg = None          # a Message made of m, once made
            try:
                code = _recv(self._sad, pol, h, flags, m, out)
                if not code:
                    # out.size: of the only body frame; SIZE_MAX if several.
                    n = out.size
                    # One small body frame, the usual, is copied at once:
                    # its bytes cost less than a view of shared memory, and
                    # the message owns m itself (no view needs it).
                    if n < COPY_THRESHOLD:
                        body = [memoryview(_unpack(out.data, n))]
                        msg = _new(Message)
                        # msg owns m from here (its __del__ gives it back).
                        # No call comes before the return, but a Python
                        # tracer (a debugger's) runs code, and a signal's
                        # handler with it, at each line: see the except.
                        msg._raw, msg._msg = entry, m
                    else:
                        shared = True
                        hold = _Share(entry)    # gives m back as it goes
                        body = body_of(m, hold)     # its views hold it
                        msg = _new(Message)
                        msg._raw = None
                        msg._msg = m
                        msg._hold = hold
                    msg.body = body
                    msg.policy = policy if pol else None
                    return msg
            except BaseException as e:
                # Raised before the Message was returned (a handler that
                # raised as the call returned, the message read; or at a
                # line after, under a tracer): its plaintext wiped now, and
                # m kept for the next receive unless views made of it may
                # outlive this (then its destructor frees it).  The Message
                # made gives up its hold first, so that m has one owner at
                # every point (else its release would give m back again).
                if msg is not None:
                    msg._raw = msg._msg = None
                if shared:
                    _wipe(m)
                else:
                    recycle(entry)
                # This frame, which a kept exception keeps, holds none of
                # it: close() gives back only what nothing else holds.
                m = out = entry = hold = body = None
                if isinstance(e, TypeError):
                    self._live()
                raise
            if code == _EAGAIN or code == _EINTR:
                _keep(entry)            # it read nothing
                m = out = entry = None  # the pool's: see the except
            else:
                # A refused message may hold a large ESP frame, which the
                # API does not show: freed, never kept.
                ffi.gc(m, None)
                _free(m)
            if code != _EINTR:
                self._live()
                raise error(code)
            # A signal: its Python handler runs now (KeyboardInterrupt).

    async def arecv(self, socket: Socket, policy: Union[str, _Unchecked], *,
                    timeout: Optional[float] = None) -> Message:
        """recv for zmq.asyncio sockets: waits without blocking the event
        loop, then receives with ZESP_DONTWAIT.  timeout (seconds):
        zesp.Again after that long without a message, or as the socket's
        RCVTIMEO passes.  The socket closed while this waits: the
        zesp.Error a receive on a closed socket raises."""
        import zmq
        _asyncio_only(socket, "arecv", "recv")
        left = _Deadline(timeout)
        while True:
            try:
                return self.recv(socket, policy, dontwait=True)
            except Again:
                pass
            if not await _wait(socket, left.ms(), zmq.POLLIN):
                raise error(_errno.EAGAIN)

    async def asend(self, socket: Socket, policy: Optional[str] = None, *,
                    spi: Optional[int] = None, clear: Frames = (),
                    body: Frames = (), envelope: Frames = (),
                    timeout: Optional[float] = None) -> None:
        """send for zmq.asyncio sockets: waits for room without blocking
        the event loop.  A policy with no SA fails at once
        (zesp.AcquireError): the loop is never held for the key daemon.
        zesp.Again after timeout seconds, or as the socket's SNDTIMEO
        passes; the socket closed while this waits: the zesp.Error a send
        on a closed socket raises."""
        import zmq
        _asyncio_only(socket, "asend", "send")
        left = _Deadline(timeout)
        while True:
            try:
                return self.send(socket, policy, spi=spi, clear=clear,
                                 body=body, envelope=envelope, dontwait=True)
            except Again:
                pass
            if not await _wait(socket, left.ms(), zmq.POLLOUT):
                raise error(_errno.EAGAIN)

    def __repr__(self) -> str:
        if self._sad is None:
            return "<zesp.SAD closed>"
        return "<zesp.SAD %s>" % (self.path or "private")


_SEQUENCES = (list, tuple)


def _asyncio_only(socket: Socket, call: str, blocking: str) -> None:
    """TypeError unless socket is a zmq.asyncio one: a blocking socket's
    poll would hold the event loop (for ever, with no timeout), then
    answer an int, which cannot be awaited."""
    try:
        is_async = _classes[type(socket)]
    except KeyError:
        is_async = _socket.resolve(socket)[1]
    if not is_async:
        raise TypeError("zesp: %s takes a zmq.asyncio socket (a blocking "
                        "socket would hold the event loop): use sad.%s(...)"
                        % (call, blocking))


class _Deadline:
    """arecv's and asend's timeout: one deadline for the whole call, not
    each wait's.  A wait can end with the call then refused again (another
    coroutine took the message or the room; a ROUTER_MANDATORY socket says
    POLLOUT while one peer has room, the message going to a full one):
    each wait given the whole timeout again, the call never ended, and
    timeout=0 (waits that end at once, without yielding) held the loop."""

    __slots__ = ("end", "waited")

    def __init__(self, timeout: Optional[float]) -> None:
        self.end = None if timeout is None else \
            time.monotonic() + max(0.0, timeout)
        self.waited = False

    def ms(self) -> int:
        """The next wait's bound (-1: none); zesp.Again once it passed
        and the call was tried after a wait."""
        if self.end is None:
            return -1
        left = self.end - time.monotonic()
        if left <= 0 and self.waited:
            raise error(_errno.EAGAIN)
        self.waited = True
        return max(0, math.ceil(left * 1000))


async def _wait(socket: Socket, ms: int, event: int) -> int:
    """pyzmq's wait for event on an asyncio socket, answered in zesp's
    terms.  The socket's RCVTIMEO or SNDTIMEO passing (pyzmq raises its
    own zmq.Again) is zesp.Again, as for recv and send.  The socket closed
    while this waits (pyzmq cancels the waits on a socket it closes): the
    event, so that the caller's next call on the closed socket raises its
    zesp.Error; not CancelledError, which says the task was cancelled
    (Task.cancelling(), Python 3.11 on, tells that apart: then it goes on;
    before 3.11, a task cancelled as its socket closes sees the error)."""
    import asyncio
    import zmq
    try:
        return await socket.poll(ms, event)
    except zmq.Again:
        raise error(_errno.EAGAIN) from None
    except asyncio.CancelledError:
        task = asyncio.current_task()
        cancelling = getattr(task, "cancelling", None)
        if not socket.closed or (cancelling is not None and cancelling()):
            raise
        return event


def _as_frames(frames: Frames) -> Sequence[Buffer]:
    """A buffer is one frame; a list or tuple of buffers, several."""
    if isinstance(frames, _SEQUENCES):
        return frames
    return [frames]
