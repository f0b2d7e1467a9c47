"""pyzmq's sockets go to libzesp only when both use one libzmq."""
import ctypes
import os
import shutil

import pytest
import zmq

import zesp
from zesp import _socket


def mapped_libzmqs():
    with open("/proc/self/maps") as maps:
        return {line.split()[5] for line in maps
                if len(line.split()) >= 6 and "libzmq" in os.path.basename(line.split()[5])}


def test_pyzmq_and_libzesp_use_the_same_libzmq(ctx):
    s = ctx.socket(zmq.PAIR)
    _socket.classify(s)                      # raises if they differ
    ours = zesp.libzmq_path()
    assert os.path.exists(ours)
    assert mapped_libzmqs() == {ours}, "a second libzmq is loaded"
    s.close()


def test_a_second_copy_of_libzmq_is_refused(tmp_path):
    copy = tmp_path / "libzmq-bundled.so.5"
    shutil.copy(zesp.libzmq_path(), copy)
    ctypes.CDLL(str(copy))                   # as a wheel's bundled copy would be
    with pytest.raises(zesp.LibzmqMismatchError) as e:
        _socket.check_same_libzmq([str(copy)])
    assert str(copy) in str(e.value) and zesp.libzmq_path() in str(e.value)
    assert isinstance(e.value, zesp.Error)
    with pytest.raises(zesp.LibzmqMismatchError, match="cannot tell"):
        _socket.check_same_libzmq([])
