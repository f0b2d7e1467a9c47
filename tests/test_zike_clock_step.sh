#!/bin/sh
# zikectl list says when a child SA rekeys and expires by the clock its
# SAs age on (the monotonic one, esp/lifetime.c), not by the wall clock.
# alice's wall clock is stepped 2 h ahead (tests/wall_shift.so, her
# process only), as an NTP step or `date -s` would: her SAs, good for an
# hour, neither rekey nor expire, and zikectl must say so.  Before, it
# took an SA's age from the wall clock (now - created): "rekey due,
# expires in 0 s", 2 h used of 1 h, for SAs the SAD still serves.
b=$(cd "${builddir:-.}" && pwd)
zike="$b/ike/zike" zesp="$b/tools/zesp" ctl="$b/tools/zikectl"
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
shim="$b/tests/wall_shift.so"
[ -f "$shim" ] || skip_all "tests/wall_shift.so not built"
py=${PYTHON3:-python3}
command -v "$py" > /dev/null || skip_all "no python3"
work_begin clockstep 2
PSK=correct-horse-battery-staple

zike_conf alice "$(port 0)" "peers:" \
    "  - { name: bob, id: bob.example, endpoint: \"tcp://127.0.0.1:$(port 1)\", auth: psk, psk: $PSK, start: true, policies: [orders], lifetime: { seconds: 1h } }"
zike_conf bob "$(port 1)" "peers:" \
    "  - { name: alice, id: alice.example, auth: psk, psk: $PSK, policies: [orders], lifetime: { seconds: 1h } }"
echo 0 > "$work/shift"
# Under AddressSanitizer the shim comes before its runtime: allowed.
WALL_SHIFT_FILE="$work/shift" LD_PRELOAD="$shim" \
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
    "$zike" -c "$work/alice.yaml" 2>> "$work/alice.log" &
pids="$pids $!"
zike_start bob
until_ok 30 zike_active_child alice orders
ok $? "alice and bob hold a child SA for orders"
installed=$(zike_stat alice child_installed)

echo 7200 > "$work/shift"
"$ctl" -s "ipc://$work/alice.ctl" --json list > "$work/list.json" &&
    "$ctl" -s "ipc://$work/alice.ctl" list > "$work/list.out"
ok $? "zikectl list, after alice's wall clock stepped 2 h ahead"

"$py" - "$work/list.json" << 'PY'
import json, sys, time
child = json.load(open(sys.argv[1]))["ike_sas"][0]["children"][0]
# The step reached alice: what she reports as wall time is 2 h ahead.
assert 7000 < child["installed"] - time.time() < 7400, child
PY
ok $? "the step reached alice's wall clock only (her report of the install time is 2 h ahead)"

# The SAD, on the monotonic clock, still serves the SA.
"$zesp" --sad "$work/alice.sad" sa list > "$work/sa.out" 2>&1 &&
    ! grep -Eq ' (expired|rekey)( |$)' "$work/sa.out"
ok $? "alice's SAD: her SAs neither expired nor due for rekey"

"$py" - "$work/list.json" << 'PY'
import json, sys
child = json.load(open(sys.argv[1]))["ike_sas"][0]["children"][0]
assert child["expires_in"] > 3000, child
assert 2000 < child.get("rekey_in", 0) < child["expires_in"], child
PY
ok $? "zikectl --json list: a child's rekey_in and expires_in as the SAD counts them, not 0"
grep -Eq '^    installed [0-9smhd ]+ ago, rekeying in [0-9]+m[0-9s ]*, expires in (1h|[0-9]+m)' "$work/list.out" &&
    grep -Eq '^    lifetime used: [0-9]+s of 1h' "$work/list.out"
ok $? "zikectl list: rekeying in, expires in minutes, seconds used of 1h ($(grep -E 'installed|lifetime used' "$work/list.out" | tr -s ' ' | tr '\n' ';'))"
[ "$(zike_stat alice child_installed)" = "$installed" ]
ok $? "alice rekeyed nothing on the step (child SAs installed: $installed)"
finish
