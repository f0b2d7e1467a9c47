"""The package itself: version, errors, SADs, SAs and policies."""
import errno
import itertools
import os
import re
import stat
import subprocess
import sys

import pytest
import zmq

import zesp
from zesp import _errors
from zesp._native import ffi, lib

from conftest import SRCDIR, WAIT, build_program, key


# Names whose bytes each path of the escaping takes: backslash, C0, DEL,
# C1, the bidirectional and line-separator characters, bytes that are not
# UTF-8 (cut, overlong, a surrogate, past U+10FFFF), and characters shown
# as they are.
SHOWN_CASES = [b"bs\\", b"c0\x01\x1b[K\x7f", b"c1\xc2\x85\xc2\x9f",
               b"lrm\xe2\x80\x8e\xe2\x80\x8f", b"ls\xe2\x80\xa8\xe2\x80\xa9",
               b"rlo\xe2\x80\xaa\xe2\x80\xae", b"lri\xe2\x81\xa6\xe2\x81\xa9",
               b"bad\xff\xfe\x80", b"cut\xe2\x80", b"over\xc0\xaf",
               b"surr\xed\xa0\x80", b"big\xf4\x90\x80\x80",
               b"shown\xc3\xa9\xc2\xa0\xe2\x80\x8d\xf0\x9f\x98\x80\xe2\x81\xaa"]


def test_shown_escapes_as_the_c_tools_do(work):
    """shown() twins tools/safe_text.c, which libzesp does not export (the
    tools compile it in): the same file name, every byte of it, reads the
    same in `zesp check`'s error and in str(ConfigError)."""
    zesp_bin = build_program("tools/zesp")
    for raw in SHOWN_CASES:
        path = os.fsencode(work) + b"/" + raw + b".yaml"
        with open(path, "wb") as f:
            f.write(b"sas: 1\n")
        c = subprocess.run([zesp_bin, "check", path], capture_output=True,
                           timeout=WAIT)
        assert c.returncode == 3, c
        with pytest.raises(zesp.ConfigError) as e:
            zesp.SAD.check_config(os.fsdecode(path))
        c_name = c.stderr.decode("utf-8").split(".yaml:1:")[0].rsplit("/", 1)[1]
        py_name = str(e.value).split(".yaml:1:")[0].rsplit("/", 1)[1]
        assert py_name == c_name, (raw, c_name, py_name)
        # Escaped, but for the last name: shown as it is.
        assert (c_name == raw.decode("utf-8", "replace")) == raw.startswith(b"shown"), raw


def test_version_is_the_librarys():
    if not SRCDIR:
        pytest.skip("ZESP_SRCDIR not set")
    with open(os.path.join(SRCDIR, "include", "zesp.h"), encoding="utf-8") as h:
        want = re.search(r'#define ZESP_VERSION_STRING "([^"]+)"', h.read()).group(1)
    assert zesp.__version__ == want
    from importlib.metadata import PackageNotFoundError, version
    try:
        assert version("zesp") == want          # the wheel's metadata
    except PackageNotFoundError:
        pytest.skip("run from the source tree: no installed metadata")


def test_every_known_code_has_its_class_and_the_librarys_sentence():
    table = {
        "EMALFORMED": zesp.MalformedError, "ENOSA": zesp.NoSAError,
        "EREPLAY": zesp.ReplayError, "EOLD": zesp.TooOldError,
        "EICV": zesp.IntegrityError, "EEXPIRED": zesp.ExpiredError,
        "ESEQEXHAUSTED": zesp.SequenceExhaustedError,
        "EBINDING": zesp.BindingError, "ETOOBIG": zesp.TooBigError,
        "EUNSUPPORTED": zesp.UnsupportedError, "EEXIST": zesp.SAExistsError,
        "EFULL": zesp.SADFullError, "EDIRECTION": zesp.DirectionError,
        "EBADSAD": zesp.BadSADError, "ESADVERSION": zesp.SADVersionError,
        "ESADSIZE": zesp.SADSizeError, "ENOPOLICY": zesp.NoPolicyError,
        "EACQUIRE": zesp.AcquireError, "ECONFIG": zesp.ConfigError,
        "ESIGNATURE": zesp.SignatureError, "ESADOWNER": zesp.SADOwnerError,
        "ESADMODE": zesp.SADModeError, "ESADGROUP": zesp.SADGroupError,
        "ESADLINK": zesp.SADLinkError, "ESADDIR": zesp.SADDirError,
        "EPOLICY": zesp.PolicyError, "ENOSTATE": zesp.NoStateError,
        "ESTATEUNSAFE": zesp.StateUnsafeError,
        "ESTATEDAMAGED": zesp.StateDamagedError,
        "ESTATEIO": zesp.StateIOError, "ESTATEDIR": zesp.StateDirError,
        "ELANES": zesp.LanesError, "ENOGROUP": zesp.NoGroupError,
        "EKEYTEXT": zesp.KeyTextError, "EKEYFILE": zesp.KeyFileError,
        "EFORKED": zesp.ForkedError, "EKEYREUSE": zesp.KeyReuseError,
    }
    # Every code of this zesp.h has its own class.
    assert sorted(getattr(lib, "ZESP_" + n) for n in table) == \
        list(range(lib.ZESP_EBASE + 1, lib.ZESP_ELAST))
    for name, cls in table.items():
        code = getattr(lib, "ZESP_" + name)
        e = _errors.error(code)
        assert type(e) is cls and isinstance(e, zesp.Error), name
        assert e.code == code
        assert e.sentence == zesp.strerror(code) and e.sentence, name
        assert str(e) == e.sentence
    # Families: a caller may catch the kind rather than each code.
    assert issubclass(zesp.TooOldError, zesp.ReplayError)
    assert issubclass(zesp.BindingError, zesp.IntegrityError)
    assert issubclass(zesp.SignatureError, zesp.IntegrityError)
    assert issubclass(zesp.SADModeError, zesp.SADTrustError)
    assert issubclass(zesp.SADTrustError, zesp.SADError)
    assert issubclass(zesp.StateDamagedError, zesp.StateError)


def test_a_code_this_binding_does_not_know_is_a_plain_error_with_the_sentence():
    # A newer libzesp may add codes (ZESP_ELAST moves): they still raise
    # zesp.Error, with the library's own sentence.
    for code in (lib.ZESP_EBASE + 900, errno.ENOMEM, errno.EPROTO):
        e = _errors.error(code)
        assert type(e) is zesp.Error
        assert e.code == code and e.sentence == zesp.strerror(code) and e.sentence
    assert type(_errors.error(errno.EAGAIN)) is zesp.Again


def test_a_forked_child_cannot_send_on_its_parents_private_sad():
    # The child's copy of a private SAD holds the parent's sequence
    # numbers: a send would repeat the parent's nonces under its key.
    with zesp.SAD.private(capacity=16) as sad:
        sad.add_sa(0x1234, zesp.OUT, key(), peer="bob")
        sad.set_policy("to-bob", out=0x1234, peer="bob")
        pid = os.fork()
        if pid == 0:
            code = 3
            try:
                ctx = zmq.Context()
                s = ctx.socket(zmq.PUSH)
                s.bind("inproc://forked")
                try:
                    sad.send(s, policy="to-bob", body=b"from the child")
                    code = 1
                except zesp.ForkedError as e:
                    code = 0 if e.code == lib.ZESP_EFORKED else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0, "the child's send was not refused"
        # The parent still sends, from its first sequence number.
        ctx = zmq.Context.instance()
        a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
        a.bind("inproc://parent-after-fork")
        b.connect("inproc://parent-after-fork")
        try:
            sad.send(a, policy="to-bob", body=b"from the parent")
            assert sad.sa(0x1234, zesp.OUT).seq == 1
        finally:
            a.close(0)
            b.close(0)


def test_private_sad_sa_policy_and_stats():
    with zesp.SAD.private(capacity=16) as sad:
        assert sad.path == ""
        sad.add_sa(0x1234, zesp.OUT, key(), transform="chacha20-poly1305", peer="bob")
        sad.add_sa(0x5678, zesp.IN, key(), peer="bob", replay_window=2048)
        sad.set_policy("to-bob", out=0x1234, inbound=[0x5678], peer="bob")
        p = sad.policy("to-bob")
        assert (p.name, p.peer, p.out, p.inbound) == ("to-bob", "bob", 0x1234, (0x5678,))
        assert set(p.rejected) >= {"icv", "replay", "policy"}
        info = sad.sa(0x5678, zesp.IN)
        assert (info.spi, info.direction, info.replay_window, info.peer) == (0x5678, "in", 2048, "bob")
        assert info.transform == "chacha20-poly1305" and not info.group
        st = sad.stats()
        assert st.sas == 2 and st.capacity == 16
        with pytest.raises(zesp.SAExistsError) as e:
            sad.add_sa(0x1234, zesp.OUT, key())
        assert e.value.code == lib.ZESP_EEXIST
        sad.delete_sa(0x1234, zesp.OUT)
        with pytest.raises(zesp.NoSAError):
            sad.sa(0x1234, zesp.OUT)
        sad.delete_policy("to-bob")
        with pytest.raises(zesp.NoPolicyError):
            sad.policy("to-bob")
        with pytest.raises(ValueError):
            sad.add_sa(1, zesp.OUT, b"short")
    assert sad.closed
    with pytest.raises(ValueError, match="closed"):
        sad.policy("to-bob")


def test_load_yaml_and_a_bad_file_says_where(work):
    good = os.path.join(work, "good.yaml")
    with open(good, "w") as f:
        f.write('sas:\n  - { spi: 0x77, direction: out, key: "hex:%s", peer: carol }\n'
                'policies:\n  - { name: to-carol, out: 0x77 }\n' % key().hex())
    os.chmod(good, 0o644)       # a key written in a file others may read
    with zesp.SAD.private() as sad, pytest.raises(zesp.ConfigError) as e:
        sad.load(good)
    assert "a secret key written into a file others may read (mode 644)" in str(e.value)
    os.chmod(good, 0o600)
    bad = os.path.join(work, "bad.yaml")
    with open(bad, "w") as f:
        f.write("sas:\n  - { spi: 0x78, direction: sideways }\n")
    with zesp.SAD.private() as sad:
        sad.load(good)
        assert sad.policy("to-carol").out == 0x77
        with pytest.raises(zesp.ConfigError) as e:
            sad.load(bad)
        assert e.value.code == lib.ZESP_ECONFIG
        assert e.value.detail.startswith(bad + ":2:")
        assert bad + ":2:" in str(e.value)
        with pytest.raises(zesp.ConfigError):
            zesp.SAD.check_config(bad)
        zesp.SAD.check_config(good)


def test_a_config_error_is_shown_escaped_and_kept_exact(work):
    # A key quoting control characters (YAML's "\r", "\e") and a byte that
    # is not UTF-8: str() shows them \xNN as zesp and zike print the
    # library's text (tools/safe_text.c), .detail holds them as they came.
    # Before, str() carried the carriage return and the escape sequence to
    # the terminal or log, which showed "bad.yaml: valid" over the refusal.
    bad = os.path.join(work, "ctl.yaml")
    with open(bad, "wb") as f:
        f.write(b'sas:\n  - { "x\\rbad.yaml: valid\\e[K\\\\": 1 }\n')
    with pytest.raises(zesp.ConfigError) as e:
        zesp.SAD.check_config(bad)
    shown = str(e.value)
    assert "unknown key 'x\\x0dbad.yaml: valid\\x1b[K\\\\'" in shown
    assert not any(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f for c in shown)
    assert "x\rbad.yaml: valid\x1b[K\\" in e.value.detail
    # A file name (the text's first words) with a byte that is not UTF-8
    # and a right-to-left override: \xNN each byte, .detail every byte.
    odd = os.fsdecode(os.fsencode(work) + b"/y\xff\xe2\x80\xae.yaml")
    with open(odd, "w") as f:
        f.write("sas: 1\n")
    with pytest.raises(zesp.ConfigError) as e:
        zesp.SAD.check_config(odd)
    assert "/y\\xff\\xe2\\x80\\xae.yaml:1:" in str(e.value)
    assert e.value.detail.startswith(odd + ":1:")


def test_shared_sad_file_made_opened_and_refused_when_not_ours(work):
    path = os.path.join(work, "host.sad")
    with zesp.SAD.open(path, create=True, capacity=32) as sad:
        assert sad.path == path
        sad.add_sa(0x99, zesp.IN, key(), peer="dave")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with zesp.SAD.open(path) as again:     # another process would see it too
        assert again.sa(0x99, zesp.IN).peer == "dave"
    os.chmod(path, 0o644)
    with pytest.raises(zesp.SADModeError) as e:
        zesp.SAD.open(path)
    assert isinstance(e.value, zesp.SADTrustError)
    os.chmod(path, 0o600)
    link = os.path.join(work, "link.sad")
    os.symlink(path, link)
    with pytest.raises(zesp.SADLinkError):
        zesp.SAD.open(link)
    with pytest.raises(zesp.Error) as e:
        zesp.SAD.open(os.path.join(work, "missing.sad"))
    assert e.value.code == errno.ENOENT


def test_add_sa_refused_by_the_binding_leaves_no_key_in_its_parameters():
    # add_sa copies the key into C parameters and wipes them after the
    # call; a peer name or signing key it refuses itself must not skip that
    # (the parameters live on in the traceback, then in freed memory).
    def params_of(tb):
        while tb is not None:
            if tb.tb_frame.f_code.co_name == "add_sa":
                return tb.tb_frame.f_locals["p"]
            tb = tb.tb_next
        raise AssertionError("no add_sa frame")
    sad = zesp.SAD.private()
    for bad in (dict(peer="x" * 200), dict(group=True, sign_key=bytes(65))):
        with pytest.raises(ValueError) as e:
            sad.add_sa(0x42, zesp.OUT, key(), **bad)
        p = params_of(e.tb)
        assert bytes(ffi.buffer(p.key)) == bytes(lib.ZESP_KEYBYTES)
        assert bytes(ffi.buffer(p.sign_key)) == bytes(lib.ZESP_SIGN_SECRETBYTES)
    with pytest.raises(zesp.NoSAError):
        sad.sa(0x42, zesp.OUT)


def test_acquire_timeout_reads_back_what_the_sad_waits(work):
    # The property says how long a send on a policy with no SA waits: what
    # the SAD was made with, private or shared, or was set to since.
    with zesp.SAD.private(acquire_timeout=0.25) as sad:
        assert sad.acquire_timeout == 0.25
        sad.acquire_timeout = 0
        assert sad.acquire_timeout == 0
    path = os.path.join(work, "acquire.sad")
    with zesp.SAD.open(path, create=True, acquire_timeout=0.5) as sad:
        assert sad.acquire_timeout == 0.5
    with zesp.SAD.private() as sad:
        assert sad.acquire_timeout == 0


def test_a_path_with_a_nul_byte_is_refused_not_cut_short(work):
    # C reads a path up to its first NUL: "x.sad\0.old" would open x.sad,
    # another file than the one named.  Python's own calls refuse it.
    sad_path = os.path.join(work, "cut.sad")
    with pytest.raises(ValueError, match="NUL"):
        zesp.SAD.open(sad_path + "\0.old", create=True)
    assert not os.path.exists(sad_path)
    good = os.path.join(work, "cut.yaml")
    with open(good, "w") as f:
        f.write('sas:\n  - { spi: 0x79, direction: out, key: "hex:%s", peer: erin }\n'
                'policies:\n  - { name: to-erin, out: 0x79 }\n' % key().hex())
    os.chmod(good, 0o600)
    with zesp.SAD.private() as sad:
        with pytest.raises(ValueError, match="NUL"):
            sad.load(good + "\0.old")
        with pytest.raises(zesp.NoPolicyError):
            sad.policy("to-erin")
        with pytest.raises(ValueError, match="NUL"):
            zesp.SAD.check_config(good + "\0.old")
        with pytest.raises(ValueError, match="NUL"):
            zesp.SAD.open(os.fsencode(sad_path) + b"\0.old", create=True)


# A thread receiving in zesp_recv while another closes the SAD: run apart,
# since the old close() unmapped the SAD under the receiving thread (a
# crash, or a read of freed memory).
CLOSE_WHILE_RECEIVING = r"""
import os, secrets, sys, threading, zmq, zesp
path, wait = sys.argv[1], float(sys.argv[2])
k = secrets.token_bytes(36)
alice = zesp.SAD.private()
alice.add_sa(0x1234, zesp.OUT, k)
alice.set_policy("p", out=0x1234)
bob = zesp.SAD.open(path, create=True, capacity=8)
bob.add_sa(0x1234, zesp.IN, k)
bob.set_policy("p", inbound=[0x1234])
ctx = zmq.Context()
a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
b.rcvtimeo = int(wait * 1000)
a.bind("tcp://127.0.0.1:*")
b.connect(a.last_endpoint.decode())
inside, got = threading.Event(), []

def hook(frame, event, arg):
    # Its arguments taken, the receive is about to enter C.
    if event == "c_call" and getattr(arg, "__name__", "") == "zesp_py_recv":
        inside.set()

def receive():
    sys.setprofile(hook)
    try:
        got.append(bob.recv(b, "p").bytes())
    except Exception as e:
        got.append(repr(e))
    sys.setprofile(None)

def mapped():
    with open("/proc/self/maps") as f:
        return path in f.read()

t = threading.Thread(target=receive)
t.start()
assert inside.wait(wait)
bob.close()
alice.send(a, "p", body=b"sent after close")
t.join(wait)
print(got)
assert got == [b"sent after close"]
assert not mapped()                 # freed as that receive returned
try:
    bob.recv(b, "p", dontwait=True)
except ValueError as e:
    print(e)
idle = zesp.SAD.open(path)
assert mapped()
idle.close()                        # no call in progress: unmapped at once
assert not mapped()
ctx.destroy(linger=0)
print("ok")
"""


def test_a_sad_closed_while_another_thread_receives_lives_until_that_returns(work):
    """SAD.close() while a thread is in recv (a worker blocked on its socket
    when the program leaves its `with` block): the receive in progress
    ends with the SAD it started with, never unmapped under it; the SAD is
    freed as it returns, and at once when no call is in progress."""
    path = os.path.join(work, "closing.sad")
    r = subprocess.run([sys.executable, "-c", CLOSE_WHILE_RECEIVING, path, str(WAIT)],
                       capture_output=True, text=True, timeout=3 * WAIT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines() == ["[b'sent after close']", "zesp: SAD closed", "ok"]


def test_transforms():
    assert zesp.transform_available("chacha20-poly1305")
    assert set(zesp.TRANSFORMS) == {"chacha20-poly1305", "aes256gcm",
                                    "null-aes256gmac", "null-chacha20-poly1305"}
    assert zesp.default_sad_path()


_ivs_calls = itertools.count()


def _ivs_sent(sad, spi, n):
    """The (SPI, IV) of n messages sent on spi, as read off the wire."""
    ctx = zmq.Context.instance()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    # An endpoint of its own each call: ZeroMQ frees an inproc name when
    # its reaper thread gets to the closed socket, later on a busy machine.
    where = "inproc://ivs-sent-%d" % next(_ivs_calls)
    try:
        b.rcvtimeo = int(WAIT * 1000)
        b.bind(where)
        a.connect(where)
        for _ in range(n):
            sad.send(a, spi=spi, body=b"by hand")
        return [b.recv()[:16] for _ in range(n)]
    finally:
        a.close(0)
        b.close(0)


def test_a_key_added_again_by_hand_repeats_no_iv():
    # A key given to add_sa is a manual key: installed again (after
    # delete_sa, or by the program started again) it must continue above
    # every IV it sent, as zesp load's keys do (their sequence records).
    k = key()
    sent = []
    with zesp.SAD.private() as sad:
        sad.add_sa(0x4a11, zesp.OUT, k)
        sent += _ivs_sent(sad, 0x4a11, 3)
        sad.delete_sa(0x4a11, zesp.OUT)
        sad.add_sa(0x4a11, zesp.OUT, k)
        sent += _ivs_sent(sad, 0x4a11, 3)
    with zesp.SAD.private() as again:   # the program started again
        again.add_sa(0x4a11, zesp.OUT, k)
        sent += _ivs_sent(again, 0x4a11, 3)
    assert len(set(sent)) == len(sent) == 9


def test_a_key_never_serves_both_ways_across_private_sads(work, monkeypatch):
    # Two programs of a host, a private SAD each, one state directory: one
    # sends under a manual key on one SPI, the other would receive under it
    # on another; host B, in a state directory of its own, the mirror.
    # Neither SAD sees the other's SA, the key's records do: the second
    # install on each host raises KeyReuseError (not SAExistsError: no SA
    # has that SPI), and B sends nothing under the key.  Before, all four
    # went in and B sent, from 1, every IV A had.
    k = key()
    a_out, a_in = zesp.SAD.private(), zesp.SAD.private()
    a_out.add_sa(0x4b01, zesp.OUT, k)
    with pytest.raises(zesp.KeyReuseError) as e:
        a_in.add_sa(0x4b02, zesp.IN, k)
    assert e.value.code == lib.ZESP_EKEYREUSE
    assert not isinstance(e.value, zesp.SAExistsError)
    assert "other direction on another SPI" in str(e.value)
    host_b_state = os.path.join(work, "host-b-state")
    os.mkdir(host_b_state, 0o700)
    monkeypatch.setenv("ZESP_STATE_DIR", host_b_state)
    b_in, b_out = zesp.SAD.private(), zesp.SAD.private()
    b_in.add_sa(0x4b01, zesp.IN, k)
    with pytest.raises(zesp.KeyReuseError):
        b_out.add_sa(0x4b02, zesp.OUT, k)
    monkeypatch.undo()
    assert len(_ivs_sent(a_out, 0x4b01, 5)) == 5
    with pytest.raises(zesp.NoSAError):
        b_out.sa(0x4b02, zesp.OUT)
    for sad in (a_out, a_in, b_in, b_out):
        sad.close()


def test_a_fresh_key_may_keep_no_record():
    # manual=False: a key made for this install alone (a key exchange of
    # the application's own) keeps no record and needs no state directory.
    with zesp.SAD.private() as sad:
        sad.add_sa(0x4a12, zesp.OUT, key(), manual=False)
        assert not sad.sa(0x4a12, zesp.OUT).manual
        sad.add_sa(0x4a13, zesp.OUT, key())
        assert sad.sa(0x4a13, zesp.OUT).manual
