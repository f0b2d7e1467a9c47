#!/bin/sh
# A key server whose wall clock cannot be read (clock_gettime fails:
# tests/wall_shift.so, "fail N") keeps the group SPIs members may hold,
# rather than forget them (doc/zike.md 9.7).  Its state file's times are
# wall-clock ms; before, the failed call's return was ignored and the
# timespec read as it was left (here N s): under N = 0 the SPI it served
# was written as held until an hour after 1970, which the next start
# forgets at once; under a far N every SPI in the file was read as long
# past and forgotten.  Now an SPI is written as held until the far future
# (18446744073709551615), and every SPI read is held for the longest
# lifetime, with a warning.
b=$(cd "${builddir:-.}" && pwd)
zike="$b/ike/zike" zesp="$b/tools/zesp" ctl="$b/tools/zikectl"
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
shim="$b/tests/wall_shift.so"
[ -f "$shim" ] || skip_all "tests/wall_shift.so not built"
work_begin gcksclock 1

(cd "$work" && "$zesp" keygen --identity h1 > /dev/null && "$zesp" keygen --identity h2 > /dev/null) ||
    { ok 1 "identities made"; finish; }
zike_conf h1 "$(port 0)" \
    "identity: { id: h1.example, key: $work/h1.key }" \
    "peers:" \
    "  - { name: h2, id: h2.example, auth: ed25519, pubkey: \"$(cat "$work/h2.pub")\" }" \
    "groups:" \
    "  - { name: prices, lifetime: 1h, senders: [h2.example], receivers: [h2.example] }"
sed -i '1d' "$work/h1.yaml"      # zike_conf's identity line: ours instead
state="$work/h1.sad.gcks"
"$zike" --check -c "$work/h1.yaml" > /dev/null 2> "$work/check.log"
ok $? "the key server's configuration checks"

# start LOG N: zike with its wall clock failing, the timespec left at N s
start() {
    echo "fail $2" > "$work/shift"
    WALL_SHIFT_FILE="$work/shift" LD_PRELOAD="$shim" \
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
        "$zike" -c "$work/h1.yaml" 2>> "$work/$1" &
    z=$!
    pids="$pids $z"
}
stop() { kill "$z" && wait "$z"; }
made() { sed -n 's/.*notice: group prices: new group SA 0x\([0-9a-f]*\).*/\1/p' "$work/$1" | head -n 1; }
now_ms=$(( $(date +%s) * 1000 ))

start h1.log 0
until_ok 30 eval '[ -n "$(made h1.log)" ] && grep -q "^$(made h1.log) " "$state"'
spi=$(made h1.log)
until=$(sed -n "s/^$spi //p" "$state")
[ -n "$until" ] && [ "$until" = 18446744073709551615 ]
ok $? "no wall clock: SPI $spi written as held until the far future ($until), not a time long past"
stop

# A file of an SPI held a day more, read with no wall clock (the
# timespec left far ahead, in 2286): held, and said why.
day=$(( now_ms + 86400 * 1000 ))
printf 'zike-gcks-spis 1\n0abcdef0 %s\n' "$day" > "$state"
start h1b.log 9999999999
until_ok 30 eval '[ -n "$(made h1b.log)" ]'
grep -q "key server state $state: the wall clock cannot be read: every SPI in it held for the longest lifetime" "$work/h1b.log" &&
    grep -q "key server state $state: 1 group SPI members may hold" "$work/h1b.log"
ok $? "no wall clock at start: the SPI in the file is held, with a warning"
until_ok 30 grep -q "^0abcdef0 18446744073709551615\$" "$state"
ok $? "and written back as held, with the SPI served ($(made h1b.log))"
stop

if [ "$failed" -ne 0 ]; then
    for f in check.log h1.log h1b.log; do echo "== $f"; tail -n 20 "$work/$f"; done
    echo "== state"; cat "$state"
fi
finish
