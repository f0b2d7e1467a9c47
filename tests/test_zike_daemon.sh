#!/bin/sh
# zike as a new user meets it: a second zike with the same configuration
# is refused before it touches anything and says which process runs; a
# control: or listen: path that names a file (its SAD, say) is refused,
# the file kept, as is a lock that is another user's or a hard link; a
# control socket on tcp:// is refused unless the configuration accepts
# that it has no authentication; --capture files are never followed
# through a symbolic link nor reused; zikectl's JSON is valid for any name
# and whole past 64 KiB; retransmissions and the give-up are logged with
# their count and endpoint; an authenticated peer naming a policy it does
# not serve is refused with a notify, and that policy's SAs and traffic
# are untouched; an abstract ipc://@NAME control socket counts as
# unauthenticated; requests of more parts than a command has are refused
# and zike runs on, a part above 4 KiB closes the connection unread; a
# configuration another user owns or any user may write is refused at
# start and at reload, as is one whose join names the policy of another
# join or of a pairwise peer, and one where two peers share a pre-shared
# key, a public key or a policy (either could pose as the other); zikectl
# refuses an argument it would not act on (rekey PEER IKE, terminate PEER
# now, list PEER) and says why an initiate is refused.
b=$(cd "${builddir:-.}" && pwd)
zike="$b/ike/zike" ctl="$b/tools/zikectl" flood="$b/tests/ike_flood"
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
work_begin zd 7
PSK=correct-horse-battery-staple
command -v python3 > /dev/null && json_ok() { python3 -m json.tool > /dev/null; } ||
    json_ok() { cat > /dev/null; }

# conf NAME PORT [lines...]
conf() {
    n=$1 p=$2
    shift 2
    zike_conf "$n" "$p" "retransmit: { timeout-ms: $(ms 250), tries: 3 }" "$@"
}
ctl_up() { "$ctl" -s "ipc://$work/$1.ctl" stats > /dev/null 2>&1; }

# ---- one zike per control socket --------------------------------------------
conf alice "$(port 0)"
"$zike" -c "$work/alice.yaml" 2> "$work/alice.log" &
a=$!; pids="$pids $a"
until_ok 10 ctl_up alice
ok $? "zike runs and answers on its control socket"
# zike's answer that cannot be printed (a full disk, a closed stdout):
# said, exit 1, as zesp does.  Before, exit 0 with nothing printed.
for out in /dev/full "&-"; do
    if [ "$out" = /dev/full ]; then
        "$ctl" -s "ipc://$work/alice.ctl" stats > /dev/full 2> "$work/ctl.err"
    else
        "$ctl" -s "ipc://$work/alice.ctl" stats >&- 2> "$work/ctl.err"
    fi
    [ $? -eq 1 ] && grep -q "^zikectl: standard output: " "$work/ctl.err"
    ok $? "zikectl stats >$out: exit 1, said on stderr"
done
"$ctl" --help > /dev/full 2> "$work/ctl.err"
[ $? -eq 1 ] && grep -q "^zikectl: standard output: No space left on device" "$work/ctl.err"
ok $? "zikectl --help to a full disk: exit 1, said on stderr"
"$zike" -c "$work/alice.yaml" 2> "$work/second.log"
rc=$?
[ $rc -ne 0 ] && grep -q "another zike (pid $a) runs with control" "$work/second.log"
ok $? "a second zike with the same configuration refuses, naming pid $a (exit $rc)"
ctl_up alice && [ -S "$work/alice.ctl" ]
ok $? "the first zike's control socket is still there and answers"
kill -9 $a; wait $a 2> /dev/null
"$zike" -c "$work/alice.yaml" 2>> "$work/alice.log" &
a=$!; pids="$pids $a"
until_ok 10 ctl_up alice
ok $? "after zike was killed -9, a new one takes the stale lock"
kill $a; wait $a 2> /dev/null
[ ! -e "$work/alice.ctl" ] && [ ! -e "$work/alice.ctl.lock" ]
ok $? "zike stopping removes its control socket and its lock"

# ---- a relative sad: beside the configuration ---------------------------------
# As zesp load's sad: and every key file zike's configuration names.
# Before, it was relative to zike's working directory: zesp load and zike
# given sad: zesp.sad in one folder filled two SADs.
conf rel "$(port 19)"
sed -i "s|^sad: .*|sad: rel.sad|" "$work/rel.yaml"
mkdir "$work/elsewhere"
(cd "$work/elsewhere" && exec "$zike" -c "$work/rel.yaml") 2> "$work/rel.log" &
r=$!; pids="$pids $r"
until_ok 10 ctl_up rel
ok $? "zike with sad: rel.sad runs"
[ -f "$work/rel.sad" ] && [ ! -e "$work/elsewhere/rel.sad" ]
ok $? "sad: rel.sad is made beside its configuration, not in zike's working directory"
kill $r; wait $r 2> /dev/null

# ---- a lock that is not zike's own file ---------------------------------------
# zike truncates its lock and writes its pid in it: a hard link there (to
# any file, made by whoever may write the folder) must not cost that file.
conf hl "$(port 17)"
printf 'precious\n' > "$work/victim"
ln "$work/victim" "$work/hl.ctl.lock"
timeout $((10 * scale)) "$zike" -c "$work/hl.yaml" 2> "$work/hl.log"
rc=$?
[ $rc -eq 1 ] && grep -q "lock $work/hl.ctl.lock: not a file of zike's own" "$work/hl.log" &&
    [ "$(cat "$work/victim")" = precious ]
ok $? "a lock that is a hard link to another file is refused, the file kept (exit $rc)"
if [ "$(id -u)" -eq 0 ]; then
    rm -f "$work/hl.ctl.lock"
    : > "$work/hl.ctl.lock"
    chown 65534 "$work/hl.ctl.lock"
    timeout $((10 * scale)) "$zike" -c "$work/hl.yaml" 2> "$work/hl.log"
    rc=$?
    [ $rc -eq 1 ] && grep -q "hl.ctl.lock: not a file of zike's own (owner uid 65534" "$work/hl.log"
    ok $? "a lock another user made is refused (exit $rc)"
else
    echo "skip a lock another user made: not root, cannot chown"
fi

# ---- a control path that names a file ---------------------------------------
# libzmq removes what has the name before it binds: a control: that names
# the SAD, the configuration or any file must not cost that file.
conf plain "$(port 15)"
printf 'precious\n' > "$work/plain.ctl"
timeout $((10 * scale)) "$zike" -c "$work/plain.yaml" 2> "$work/plain.log"
rc=$?
[ $rc -eq 1 ] && grep -q "plain.ctl is there and is not a socket" "$work/plain.log" &&
    [ "$(cat "$work/plain.ctl" 2> /dev/null)" = precious ]
ok $? "zike refuses a control: path that is a file, and leaves the file (exit $rc)"
conf onsad "$(port 16)"
sed -i "s|^control: .*|control: ipc://$work/onsad.sad|" "$work/onsad.yaml"
timeout $((10 * scale)) "$zike" -c "$work/onsad.yaml" 2> "$work/onsad.log"
rc=$?
[ $rc -eq 1 ] && [ -f "$work/onsad.sad" ] && "$b/tools/zesp" --sad "$work/onsad.sad" sa list > /dev/null
ok $? "nor one that names its own SAD: the SAD stays a SAD (exit $rc)"

# ---- a listen path that names a file ----------------------------------------
# listen: ipc://PATH is bound the same way: a listen: naming the SAD (or any
# file) must not cost that file either.
conf onsadl "$(port 18)"
sed -i "s|^listen: .*|listen: ipc://$work/onsadl.sad|" "$work/onsadl.yaml"
timeout $((10 * scale)) "$zike" -c "$work/onsadl.yaml" 2> "$work/onsadl.log"
rc=$?
[ $rc -eq 1 ] && grep -q "onsadl.sad is there and is not a socket" "$work/onsadl.log" &&
    [ -f "$work/onsadl.sad" ] && "$b/tools/zesp" --sad "$work/onsadl.sad" sa list > /dev/null
ok $? "zike refuses a listen: path that is its own SAD: the SAD stays a SAD (exit $rc)"

# ---- control on tcp:// ------------------------------------------------------
conf tcp "$(port 1)" "control: tcp://127.0.0.1:$(port 2)"
sed -i "/^control: ipc/d" "$work/tcp.yaml"
"$zike" -c "$work/tcp.yaml" --check > "$work/out" 2>&1
rc=$?
[ $rc -eq 3 ] && grep -q "control: tcp://127.0.0.1:$(port 2) has no authentication" "$work/out" &&
    grep -q "control-unauthenticated: true" "$work/out"
ok $? "control: tcp:// is refused, saying why and what allows it (exit $rc)"
echo "control-unauthenticated: true" >> "$work/tcp.yaml"
"$zike" -c "$work/tcp.yaml" 2> "$work/tcp.log" &
tcpz=$!; pids="$pids $tcpz"
until_ok 10 "$ctl" -s "tcp://127.0.0.1:$(port 2)" stats
ok $? "control: tcp:// with control-unauthenticated: true is served"
grep -q "has no authentication (control-unauthenticated: true)" "$work/tcp.log"
ok $? "and zike warns about it in its log"
kill $tcpz; wait $tcpz 2> /dev/null

# ---- control in the abstract namespace ----------------------------------------
# ipc://@NAME is a Linux abstract socket: no file, no mode, any local user
# may connect to it, as to tcp://.
abs="ipc://@zesp-test-$$"
conf abs "$(port 13)" "control: $abs"
sed -i "\|^control: ipc://$work|d" "$work/abs.yaml"
"$zike" -c "$work/abs.yaml" --check > "$work/out" 2>&1
rc=$?
[ $rc -eq 3 ] && grep -q "control: $abs has no authentication" "$work/out"
ok $? "control: $abs (abstract: no file mode) is refused as unauthenticated (exit $rc)"
echo "control-unauthenticated: true" >> "$work/abs.yaml"
"$zike" -c "$work/abs.yaml" 2> "$work/abs.log" &
absz=$!; pids="$pids $absz"
until_ok 10 "$ctl" -s "$abs" stats
ok $? "with control-unauthenticated: true it is served, and zikectl reaches it"
grep -q "control $abs has no authentication" "$work/abs.log" &&
    [ -e "$work/abs.sad.zike.lock" ]
ok $? "zike warns, and takes its lock beside the SAD, not in its directory"
kill $absz; wait $absz 2> /dev/null

# ---- requests zikectl never sends ---------------------------------------------
conf parts "$(port 14)"
"$zike" -c "$work/parts.yaml" 2> "$work/parts.log" &
pz=$!; pids="$pids $pz"
until_ok 10 ctl_up parts
ok $? "zike runs (parts)"
# (initiate and three empty parts: read whole, and answered by the
# command itself, which takes at most three; stats takes one)
"$b/tests/ctl_parts" "ipc://$work/parts.ctl" initiate 4 "$(ms 10000)" > "$work/out" 2>&1 &&
    grep -q "^error: usage: initiate PEER \[POLICY\]" "$work/out"
ok $? "a request of 4 parts (the most a command has) is read whole and answered by its command"
for n in 5 7 100000; do
    "$b/tests/ctl_parts" "ipc://$work/parts.ctl" stats $n "$(ms 10000)" > "$work/out" 2>&1 &&
        grep -q "^error: request too long" "$work/out" && kill -0 $pz
    ok $? "a request of $n parts is refused as too long, and zike runs on"
done
"$b/tests/ctl_parts" "ipc://$work/parts.ctl" stats 2 "$(ms 10000)" 1000 > "$work/out" 2>&1 &&
    grep -q "^error: request too long" "$work/out"
ok $? "a request with a part of 1000 bytes is answered as too long"
# A frame above the control socket's bound (4 KiB) closes the connection
# before libzmq buffers it: zike's peak memory does not grow by its size.
hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
before=$(hwm $pz)
"$b/tests/ctl_parts" "ipc://$work/parts.ctl" stats 2 "$(ms 20000)" 67108864 > "$work/out" 2>&1
rc=$?
after=$(hwm $pz)
[ $rc -eq 5 ] && grep -q "^disconnected" "$work/out" &&
    [ -n "$before" ] && [ -n "$after" ] && [ $((after - before)) -lt 32768 ] &&
    kill -0 $pz && until_ok 10 ctl_up parts
ok $? "a request with a part of 64 MiB: connection closed unread (exit $rc, zike's peak memory +$((${after:-0} - ${before:-0})) kB), zike answers on"

long=$(head -c 5000 /dev/zero | tr '\0' a)
"$ctl" -s "ipc://$work/parts.ctl" initiate "$long" > "$work/out" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "^zikectl: an argument of 5000 bytes: zike takes fewer than 256" "$work/out"
ok $? "zikectl refuses an argument of 5000 bytes itself, saying why (exit $rc: $(head -c 120 "$work/out"))"
# A command without its argument is its usage, not an unknown command.
for cmd in leave rekey-group; do
    "$ctl" -s "ipc://$work/parts.ctl" $cmd > "$work/out" 2>&1
    rc=$?
    [ $rc -eq 1 ] && grep -q "^zikectl: usage: $cmd GROUP\$" "$work/out"
    ok $? "zikectl $cmd without a GROUP: its usage (exit $rc: $(head -c 120 "$work/out"))"
done
for cmd in "initiate:initiate PEER \[POLICY\]" "terminate:terminate PEER" "rekey:rekey PEER \[ike\]"; do
    "$ctl" -s "ipc://$work/parts.ctl" "${cmd%%:*}" > "$work/out" 2>&1
    rc=$?
    [ $rc -eq 1 ] && grep -q "^zikectl: usage: ${cmd#*:}\$" "$work/out"
    ok $? "zikectl ${cmd%%:*} without a PEER: its usage (exit $rc: $(head -c 120 "$work/out"))"
done

# ---- who may write the configuration ------------------------------------------
# Whoever may write it chooses the peers, their keys and the control socket.
chmod 0602 "$work/parts.yaml"
"$ctl" -s "ipc://$work/parts.ctl" reload > "$work/out" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q "reload refused, old configuration kept: $work/parts.yaml: any user may write it (mode 602): chmod o-w it" "$work/out" &&
    ctl_up parts
ok $? "a reload of a configuration any user may write is refused (exit $rc)"
"$zike" -c "$work/parts.yaml" --check > "$work/out" 2>&1
rc=$?
[ $rc -eq 3 ] && grep -q "any user may write it" "$work/out"
ok $? "and so is --check of it (exit $rc)"
chmod 0600 "$work/parts.yaml"
if [ "$(id -u)" -eq 0 ]; then
    chown 65534 "$work/parts.yaml"
    "$zike" -c "$work/parts.yaml" --check > "$work/out" 2>&1
    rc=$?
    [ $rc -eq 3 ] && grep -q "parts.yaml: owned by uid 65534, not by this user (uid 0) nor root: chown it" "$work/out"
    ok $? "a configuration another user owns is refused (exit $rc)"
    chown 0 "$work/parts.yaml"
else
    echo "skip a configuration another user owns: not root, cannot chown"
    skipped=$((skipped + 1))
fi
"$ctl" -s "ipc://$work/parts.ctl" reload > /dev/null 2>&1
ok $? "once it is ours and closed to others again, it reloads"
kill $pz; wait $pz 2> /dev/null

# ---- command-line conventions, --check, reload refusals ------------------------
# expect CODE NAME CMD...: CMD exits CODE; its output in $work/out, $work/err
expect() {
    want=$1 name=$2
    shift 2
    "$@" > "$work/out" 2> "$work/err"
    got=$?
    [ "$got" -eq "$want" ] || { echo "# exit $got, want $want:"; cat "$work/out" "$work/err"; }
    ok $((got != want)) "$name"
}
for tool in "$zike" "$ctl"; do
    t=${tool##*/}
    expect 0 "$t --help: exit 0" "$tool" --help
    grep -q "^usage: $t" "$work/out" && [ ! -s "$work/err" ]; ok $? "$t --help prints usage on stdout"
    expect 0 "$t --version: exit 0" "$tool" --version
    grep -q "^$t [0-9][0-9.]*$" "$work/out"; ok $? "$t --version prints the package version"
    expect 2 "$t with an unknown option: exit 2" "$tool" --frob
    grep -q "^$t: unrecognized option '--frob'" "$work/err"; ok $? "$t: getopt names the unknown option, after the program's name"
done
expect 2 "zike -c without its argument: exit 2" "$zike" -c
grep -q "^zike: option requires an argument -- 'c'" "$work/err"; ok $? "zike: getopt says -c requires an argument"
expect 2 "zikectl with no command: exit 2" "$ctl" -s "ipc://$work/none.ctl"
grep -q "^zikectl: no command" "$work/err"; ok $? "zikectl's own messages are prefixed zikectl:"
expect 4 "zikectl, nobody answering: exit 4" "$ctl" stats -s "ipc://$work/none.ctl"
grep -q "^zikectl: no zike at ipc://$work/none.ctl" "$work/err"; ok $? "zikectl: -s after the command, and no zike there said as zikectl:"

# refuses NAME WANT: zike --check refuses $work/NAME.yaml (exit 3) and its
# error matches WANT.
refuses() {
    expect 3 "--check refuses $1" "$zike" -c "$work/$1.yaml" --check
    grep -q "$2" "$work/err"; ok $? "--check says why for $1: $2"
}
conf good "$(port 11)"
expect 0 "--check of a good configuration" "$zike" -c "$work/good.yaml" --check
# Durations in ms take a unit; one that is not a unit, or a value past
# the maximum once scaled, is refused, saying so.
conf units "$(port 11)" "rekey-overlap: 2s" "half-open-timeout: 500ms" \
    "unauthenticated-timeout: 1h"
expect 0 "--check: durations with units (2s, 500ms, 1h)" "$zike" -c "$work/units.yaml" --check
conf badunit "$(port 11)" "rekey-overlap: 5sec"
refuses badunit "rekey-overlap: '5sec' is not an integer (suffixes: ms, s, m, h)"
conf bigunit "$(port 11)" "rekey-overlap: 11m"
refuses bigunit "rekey-overlap: 11m is above the maximum 600000 ms"
# The key server's state file: an absolute path in a folder that exists.
conf gstate "$(port 11)" "group-state: $work/gstate.gcks"
expect 0 "--check: group-state in a folder that exists" "$zike" -c "$work/gstate.yaml" --check
conf gstaterel "$(port 11)" "group-state: gstate.gcks"
refuses gstaterel "group-state: an absolute path, found 'gstate.gcks'"
conf gstatedir "$(port 11)" "group-state: $work/nosuch/gstate.gcks"
refuses gstatedir "group-state: directory $work/nosuch: No such file or directory"
# A state file whose lock is the SAD's (SAD.zike: SAD.zike.lock) or the
# control socket's (CONTROL: CONTROL.lock), or that is the SAD itself, is
# refused at load naming both paths.  Before, --check passed and zike
# stopped at start as if another zike held the lock.
conf gstatelock "$(port 11)" "group-state: $work/gstatelock.sad.zike"
refuses gstatelock "group-state: $work/gstatelock.sad.zike collides with the SAD $work/gstatelock.sad"
conf gstatesad "$(port 11)" "group-state: $work/gstatesad.sad"
refuses gstatesad "group-state: $work/gstatesad.sad collides with the SAD $work/gstatesad.sad"
conf gstatectl "$(port 11)" "group-state: $work/gstatectl.ctl"
refuses gstatectl "group-state: $work/gstatectl.ctl is the control socket's path or its lock's (control: ipc://$work/gstatectl.ctl"
# Or one of those locks itself (renamed over it: a second zike would lock
# the new file and run beside this one), or one whose lock is the SAD
# (sad: X.lock, group-state: X: the SAD truncated to zike's pid).  Before,
# all three passed --check.
conf gstatesadlock "$(port 11)" "group-state: $work/gstatesadlock.sad.zike.lock"
refuses gstatesadlock "group-state: $work/gstatesadlock.sad.zike.lock collides with the SAD $work/gstatesadlock.sad"
conf gstatectllock "$(port 11)" "group-state: $work/gstatectllock.ctl.lock"
refuses gstatectllock "group-state: $work/gstatectllock.ctl.lock is the control socket's path or its lock's"
conf gstatelocksad "$(port 11)" "group-state: $work/gstatelocksad"
sed -i "s|^sad: .*|sad: $work/gstatelocksad.lock|" "$work/gstatelocksad.yaml"
refuses gstatelocksad "group-state: $work/gstatelocksad collides with the SAD $work/gstatelocksad.lock"
# The same collisions spelled otherwise ("//", "/./", "dir/../", a
# symbolic link to the folder) or a hard link to the SAD: compared by the
# file each name reaches.  Before, compared as strings, each passed --check
# and zike stopped at start (or renamed its state over the file).
mkdir -p "$work/gsub"
ln -s "$work" "$work/gslink"
conf gsslash "$(port 11)" "group-state: $work//gsslash.sad"
refuses gsslash "group-state: $work//gsslash.sad collides with the SAD $work/gsslash.sad"
conf gsdot "$(port 11)" "group-state: $work/./gsdot.sad.zike"
refuses gsdot "group-state: $work/./gsdot.sad.zike collides with the SAD $work/gsdot.sad"
conf gsup "$(port 11)" "group-state: $work/gsub/../gsup.ctl"
refuses gsup "group-state: $work/gsub/../gsup.ctl is the control socket's path or its lock's"
conf gssym "$(port 11)" "group-state: $work/gslink/gssym.sad.zike.lock"
refuses gssym "group-state: $work/gslink/gssym.sad.zike.lock collides with the SAD $work/gssym.sad"
conf gshard "$(port 11)" "group-state: $work/gsub/gshard.state"
: > "$work/gshard.sad"
ln "$work/gshard.sad" "$work/gsub/gshard.state"
refuses gshard "group-state: $work/gsub/gshard.state collides with the SAD $work/gshard.sad"
rm -f "$work/gshard.sad" "$work/gsub/gshard.state"
# A name like the SAD's in another folder is its own.
conf gsother "$(port 11)" "group-state: $work/gsub/gsother.sad"
expect 0 "--check: group-state named as the SAD in another folder" "$zike" -c "$work/gsother.yaml" --check
# The error quotes the file's keys and values: escaped, as zike's log is.
# Before, "\r" and ESC [ reached the terminal as they were.
conf ctlchar "$(port 11)"
printf '"x\\rctlchar.yaml: ok\\e[K": 1\n' >> "$work/ctlchar.yaml"
refuses ctlchar "unknown key 'x.x0dctlchar.yaml: ok.x1b.K'"
! grep -q "$(printf '[\r\033]')" "$work/err"; ok $? "--check writes no control character of the file"
conf udp "$(port 11)"
sed -i "s|^listen: .*|listen: udp://127.0.0.1:$(port 11)|" "$work/udp.yaml"
refuses udp "udp.yaml:2:9: listen: 'udp://127.0.0.1:$(port 11)': zike's endpoints are tcp://HOST:PORT or ipc://PATH"
conf pgm "$(port 11)" \
    "peers: [ { name: bob, id: bob.example, endpoint: \"pgm://eth0;239.1.1.1:5555\", auth: psk, psk: $PSK } ]"
refuses pgm "peers\[0\].endpoint: 'pgm://eth0;239.1.1.1:5555': zike's endpoints are"
# What libzmq would refuse when zike connects, refused by --check and by a
# reload: before, a reload with one mistyped endpoint stopped half-way,
# after the new configuration was in place and before the IKE SAs whose
# peer's key changed were revoked.
conf port "$(port 11)" \
    "peers: [ { name: bob, id: bob.example, endpoint: \"tcp://127.0.0.1:55OO\", auth: psk, psk: $PSK } ]"
refuses port "peers\[0\].endpoint: 'tcp://127.0.0.1:55OO': its port is not a number from 1 to 65535"
conf bigport "$(port 11)" \
    "peers: [ { name: bob, id: bob.example, endpoint: \"tcp://127.0.0.1:70000\", auth: psk, psk: $PSK } ]"
refuses bigport "'tcp://127.0.0.1:70000': its port is not a number from 1 to 65535"
conf anyport "$(port 11)" \
    "peers: [ { name: bob, id: bob.example, endpoint: \"tcp://127.0.0.1:*\", auth: psk, psk: $PSK } ]"
refuses anyport "'tcp://127.0.0.1:\*': its port is not a number"
conf noport "$(port 11)" \
    "peers: [ { name: bob, id: bob.example, endpoint: \"tcp://bob.example\", auth: psk, psk: $PSK } ]"
refuses noport "'tcp://bob.example': no HOST:PORT"
conf badhost "$(port 11)" \
    "peers: [ { name: bob, id: bob.example, endpoint: \"tcp://bob!example:5500\", auth: psk, psk: $PSK } ]"
refuses badhost "'tcp://bob!example:5500': its host has a character"
# Numbers a reader takes for one thing and libzmq or getaddrinfo for
# another: a port with a leading 0 (0080 is 80 to them, octal 64 to some
# eyes), an IPv4 address with one (010.0.0.1 is 8.0.0.1 to inet_aton) or
# with fewer than four parts (10.1 is 10.0.0.1).  Before, each was taken.
conf zeroport "$(port 11)" \
    "peers: [ { name: bob, id: bob.example, endpoint: \"tcp://127.0.0.1:05500\", auth: psk, psk: $PSK } ]"
refuses zeroport "'tcp://127.0.0.1:05500': its port is not a number from 1 to 65535 (no leading 0)"
conf zerolisten "$(port 11)"
sed -i "s|^listen: .*|listen: tcp://127.0.0.1:0$(port 11)|" "$work/zerolisten.yaml"
refuses zerolisten "listen: 'tcp://127.0.0.1:0$(port 11)': its port is not a number from 1 to 65535 (no leading 0)"
conf octal "$(port 11)" \
    "peers: [ { name: bob, id: bob.example, endpoint: \"tcp://010.0.0.1:5500\", auth: psk, psk: $PSK } ]"
refuses octal "'tcp://010.0.0.1:5500': its host is not an IPv4 address written as four numbers from 0 to 255 with no leading 0"
conf short "$(port 11)" \
    "peers: [ { name: bob, id: bob.example, endpoint: \"tcp://10.1:5500\", auth: psk, psk: $PSK } ]"
refuses short "'tcp://10.1:5500': its host is not an IPv4 address"
conf octalsrc "$(port 11)" \
    "peers: [ { name: bob, id: bob.example, endpoint: \"tcp://127.0.0.01:0;127.0.0.1:5500\", auth: psk, psk: $PSK } ]"
refuses octalsrc "its host is not an IPv4 address"
conf zerometrics "$(port 11)" "metrics: http://127.0.0.1:09810"
refuses zerometrics "metrics: 'http://127.0.0.1:09810': its port is not a number from 1 to 65535 (no leading 0)"
conf octalmetrics "$(port 11)" "metrics: http://0177.0.0.1:9810"
refuses octalmetrics "metrics: 'http://0177.0.0.1:9810': its host is not an IPv4 address"
# What inet_aton reads as an address too, with no dot or not digits
# alone: one number (2130706433 is 127.0.0.1) and hexadecimal
# (0x7f000001, 0x7f.0.0.1), as a host, a source or the metrics' host.
for bad in 2130706433 0x7f000001 0x7f.0.0.1 "0x7f000001:0;127.0.0.1" \
           "127.0.0.1:0;2130706433"; do
    conf atonhost "$(port 11)" \
        "peers: [ { name: bob, id: bob.example, endpoint: \"tcp://$bad:5500\", auth: psk, psk: $PSK } ]"
    refuses atonhost "'tcp://$bad:5500': its host is not an IPv4 address"
done
conf atonmetrics "$(port 11)" "metrics: http://2130706433:9810"
refuses atonmetrics "metrics: 'http://2130706433:9810': its host is not an IPv4 address"
# Names and addresses that begin with digits, interfaces, sources, IPv6
# (its groups read as numbers alone) stay valid.
for good in 1password.example 0.pool.ntp.org 127.0.0.1 "eth0;127.0.0.1" \
            "127.0.0.1:5000;127.0.0.1" "[2001:db8::1]" "2001:db8::1" \
            "[fe80::1%2]" "[::ffff:10.0.0.1]"; do
    conf goodhost "$(port 11)" \
        "peers: [ { name: bob, id: bob.example, endpoint: \"tcp://$good:5500\", auth: psk, psk: $PSK } ]"
    expect 0 "--check takes tcp://$good:5500" "$zike" -c "$work/goodhost.yaml" --check
done
conf goodmetrics "$(port 11)" "metrics: http://[2001:db8::1]:9810"
expect 0 "--check takes metrics http://[2001:db8::1]:9810" "$zike" -c "$work/goodmetrics.yaml" --check
long=$(printf '%0120d' 0)
conf longipc "$(port 11)" \
    "peers: [ { name: bob, id: bob.example, endpoint: \"ipc:///tmp/$long\", auth: psk, psk: $PSK } ]"
refuses longipc "its path is too long"
conf nodir "$(port 11)"
sed -i "s|^sad: .*|sad: $work/nowhere/n.sad|" "$work/nodir.yaml"
refuses nodir "nodir.yaml:4:6: sad: directory $work/nowhere: No such file or directory"
conf both "$(port 11)" \
    "peers: [ { name: bob, id: bob.example, auth: ed25519, pubkey: \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\", psk: $PSK } ]"
refuses both "peers\[0\].psk: a pre-shared key with auth: ed25519: remove it, or use auth: psk"
conf scope "$(port 11)" \
    "peers: [ { name: bob, id: bob.example, auth: psk, psk: $PSK, policies: [ { name: p, replay-scope: all } ] } ]"
refuses scope "scope.yaml:6:.*peers\[0\].policies\[0\].replay-scope: expected host .* or process .*, found 'all'"
conf noconn "$(port 11)" "max-connections: 0"
refuses noconn "noconn.yaml:6:18: max-connections: must be at least 1"
conf persrc "$(port 11)" "connections-per-source: 100001"
refuses persrc "persrc.yaml:6:25: connections-per-source: 100001 is above the maximum 100000"
conf twojoins "$(port 11)" \
    "peers: [ { name: gcks, id: gcks.example, endpoint: \"tcp://127.0.0.1:$(port 11)\", auth: psk, psk: $PSK } ]" \
    "join:" "  - { group: a, server: gcks, role: receiver, policy: p }" \
    "  - { group: b, server: gcks, role: sender, policy: p }"
refuses twojoins "twojoins.yaml:9:53: join\[1\].policy: 'p' is join\[0\]'s policy too (group 'a'): one group per policy"
# A name or id given twice: the error names the entry, the key and the
# first entry (before: "name: peer 'bob' twice", at the entry's start).
conf twoname "$(port 11)" "peers:" \
    "  - { name: bob, id: bob.example, auth: psk, psk: $PSK }" \
    "  - { name: bob, id: carol.example, auth: psk, psk: carol-$PSK }"
refuses twoname "twoname.yaml:8:13: peers\[1\].name: peer 'bob' twice (also peers\[0\])"
conf twoid "$(port 11)" "peers:" \
    "  - { name: bob, id: bob.example, auth: psk, psk: $PSK }" \
    "  - { name: carol, id: bob.example, auth: psk, psk: carol-$PSK }"
refuses twoid "twoid.yaml:8:24: peers\[1\].id: id 'bob.example' twice (also peers\[0\])"
conf twogroup "$(port 11)" "peers: [ { name: m, id: m.example, auth: psk, psk: $PSK } ]" \
    "groups:" "  - { name: g, receivers: [m.example] }" "  - { name: g, receivers: [m.example] }"
refuses twogroup "twogroup.yaml:9:13: groups\[1\].name: group 'g' twice (also groups\[0\])"
conf twojoin "$(port 11)" "peers: [ { name: ks, id: ks.example, auth: psk, psk: $PSK, endpoint: \"tcp://127.0.0.1:$(port 12)\" } ]" \
    "join:" "  - { group: g, server: ks, role: receiver }" "  - { group: g, server: ks, role: sender, policy: p }"
refuses twojoin "twojoin.yaml:9:14: join\[1\].group: group 'g' joined twice (also join\[0\])"
# Peers that could pose as each other.  zike finds a peer by the identity
# it claims, then checks its key: a key two peers hold lets either claim
# the other's identity, policies and groups (RFC 7296 2.15).  A policy
# has one outbound SA and one peer in the SAD: two peers on it would each
# move the other's traffic onto their own SA.  Before, all were accepted.
conf twopsk "$(port 11)" "peers:" \
    "  - { name: bob, id: bob.example, auth: psk, psk: $PSK, policies: [orders] }" \
    "  - { name: carol, id: carol.example, auth: psk, psk: $PSK, policies: [audit] }"
refuses twopsk "twopsk.yaml:8:.*peers\[1\].psk: peer 'carol' has peer 'bob''s pre-shared key: either could authenticate as the other"
! grep -q "$PSK" "$work/err"; ok $? "the refusal does not print the shared key"
printf '%s\n' "$PSK" > "$work/carol.psk"; chmod 600 "$work/carol.psk"
conf filepsk "$(port 11)" "peers:" \
    "  - { name: bob, id: bob.example, auth: psk, psk: $PSK, policies: [orders] }" \
    "  - { name: carol, id: carol.example, auth: psk, psk: \"file:$work/carol.psk\", policies: [audit] }"
refuses filepsk "peers\[1\].psk: peer 'carol' has peer 'bob''s pre-shared key"
# A PSK file holds the key on its one line.  Before, zike took the first
# line and ignored the rest: a file that opens with a comment had that
# comment for its key, text anyone may guess, and two hosts given copies
# of the file agreed on it.
printf '# pre-shared key with bob, made 2026-11-01\n%s\n' "bob-$PSK" > "$work/bob.psk"
chmod 600 "$work/bob.psk"
conf psklines "$(port 11)" \
    "peers: [ { name: bob, id: bob.example, auth: psk, psk: \"file:$work/bob.psk\" } ]"
refuses psklines "psklines.yaml:6:.*peers\[0\].psk: $work/bob.psk: more than one line"
printf '%s\r\n\n' "bob-$PSK" > "$work/bob.psk"
expect 0 "--check of a PSK file of one line (CRLF, then a blank line)" "$zike" -c "$work/psklines.yaml" --check
(cd "$work" && "$b/tools/zesp" keygen --identity me > /dev/null && "$b/tools/zesp" keygen --identity shared > /dev/null)
conf twokey "$(port 11)" "peers:" \
    "  - { name: bob, id: bob.example, auth: ed25519, pubkey: \"$(cat "$work/shared.pub")\", policies: [orders] }" \
    "  - { name: carol, id: carol.example, auth: ed25519, pubkey: \"$(cat "$work/shared.pub")\", policies: [audit] }"
sed -i "s|^identity: { id: twokey.example }|identity: { id: twokey.example, key: $work/me.key }|" "$work/twokey.yaml"
refuses twokey "twokey.yaml:8:.*peers\[1\].pubkey: peer 'carol' has peer 'bob''s public key: either could authenticate as the other"
conf twopol "$(port 11)" "peers:" \
    "  - { name: bob, id: bob.example, auth: psk, psk: $PSK, policies: [orders] }" \
    "  - { name: carol, id: carol.example, auth: psk, psk: carol-$PSK, policies: [audit, { name: orders }] }"
refuses twopol "twopol.yaml:8:.*peers\[1\].policies\[1\]: 'orders' is peer 'bob''s policy too: a policy is one peer's"
# Keys that differ only in length, and policies of their own: accepted.
conf apart "$(port 11)" "peers:" \
    "  - { name: bob, id: bob.example, auth: psk, psk: $PSK, policies: [orders] }" \
    "  - { name: carol, id: carol.example, auth: psk, psk: ${PSK}x, policies: [audit] }"
expect 0 "--check of two peers, each with its own key and policy" "$zike" -c "$work/apart.yaml" --check
grep -qx "$work/apart.yaml: ok (2 peers, 0 groups served, 0 joined)" "$work/out"
ok $? "--check counts 2 peers and 0 groups in the plural"
# rekey-holddown: seconds (or m, h), 0 to 1 hour.
conf holddown "$(port 11)" "peers: [ { name: m, id: m.example, auth: psk, psk: $PSK } ]" \
    "groups: [ { name: g, rekey-holddown: 2m, receivers: [m.example] } ]"
expect 0 "--check of rekey-holddown: 2m" "$zike" -c "$work/holddown.yaml" --check
grep -qx "$work/holddown.yaml: ok (1 peer, 1 group served, 0 joined)" "$work/out"
ok $? "--check counts 1 peer and 1 group in the singular"
sed -i 's/rekey-holddown: 2m/rekey-holddown: 3601/' "$work/holddown.yaml"
refuses holddown "holddown.yaml:7:.*groups\[0\].rekey-holddown: 3601 is above the maximum 3600"
sed -i 's/rekey-holddown: 3601/rekey-holddown: -1/' "$work/holddown.yaml"
refuses holddown "groups\[0\].rekey-holddown: '-1' is not a non-negative integer"
# max-key-lifetime: how long a member keeps a key whose key server gave it
# no lifetime, or a longer one; 4 s to 30 days.
conf maxlife "$(port 11)" "peers: [ { name: ks, id: ks.example, auth: psk, psk: $PSK, endpoint: \"tcp://127.0.0.1:$(port 12)\" } ]" \
    "join: [ { group: g, server: ks, role: receiver, max-key-lifetime: 8h } ]"
expect 0 "--check of max-key-lifetime: 8h" "$zike" -c "$work/maxlife.yaml" --check
# d is a hex digit and the unit of days: 0x1d was taken for 29 seconds.
sed -i 's/max-key-lifetime: 8h/max-key-lifetime: 0x1d/' "$work/maxlife.yaml"
refuses maxlife "maxlife.yaml:7:.*join\[0\].max-key-lifetime: '0x1d': hex 29, or 0x1 days? Write it in decimal: 29, or 1d"
sed -i 's/max-key-lifetime: 0x1d/max-key-lifetime: 3s/' "$work/maxlife.yaml"
refuses maxlife "maxlife.yaml:7:.*join\[0\].max-key-lifetime: at least 4 seconds"
sed -i 's/max-key-lifetime: 3s/max-key-lifetime: 31d/' "$work/maxlife.yaml"
refuses maxlife "join\[0\].max-key-lifetime: .* is above the maximum 2592000"
# A sender's sign-pubkey asks for its messages to be authenticated as
# its own.  Before, a group without source-auth took the key and ignored
# it: any member holding the group key could send as that sender.
conf nosrcauth "$(port 11)" "peers: [ { name: m, id: m.example, auth: psk, psk: $PSK } ]" \
    "groups: [ { name: g, senders: [ { id: m.example, sign-pubkey: \"$(cat "$work/shared.pub")\" } ] } ]"
refuses nosrcauth "nosrcauth.yaml:7:.*groups\[0\].senders\[0\].sign-pubkey: only with source-auth"
sed -i 's/name: g, senders/name: g, source-auth: false, senders/' "$work/nosrcauth.yaml"
refuses nosrcauth "groups\[0\].senders\[0\].sign-pubkey: only with source-auth"
sed -i 's/source-auth: false/source-auth: signature/' "$work/nosrcauth.yaml"
expect 0 "--check of a sender's sign-pubkey with source-auth: signature" "$zike" -c "$work/nosrcauth.yaml" --check

conf rl "$(port 12)"
"$zike" -c "$work/rl.yaml" 2> "$work/rl.log" &
rl=$!; pids="$pids $rl"
until_ok 10 ctl_up rl
ok $? "zike for the reload refusal runs"
echo "log: chatty" >> "$work/rl.yaml"
expect 1 "zikectl reload of a bad configuration: exit 1" "$ctl" reload -s "ipc://$work/rl.ctl"
grep -q "^zikectl: reload refused, old configuration kept: $work/rl.yaml:6:6: log: expected error, warning" "$work/err"
ok $? "zikectl prints why zike refused the reload (file:line:column)"
ctl_up rl; ok $? "zike still runs on its old configuration"
# A join whose policy is a pairwise peer's: that group's key server could
# move the peer's outbound traffic onto its group SA.
conf rl "$(port 12)" "peers:" \
    "  - { name: gcks, id: gcks.example, endpoint: \"tcp://127.0.0.1:$(port 11)\", auth: psk, psk: $PSK, policies: [prices] }" \
    "join:" "  - { group: prices, server: gcks, role: receiver }"
expect 1 "zikectl reload of a join on a peer's policy: exit 1" "$ctl" reload -s "ipc://$work/rl.ctl"
grep -q "^zikectl: reload refused, old configuration kept: $work/rl.yaml:9:5: join\[0\].policy: 'prices' (the group's name) is peer 'gcks''s policy too" "$work/err"
ok $? "a join on a peer's policy is refused at reload (file:line:column)"
ctl_up rl && "$ctl" -s "ipc://$work/rl.ctl" groups > "$work/out" 2>&1 && ! grep -q prices "$work/out"
ok $? "zike still runs on its old configuration, no group joined"
# A reload that gives carol bob's key is refused too: bob's IKE SA and
# policies stay bob's.
conf rl "$(port 12)" "peers:" \
    "  - { name: bob, id: bob.example, auth: psk, psk: $PSK, policies: [orders] }" \
    "  - { name: carol, id: carol.example, auth: psk, psk: $PSK, policies: [audit] }"
expect 1 "zikectl reload that gives two peers one key: exit 1" "$ctl" reload -s "ipc://$work/rl.ctl"
grep -q "^zikectl: reload refused, old configuration kept: $work/rl.yaml:8:.*peers\[1\].psk: peer 'carol' has peer 'bob''s pre-shared key" "$work/err" &&
    ! grep -q "$PSK" "$work/err" "$work/rl.log"
ok $? "a reload that gives two peers one key is refused, naming both, the key unsaid"
conf rl "$(port 12)" "peers:" \
    "  - { name: bob, id: bob.example, auth: psk, psk: $PSK, policies: [orders] }" \
    "  - { name: carol, id: carol.example, auth: psk, psk: carol-$PSK, policies: [orders] }"
expect 1 "zikectl reload that gives two peers one policy: exit 1" "$ctl" reload -s "ipc://$work/rl.ctl"
grep -q "^zikectl: reload refused, old configuration kept: .*peers\[1\].policies\[0\]: 'orders' is peer 'bob''s policy too" "$work/err"
ok $? "a reload that gives two peers one policy is refused"
ctl_up rl && "$ctl" -s "ipc://$work/rl.ctl" stats > /dev/null
ok $? "zike still runs on its old configuration"
kill $rl; wait $rl 2> /dev/null

# ---- a peer posing as another with the key they share ----------------------
# bob's alice and carol have one PSK; carol's zike claims alice's identity
# (alice.example) with it.  Before, bob authenticated her as alice and gave
# her alice's child SA for orders; now bob refuses that configuration at
# start, naming both peers.
conf pose_bob "$(port 22)" "peers:" \
    "  - { name: alice, id: alice.example, auth: psk, psk: $PSK, policies: [orders] }" \
    "  - { name: carol, id: carol.example, auth: psk, psk: $PSK, policies: [audit] }"
conf pose_carol "$(port 23)" "peers:" \
    "  - { name: bob, id: bob.example, endpoint: \"tcp://127.0.0.1:$(port 22)\", auth: psk, psk: $PSK, start: true, policies: [orders] }"
sed -i 's/^identity: { id: pose_bob.example }/identity: { id: bob.example }/' "$work/pose_bob.yaml"
sed -i 's/^identity: { id: pose_carol.example }/identity: { id: alice.example }/' "$work/pose_carol.yaml"
"$zike" -c "$work/pose_bob.yaml" 2> "$work/pose_bob.log" &
pb=$!; pids="$pids $pb"
"$zike" -c "$work/pose_carol.yaml" 2> "$work/pose_carol.log" &
pc=$!; pids="$pids $pc"
posed() { "$ctl" -s "ipc://$work/pose_carol.ctl" list 2> /dev/null | grep -q "child orders .* active"; }
# Settled: bob gone, or carol holding alice's child SA.
settled() { ! kill -0 "$pb" 2> /dev/null || posed; }
until_ok 20 settled
wait_rc=0
kill -0 "$pb" 2> /dev/null || { wait "$pb"; wait_rc=$?; }
[ "$wait_rc" -eq 3 ] && ! posed &&
    grep -q "peers\[1\].psk: peer 'carol' has peer 'alice''s pre-shared key" "$work/pose_bob.log"
ok $? "bob refuses to start with alice and carol on one PSK (exit $wait_rc); carol cannot pose as alice"
grep "IKE SA established\|for policy .* installed" "$work/pose_bob.log" | sed 's/^/# bob: /'
kill "$pc" 2> /dev/null; wait "$pc" 2> /dev/null
kill "$pb" 2> /dev/null; wait "$pb" 2> /dev/null

# ---- capture files ------------------------------------------------------------
conf cap "$(port 3)"
echo "precious" > "$work/target"
ln -s "$work/target" "$work/link.pcap"
"$zike" -c "$work/cap.yaml" --capture "$work/link.pcap" 2> "$work/cap.log" &
c=$!; pids="$pids $c"
wait $c; rc=$?
[ $rc -ne 0 ] && [ "$(cat "$work/target")" = precious ] &&
    grep -q "capture $work/link.pcap" "$work/cap.log"
ok $? "--capture through a symbolic link is refused, the target untouched (exit $rc)"
: > "$work/old.keys"
"$zike" -c "$work/cap.yaml" --capture-keys "$work/old.keys" 2> "$work/cap.log"
rc=$?
[ $rc -ne 0 ] && grep -q "a capture file must be new" "$work/cap.log"
ok $? "--capture-keys refuses a file that exists (exit $rc)"
[ ! -e "$work/cap.ctl" ]; ok $? "a zike that failed to start left no control socket"

# ---- JSON for any name, and replies past 64 KiB ------------------------------------
# The 600 half-open SAs, all from 127.0.0.1, must outlive a flood slowed
# by a busy machine.
conf bob "$(port 4)" "half-open-limit: 2000" "half-open-per-source: 2000" \
    "half-open-timeout: 600000" "peers:" \
    "  - { name: 'al\"ice\\\\', id: alice.example, auth: psk, psk: $PSK, policies: ['or\"ders'] }"
conf alice "$(port 5)" "peers:" \
    "  - { name: bob, id: bob.example, endpoint: \"tcp://127.0.0.1:$(port 4)\", auth: psk, psk: $PSK, start: true, policies: [ { name: 'or\"ders', replay-scope: process } ] }"
"$zike" -c "$work/bob.yaml" 2> "$work/bob.log" &
pids="$pids $!"
"$zike" -c "$work/alice.yaml" 2> "$work/alice.log" &
pids="$pids $!"
until_ok 10 sh -c "'$ctl' -s 'ipc://$work/bob.ctl' list | grep -q 'established'"
ok $? "a peer named with a quote and a backslash is established"
# alice's policy has replay-scope: process: its inbound child SA gets it
# (each process accepts every message), and the SAD's policy says so.
scope_of() { ZESP_SAD="$work/$1.sad" "$b/tools/zesp" sa list 2> /dev/null | awk -v d="$2" '/^0x/ && $2 == d { print $NF }'; }
until_ok 10 sh -c "[ \"\$(ZESP_SAD='$work/alice.sad' '$b/tools/zesp' sa list | grep -c '^0x')\" -ge 2 ]"
[ "$(scope_of alice in)" = process ] && [ "$(scope_of alice out)" = - ] &&
    [ "$(scope_of bob in)" = host ] &&
    ZESP_SAD="$work/alice.sad" "$b/tools/zesp" policy list | grep -q 'replay_scope=process'
ok $? "a policy's replay-scope reaches its inbound child SA and the SAD's policy (alice $(scope_of alice in), bob $(scope_of bob in))"
"$ctl" -s "ipc://$work/bob.ctl" --json list > "$work/list.json"
json_ok < "$work/list.json" && grep -q '"peer":"al\\"ice\\\\"' "$work/list.json"
ok $? "zikectl --json list is valid JSON, the name escaped"
"$ctl" -s "ipc://$work/bob.ctl" list > "$work/list.txt" &&
    grep -qF 'al"ice\ ' "$work/list.txt"
ok $? "zikectl list shows the name as it is"
"$ctl" -s "ipc://$work/bob.ctl" initiate "$(printf 'x\033[2J\nzikectl: forged\302\233')" 2> "$work/refused.err"
[ $? -eq 1 ] && [ "$(wc -l < "$work/refused.err")" -eq 1 ] &&
    python3 "$(cd "${srcdir:-.}" && pwd)/tests/only_text.py" "$work/refused.err" \
        "zikectl: no peer named 'x\\x1b[2J\\x0azikectl: forged\\xc2\\x9b'"
ok $? "zike's refusal, quoting what it was sent, reaches the terminal as text on one line"
"$ctl" -s "ipc://$work/bob.ctl" --json stats > "$work/stats.json"
json_ok < "$work/stats.json" && grep -q '"ike_dropped_reflected":0' "$work/stats.json"
ok $? "zikectl --json stats is valid JSON with the drop counters"
"$flood" "tcp://127.0.0.1:$(port 4)" 600 "$(ms 20000)" > /dev/null 2>&1
"$ctl" -s "ipc://$work/bob.ctl" --json list > "$work/big.json"
size=$(wc -c < "$work/big.json")
[ "$size" -gt 65536 ] && json_ok < "$work/big.json"
ok $? "a reply of $size bytes (600 half-open IKE SAs) is whole and valid JSON"
"$ctl" -s "ipc://$work/bob.ctl" list > "$work/big.txt"
[ "$(grep -c half-open "$work/big.txt")" -ge 600 ]
ok $? "and the text reply lists them all"

# ---- half-open-timeout: a half-open IKE SA is dropped after it ---------------------
# Two zikes get the same flood, the one that keeps half-open SAs 10 min
# first: when the 300 ms one has dropped its own, the other, whose are
# older, must still hold all of them.  An order of events, not a time.
# Written with units (a bare number is ms): were `10m` read as 10 ms, or
# `300ms` as 300 s, the order below would not hold.
conf ho "$(port 20)" "half-open-timeout: 300ms"
conf hk "$(port 21)" "half-open-timeout: 10m"
for n in hk ho; do
    "$zike" -c "$work/$n.yaml" 2> "$work/$n.log" &
    pids="$pids $!"
done
until_ok 20 ctl_up ho && until_ok 20 ctl_up hk
"$flood" "tcp://127.0.0.1:$(port 21)" 3 "$(ms 20000)" > "$work/hk-flood.out" 2>&1
"$flood" "tcp://127.0.0.1:$(port 20)" 3 "$(ms 20000)" > "$work/ho-flood.out" 2>&1
half_open() { "$ctl" -s "ipc://$work/$1.ctl" stats | awk '$1 == "ike_sas" { print $2 }'; }
ho_none() { [ "$(half_open ho)" = 0 ]; }
until_ok 20 ho_none && [ "$(half_open hk)" = 3 ]
ok $? "half-open-timeout: 300ms drops 3 half-open IKE SAs ($(half_open ho) left) while 10m keeps 3 older ones ($(half_open hk))"
grep -q "responses 3" "$work/ho-flood.out" && grep -q "responses 3" "$work/hk-flood.out"
ok $? "and each had been answered (the timeout dropped them, not a refusal)"

# ---- retransmissions and the give-up are logged ------------------------------------
conf lone "$(port 6)" "peers:" \
    "  - { name: nobody, id: nobody.example, endpoint: \"tcp://127.0.0.1:$(port 7)\", auth: psk, psk: $PSK, start: true, policies: [p] }"
"$zike" -c "$work/lone.yaml" -v 2> "$work/lone.log" &
pids="$pids $!"
until_ok 20 grep -q "no answer to IKE_SA_INIT" "$work/lone.log"
ok $? "an unreachable peer: the give-up is logged"
[ "$(grep -c "retransmitting IKE_SA_INIT (message ID 0) to tcp://127.0.0.1:$(port 7), try" "$work/lone.log")" -ge 3 ]
ok $? "each retransmission is logged at debug with its endpoint"
grep -q "peer nobody: no answer to IKE_SA_INIT (message ID 0) at tcp://127.0.0.1:$(port 7), sent 4 times over [0-9]* ms" "$work/lone.log"
ok $? "the give-up names the count and the endpoint"

# ---- zikectl's arguments: the SA meant, or a refusal that says why ---------------
# "rekey far IKE" rekeyed far's child SAs and said "rekeying"; "terminate
# far now" terminated; "--json rekey far" (zikectl puts --json last) said
# "no peer named 'far'"; "list far", "stats far", "groups far" and
# "reload now" answered as if it had no argument; an initiate refused for a policy the peer does
# not serve, or a peer without endpoint, said only "cannot initiate".
conf args "$(port 24)" "peers:" \
    "  - { name: far, id: far.example, endpoint: \"tcp://127.0.0.1:$(port 25)\", auth: psk, psk: $PSK, policies: [p] }" \
    "  - { name: near, id: near.example, auth: psk, psk: near-$PSK, policies: [q] }"
"$zike" -c "$work/args.yaml" 2> "$work/args.log" &
pids="$pids $!"
until_ok 10 ctl_up args
# refused CODE WANT ARGS...: zikectl exits CODE, saying WANT (grep -F)
refused() {
    want_rc=$1 want=$2
    shift 2
    "$ctl" -s "ipc://$work/args.ctl" "$@" > "$work/args.out" 2>&1
    got=$?
    [ "$got" -eq "$want_rc" ] && grep -qF "$want" "$work/args.out" ||
        { echo "# zikectl $* exited $got: $(cat "$work/args.out")"; false; }
}
refused 1 "zikectl: usage: rekey PEER [ike]" rekey far IKE
ok $? "rekey PEER IKE (not ike) is refused with the usage, not a rekey of the child SAs"
refused 1 "zikectl: usage: terminate PEER" terminate far now
ok $? "terminate PEER with an argument too many is refused"
refused 1 "zikectl: usage: leave GROUP" leave g extra
ok $? "leave GROUP with an argument too many is refused"
for c in list stats groups reload; do
    refused 1 "zikectl: usage: $c (no arguments)" $c far
    ok $? "$c with an argument is refused, not answered for every peer"
done
refused 1 "zikectl: usage: initiate PEER [POLICY]" initiate
ok $? "initiate without its PEER is refused with the usage"
refused 1 "zikectl: usage: initiate PEER [POLICY]" initiate far p extra
ok $? "initiate PEER POLICY with an argument too many is refused"
refused 0 "" --json stats
ok $? "--json stats: the --json zikectl adds is no argument"
refused 1 "zikectl: no established IKE SA" --json rekey far
ok $? "--json rekey PEER acts on the peer (no IKE SA yet), not 'no peer named'"
refused 1 "peer far does not serve policy 'nope'" initiate far nope
ok $? "initiate PEER POLICY names the policy the peer does not serve"
refused 1 "peer near has no endpoint" initiate near
ok $? "initiate of a peer without endpoint says so"
refused 0 "initiating" initiate far p --json
ok $? "initiate PEER POLICY --json initiates for POLICY"
until_ok 10 grep -q "peer far: initiating IKE SA for policy p" "$work/args.log"
ok $? "and zike initiates for policy p"

# ---- a group's members are peers -----------------------------------------------
# A sender whose identity is no peer's (a typo) registers never: its
# Sender ID was held for no one and the file checked "ok".
conf gm "$(port 26)" "peers:" \
    "  - { name: pub, id: pub.example, auth: psk, psk: $PSK }" \
    "groups:" "  - { name: g, senders: [pub.exmaple], receivers: [pub.example] }"
"$zike" -c "$work/gm.yaml" --check > "$work/gm.out" 2>&1
rc=$?
[ $rc -eq 3 ] && grep -q "gm.yaml:9:26: groups\[0\].senders\[0\]: 'pub.exmaple' is no peer's id" "$work/gm.out"
ok $? "a group sender that is no peer is refused, naming it (exit $rc)"
sed -i 's/pub.exmaple/pub.example/' "$work/gm.yaml"
"$zike" -c "$work/gm.yaml" --check > "$work/gm.out" 2>&1
ok $? "the same group with the peer's id checks"

# ---- a peer's pubkey is not our own -------------------------------------------
# Our own .pub pasted for the peer's checked "ok": the peer could never
# authenticate, found out only when it tried.
(cd "$work" && "$b/tools/zesp" keygen --identity own > /dev/null &&
    "$b/tools/zesp" keygen --identity other > /dev/null)
conf ownpk "$(port 27)" "peers:" \
    "  - { name: bob, id: bob.example, auth: ed25519, pubkey: \"$(cat "$work/own.pub")\" }"
sed -i "s|^identity: .*|identity: { id: ownpk.example, key: $work/own.key }|" "$work/ownpk.yaml"
"$zike" -c "$work/ownpk.yaml" --check > "$work/ownpk.out" 2>&1
rc=$?
[ $rc -eq 3 ] && grep -q "peers\[0\].pubkey: peer 'bob' has our own public key" "$work/ownpk.out"
ok $? "a peer given our own public key is refused (exit $rc)"
sed -i "s|pubkey: .*|pubkey: \"$(sed 's/[&|\\]/\\&/g' "$work/other.pub")\" }|" "$work/ownpk.yaml"
"$zike" -c "$work/ownpk.yaml" --check > "$work/ownpk.out" 2>&1
ok $? "the same peer with its own public key checks"

# ---- an authenticated peer naming another peer's policy --------------------------
# bob and carol share the policy "audit" on manual SAs; alice, a peer of
# bob's for "orders" only, asks bob for a child SA of "audit".
k1=$("$b/tools/zesp" keygen) k2=$("$b/tools/zesp" keygen)
# Manual keys' sequence records: this run's own folder, never the host's.
ZESP_STATE_DIR="$work/state"; export ZESP_STATE_DIR
"$b/tools/zesp" state init > /dev/null
manual() {  # manual NAME PEER OUT IN
    cat > "$work/$1-sas.yaml" <<EOT
sas:
  - { spi: $3, direction: out, key: "$( [ "$3" = 0x00c0ffee ] && echo "$k1" || echo "$k2")", peer: $2 }
  - { spi: $4, direction: in, key: "$( [ "$4" = 0x00c0ffee ] && echo "$k1" || echo "$k2")", peer: $2 }
policies:
  - { name: audit, peer: $2, out: $3, in: [$4] }
EOT
    "$b/tools/zesp" --sad "$work/$1.sad" load "$work/$1-sas.yaml" > /dev/null
}
manual bob2 carol 0x00c0ffee 0x00decade && manual carol bob 0x00decade 0x00c0ffee
ok $? "bob and carol hold manual SAs for policy audit"
conf bob2 "$(port 8)" "rekey-overlap: 200" "peers:" \
    "  - { name: alice, id: alice.example, auth: psk, psk: $PSK, policies: [orders] }" \
    "  - { name: carol, id: carol.example, auth: psk, psk: carol-$PSK, policies: [audit] }"
conf alice2 "$(port 9)" "peers:" \
    "  - { name: bob, id: bob.example, endpoint: \"tcp://127.0.0.1:$(port 8)\", auth: psk, psk: $PSK, start: true, policies: [audit, orders] }"
sed -i 's/^identity: { id: bob2.example }/identity: { id: bob.example }/; s/^identity: { id: alice2.example }/identity: { id: alice.example }/' "$work/bob2.yaml" "$work/alice2.yaml"
sas_of() { ZESP_SAD="$work/$1.sad" "$b/tools/zesp" sa list | awk '{ print $1, $2, $6 }'; ZESP_SAD="$work/$1.sad" "$b/tools/zesp" policy list | grep audit; }
sas_of bob2 > "$work/audit.before"
"$zike" -c "$work/bob2.yaml" 2> "$work/bob2.log" &
pids="$pids $!"
"$zike" -c "$work/alice2.yaml" 2> "$work/alice2.log" &
pids="$pids $!"
until_ok 20 grep -q "peer alice: asked for a child SA of policy 'audit', which it does not serve: refused" "$work/bob2.log"
ok $? "bob refuses alice's child SA for audit, and says why"
until_ok 10 grep -q "peer bob: no child SA for policy audit (notify 38)" "$work/alice2.log"
ok $? "alice is told with a notify (TS_UNACCEPTABLE, 38)"
"$b/examples/policy_pingpong" --timeout-ms "$(ms 20000)" --sad "$work/carol.sad" --policy audit --bind "tcp://127.0.0.1:$(port 10)" --count 20 > "$work/srv.out" 2>&1 &
srv=$!
"$b/examples/policy_pingpong" --timeout-ms "$(ms 20000)" --sad "$work/bob2.sad" --policy audit --connect "tcp://127.0.0.1:$(port 10)" --count 20 > "$work/cli.out" 2>&1
ok $? "bob and carol still exchange 20 messages each way on audit"
wait $srv
until_ok 10 grep -q "peer bob: IKE SA established" "$work/alice2.log"
sas_of bob2 | diff "$work/audit.before" - > /dev/null
ok $? "audit's SAs and policy on bob are as they were, past the rekey overlap"

if [ "$failed" -ne 0 ]; then
    for f in "$work"/*.log; do echo "== $f"; tail -n 8 "$f"; done
fi
finish
