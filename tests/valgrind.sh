#!/bin/sh
# CI's memcheck run: a subset of the test programs under valgrind, each
# required to end with no error and no definite leak.  The subset covers
# the ESP data path, the SAD, the YAML loader, the IKE codec, crypto and
# exchange handlers, and the fuzz corpora; the multi-process and timing
# tests stay out (valgrind's slowness would change what they measure).
#   tests/valgrind.sh            from the build folder
b=${builddir:-.} s=${srcdir:-.}
command -v valgrind > /dev/null || { echo "valgrind not installed"; echo "0 passed, 1 failed"; exit 1; }
passed=0 failed=0
run() {
    name=$1
    shift
    if valgrind -q --error-exitcode=99 --leak-check=full \
            --errors-for-leak-kinds=definite --track-origins=no \
            "$@" > "$b/tests/valgrind-$name.log" 2>&1; then
        echo "ok   $name"; passed=$((passed + 1))
    else
        echo "FAIL $name (see tests/valgrind-$name.log)"
        tail -n 30 "$b/tests/valgrind-$name.log"
        failed=$((failed + 1))
    fi
}
for t in test_replay test_packet test_message test_sad test_config \
         test_ike_message test_ike_crypto test_ike_exchange; do
    run "$t" "$b/tests/$t"
done
for c in esp_open esp_payload config ike_message ike_exchange sad_attach \
         zike_config; do
    run "corpus-$c" "$b/fuzz/replay_$c" "$s/fuzz/corpus/$c"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
