#!/bin/sh
# What zike's key and configuration paths may name, with real zike
# daemons over tcp on 127.0.0.1.  bob keeps alice's pre-shared key in a
# folder another user may write (uid 65534 when we are root).  That user
# cannot put a key of its own there (the owner check), but could put a
# symbolic link to a file of ours whose first line it knows, or a FIFO:
#   1. a link in place of the key file: bob's reload is refused, and a
#      zike holding the known line as its key fails to authenticate as
#      alice (it had been trusted: the owner and mode judged were the
#      target's);
#   2. a FIFO in place of the key file: the reload is refused at once
#      and zike answers on (it had blocked in open(2) for ever);
#   3. a FIFO as the configuration: --check refuses it at once;
#   4. a FIFO as the key server's state file (group-state:): zike refuses
#      to start, at once (it had blocked in open(2) for ever, before its
#      control socket was bound);
#   5. zikectl and a socket another user bound where zike's control socket
#      would be (zike not running): zikectl refuses it, says whose it is
#      and sends nothing (it had sent "terminate alice", printed the
#      socket's "ok", exit 0, and written its --json answer raw);
#   6. a key server's state file in a sticky folder everyone may write
#      (as /var/tmp): another user made the temporary name zike used
#      first (PATH.new, fixed), and zike could never save its state; the
#      name is now random and made new; one a crash left is removed at
#      start, not left to pile up.
b=$(cd "${builddir:-.}" && pwd)
zike="$b/ike/zike" ctl="$b/tools/zikectl"
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
work_begin keyfiles 2

# as_other CMD...: CMD as another user when we are root (who may write
# in $work/keys), else as ourselves: the refusals depend on what the path
# is, not on who made it.
if [ "$(id -u)" -eq 0 ] && command -v setpriv > /dev/null; then
    as_other() { setpriv --reuid 65534 --regid 65534 --clear-groups "$@"; }
    chmod 0711 "$work"
else
    as_other() { "$@"; }
fi
mkdir "$work/keys"
[ "$(id -u)" -eq 0 ] && chown 65534 "$work/keys"
printf '%s\n' "the-real-key-of-alice-0123" > "$work/keys/alice.psk"
printf '%s\n' "a-line-another-user-knows-42" > "$work/known"

zike_conf bob "$(port 0)" "peers:" \
    "  - { name: alice, id: alice.example, auth: psk, psk: \"file:keys/alice.psk\", policies: [orders] }"
ctl() { "$ctl" -s "ipc://$work/bob.ctl" "$@"; }
zike_start bob
until_ok 10 ctl stats
ok $? "bob runs with alice's key in a file"

# ---- 1. a symbolic link planted in place of the key file ----------------------
as_other rm -f "$work/keys/alice.psk" &&
    as_other ln -s "$work/known" "$work/keys/alice.psk"
ok $? "another user replaced the key file with a link to $work/known"
ctl reload > "$work/out" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q "keys/alice.psk: a symbolic link" "$work/out"
ok $? "bob's reload is refused, naming the link (exit $rc: $(head -c 200 "$work/out"))"

# mallory knows the link's target: were it bob's key, she would be alice.
zike_conf mallory "$(port 1)" "peers:" \
    "  - { name: bob, id: bob.example, endpoint: \"tcp://127.0.0.1:$(port 0)\", auth: psk, psk: a-line-another-user-knows-42, start: true, policies: [orders] }"
sed -i "s/^identity: .*/identity: { id: alice.example }/" "$work/mallory.yaml"
zike_start mallory
decided() { [ "$(zike_stat bob ike_established)" -gt 0 ] || [ "$(zike_stat bob auth_failed)" -gt 0 ]; }
until_ok 30 decided
[ "$(zike_stat bob auth_failed)" -gt 0 ] && [ "$(zike_stat bob ike_established)" -eq 0 ]
ok $? "mallory with the known line is not authenticated as alice (auth_failed $(zike_stat bob auth_failed), established $(zike_stat bob ike_established))"

# ---- 2. a FIFO in place of the key file -------------------------------------------
as_other rm -f "$work/keys/alice.psk" &&
    as_other mkfifo -m 0600 "$work/keys/alice.psk"
ok $? "another user replaced the key file with a FIFO"
ctl reload > "$work/out" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q "keys/alice.psk: not a regular file" "$work/out"
ok $? "bob's reload is refused at once, saying why (exit $rc: $(head -c 200 "$work/out"))"
ctl stats > /dev/null 2>&1
ok $? "and bob answers on its control socket"

# ---- 3. a FIFO as the configuration -----------------------------------------------
mkfifo -m 0600 "$work/fifo.yaml"
timeout $((10 * scale)) "$zike" -c "$work/fifo.yaml" --check > "$work/out" 2>&1
rc=$?
[ $rc -eq 3 ] && grep -q "fifo.yaml: not a regular file" "$work/out"
ok $? "zike --check of a FIFO is refused at once (exit $rc)"

# ---- 4. a FIFO as the key server's state file ---------------------------------------
as_other mkfifo -m 0600 "$work/keys/carol.gcks"
ok $? "another user put a FIFO where carol's group-state: is"
zike_conf carol "$(port 2)" "group-state: $work/keys/carol.gcks"
timeout $((10 * scale)) "$zike" -c "$work/carol.yaml" > "$work/out" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q "keys/carol.gcks: not a regular file" "$work/out"
ok $? "carol refuses to start, at once, saying why (exit $rc: $(head -c 200 "$work/out"))"

# ---- 5. a control socket another user bound -----------------------------------------
py=/usr/bin/python3
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv > /dev/null ||
   ! "$py" -c "import zmq" 2> /dev/null; then
    echo "# skip 5: needs root, setpriv and pyzmq"
    skipped=$((skipped + 1))
else
    fake="$work/keys/dave.ctl"
    # Answers "ok" to every command, with a terminal's escape codes.
    as_other "$py" -c '
import sys, zmq
s = zmq.Context().socket(zmq.REP)
s.bind("ipc://" + sys.argv[1])
open(sys.argv[1] + ".log", "w").close()
while True:
    sys.stdout.write(" ".join(f.decode() for f in s.recv_multipart()) + "\n")
    sys.stdout.flush()
    s.send_multipart([b"ok", b"{\"x\": \"\x1b]0;owned\x07\x1b[2J\"}"])
' "$fake" > "$work/fake.out" 2>&1 &
    pids="$pids $!"
    until_ok 10 test -e "$fake.log"
    ok $? "another user bound a socket at $fake"
    "$ctl" -s "ipc://$fake" terminate alice > "$work/out" 2>&1
    rc=$?
    [ $rc -eq 4 ] && grep -q "a socket of uid 65534, neither ours (uid 0) nor root's" "$work/out"
    ok $? "zikectl terminate refuses it, saying whose it is (exit $rc: $(head -c 200 "$work/out"))"
    "$ctl" -s "ipc://$fake" --json list > "$work/out" 2>&1
    rc=$?
    [ $rc -eq 4 ] && ! grep -q "$(printf '\033')" "$work/out"
    ok $? "zikectl --json list refuses it too, no escape code written (exit $rc)"
    [ ! -s "$work/fake.out" ]
    ok $? "the socket was told no command ($(head -c 100 "$work/fake.out"))"
    # The file root's, the listener still uid 65534: as after a swap
    # between a check of the file and the connect by name.  Whose socket
    # it is, is asked of the connection (SO_PEERCRED).  Before, the
    # file's owner was checked with stat(2), and zikectl sent the command
    # and printed the "ok".
    chown 0 "$fake"
    "$ctl" -s "ipc://$fake" terminate alice > "$work/out" 2>&1
    rc=$?
    [ $rc -eq 4 ] && grep -q "a socket of uid 65534, neither ours (uid 0) nor root's" "$work/out" &&
        [ ! -s "$work/fake.out" ]
    ok $? "a socket file of root's that uid 65534 listens on: refused, nothing sent (exit $rc: $(head -c 200 "$work/out"); $(head -c 100 "$work/fake.out"))"
fi

# ---- 6. a state file in a sticky folder another user wrote in first --------------
# erin runs as uid 65532 (root may unlink anyone's file, so the old fixed
# name failed a zike of another user only); its files in a folder of its own.
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv > /dev/null; then
    echo "# skip 6: needs root and setpriv"
    skipped=$((skipped + 1))
else
    mkdir -m 1777 "$work/spool"
    mkdir -m 0700 "$work/erin"
    as_other sh -c "umask 022; : > '$work/spool/erin.gcks.new'"
    ok $? "another user made $work/spool/erin.gcks.new in a sticky folder"
    # What a crash of erin's zike between its temporary file and the
    # rename left: removed at start (a random name is never taken again,
    # and each crash would leave one more).
    setpriv --reuid 65532 --regid 65532 --clear-groups \
        sh -c "umask 077; : > '$work/spool/erin.gcks.0123456789abcdef.new'"
    ok $? "erin's crash left $work/spool/erin.gcks.0123456789abcdef.new"
    {
        echo "identity: { id: erin.example }"
        echo "listen: tcp://127.0.0.1:$(port 3)"
        echo "control: ipc://$work/erin/erin.ctl"
        echo "sad: $work/erin/erin.sad"
        echo "group-state: $work/spool/erin.gcks"
        echo "peers:"
        echo "  - { name: alice, id: alice.example, auth: psk, psk: \"erin-and-alice-share-this-key-0123\" }"
        echo "groups:"
        echo "  - { name: prices, lifetime: 1h, senders: [alice.example], receivers: [alice.example] }"
    } > "$work/erin/erin.yaml"
    chown -R 65532:65532 "$work/erin"
    setpriv --reuid 65532 --regid 65532 --clear-groups \
        "$zike" -c "$work/erin/erin.yaml" 2> "$work/erin.log" &
    pids="$pids $!"
    served() { sed -n 's/.*group prices: new group SA 0x\([0-9a-f]*\).*/\1/p' "$work/erin.log" | head -n 1; }
    until_ok 30 eval '[ -n "$(served)" ]'
    ok $? "erin, a key server of uid 65532, made its group SA ($(served); $(head -c 200 "$work/erin.log"))"
    until_ok 10 grep -q "^$(served) " "$work/spool/erin.gcks"
    ok $? "and saved its SPI in the state file, whatever the other user made"
    ! grep -q "key server state .*cannot write" "$work/erin.log"
    ok $? "with no error in its log ($(grep 'cannot write' "$work/erin.log" | head -c 200))"
    [ -z "$(find "$work/spool" -name 'erin.gcks.*.new')" ]
    ok $? "no temporary file of erin's left behind, the one a crash left neither ($(ls "$work/spool" | tr '\n' ' '))"
    [ -e "$work/spool/erin.gcks.new" ]
    ok $? "the other user's file left alone"

    # ---- 7. root's zikectl and the zike of another user ----------------------------
    # erin's control socket is uid 65532's, as its listener is: root's
    # zikectl refuses it unless told whose zike it means (--user), as
    # another user's socket may be anyone's where that user may write.
    "$ctl" -s "ipc://$work/erin/erin.ctl" stats > "$work/out" 2>&1
    rc=$?
    [ $rc -eq 4 ] && grep -q "a socket of uid 65532, neither ours (uid 0) nor root's.*--user 65532" "$work/out"
    ok $? "root's zikectl refuses uid 65532's zike unasked, saying --user (exit $rc: $(head -c 300 "$work/out"))"
    "$ctl" -s "ipc://$work/erin/erin.ctl" --user 65532 groups > "$work/out" 2>&1
    rc=$?
    [ $rc -eq 0 ] && grep -q "prices" "$work/out"
    ok $? "root's zikectl --user 65532 talks to it (exit $rc: $(head -c 300 "$work/out"))"
    "$ctl" -s "ipc://$work/erin/erin.ctl" --user 65534 stats > "$work/out" 2>&1
    rc=$?
    [ $rc -eq 4 ] && grep -q "a socket of uid 65532" "$work/out"
    ok $? "--user 65534 does not make uid 65532's socket trusted (exit $rc)"
fi

# ---- 8. zikectl as a user who may not connect to the running zike ------------------
# bob runs (as root), its control socket mode 0600 in a folder others may
# search: uid 65534's connect is refused (EACCES), which zikectl says,
# rather than that nothing listens (before: "no zike at ...: nothing
# listens", as if zike were stopped).
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv > /dev/null; then
    echo "# skip 8: needs root and setpriv"
    skipped=$((skipped + 1))
else
    # A zikectl uid 65534 may run: the build folder may be one only root
    # can enter (CI builds in /root), so the program (libtool's, under
    # .libs, with the library it was linked to) is copied where it may.
    octl=$ctl
    if ! as_other test -x "$ctl"; then
        real=$ctl
        [ -x "$b/tools/.libs/zikectl" ] && real=$b/tools/.libs/zikectl
        mkdir -m 0755 "$work/bin" && cp "$real" "$work/bin/zikectl" &&
            { [ ! -e "$b/esp/.libs/libzesp.so" ] || cp -P "$b/esp/.libs/"libzesp.so* "$work/bin/"; } &&
            chmod -R a+rX "$work/bin" && octl=$work/bin/zikectl
    fi
    as_other env LD_LIBRARY_PATH="$work/bin" "$octl" -s "ipc://$work/bob.ctl" stats > "$work/out" 2>&1
    rc=$?
    [ $rc -eq 4 ] && grep -q "Permission denied: a socket of uid 0 (mode 0600) that uid 65534 may not connect to" "$work/out" &&
        ! grep -q "nothing listens" "$work/out"
    ok $? "uid 65534's zikectl to root's running zike: not allowed, said so, not that nothing listens (exit $rc: $(head -c 300 "$work/out"))"
    ctl stats > /dev/null 2>&1
    ok $? "bob runs and answers its own user"
fi

finish
