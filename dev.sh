#!/bin/sh
# The two commands of the README:
#   ./dev.sh demo   install what is missing (as root), build, run the demo
#   ./dev.sh test   install what is missing (as root), build, run all tests
# Builds in ./build.  ZESP_CONFIGURE adds configure flags (CI: --enable-werror);
# ZESP_JOBS sets make's -j (default: the number of CPUs).
set -eu
cd "$(dirname "$0")"

# libssl-dev is optional (the faster AEAD backend); the build uses it if present.
PACKAGES="build-essential autoconf automake libtool pkg-config libsodium-dev libzmq3-dev libyaml-dev libssl-dev tshark"
# The interoperability test runs strongSwan in a network namespace; the
# Python package (python/) is built and tested with Debian's python3; zike's
# metrics endpoint (optional: libmicrohttpd) is read with prometheus_client.
TEST_PACKAGES="strongswan-charon strongswan-swanctl libcharon-extra-plugins iproute2
python3-dev python3-pip python3-setuptools python3-wheel python3-cffi python3-zmq
python3-pytest libmicrohttpd-dev python3-prometheus-client"

missing_packages() {
    for p in $PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || printf '%s ' "$p"
    done
}

install_packages() {
    missing=$(missing_packages)
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "dev.sh: missing Debian packages: $missing" >&2
        echo "dev.sh: install them with: sudo apt-get install -y $missing" >&2
        exit 1
    fi
    echo "dev.sh: installing $missing"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
}

build() {
    [ -x configure ] && [ configure -nt configure.ac ] && [ configure -nt Makefile.am ] \
        || autoreconf -fi
    mkdir -p build
    cd build
    [ -f Makefile ] && [ Makefile -nt ../Makefile.am ] \
        || ../configure ${ZESP_CONFIGURE:-}
    make -j"${ZESP_JOBS:-$(nproc)}"
}

case "${1:-}" in
demo)
    install_packages
    build
    sh ../examples/demo.sh
    ;;
test)
    PACKAGES="$PACKAGES $TEST_PACKAGES"
    install_packages
    build
    make check
    ;;
*)
    echo "usage: ./dev.sh demo | test" >&2
    exit 2
    ;;
esac
