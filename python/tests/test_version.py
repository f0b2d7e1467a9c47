"""The package runs only on the libzesp its zesp.h came with: the
binding is compiled against the header's structures, and every libzesp
0.x has the same soname, so the dynamic linker alone would load another."""
import os
import re
import shutil
import subprocess
import sys

from conftest import WAIT, build_program

import zesp


def test_the_package_says_which_library_it_loaded():
    assert zesp.__version__ == zesp._native.ffi.string(
        zesp._native.lib.zesp_version()).decode()


def test_a_library_of_another_version_than_its_header_is_refused(tmp_path):
    # The package built against a zesp.h saying another version than the
    # library it then loads (installed headers of one release, a libzesp
    # of another found first at run time, or upgraded since).
    build_program("esp/.libs/libzesp.so")
    builddir, srcdir = os.environ["ZESP_BUILDDIR"], os.environ["ZESP_SRCDIR"]
    src = tmp_path / "src"
    (src / "include").mkdir(parents=True)
    shutil.copytree(os.path.join(srcdir, "python"), src / "python",
                    ignore=shutil.ignore_patterns("build", "*.egg-info",
                                                  "_native.*", "__pycache__"))
    with open(os.path.join(srcdir, "include", "zesp.h"), encoding="utf-8") as h:
        header = h.read()
    other = re.sub(r'#define ZESP_VERSION_STRING "[^"]*"',
                   '#define ZESP_VERSION_STRING "0.0.1"', header)
    assert other != header
    (src / "include" / "zesp.h").write_text(other, encoding="utf-8")
    subprocess.run(["sh", os.path.join(srcdir, "python", "build_tree.sh"),
                    str(src), builddir, str(tmp_path / "py")], check=True,
                   capture_output=True, timeout=10 * WAIT,
                   env=dict(os.environ, PYTHON3=sys.executable))
    run = subprocess.run(
        [sys.executable, "-c", "import zesp"], capture_output=True,
        text=True, timeout=WAIT, cwd=str(tmp_path),
        env=dict(os.environ, PYTHONPATH=str(tmp_path / "py" / "site")))
    assert run.returncode != 0, "imported on a library of another version"
    assert "ImportError" in run.stderr
    assert ("zesp.h 0.0.1 but loads libzesp %s" % zesp.__version__) in run.stderr
