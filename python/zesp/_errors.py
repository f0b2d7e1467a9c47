"""Exceptions: one class per ZESP_E* code, all under zesp.Error.

Each carries the library's code (``.code``) and sentence (``.sentence``,
from zesp_strerror).  A code this binding does not know (a newer libzesp)
raises zesp.Error itself, with the library's sentence; system codes
(EAGAIN, EINVAL, ENOMEM, ...) also raise zesp.Error, except EAGAIN, which
raises zesp.Again.
"""
import errno as _errno
from typing import Dict, Optional, Type

from ._native import ffi, lib


def shown(text: str) -> str:
    """text as the C tools show text from elsewhere (tools/safe_text.c):
    a backslash doubled; control characters (C0, DEL, C1), the
    bidirectional and line-separator characters, and bytes that were not
    UTF-8 (decoded with surrogateescape) as \\xNN, one per byte.  So a
    configuration's key cannot move the cursor, clear a line or start
    one of its own where the message is printed or logged.

    A twin, not a call: libzesp exports zesp_* only and has no escaper
    (each C program compiles tools/safe_text.c in), and the package builds
    against an installed libzesp and its zesp.h alone.  test_api.py's
    test_shown_escapes_as_the_c_tools_do holds the two to one table."""
    out = []
    for ch in text:
        cp = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif 0xDC80 <= cp <= 0xDCFF:              # a byte that was not UTF-8
            out.append(f"\\x{cp - 0xDC00:02x}")
        elif (cp < 0x20 or 0x7F <= cp <= 0x9F or cp in (0x200E, 0x200F) or
              0x2028 <= cp <= 0x202E or 0x2066 <= cp <= 0x2069 or
              0xD800 <= cp <= 0xDFFF):
            out.append("".join(f"\\x{b:02x}" for b in
                               ch.encode("utf-8", "surrogatepass")))
        else:
            out.append(ch)
    return "".join(out)


class Error(Exception):
    """A zesp call failed: ``code`` is the library's errno value
    (a ZESP_E* code or a system one), ``sentence`` what zesp_strerror says,
    ``detail`` the library's own text as it came (a configuration error's
    may quote the file's bytes: control characters, bytes that are not
    UTF-8 as surrogateescape).  str() shows the detail escaped (shown()).
    """

    code: int
    sentence: str
    detail: Optional[str]

    def __init__(self, code: int, sentence: Optional[str] = None,
                 detail: Optional[str] = None) -> None:
        self.code = code
        self.sentence = sentence if sentence is not None else strerror(code)
        self.detail = detail
        super().__init__(f"{self.sentence}: {shown(detail)}" if detail
                         else self.sentence)


class Again(Error):
    """Nothing to receive or no room to send now (EAGAIN): a non-blocking
    call, or the socket's RCVTIMEO / SNDTIMEO passed."""


# Refusals of a received message: the message was consumed and counted;
# the socket is ready for the next one.
class MalformedError(Error):
    """Not a well-formed ESP message (ZESP_EMALFORMED)."""


class NoSAError(Error):
    """No SA with that SPI and direction (ZESP_ENOSA)."""


class ReplayError(Error):
    """A sequence number already received (ZESP_EREPLAY)."""


class TooOldError(ReplayError):
    """A sequence number below the replay window (ZESP_EOLD)."""


class IntegrityError(Error):
    """The integrity check failed: forged or corrupted (ZESP_EICV)."""


class BindingError(IntegrityError):
    """Clear frames differ from those the sender bound (ZESP_EBINDING)."""


class SignatureError(IntegrityError):
    """A group message's source signature is wrong (ZESP_ESIGNATURE)."""


class PolicyError(Error):
    """A message under an SA that does not serve the policy received on
    (ZESP_EPOLICY, RFC 4301 5.2)."""


class TooBigError(Error):
    """A message larger than the SAD allows (ZESP_ETOOBIG)."""


class ExpiredError(Error):
    """The SA reached a hard lifetime (ZESP_EEXPIRED)."""


class SequenceExhaustedError(Error):
    """The SA has no sequence numbers left: rekey (ZESP_ESEQEXHAUSTED)."""


class NoPolicyError(Error):
    """No policy of that name (ZESP_ENOPOLICY)."""


class AcquireError(Error):
    """The policy has no SA yet; the key daemon was asked for one
    (ZESP_EACQUIRE)."""


class ConfigError(Error):
    """Invalid configuration (ZESP_ECONFIG); ``detail`` says
    FILE:LINE:COLUMN: FIELD: what."""


class UnsupportedError(Error):
    """Transform unavailable on this CPU or build (ZESP_EUNSUPPORTED)."""


class SAExistsError(Error):
    """An SA with that SPI and direction exists (ZESP_EEXIST)."""


class SADFullError(Error):
    """The SAD has no free slot (ZESP_EFULL)."""


class DirectionError(Error):
    """SA used in the wrong direction (ZESP_EDIRECTION)."""


class SADError(Error):
    """The SAD file cannot be used."""


class BadSADError(SADError):
    """The SAD file is damaged or not a SAD (ZESP_EBADSAD)."""


class SADVersionError(SADError):
    """The SAD file has another layout version (ZESP_ESADVERSION)."""


class SADSizeError(SADError):
    """The SAD file is truncated (ZESP_ESADSIZE)."""


class SADTrustError(SADError):
    """The SAD file is not provably ours, so its keys are not used."""


class SADOwnerError(SADTrustError):
    """The SAD file belongs to another user (ZESP_ESADOWNER)."""


class SADModeError(SADTrustError):
    """Other users may read or write the SAD file (ZESP_ESADMODE)."""


class SADGroupError(SADTrustError):
    """Its group may, and no group SAD was asked for (ZESP_ESADGROUP)."""


class SADLinkError(SADTrustError):
    """The SAD path is a symbolic link, or a hard link given a mode or group
    to set (ZESP_ESADLINK)."""


class SADDirError(SADTrustError):
    """The SAD's directory is not private to us (ZESP_ESADDIR)."""


class StateError(Error):
    """Manual keys' sequence records (the SAD's state directory) cannot
    be used: sending on such an SA could repeat a nonce, so it is refused."""


class NoStateError(StateError):
    """The state directory of manual keys is missing (ZESP_ENOSTATE)."""


class StateUnsafeError(StateError):
    """The state directory or a record has the wrong owner or mode, or a
    directory above it, or on the way its name leads, others may write
    (ZESP_ESTATEUNSAFE)."""


class StateDamagedError(StateError):
    """A manual key's sequence record is damaged (ZESP_ESTATEDAMAGED)."""


class StateIOError(StateError):
    """A sequence record cannot be written (ZESP_ESTATEIO)."""


class StateDirError(StateError):
    """The SAD keeps its records in another directory (ZESP_ESTATEDIR)."""


class LanesError(Error):
    """Every lane of the SA is held by a live process (ZESP_ELANES)."""


class NoGroupError(Error):
    """The SAD options name no such group (ZESP_ENOGROUP)."""


class KeyTextError(Error):
    """Key text is not hex:, z85: or file: of the right size
    (ZESP_EKEYTEXT)."""


class KeyFileError(Error):
    """A key file that group or others may read, or that another user
    owns (ZESP_EKEYFILE)."""


class ForkedError(Error):
    """A private SAD used by a child forked from the process that made it
    (ZESP_EFORKED): its sequence numbers and replay windows are copies of
    the parent's, so a send would repeat the parent's nonces and a receive
    accept what the parent accepts.  Make a SAD in the child, or share a
    file SAD."""


class KeyReuseError(Error):
    """A manual key that an SA of the other direction holds, or held by
    the state directory's sequence records, on another SPI
    (ZESP_EKEYREUSE): its peer would number from 1 under it too.  Give
    each direction its own key."""


_BY_CODE: Dict[int, Type[Error]] = {
    _errno.EAGAIN: Again,
    lib.ZESP_EMALFORMED: MalformedError,
    lib.ZESP_ENOSA: NoSAError,
    lib.ZESP_EREPLAY: ReplayError,
    lib.ZESP_EOLD: TooOldError,
    lib.ZESP_EICV: IntegrityError,
    lib.ZESP_EEXPIRED: ExpiredError,
    lib.ZESP_ESEQEXHAUSTED: SequenceExhaustedError,
    lib.ZESP_EBINDING: BindingError,
    lib.ZESP_ETOOBIG: TooBigError,
    lib.ZESP_EUNSUPPORTED: UnsupportedError,
    lib.ZESP_EEXIST: SAExistsError,
    lib.ZESP_EFULL: SADFullError,
    lib.ZESP_EDIRECTION: DirectionError,
    lib.ZESP_EBADSAD: BadSADError,
    lib.ZESP_ESADVERSION: SADVersionError,
    lib.ZESP_ESADSIZE: SADSizeError,
    lib.ZESP_ENOPOLICY: NoPolicyError,
    lib.ZESP_EACQUIRE: AcquireError,
    lib.ZESP_ECONFIG: ConfigError,
    lib.ZESP_ESIGNATURE: SignatureError,
    lib.ZESP_ESADOWNER: SADOwnerError,
    lib.ZESP_ESADMODE: SADModeError,
    lib.ZESP_ESADGROUP: SADGroupError,
    lib.ZESP_ESADLINK: SADLinkError,
    lib.ZESP_ESADDIR: SADDirError,
    lib.ZESP_EPOLICY: PolicyError,
    lib.ZESP_ENOSTATE: NoStateError,
    lib.ZESP_ESTATEUNSAFE: StateUnsafeError,
    lib.ZESP_ESTATEDAMAGED: StateDamagedError,
    lib.ZESP_ESTATEIO: StateIOError,
    lib.ZESP_ESTATEDIR: StateDirError,
    lib.ZESP_ELANES: LanesError,
    lib.ZESP_ENOGROUP: NoGroupError,
    lib.ZESP_EKEYTEXT: KeyTextError,
    lib.ZESP_EKEYFILE: KeyFileError,
    lib.ZESP_EFORKED: ForkedError,
    lib.ZESP_EKEYREUSE: KeyReuseError,
}


def strerror(code: int) -> str:
    """The library's sentence for an error code."""
    s = lib.zesp_strerror(code)
    return ffi.string(s).decode("utf-8", "replace") if s else f"error {code}"


def error_class(code: int) -> Type[Error]:
    """The exception class for a code: zesp.Error for one it does not know."""
    return _BY_CODE.get(code, Error)


def error(code: int, detail: Optional[str] = None) -> Error:
    """The exception for a code."""
    return error_class(code)(code, detail=detail)


def last_error(detail: Optional[str] = None) -> Error:
    """The exception for the errno the last call of this thread left."""
    return error(ffi.errno, detail)
