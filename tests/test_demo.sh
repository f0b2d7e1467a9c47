#!/bin/sh
# The README's demo, run as a test (examples/demo.sh: the multihop demo),
# and the one-hop demo with a manual key (examples/pair_demo.sh).
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
# The demo's ports: a block no other test holds.
trap port_release EXIT
port_block || exit 1
out=$(ZESP_DEMO_PORT=$base ZESP_BUILD=${builddir:-.} sh "${srcdir:-.}/examples/demo.sh" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
if [ $rc -eq 0 ] && echo "$out" | grep -q '^demo: OK: 98 requests answered' &&
    echo "$out" | grep -q 'refused by the workers: *1 changed body (ICV), 1 changed service name (binding), 1 replay'; then
    echo "ok   multihop demo"; passed=$((passed + 1))
else
    echo "FAIL multihop demo"; failed=$((failed + 1))
fi
out=$(ZESP_BUILD=${builddir:-.} sh "${srcdir:-.}/examples/pair_demo.sh" 2>&1)
rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q '7 accepted, 1 replayed, 1 forged (ICV), 1 with altered clear frames'; then
    echo "ok   one-hop demo"; passed=$((passed + 1))
else
    echo "$out"; echo "FAIL one-hop demo"; failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
