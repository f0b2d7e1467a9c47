#!/bin/sh
# zesp for Python (python/): builds the wheel against this build tree,
# installs it in a private folder (and once as a user would, with pip
# against a libzesp installed in a prefix and found by pkg-config), and
# runs its pytest suite there (python/tests: pairwise and group SAs,
# PUB/SUB through a proxy, each refusal's exception, asyncio, C peers from
# examples/, and the Python client and worker of examples/python through
# the C broker).  Each pytest case is one ok/FAIL line.  Skipped only where
# Debian's python3-zmq, python3-cffi, python3-pytest, python3-dev (or pip,
# setuptools, wheel) are missing, or libzesp has no shared library (a
# --disable-shared build).
b=$(cd "${builddir:-.}" && pwd)
s=$(cd "${srcdir:-.}" && pwd)
. "$s/tests/lib.sh"
py=${PYTHON3:-}
[ -n "$py" ] || py=$(command -v /usr/bin/python3 || command -v python3) ||
    skip_all "no python3"
{ "$py" -c 'import zmq, cffi, pytest, setuptools, wheel' && "$py" -m pip --version; } > /dev/null 2>&1 ||
    skip_all "$py lacks zmq, cffi, pytest, pip, setuptools or wheel (Debian: python3-zmq python3-cffi python3-pytest python3-pip python3-setuptools python3-wheel)"
"$py" -c 'import os, sysconfig; os.stat(os.path.join(sysconfig.get_paths()["include"], "Python.h"))' 2> /dev/null ||
    skip_all "$py has no Python.h to build against (Debian: python3-dev)"
[ -e "$b/esp/.libs/libzesp.so" ] || skip_all "libzesp was built without a shared library"

work=$(mktemp -d "${TMPDIR:-/tmp}/zesp-python.XXXXXX") || exit 1
chmod 700 "$work"
trap 'pkill -TERM -f "$work/" 2> /dev/null; rm -rf "$work"' EXIT
mkdir -m 700 "$work/state"

PYTHON3=$py sh "$s/python/build_tree.sh" "$s" "$b" "$work/py" > "$work/build.log" 2>&1
rc=$?
[ $rc -eq 0 ] || sed 's/^/# /' "$work/build.log"
ok $rc "the wheel builds against this libzesp and pip installs it"
[ $rc -eq 0 ] || finish
version=$(sed -n 's/^#define ZESP_VERSION_STRING "\(.*\)"/\1/p' "$s/include/zesp.h")
ls "$work/py/dist/zesp-$version-"*.whl > /dev/null 2>&1
ok $? "the wheel is named with the library's version ($version)"

# As a user installs it: pip against a libzesp installed in a prefix,
# found by pkg-config, the module finding the library there by itself.
pre=$work/prefix
mkdir -p "$pre/include" "$pre/lib/pkgconfig" &&
    cp "$s/include/zesp.h" "$pre/include/" &&
    cp -P "$b/esp/.libs/"libzesp.so* "$pre/lib/" &&
    sed -e "s|^prefix=.*|prefix=$pre|" -e 's|^exec_prefix=.*|exec_prefix=${prefix}|' \
        -e 's|^libdir=.*|libdir=${prefix}/lib|' -e 's|^includedir=.*|includedir=${prefix}/include|' \
        "$b/libzesp.pc" > "$pre/lib/pkgconfig/libzesp.pc" &&
    cp -R "$s/python" "$work/pip-src" && chmod -R u+w "$work/pip-src" &&
    rm -rf "$work/pip-src/build" "$work/pip-src/"*.egg-info "$work/pip-src/zesp/_native".* &&
    env -u ZESP_INCLUDE_DIR -u ZESP_LIBRARY_DIR PKG_CONFIG_PATH="$pre/lib/pkgconfig" \
        "$py" -m pip --disable-pip-version-check --no-cache-dir install -q \
        --no-index --no-build-isolation --no-deps --root-user-action=ignore \
        --target "$work/pip-site" "$work/pip-src" > "$work/pip.log" 2>&1 &&
    (cd "$work" && env -u LD_LIBRARY_PATH PYTHONPATH="$work/pip-site" "$py" -c '
import sys, zesp
maps = open("/proc/self/maps").read()
sys.exit(0 if sys.argv[1] + "/lib/libzesp.so" in maps and zesp.__version__ == sys.argv[2] else 1)
' "$pre" "$version")
rc=$?
[ $rc -eq 0 ] || sed 's/^/# /' "$work/pip.log"
ok $rc "pip install ./python against an installed libzesp (pkg-config), which it then loads by itself"

# Debian's libzmq5 under pyzmq and libzesp both, the suite checks
# (test_libzmq.py); the built library, not an installed one.  Each wait in
# the suite is bounded; a hang is cut at 15 minutes (stacks after 5).
cd "$work" &&
    env PYTHONPATH="$work/py/site" PYTHONDONTWRITEBYTECODE=1 \
        LD_LIBRARY_PATH="$b/esp/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        ZESP_STATE_DIR="$work/state" ZESP_BUILDDIR="$b" ZESP_SRCDIR="$s" \
        ZESP_TEST_WORK="$work" ZESP_SAD="$work/no-default.sad" \
        timeout 900 "$py" -m pytest -p no:cacheprovider -o faulthandler_timeout=300 \
        -v -rfE "$s/python/tests" \
        > "$work/pytest.log" 2>&1
rc=$?
sed -n 's/^.*tests\/\(test_[a-z_]*\.py::[^ ]*\) PASSED.*/ok   \1/p;
        s/^.*tests\/\(test_[a-z_]*\.py::[^ ]*\) \(FAILED\|ERROR\).*/FAIL \1/p;
        s/^.*tests\/\(test_[a-z_]*\.py::[^ ]*\) SKIPPED.*/skip \1/p' "$work/pytest.log"
summary=$(tail -n 1 "$work/pytest.log")
count() { echo "$summary" | sed -n "s/.* \([0-9][0-9]*\) $1.*/\1/p"; }
p=$(count passed) f=$(count failed) e=$(count error) k=$(count skipped)
passed=$((passed + ${p:-0})) failed=$((failed + ${f:-0} + ${e:-0}))
skipped=$((skipped + ${k:-0}))
if [ $rc -ne 0 ]; then
    grep -v ' PASSED' "$work/pytest.log" | tail -n 80 | sed 's/^/# /'
    # pytest failed without a failed case (exit 5: none collected, ...)
    [ "${f:-0}" -eq 0 ] && [ "${e:-0}" -eq 0 ] && ok 1 "pytest ran (exit $rc)"
fi
finish
