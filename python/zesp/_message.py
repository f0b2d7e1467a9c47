"""A received, verified message.

Lifetime of the body: ``msg.body`` gives read-only memoryviews.  A body
frame of COPY_THRESHOLD bytes or more is viewed where libzesp decrypted it
(in the buffer ZeroMQ received it in: no copy); that memory belongs to the
message's zesp_msg, which is freed when nothing refers to it any more:
neither the Message nor any view, slice or array made from its body.  A
smaller frame is copied once into its own bytes, which costs less than
keeping track of the shared memory (pyzmq copies small messages too).

``close()`` (or leaving a ``with`` block) drops the Message's own hold and
releases the views it handed out, so that using them afterwards raises
ValueError instead of reading freed memory; anything still made from them
keeps the memory alive until it goes.  Copy what you keep past the message
(``bytes(view)``) if you want the memory back at once.

Who holds the zesp_msg: every receive takes one, wiped, from a small pool
(or makes one), as an ffi.gc pointer (``_msg``) that frees it if dropped.
A message whose body was all copied (one small frame, the usual) owns it
itself (``_raw``, the pool's entry) and gives it back to the pool, wiped, in close() or as
it is freed (``__del__``), no view needing it; any other shares it with
its views through a ``_Share`` (``_hold``; its pointer's destructor
removed), and the last of them to go gives it back: by reference count
alone, never as the cycle collector finalizes it (a finalizer may still
bring the message or a view back), so a view over the memory never sees
another message's bytes.  close()
gives it back only if nothing else holds it: a read of this message under
way in another thread (its frames' addresses taken, their bytes not yet
read) leaves that to the last holder, as a view does.  While the cycle
collector runs, a message gives its zesp_msg back only through the ffi.gc
pointer, after the collection (``collecting``): the collector finalizes
the message and the pointer alike when both are garbage.  A collection
run without gc.callbacks (interpreter exit) is known in __del__ by
gc.is_finalized: the collector marks what it finalizes before the call.  The
pool saves an allocation and an ffi.gc pointer per receive; it is shared
by the threads (a deque: its pop and append are atomic) and holds only
messages whose frames are small together.
"""
from __future__ import annotations

import ctypes
import gc
from collections import deque
from sys import getrefcount
from typing import Any, List, Optional, Tuple

from ._native import ffi, lib

_ENVELOPE, _CLEAR, _BODY = 0, 1, 2
#: Body frames this large or larger are viewed in place, smaller ones copied.
COPY_THRESHOLD = 16384

_frame_at = lib.zesp_py_frame_at
_wipe, _free = lib.zesp_py_msg_wipe, lib.zesp_py_msg_free
_unpack = ffi.unpack
_gc = ffi.gc


def _new_body() -> Any:
    return ffi.new("zesp_py_body *")


#: Released zesp_msgs (ffi.gc pointers), wiped, for the next receives, each
#: with the zesp_py_body its receive answers in.  A
#: deque: a list emptied by its pop and filled by the next append
#: reallocates each time (a message's pop and append).  Bounded: an append
#: to a full pool drops its oldest, which its destructor frees.
POOL_MAX = 8
pool: "deque[Any]" = deque(maxlen=POOL_MAX)


#: Non-empty while the cycle collector runs.  It calls the finalizers of
#: all its garbage before it frees any, in no set order: a Message's
#: __del__, the ffi.gc pointer of its zesp_msg (reclaim), and those of
#: other objects, which may read the Message or receive.  Then a Message
#: gives its zesp_msg back through the pointer alone (never its entry as
#: well: the pool would hold it twice), and reclaim waits for the end of
#: the collection (until then a finalizer may still read the zesp_msg).
collecting: List[None] = []
_deferred: List[Any] = []


def reclaim(raw: Any, _pool: "deque[Any]" = pool) -> None:
    """The destructor of a received zesp_msg's ffi.gc pointer: wiped, then
    kept in the pool (a new entry) or freed."""
    if collecting:
        _deferred.append(raw)
    elif _wipe(raw) and len(_pool) < POOL_MAX:
        _pool.append((_gc(raw, reclaim), _new_body()))
    else:
        _free(raw)


def _collector(phase: str, info: Any) -> None:
    """gc.callbacks: sets collecting, and reclaims after a collection."""
    if phase == "start":
        collecting.append(None)
        return
    collecting.clear()
    while _deferred:
        reclaim(_deferred.pop())


gc.callbacks.append(_collector)


def fresh() -> Tuple[Any, Any]:
    """A pool's entry: a new zesp_msg for a receive (an ffi.gc pointer,
    released by reclaim), and the zesp_py_body the receive answers in."""
    raw = lib.zesp_msg_new()
    if raw == ffi.NULL:
        raise MemoryError("zesp: no memory for a message")
    return _gc(raw, reclaim), _new_body()


def recycle(entry: Tuple[Any, Any], _pool: "deque[Any]" = pool) -> None:
    """Done with a pool's entry (its zesp_msg used by nothing else): wiped,
    then kept in the pool or left to its destructor."""
    if _wipe(entry[0]):
        _pool.append(entry)


def _sole_count() -> int:
    """What getrefcount says of an entry's zesp_msg that the entry alone
    holds, asked as close() asks it."""
    raw = (object(), None)
    return getrefcount(raw[0])


_SOLE = _sole_count()


class _Share:
    """The hold on a shared zesp_msg (a large or several-frame message, or
    a copied one): the Message and each view of its body refer to it by
    plain references, and it gives the pool's entry back when the last
    goes.  Not an ffi.gc pointer: cffi runs those destructors when the
    cycle collector finalizes the pointer, even if another finalizer then
    brings back a view or the Message (the zesp_msg given back and reused
    under them: message A's view read message B's plaintext).  Python
    clears references only of what stays garbage, so this goes only when
    nothing can read the memory any more."""

    __slots__ = ("entry", "heir")

    def __init__(self, entry: Tuple[Any, Any]) -> None:
        _gc(entry[0], None)     # its pointer gives nothing back now
        self.entry = entry

    def __del__(self, _by_collector: Any = gc.is_finalized,
                _pool: "deque[Any]" = pool, _cast: Any = ffi.cast,
                _wipe: Any = _wipe, _free: Any = _free, _gc: Any = _gc,
                _reclaim: Any = reclaim, _max: int = POOL_MAX) -> None:
        # (Names bound here: still there while the interpreter exits.)
        try:
            entry = self.entry
        except AttributeError:  # its __init__ failed: the pointer holds it
            return
        if entry is None:
            return
        self.entry = None
        if _by_collector(self):
            # The collector finalizes this before it knows whether a
            # finalizer brings its holders back: hand the entry to one
            # that goes only as this does (its references cleared).
            heir = object.__new__(_Share)
            heir.entry = entry
            self.heir = heir
            return
        raw = _cast("zesp_msg *", entry[0])
        if _wipe(raw) and len(_pool) < _max:
            _pool.append((_gc(raw, _reclaim), entry[1]))
        else:
            _free(raw)


#: ctypes arrays of char by size (powers of two): the exporters of views.
_arrays: dict = {}


def _view(data: Any, n: int, hold: Any) -> memoryview:
    """A read-only view of n bytes at data that keeps hold alive by a plain
    reference (a ctypes array's attribute: no finalizer drops it)."""
    size = 1 << (n - 1).bit_length()
    kind = _arrays.get(size)
    if kind is None:
        kind = _arrays[size] = ctypes.c_char * size
    array = kind.from_address(int(ffi.cast("uintptr_t", data)))
    array.hold = hold
    return memoryview(array).cast("B")[:n].toreadonly()


def body_of(msg: Any, hold: Any) -> List[memoryview]:
    """The body frames of msg (a zesp_msg *): small ones copied, large ones
    viewed in place, each view holding hold (what keeps msg)."""
    views = []
    for i in range(_frame_at(msg, _BODY, 0).count):
        f = _frame_at(msg, _BODY, i)
        n = f.size
        if n < COPY_THRESHOLD:
            views.append(memoryview(_unpack(f.data, n)))
        else:
            views.append(_view(f.data, n, hold))
    return views


class Message:
    """A message zesp received and verified: its frames and the SA it came
    under.  Frames: ``envelope`` (what sockets added, e.g. ROUTER
    identities: not protected), ``clear`` (the sender's clear frames:
    authenticated, not encrypted), ``body`` (decrypted).

    Use it as a context manager, or call close(), to free its memory at a
    known point; see the module's notes on the lifetime of ``body``.

    Attributes: ``body``, the decrypted body frames as read-only
    memoryviews; ``policy``, the policy it was received on (None when
    received unchecked).
    """

    __slots__ = ("_raw", "_msg", "_hold", "body", "policy")

    _raw: Any
    _msg: Any
    _hold: Any
    body: List[memoryview]
    policy: Optional[str]

    def __init__(self, msg: Any, policy: Optional[str] = None) -> None:
        """Own msg, a zesp_msg * that zesp_recv filled (released with the
        message)."""
        self._raw = None
        self._msg = self._hold = ffi.gc(msg, _free)
        self.body = body_of(self._msg, self._hold)
        self.policy = policy

    def _live(self) -> Any:
        msg = self._msg     # read once: close() may run in another thread
        if msg is None:
            raise ValueError("zesp: message closed")
        return msg

    def _frames(self, kind: int) -> List[bytes]:
        msg = self._live()
        f = _frame_at(msg, kind, 0)
        frames = []
        for i in range(f.count):
            if i:
                f = _frame_at(msg, kind, i)
            frames.append(_unpack(f.data, f.size))
        return frames

    @property
    def clear(self) -> List[bytes]:
        """The sender's clear frames (service name, topic): authenticated."""
        return self._frames(_CLEAR)

    @property
    def envelope(self) -> List[bytes]:
        """Frames sockets added on the way (ROUTER identities): these are
        not protected; route replies with them, trust nothing in them."""
        return self._frames(_ENVELOPE)

    @property
    def spi(self) -> int:
        """The SPI of the SA the message came under."""
        return int(lib.zesp_msg_spi(self._live()))

    @property
    def seq(self) -> int:
        """Its sequence number (64-bit, ESN)."""
        return int(lib.zesp_msg_seq(self._live()))

    @property
    def sender_id(self) -> int:
        """Group SAs: the sender's Sender ID (0 for pairwise SAs).  Proven
        only for signed groups; otherwise any member could claim it."""
        return int(lib.zesp_msg_sender_id(self._live()))

    @property
    def peer(self) -> str:
        """Who the SA is with, as the SAD names the peer."""
        msg = self._live()      # held while its peer is read
        return ffi.string(lib.zesp_msg_peer(msg)).decode("utf-8", "replace")

    def bytes(self) -> bytes:
        """The body frames joined, as one bytes object (a copy)."""
        self._live()
        return b"".join(self.body)

    @property
    def closed(self) -> bool:
        return self._msg is None

    def close(self) -> None:
        """Drop this message's hold on its memory and release its body
        views (using them raises ValueError).  Safe to call twice."""
        for view in self.body:
            try:
                view.release()
            except BufferError:
                pass            # an export still holds it, and the memory
        self._msg = self._hold = None
        raw, self._raw = self._raw, None
        # No view refers to it: wiped now, and given back unless a call of
        # this message still holds it (another thread's read, between a
        # frame's address and its bytes) or the cycle collector runs (see
        # collecting): then the pointer's destructor gives it back.
        if raw is not None and _wipe(raw[0]) and not collecting \
                and getrefcount(raw[0]) == _SOLE:
            pool.append(raw)

    def __copy__(self) -> "Message":
        """A second Message on the same memory: the hold becomes a shared
        one (the ffi.gc pointer alone), so that neither releases it under
        the other."""
        raw, self._raw = self._raw, None
        if raw is not None:
            self._hold = _Share(raw)
        other = object.__new__(Message)
        other._raw, other._msg = None, self._msg
        other._hold = getattr(self, "_hold", None)
        other.body, other.policy = self.body, self.policy
        return other

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError("zesp: a Message cannot be pickled or deep-copied "
                        "(copy its frames: msg.bytes(), msg.clear)")

    def __del__(self, _wipe: Any = _wipe, _pool: "deque[Any]" = pool,
                _collecting: List[None] = collecting,
                _by_collector: Any = gc.is_finalized) -> None:
        # The message owned its zesp_msg (a copied body): give it back, as
        # recycle does (inline: this runs for nearly every message).
        # (Names bound here: still there while the interpreter exits.)
        try:
            raw = self._raw
        except AttributeError:  # made by __new__ alone: holds nothing
            return
        if raw is not None:
            self._raw = None
            # The cycle collector calls this (see collecting) also when it
            # runs without its callbacks (at interpreter exit, gc.callbacks
            # emptied): it marks the message finalized before the call,
            # the last reference going only after.
            if _collecting or _by_collector(self):
                self._msg = None    # closed, if a finalizer resurrects it
                _wipe(raw[0])   # the pointer gives it back
            elif _wipe(raw[0]):
                _pool.append(raw)

    def __enter__(self) -> "Message":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._msg is None:
            return "<zesp.Message closed>"
        return "<zesp.Message spi=0x%08x seq=%d peer=%r body=%d frames>" % (
            self.spi, self.seq, self.peer, lib.zesp_msg_body_count(self._msg))
