#!/bin/sh
# Builds zesp for Python against a libzesp build tree (not installed), as a
# wheel, and installs that wheel in a folder: for the test suite, the
# benchmark and `make python-wheel`.
#   sh python/build_tree.sh SRCDIR BUILDDIR DEST
# leaves DEST/dist/zesp-VERSION-*.whl and DEST/site (the package); then
#   PYTHONPATH=DEST/site LD_LIBRARY_PATH=BUILDDIR/esp/.libs python3 ...
# $PYTHON3 (default python3) builds it; pip uses no index and no network.
set -eu
src=$(cd "$1" && pwd) build=$(cd "$2" && pwd) dest=$3
python=${PYTHON3:-python3}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
rm -rf "$dest/src" "$dest/dist" "$dest/site"
# pip builds in the source folder: a copy, so the source tree stays as it
# is (read-only under make distcheck).
cp -R "$src/python" "$dest/src"
chmod -R u+w "$dest/src"
rm -rf "$dest/src/build" "$dest/src/dist" "$dest/src/"*.egg-info "$dest/src/zesp/_native".*
pip="$python -m pip --disable-pip-version-check --no-cache-dir --no-input"
ZESP_INCLUDE_DIR=$src/include ZESP_LIBRARY_DIR=$build/esp/.libs \
    $pip wheel --no-index --no-build-isolation --no-deps -q -w "$dest/dist" "$dest/src"
$pip install --no-index --no-deps -q --root-user-action=ignore \
    --target "$dest/site" "$dest"/dist/zesp-*.whl
