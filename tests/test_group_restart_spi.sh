#!/bin/sh
# A key server killed with -9 and started again must not hand out a new
# key under a group SPI members still hold (doc/zike.md 9.7): a member
# refuses another key under an SPI it holds, and would go without the
# group's key until its old SA expired.  h1 serves "prices" to h2 (a
# sender) and h3 (a receiver); once both hold its SA, h1 is killed with
# -9 and started again with its SPIs chosen for it (tests/spi_force.so):
# the first four it draws are the SPI the members hold.  Before, the
# restarted key server had forgotten it and made its new SA under it;
# now it reads the SPIs it handed out from its state file (<sad>.gcks)
# and draws again.  Then the file's own checks: mode 0600, what it holds,
# and a damaged or foreign-writable file refused at start, by name.
b=$(cd "${builddir:-.}" && pwd)
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
shim="$b/tests/spi_force.so"
[ -f "$shim" ] || skip_all "tests/spi_force.so not built"
command -v flock > /dev/null || skip_all "no flock(1)"
hosts_begin grestartspi 3
zesp="$b/tools/zesp" zikectl="$b/tools/zikectl"
. "$(cd "${srcdir:-.}" && pwd)/tests/group_hosts.sh"

group_of_three "lifetime: 1h" "activation-delay: 1s" "deactivation-delay: 2s"
ok $? "the three configurations check"
until_ok 30 holding 2 && old=$(serving_hex)
ok $? "both members registered and hold SA 0x$old"
state="$work/h1.sad.gcks"
[ "$(stat -c %a "$state" 2> /dev/null)" = 600 ] &&
    grep -q "^$old [1-9][0-9]*\$" "$state"
ok $? "the key server's state file is mode 0600 and holds SPI $old"

gcks=$(pid_of 1)
kill -9 $gcks
# Gone, and its lock released: pgrep stops seeing it as soon as its
# memory goes, before its files are closed.
gone() { not_running "zike -c $work/h1.yaml" && flock -n "$work/h1.ctl.lock" true; }
until_ok 20 gone
ok $? "the key server (pid $gcks) killed with -9"
echo "$old" > "$work/force"
on 1 env SPI_FORCE_FILE="$work/force" LD_PRELOAD="$shim" \
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
    "$b/ike/zike" -c "$work/h1.yaml" 2>> "$work/h1.log" &
made() {  # the SAs the restarted key server says it made
    p=$(pid_of 1) && sed -n "s/.*zike\[$p\] notice: group prices: new group SA 0x\([0-9a-f]*\).*/\1/p" "$work/h1.log"
}
until_ok 30 eval '[ -n "$(made)" ]'
first=$(made | head -n 1)
[ -n "$first" ] && [ "$first" != "$old" ]
ok $? "the restarted key server, drawing $old first, made its SA under another SPI (0x$first)"
until_ok 60 holding 2 && new=$(serving_hex) && [ "$new" != "$old" ]
ok $? "both members registered again and hold the new SA 0x$new"
! grep -qi "refus.*0x$old\|0x$old.*refus" "$work/h2.log" "$work/h3.log"
ok $? "no member refused a key under SPI $old"
grep -q "^$old " "$state" && grep -q "^$new " "$state"
ok $? "the state file holds the old SPI, still held, and the new one"

# Its default state file is locked too: a zike on a SAD of its own naming
# h1's SAD.gcks as its group-state: is refused.  Before, only a file of
# another name was locked (FILE.lock), h1's covered by its SAD's lock: the
# second zike started and wrote its SPIs over h1's.  And a zike whose SAD
# is a hard link to h1's (another name, so another SAD.zike.lock) is
# refused by the lock on the file itself; before, it took h1's SAs.
p=$(pid_of 1)
sed -e "s|^control: .*|control: ipc://$work/h1d.ctl|" -e '/^listen: /d' \
    -e "s|^sad: .*|sad: $work/h1d.sad|" "$work/h1.yaml" > "$work/h1d.yaml" &&
    echo "group-state: $state" >> "$work/h1d.yaml"
timeout "$((10 * ${ZESP_TEST_TIMEOUT_SCALE:-1}))" "$b/ike/zike" -c "$work/h1d.yaml" > /dev/null 2> "$work/h1d.log"
rc=$?
[ $rc -eq 1 ] && grep -q "another zike (pid $p) runs with key server state $state: it holds $state.lock; stop it first, or give this one its own group-state:" "$work/h1d.log" &&
    [ ! -e "$work/h1d.sad" ]
ok $? "a zike on another SAD naming h1's default state file is refused (exit $rc)"
ln "$work/h1.sad" "$work/h1e.sad" &&
    sed -e "s|^control: .*|control: ipc://$work/h1e.ctl|" -e '/^listen: /d' \
        -e "s|^sad: .*|sad: $work/h1e.sad|" "$work/h1.yaml" > "$work/h1e.yaml"
timeout "$((10 * ${ZESP_TEST_TIMEOUT_SCALE:-1}))" "$b/ike/zike" -c "$work/h1e.yaml" > /dev/null 2> "$work/h1e.log"
rc=$?
[ $rc -eq 1 ] && grep -q "another zike runs with SAD $work/h1e.sad under another name (a hard link to it); stop it first, or give this one its own sad:" "$work/h1e.log" &&
    [ "$(pid_of 1)" = "$p" ] && grep -q "^$new " "$state"
ok $? "a zike on a hard link to h1's SAD is refused (exit $rc); h1 runs on"
rm -f "$work/h1e.sad" "$work/h1e.sad.gcks"

# A damaged file, or one others may write, is refused at start by name:
# a key server that cannot tell what members hold does not guess.
p=$(pid_of 1) && kill $p
until_ok 20 gone
cp "$state" "$work/good.gcks"
printf 'zike-gcks-spis 1\n%s 12x\n' "$old" > "$state"
timeout "$((10 * ${ZESP_TEST_TIMEOUT_SCALE:-1}))" "$b/ike/zike" -c "$work/h1.yaml" > /dev/null 2> "$work/bad.log"
rc=$?
[ $rc -ne 0 ] && grep -q "key server state $state: line 2: a time is decimal digits" "$work/bad.log"
ok $? "a damaged state file: zike does not start (exit $rc), and says which line"
cp "$work/good.gcks" "$state" && chmod 0620 "$state"
timeout "$((10 * ${ZESP_TEST_TIMEOUT_SCALE:-1}))" "$b/ike/zike" -c "$work/h1.yaml" > /dev/null 2> "$work/bad2.log"
rc=$?
[ $rc -ne 0 ] && grep -q "key server state $state: must be ours and mode 0600" "$work/bad2.log"
ok $? "a state file others may write: zike does not start (exit $rc)"

# group-state: names the file elsewhere (a folder that outlives a reboot).
mkdir -m 0700 "$work/var" && cp "$work/good.gcks" "$work/var/h1.gcks" &&
    chmod 0600 "$work/var/h1.gcks" && rm "$state" &&
    echo "group-state: $work/var/h1.gcks" >> "$work/h1.yaml"
on 1 "$b/ike/zike" -c "$work/h1.yaml" 2>> "$work/h1.log" &
state_read() { grep -q "key server state $work/var/h1.gcks: [1-9][0-9]* group SPIs\{0,1\} members may hold" "$work/h1.log"; }
until_ok 30 state_read && until_ok 60 holding 2 && new2=$(serving_hex) &&
    [ "$new2" != "$old" ] && [ "$new2" != "$new" ] &&
    grep -q "^$new2 " "$work/var/h1.gcks" && [ ! -e "$state" ]
ok $? "with group-state: the file there is read at start and written (SA 0x$new2), none beside the SAD"

# One zike per SAD, and per state file.  A second zike with a control
# socket of its own found h1's SAD free to use: it took h1's SAs for ones
# a dead zike left, and wrote its own list of SPIs over h1's (the default
# SAD.gcks, or here the same group-state:), so that a restart of h1 forgot
# them; two writers also unlinked each other's temporary file.  Both are
# refused at start now, naming the file and the setting to change, and
# h1 and its file are left as they were.
cp "$work/var/h1.gcks" "$work/var/before.gcks"
sed -e "s|^control: .*|control: ipc://$work/h1b.ctl|" -e '/^listen: /d' \
    "$work/h1.yaml" > "$work/h1b.yaml"
sed -e "s|^sad: .*|sad: $work/h1c.sad|" "$work/h1b.yaml" > "$work/h1c.yaml"
sed -i "s|^control: .*|control: ipc://$work/h1c.ctl|" "$work/h1c.yaml"
p=$(pid_of 1)
timeout "$((10 * ${ZESP_TEST_TIMEOUT_SCALE:-1}))" "$b/ike/zike" -c "$work/h1b.yaml" > /dev/null 2> "$work/h1b.log"
rc=$?
[ $rc -eq 1 ] && grep -q "another zike (pid $p) runs with SAD $work/h1.sad: it holds $work/h1.sad.zike.lock; stop it first, or give this one its own sad:" "$work/h1b.log"
ok $? "a second zike on h1's SAD, with a control socket of its own, is refused (exit $rc), naming pid $p and the SAD"
timeout "$((10 * ${ZESP_TEST_TIMEOUT_SCALE:-1}))" "$b/ike/zike" -c "$work/h1c.yaml" > /dev/null 2> "$work/h1c.log"
rc=$?
[ $rc -eq 1 ] && grep -q "another zike (pid $p) runs with key server state $work/var/h1.gcks: it holds $work/var/h1.gcks.lock; stop it first, or give this one its own group-state:" "$work/h1c.log" &&
    [ ! -e "$work/h1c.sad" ]
ok $? "a zike on another SAD naming h1's group-state: is refused (exit $rc) before it opens its SAD"
cmp -s "$work/var/h1.gcks" "$work/var/before.gcks" && [ "$(pid_of 1)" = "$p" ] &&
    [ ! -e "$work/h1.sad.gcks" ] && [ -e "$work/h1.sad.zike.lock" ] &&
    ctl 1 groups 2> /dev/null | grep -q "serves prices: SA 0x$new2,"
ok $? "h1 runs on, still serving 0x$new2, its state file as it was, its locks held"

# A time in the far future (written under a wall clock set forward, or
# read under one set back) is held no longer than the longest lifetime
# (30 days) from now: held for years, such SPIs never left the file and,
# a restart after another adding the SPIs then served, filled its 1024.
p=$(pid_of 1) && kill $p
until_ok 20 gone
printf 'zike-gcks-spis 1\n0abcdef0 99999999999999999\n' > "$work/var/h1.gcks"
on 1 "$b/ike/zike" -c "$work/h1.yaml" 2>> "$work/h1far.log" &
written() { grep -q "notice: group prices: new group SA" "$work/h1far.log" &&
    grep -q "^0abcdef0 " "$work/var/h1.gcks" && [ "$(wc -l < "$work/var/h1.gcks")" -ge 3 ]; }
until_ok 30 written
far=$(sed -n 's/^0abcdef0 //p' "$work/var/h1.gcks")
limit=$(( $(date +%s) * 1000 + 30 * 86400 * 1000 + 1000 ))
[ -n "$far" ] && [ "$far" -le "$limit" ]
ok $? "an SPI held until the far future is kept until at most 30 days from now ($far <= $limit)"

# A file full (1024 SPIs, all held) and a new SA to add: one is left out,
# and zike says so (before, silently).
p=$(pid_of 1) && kill $p
until_ok 20 gone
until=$(( $(date +%s) * 1000 + 86400 * 1000 ))
{ echo 'zike-gcks-spis 1'
  awk -v u="$until" 'BEGIN { for (i = 0; i < 1024; i++) printf "%08x %s\n", 65536 + i, u }'
} > "$work/var/h1.gcks"
on 1 "$b/ike/zike" -c "$work/h1.yaml" 2>> "$work/h1full.log" &
full() { grep -q "key server state $work/var/h1.gcks: 1 group SPI members may hold left out (at most 1024)" "$work/h1full.log"; }
until_ok 30 full
ok $? "a full state file: the SPI left out of it is logged"
until_ok 30 eval '[ -n "$(serving_hex)" ]' && [ "$(wc -l < "$work/var/h1.gcks")" -eq 1025 ] &&
    grep -q "^$(serving_hex) " "$work/var/h1.gcks"
ok $? "the file keeps 1024 SPIs, the one served among them"

if [ "$failed" -ne 0 ]; then
    for f in h1.log h1b.log h1c.log h1d.log h1e.log h1far.log h1full.log h2.log h3.log check.log bad.log bad2.log; do
        echo "== $f"; tail -n 25 "$work/$f" 2> /dev/null
    done
    echo "== state"; cat "$state"
fi
for n in 1 2 3; do p=$(pid_of $n) && kill $p; done
finish
