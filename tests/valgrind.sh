#!/bin/sh
# CI's memcheck run: a subset of the test programs under valgrind, each
# required to end with no error and no definite leak.  The subset covers
# the ESP data path and both AEAD backends, the SAD, the YAML loader, the
# IKE codec, crypto, proposals and exchange handlers, zike's ZMTP parser,
# the fuzz corpora,
# and the multi-process tests: real
# sockets and a broker, the shared SAD, fault injection and the hostile
# wire.  Their forked children run under valgrind too (a fork is not an
# exec) and are checked when they exit: each releases what it holds, and
# its parent's check of its exit status fails on valgrind's error code.
# Children killed with SIGKILL on purpose are not checked.
# ZESP_TEST_JOBS=N runs N items at once.  ZESP_TEST_UNDER_VALGRIND=1
# makes test_adversarial send 100,000 frames instead of 1,000,000 and skip
# its resident-memory check only.  Every
# bound a test waits for an event is ten times what it is outside valgrind
# (ZESP_TEST_TIMEOUT_SCALE, tests/test.h), unless the caller set the scale.  The
# interoperability and timing scripts stay out (they run other programs,
# and valgrind's slowness would change what they measure).
#   tests/valgrind.sh            from the build folder
b=${builddir:-.} s=${srcdir:-.}
ZESP_TEST_UNDER_VALGRIND=1 ZESP_TEST_TIMEOUT_SCALE=${ZESP_TEST_TIMEOUT_SCALE:-10}
export ZESP_TEST_UNDER_VALGRIND ZESP_TEST_TIMEOUT_SCALE
command -v valgrind > /dev/null || { echo "valgrind not installed"; echo "0 passed, 1 failed"; exit 1; }
jobs=${ZESP_TEST_JOBS:-1}
case "$jobs" in ''|*[!0-9]*|0) jobs=1 ;; esac
state=$(mktemp -d "${TMPDIR:-/tmp}/zesp-valgrind.XXXXXX") || exit 1
trap 'rm -rf "$state"' EXIT
# run NAME PROGRAM ARGS...: one item under memcheck; its report printed
# in one piece and its result left in $state.
run() {
    name=$1
    shift
    if valgrind -q --error-exitcode=99 --leak-check=full \
            --errors-for-leak-kinds=definite --track-origins=no \
            "$@" > "$b/tests/valgrind-$name.log" 2>&1; then
        echo "ok   $name" > "$state/report.$name"
        : > "$state/passed.$name"
    else
        { echo "FAIL $name (see tests/valgrind-$name.log)"
          tail -n 30 "$b/tests/valgrind-$name.log"; } > "$state/report.$name"
    fi
    cat "$state/report.$name"
}
items() {
    for t in test_replay test_packet test_message test_sad test_config \
             test_ike_message test_ike_crypto test_ike_exchange \
             test_socket test_multipart test_shared_sad test_faults test_adversarial test_group \
             test_seqstate test_backends test_ike_proposal test_zmtp; do
        echo "$t $b/tests/$t"
    done
    for c in esp_open esp_payload config ike_message ike_exchange sad_attach \
             zike_config verify_file seqstate control safe_text zmtp; do
        echo "corpus-$c $b/fuzz/replay_$c $s/fuzz/corpus/$c"
    done
}
# ZESP_TEST_JOBS workers, each taking the next item no other has claimed.
w=0
while [ "$w" -lt "$jobs" ]; do
    items | while read -r name prog arg; do
        mkdir "$state/claim.$name" 2> /dev/null || continue
        # shellcheck disable=SC2086
        run "$name" "$prog" $arg < /dev/null
    done &
    w=$((w + 1))
done
wait
total=$(items | wc -l)
passed=$(find "$state" -name 'passed.*' | wc -l)
failed=$((total - passed))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
