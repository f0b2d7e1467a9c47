# Shared by the shell tests: counting results and waiting for a condition.
# Source it after setting nothing; it sets passed=0 failed=0 skipped=0.
passed=0 failed=0 skipped=0

# ok STATUS NAME: count one check.
ok() {
    if [ "$1" -eq 0 ]; then
        echo "ok   $2"; passed=$((passed + 1))
    else
        echo "FAIL $2"; failed=$((failed + 1))
    fi
}

# until_ok SECONDS CMD...: run CMD every 0.1 s until it succeeds.
until_ok() {
    t=$(($1 * 10)); shift
    while [ $t -gt 0 ]; do
        "$@" > /dev/null 2>&1 && return 0
        sleep 0.1; t=$((t - 1))
    done
    return 1
}

# skip_all WHY: the whole script cannot run here.
skip_all() {
    echo "skip: $1"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
}

# The closing line tests/run adds up.
finish() {
    if [ "$skipped" -ne 0 ]; then
        echo "$passed passed, $failed failed, $skipped skipped"
    else
        echo "$passed passed, $failed failed"
    fi
    [ "$failed" -eq 0 ]
}
