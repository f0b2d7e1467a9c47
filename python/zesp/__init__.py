"""zesp for Python: end-to-end, per-message ESP security on pyzmq sockets.

    import zmq, zesp

    with zesp.SAD.open() as sad:                  # the host's shared SAD
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.connect("tcp://broker:5555")
        sad.send(sock, "payments", clear=[b"payments"], body=[b"pay 10"])
        with sad.recv(sock, "payments") as msg:   # only under its SAs
            print(msg.peer, msg.seq, bytes(msg.body[0]))

Messages go through the pyzmq socket itself (its libzmq socket), encrypted
once in the buffer ZeroMQ sends and decrypted in the buffer it received:
``msg.body`` is memoryviews over those bytes.  Errors are zesp.Error
subclasses carrying the library's code and sentence.  See the package's
README and the project's doc/ for the wire format and the SAD.
"""
try:
    from ._native import ffi as _ffi, lib as _lib
except ImportError as _e:
    if "undefined symbol: zesp_" not in str(_e):
        raise
    raise ImportError(
        "zesp: the libzesp found at run time is older than the zesp.h this "
        "package was built against (%s): rebuild the package against the "
        "library in use, or put the library it was built for first (%s)"
        % (_e, "LD_LIBRARY_PATH")) from None
from ._errors import (
    AcquireError, Again, BadSADError, BindingError, ConfigError,
    DirectionError, Error, ExpiredError, IntegrityError, MalformedError,
    NoPolicyError, NoSAError, PolicyError, ReplayError, SADDirError,
    SADError, SAExistsError, SADFullError,
    SADGroupError, SADLinkError, SADModeError, SADOwnerError, SADSizeError,
    SADTrustError, SADVersionError, SequenceExhaustedError, SignatureError,
    TooBigError, TooOldError, UnsupportedError, StateError, NoStateError,
    StateUnsafeError, StateDamagedError, StateIOError, StateDirError,
    LanesError, NoGroupError, KeyTextError, KeyFileError, ForkedError,
    KeyReuseError, error_class, strerror)
from ._message import Message
from ._sad import (IN, OUT, SAD, TRANSFORMS, UNCHECKED, Lifetime, Policy,
                   SADStats, SAInfo)
from ._socket import LibzmqMismatchError, libzmq_path



def _check_library() -> None:
    """The package is compiled against the structures of its zesp.h, and
    every libzesp 0.x has one soname: the dynamic linker would load any.
    Run only on the library of that header's version."""
    built = _ffi.string(_lib.zesp_py_version()).decode()
    loaded = _ffi.string(_lib.zesp_version()).decode()
    if loaded != built:
        from ._socket import mapped_file, symbol_address
        from . import _native
        where = symbol_address(_native.__file__, "zesp_version")
        raise ImportError(
            "zesp: this package was built against zesp.h %s but loads "
            "libzesp %s (%s): rebuild it against the library in use, or "
            "put the library it was built for first (LD_LIBRARY_PATH)"
            % (built, loaded, mapped_file(where) if where else "?"))


_check_library()

if _lib.zesp_init() != 0:
    raise ImportError("zesp: libsodium could not be initialised")

#: The version of the zesp.h this package was built against.
__version__: str = _ffi.string(_lib.zesp_py_version()).decode()


def transform_available(name: str) -> bool:
    """Whether this CPU and libzesp can run a transform
    ("chacha20-poly1305", "aes256gcm", "null-aes256gmac",
    "null-chacha20-poly1305")."""
    return bool(_lib.zesp_transform_available(TRANSFORMS[name]))


def default_sad_path() -> str:
    """The path SAD.open() maps without one: $ZESP_SAD, else the default."""
    return _ffi.string(_lib.zesp_sad_default_path()).decode()


__all__ = [
    "SAD", "Message", "UNCHECKED", "IN", "OUT", "Lifetime", "Policy",
    "SAInfo", "SADStats", "TRANSFORMS", "transform_available",
    "default_sad_path", "libzmq_path", "strerror", "error_class",
    "Error", "Again", "MalformedError", "NoSAError", "ReplayError",
    "TooOldError", "IntegrityError", "BindingError", "SignatureError",
    "PolicyError", "TooBigError", "ExpiredError", "SequenceExhaustedError",
    "NoPolicyError", "AcquireError", "ConfigError", "UnsupportedError",
    "SAExistsError", "SADFullError", "DirectionError", "SADError",
    "BadSADError", "SADVersionError", "SADSizeError", "SADTrustError",
    "SADOwnerError", "SADModeError", "SADGroupError", "SADLinkError",
    "SADDirError", "StateError", "NoStateError", "StateUnsafeError",
    "StateDamagedError", "StateIOError", "StateDirError", "LanesError",
    "NoGroupError", "KeyTextError", "KeyFileError", "ForkedError",
    "KeyReuseError", "LibzmqMismatchError", "__version__",
]

# Shown as zesp.X in tracebacks and reprs, where users import them from.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = __name__
del _name, _obj
