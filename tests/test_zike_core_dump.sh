#!/bin/sh
# No secret of zike's reaches disk in a core dump.  Two zike daemons over
# tcp on 127.0.0.1 authenticate each other with a pre-shared key; alice,
# allowed core files (ulimit -c unlimited, working in $work), is then
# killed by SIGSEGV, as a crash would.  Her locked key memory is kept out
# of a core (MADV_DONTDUMP), but not her heap: there an established IKE
# SA holds a BLAKE2b digest of the peer's key (ike_sa_cred.c), against
# which a core's reader may test guesses of the key offline, and the
# current CREATE_CHILD_SA request its X25519 secret.  Checked: no file
# zike left in $work holds the digest or the key.
b=$(cd "${builddir:-.}" && pwd)
zike="$b/ike/zike" ctl="$b/tools/zikectl"
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"

# Cores go where core_pattern says: only a name relative to the crashing
# process's folder puts them where this test can look.
pattern=$(cat /proc/sys/kernel/core_pattern 2> /dev/null)
case $pattern in
'' | '|'* | */*) skip_all "core_pattern '$pattern' writes no core in the process's folder" ;;
esac
command -v python3 > /dev/null || skip_all "no python3"
ulimit -c unlimited 2> /dev/null || skip_all "core files cannot be allowed here"
work_begin coredump 2

psk=core-dump-test-pre-shared-key-0123456789-abcdefghij
zike_conf alice "$(port 0)" "peers:" \
    "  - { name: bob, id: bob.example, endpoint: \"tcp://127.0.0.1:$(port 1)\", auth: psk, psk: $psk, start: true, policies: [orders] }"
zike_conf bob "$(port 1)" "peers:" \
    "  - { name: alice, id: alice.example, auth: psk, psk: $psk, policies: [orders] }"
# Under AddressSanitizer its handler would catch the SIGSEGV and abort:
# the signal is to end alice as a crash does.
(cd "$work" &&
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0" \
    UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}handle_segv=0" \
    exec "$zike" -c "$work/alice.yaml") 2>> "$work/alice.log" &
alice=$!
pids="$pids $alice"
zike_start bob
established() { [ "$(zike_stat alice child_installed)" -gt 0 ]; }
until_ok 30 established
ok $? "alice and bob authenticated each other with the key (child SAs $(zike_stat alice child_installed))"

kill -SEGV "$alice"
wait "$alice"
rc=$?
[ $rc -eq $((128 + 11)) ]
ok $? "alice ended by SIGSEGV (exit $rc)"

# Every file in $work but the two configurations, which hold the key.
found=$(cd "$work" && python3 - "$psk" alice.yaml bob.yaml << 'EOF'
import hashlib, os, sys
psk = sys.argv[1].encode()
# ike_sa_cred.c: BLAKE2b-256 of the context, the method (1: PSK), the key.
digest = hashlib.blake2b(b"zike peer credential" + b"\x01" + psk,
                         digest_size=32).digest()
for name in sorted(os.listdir(".")):
    if name in sys.argv[2:] or not os.path.isfile(name):
        continue
    with open(name, "rb") as f:
        data = f.read()
    if digest in data:
        print("%s: the key's digest" % name)
    if psk[:16] in data:
        print("%s: the key" % name)
EOF
)
[ -z "$found" ]
ok $? "no file alice left holds the key or its digest${found:+: $(echo $found)}"
cores=$(cd "$work" && ls -d core* 2> /dev/null | tr '\n' ' ')
[ -z "$cores" ]
ok $? "alice left no core file${cores:+: $cores}"
finish
