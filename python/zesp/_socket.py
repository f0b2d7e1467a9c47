"""pyzmq sockets as libzesp takes them: the libzmq socket pointer.

A pyzmq socket's ``underlying`` is the address of a libzmq socket object.
libzesp calls the libzmq it was linked with on it, so that address means
something only if pyzmq uses that same libzmq: a pyzmq wheel that bundles its
own copy (a second libzmq in the process) would have libzesp's libzmq work
on the other copy's objects, which is undefined behaviour.  So the first
socket of each pyzmq class is checked: the libzmq that pyzmq's compiled
backend resolves ``zmq_msg_send`` to must be the very one libzesp resolves
it to (the same address in this process), or zesp.LibzmqMismatchError.
"""
import ctypes
import os
import sys
from typing import Dict, Iterable, List, Optional, Tuple

from ._errors import Error

_PROBE = "zmq_msg_send"


class LibzmqMismatchError(Error):
    """pyzmq and libzesp use two different copies of libzmq."""

    def __init__(self, sentence: str) -> None:
        super().__init__(0, sentence)


def _native_file() -> str:
    from . import _native
    return _native.__file__


def symbol_address(path: str, name: str = _PROBE) -> Optional[int]:
    """Where ``name`` resolves for the shared object at path (searching it
    and the libraries it needs, as the dynamic linker binds it), or None."""
    try:
        fn = getattr(ctypes.CDLL(path), name)
    except (OSError, AttributeError):
        return None
    return ctypes.cast(fn, ctypes.c_void_p).value


def mapped_file(address: int) -> str:
    """The file mapped at address in this process (/proc/self/maps)."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            for line in maps:
                fields = line.split()
                lo, hi = (int(x, 16) for x in fields[0].split("-"))
                if lo <= address < hi and len(fields) >= 6:
                    return fields[5]
    except OSError:
        pass
    return "0x%x" % address


def libzmq_path() -> str:
    """The libzmq file libzesp uses in this process."""
    address = symbol_address(_native_file())
    return mapped_file(address) if address else "unknown"


def check_same_libzmq(objects: Iterable[str]) -> None:
    """Raise LibzmqMismatchError unless each shared object that links
    libzmq binds it to libzesp's libzmq; also if none does."""
    ours = symbol_address(_native_file())
    if ours is None:
        raise LibzmqMismatchError("zesp: cannot find the libzmq of libzesp")
    seen: List[Tuple[str, int]] = []
    for path in objects:
        address = symbol_address(path)
        if address is None:
            continue
        if address != ours:
            raise LibzmqMismatchError(
                "zesp: pyzmq (%s) uses the libzmq at %s, but libzesp uses "
                "the one at %s: a socket cannot cross two copies of libzmq. "
                "Use a pyzmq built against the system libzmq (Debian's "
                "python3-zmq, or pip install --no-binary pyzmq pyzmq)"
                % (path, mapped_file(address), mapped_file(ours)))
        seen.append((path, address))
    if not seen:
        raise LibzmqMismatchError(
            "zesp: cannot tell which libzmq pyzmq uses (no compiled module "
            "of its backend links libzmq): refusing to pass it sockets")


def _backend_objects(cls: type) -> List[str]:
    """The compiled modules of the pyzmq backend behind a socket class."""
    packages = {c.__module__.split(".")[0] for c in cls.__mro__
                if c.__module__ not in ("builtins", "typing")}
    files = []
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] not in packages or ".backend" not in name:
            continue
        path = getattr(module, "__file__", None) or ""
        if path.endswith((".so", ".pyd")) and os.path.exists(path):
            files.append(path)
    return files


# Per socket class: whether it is an asyncio socket (checked once).
_classes: Dict[type, bool] = {}


def classify(socket: object) -> bool:
    """Check a socket class once; True for zmq.asyncio sockets."""
    cls = type(socket)
    kind = _classes.get(cls)
    if kind is None:
        if not hasattr(socket, "underlying"):
            raise TypeError("zesp: expected a pyzmq socket (zmq.Socket or "
                            "zmq.asyncio.Socket), got %s" % cls.__name__)
        check_same_libzmq(_backend_objects(cls))
        kind = any(c.__module__ in ("zmq.asyncio", "zmq._future")
                   for c in cls.__mro__)
        _classes[cls] = kind
    return kind


def resolve(socket: object) -> Tuple[int, bool]:
    """The libzmq socket pointer of a pyzmq socket (its class checked) and
    whether it is an asyncio socket; an int is taken as a pointer (not
    checked: the caller vouches for it)."""
    if type(socket) is int:
        return socket, False
    kind = classify(socket)
    return socket.underlying, kind  # type: ignore[attr-defined]
