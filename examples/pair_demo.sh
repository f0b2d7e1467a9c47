#!/bin/sh
# The two-process demo (one hop, a manual key): a receiver and a sender over tcp://127.0.0.1 with
# a fresh key, protected messages, then a replayed, a forged and a
# re-labelled message, each refused.  Run from the build directory, or set
# ZESP_BUILD to it.  Exits 0 when every attack was caught.
set -eu
build=${ZESP_BUILD:-.}
work=$(mktemp -d "${TMPDIR:-/tmp}/zesp-demo.XXXXXX")
trap 'kill $receiver 2>/dev/null || true; rm -rf "$work"' EXIT INT TERM

# Key material for this run only, readable by its owner only.
umask 077
od -An -tx1 -N36 /dev/urandom | tr -d ' \n' > "$work/sa.key"

"$build/examples/demo_receiver" "$work/sa.key" "$work/endpoint" &
receiver=$!
# The receiver writes its endpoint once it is bound: wait for that (10 s,
# times ZESP_TEST_TIMEOUT_SCALE when a test runs this).
end=$(($(date +%s) + 10 * ${ZESP_TEST_TIMEOUT_SCALE:-1}))
while [ ! -s "$work/endpoint" ]; do
    [ "$(date +%s)" -lt $end ] || { echo "demo: the receiver did not start" >&2; exit 1; }
    sleep 0.1
done
"$build/examples/demo_sender" "$work/sa.key" "$(cat "$work/endpoint")"
if wait $receiver; then
    echo "demo: OK: protected messages delivered; replay, forgery and altered clear frame refused"
else
    echo "demo: FAILED" >&2
    exit 1
fi
