#!/bin/sh
# The zesp tool, command by command, with its exit codes; and the issue's
# acceptance test: two processes configured only by `zesp load` exchange
# protected messages through their SADs.
b=${builddir:-.} s=${srcdir:-.}
zesp="$b/tools/zesp"
work=$(mktemp -d "${TMPDIR:-/tmp}/zesp-cli.XXXXXX")
trap 'rm -rf "$work"' EXIT
passed=0 failed=0

ok() {
    if [ "$1" -eq 0 ]; then
        echo "ok   $2"; passed=$((passed + 1))
    else
        echo "FAIL $2"; failed=$((failed + 1))
    fi
}
# expect CODE NAME CMD...: run CMD, want exit CODE; output in $work/out
expect() {
    want=$1 name=$2
    shift 2
    "$@" > "$work/out" 2> "$work/err"
    got=$?
    [ "$got" -eq "$want" ] || { echo "  exit $got, want $want:"; cat "$work/out" "$work/err"; }
    ok $((got != want)) "$name"
}
mode() { stat -c %a "$1"; }

A="$work/alice.sad" B="$work/bob.sad"
# Manual keys' sequence records: this run's own folder, never the host's.
ZESP_STATE_DIR="$work/state"; export ZESP_STATE_DIR
key1=$(grep -m1 'key: "hex:' "$s/examples/sad-alice.yaml" | sed 's/.*hex:\([0-9a-f]*\).*/\1/')
# The examples hold their keys inline: loaded from private copies, as the
# README says; files written here are private too.
install -m 600 "$s/examples/sad-alice.yaml" "$s/examples/sad-bob.yaml" "$work/"
umask 077

expect 0 "--help" "$zesp" --help
grep -q "usage: zesp" "$work/out"; ok $? "--help prints usage"
expect 0 "--version" "$zesp" --version
grep -q "^zesp [0-9]" "$work/out"; ok $? "--version prints the version"
if grep -qw aes /proc/cpuinfo && grep -qw pclmulqdq /proc/cpuinfo; then
    want="transforms on this host: chacha20-poly1305 aes256gcm null-aes256gmac null-chacha20-poly1305"
else
    want="transforms on this host: chacha20-poly1305 null-chacha20-poly1305"
fi
grep -qx "$want" "$work/out"; ok $? "--version lists the transforms this host runs"
expect 2 "unknown command: exit 2" "$zesp" frobnicate
expect 2 "missing command: exit 2" "$zesp"
[ ! -s "$work/out" ] && grep -q "^zesp: no command" "$work/err"; ok $? "a usage error goes to stderr, prefixed zesp:"
expect 2 "unknown option: exit 2" "$zesp" sa list --frob
grep -q "^zesp: unrecognized option '--frob'" "$work/err"; ok $? "getopt names the unknown option"
expect 2 "option without its argument: exit 2" "$zesp" --sad
grep -q "^zesp: option '--sad' requires an argument" "$work/err"; ok $? "getopt says the option requires an argument"
expect 2 "an option of another command: exit 2" "$zesp" stats --dir in
grep -q "^zesp: stats takes no --dir" "$work/err"; ok $? "the command names the option it does not take"

expect 0 "keygen" "$zesp" keygen
grep -Eq '^hex:[0-9a-f]{72}$' "$work/out"; ok $? "keygen prints 36 octets of hex"
expect 0 "keygen --z85" "$zesp" keygen --z85
grep -Eq '^z85:.{45}$' "$work/out"; ok $? "keygen --z85 prints 45 Z85 characters"
expect 0 "keygen --out" "$zesp" keygen --out "$work/sa.key"
[ "$(mode "$work/sa.key")" = 600 ]; ok $? "keygen --out writes mode 0600"
expect 1 "keygen --out refuses to overwrite" "$zesp" keygen --out "$work/sa.key"
expect 0 "keygen --identity" "$zesp" keygen --identity "$work/node1"
[ "$(mode "$work/node1.key")" = 600 ]; ok $? "identity secret key mode 0600"
[ "$(wc -c < "$work/node1.pub")" -eq 41 ]; ok $? "identity public key: 40 Z85 characters"
grep -qF "public: $(cat "$work/node1.pub")" "$work/out"; ok $? "identity prints its public key"
# A pair is made whole or not at all: a public key already there (an old
# identity's) is not left beside a new secret key that does not match it.
echo "old public key" > "$work/node2.pub"
expect 1 "keygen --identity refuses when NAME.pub is there" "$zesp" keygen --identity "$work/node2"
[ ! -e "$work/node2.key" ] && [ "$(cat "$work/node2.pub")" = "old public key" ]
ok $? "and leaves no new secret key beside the old public key"
# A key that cannot be written out is said, left nowhere, and the exit
# is not 0: /dev/full as a disk that is full, and a file size limit (its
# signal ignored, so write fails with EFBIG) for a file of keygen's own.
# Before, `zesp keygen > /dev/full` and --identity said nothing, exit 0,
# the pair left behind, and a script went on with no key.
"$zesp" keygen > /dev/full 2> "$work/err"
[ $? -eq 1 ] && grep -q "^zesp: keygen: standard output: " "$work/err"
ok $? "keygen to a full disk: exit 1, said on stderr"
"$zesp" keygen --identity "$work/node3" > /dev/full 2> "$work/err"
[ $? -eq 1 ] && grep -q "standard output" "$work/err" &&
    [ ! -e "$work/node3.key" ] && [ ! -e "$work/node3.pub" ]
ok $? "keygen --identity, its summary unwritable: exit 1, neither file left"
# (stderr and the status through a pipe, which the limit does not bound)
(trap '' XFSZ; ulimit -f 0 && "$zesp" keygen --out "$work/big.key" 2>&1 > /dev/null
 echo "exit $?") | cat > "$work/err"
grep -qx "exit 1" "$work/err" && [ ! -e "$work/big.key" ] &&
    grep -q "big.key: File too large" "$work/err"
ok $? "keygen --out past the file size limit: exit 1, said, no file left"

# A key file's name made durable too: its directory fsync'd after the
# file (strace -y names each descriptor's file).  Before, only the files
# were, and a crash could lose the new names, keys and all.
if command -v strace > /dev/null && strace -o /dev/null true 2> /dev/null; then
    real=$(realpath "$work")
    # synced FILE...: each FILE fsync'd, then the directory, in $work/trace
    synced() {
        for f in "$@"; do
            awk -v f="<$real/$f>)" -v d="<$real>)" '
                index($0, "fsync(") && index($0, f) && / = 0$/ { seen = 1 }
                seen && index($0, "fsync(") && index($0, d) && / = 0$/ { ok = 1 }
                END { exit !ok }' "$work/trace" || return 1
        done
    }
    # LeakSanitizer cannot stop a traced process's threads (it aborts
    # under ptrace), so a sanitizer build's leak check is off here only.
    no_lsan="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
    ASAN_OPTIONS=$no_lsan strace -f -y -e trace=fsync -o "$work/trace" "$zesp" keygen --identity "$work/node4" > /dev/null &&
        synced node4.key node4.pub
    ok $? "keygen --identity: each file's directory fsync'd after it"
    ASAN_OPTIONS=$no_lsan strace -f -y -e trace=fsync -o "$work/trace" "$zesp" keygen --out "$work/sa4.key" &&
        synced sa4.key
    ok $? "keygen --out: the file's directory fsync'd after it"
else
    echo "skip keygen's directory fsync (no strace, or no ptrace here)"
fi

# A file system that cannot fsync a directory (EINVAL or EROFS, as some
# FUSE and network ones answer; tests/fsync_dir_fail.so) gives no more to
# ask for: the key file itself was fsync'd, and is kept.  Before, keygen
# failed and removed it, so no key could be made there.  Another error
# (EIO) still fails it.
shim="$b/tests/fsync_dir_fail.so"
if [ -f "$shim" ]; then
    shim=$(cd "$(dirname "$shim")" && pwd)/fsync_dir_fail.so
    preload() {
        e=$1
        shift
        env FSYNC_DIR_ERRNO="$e" LD_PRELOAD="$shim" \
            ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" "$@"
    }
    for en in 22:EINVAL 30:EROFS; do
        n=${en%%:*} name=${en#*:}
        preload "$n" "$zesp" keygen --out "$work/sa-$name.key" > /dev/null 2> "$work/err" &&
            [ -s "$work/sa-$name.key" ] &&
            preload "$n" "$zesp" keygen --identity "$work/id-$name" > /dev/null 2>> "$work/err" &&
            [ -s "$work/id-$name.pub" ] && [ -s "$work/id-$name.key" ]
        ok $? "keygen where a directory's fsync fails with $name: the key files made, exit 0"
    done
    preload 5 "$zesp" keygen --out "$work/eio.key" > /dev/null 2> "$work/err"
    [ $? -eq 1 ] && [ ! -e "$work/eio.key" ] && grep -q "eio.key: Input/output error" "$work/err"
    ok $? "keygen where a directory's fsync fails with EIO: exit 1, said, no file left"
    # A state directory there is refused by state init, not called ready:
    # each sequence record's rename needs the directory's fsync, so every
    # manual SA's load would fail.  Before, state init said "ready".
    ZESP_STATE_DIR="$work/state-nofsync" preload 22 "$zesp" state init > "$work/out" 2> "$work/err"
    [ $? -eq 1 ] && [ ! -s "$work/out" ] &&
        grep -q "state-nofsync: .*a file system that cannot fsync a directory" "$work/err"
    ok $? "state init where a directory's fsync fails with EINVAL: exit 1, said"
else
    echo "skip keygen with a directory's fsync failing (tests/fsync_dir_fail.so not built)"
fi

expect 1 "load without a state directory: exit 1" "$zesp" --sad "$A" load "$work/sad-alice.yaml"
grep -q "state directory $work/state" "$work/err" && grep -q "zesp state init" "$work/err"; ok $? "the error names the state directory and how to make it"
[ ! -e "$work/state" ]; ok $? "load never makes the state directory"
expect 0 "state init" "$zesp" state init
[ "$(mode "$work/state")" = 700 ]; ok $? "the state directory has mode 0700"
install -m 644 "$s/examples/sad-alice.yaml" "$work/readable.yaml"
expect 3 "load of keys written in a file others may read: exit 3" "$zesp" --sad "$A" load "$work/readable.yaml"
grep -q "readable.yaml:[0-9]*:10: sas\[0\].key: a secret key written into a file others may read (mode 644): chmod 600 $work/readable.yaml" "$work/err"
ok $? "and it says which key, the file's mode and the fix"
expect 0 "load alice" "$zesp" --sad "$A" load "$work/sad-alice.yaml"
[ "$(mode "$A")" = 600 ]; ok $? "a new SAD file has mode 0600"
expect 0 "load bob (ZESP_SAD)" env ZESP_SAD="$B" "$zesp" load "$work/sad-bob.yaml"
expect 0 "check" "$zesp" check "$work/sad-alice.yaml"
expect 3 "load of a missing file: exit 3" "$zesp" --sad "$work/new.sad" load "$work/none.yaml"
[ ! -e "$work/new.sad" ]; ok $? "load of a missing file leaves no SAD behind"
printf 'sas: [\n' > "$work/broken.yaml"
expect 3 "load of an unparsable file: exit 3" "$zesp" --sad "$work/new.sad" load "$work/broken.yaml"
[ ! -e "$work/new.sad" ]; ok $? "load of an unparsable file leaves no SAD behind"
# The largest window a SAD's slots hold is below ZESP_REPLAY_WINDOW_MAX:
# check must refuse what load refuses, with the same words.
printf 'sas:\n  - { spi: 0x7001, direction: in, key: "hex:%s", replay_window: 16384 }\n' "$key1" > "$work/window.yaml"
expect 3 "check: a window above the SAD's maximum: exit 3" "$zesp" check "$work/window.yaml"
grep -q "window.yaml:2:.*replay_window: at most [0-9]* in a new SAD" "$work/err"; ok $? "check names the window's limit"
expect 3 "load: a window above the SAD's maximum: exit 3" "$zesp" --sad "$A" load "$work/window.yaml"
grep -q "window.yaml:2:.*replay_window: at most [0-9]* in this SAD" "$work/err"; ok $? "load refuses it as check did"
printf 'sas:\n  - spi: 7\n    direction: sideways\n    key: "hex:%s"\n' "$key1" > "$work/bad.yaml"
expect 3 "bad configuration: exit 3" "$zesp" --sad "$A" load "$work/bad.yaml"
grep -q "bad.yaml:3:16: sas\[0\].direction" "$work/err"; ok $? "the error names file:line:column and field"

expect 0 "sa list" "$zesp" --sad "$A" sa list
grep -q "0x00a11ce1 out" "$work/out" && grep -q "0x00b0b001 in" "$work/out"; ok $? "sa list shows both SAs"
! grep -q "$key1" "$work/out"; ok $? "sa list prints no key"
expect 0 "sa show" "$zesp" --sad "$A" sa show 0x00a11ce1
! grep -q "$key1" "$work/out"; ok $? "sa show prints no key"
expect 0 "sa show --key" "$zesp" --sad "$A" sa show 0x00a11ce1 --key
grep -q "hex:$key1" "$work/out"; ok $? "sa show --key prints the key"
expect 0 "options before the command, SPI without 0x" "$zesp" --key --json --sad "$A" sa show a11ce1
grep -q '"spi":"0x00a11ce1"' "$work/out" && grep -q "hex:$key1" "$work/out"; ok $? "options anywhere: the same SA, in JSON, with its key"
expect 0 "options after the command" "$zesp" sa list --json --sad "$A"
grep -q '"spi":"0x00a11ce1"' "$work/out"; ok $? "sa list --json after the command prints JSON"
expect 2 "a decimal-looking SPI longer than 8 digits: exit 2" "$zesp" --sad "$A" sa show 123456789
expect 1 "sa show of a missing SA: exit 1" "$zesp" --sad "$A" sa show 0x1234
expect 2 "sa show without SPI: exit 2" "$zesp" --sad "$A" sa show
expect 0 "policy list" "$zesp" --sad "$A" policy list
grep -q "to-bob" "$work/out"; ok $? "policy list shows the policy"

# replay_scope: process, on a policy (its inbound SAs take it) or an SA;
# check refuses a bad value, as load does, with file, line and column.
printf 'sas:\n  - { spi: 0x7301, direction: in, key: "hex:%s" }\npolicies:\n  - { name: ticks, replay_scope: process, in: [0x7301] }\n' "$key1" > "$work/scope.yaml"
expect 0 "check: replay_scope process" "$zesp" check "$work/scope.yaml"
# ...but alice's key is already her out SA's: one key, one SPI.
expect 3 "load of a key already on another SPI of the SAD: exit 3" "$zesp" --sad "$A" load "$work/scope.yaml"
grep -q "scope.yaml:2:40: sas\[0\].key: the same key as SPI 0x00a11ce1 out, already in the SAD" "$work/err"
ok $? "and it names the SA that has the key"
key2=$("$zesp" keygen | sed 's/^hex://') key3=$("$zesp" keygen | sed 's/^hex://')
printf 'sas:\n  - { spi: 0x7301, direction: in, key: "hex:%s" }\npolicies:\n  - { name: ticks, replay_scope: process, in: [0x7301] }\n' "$key2" > "$work/scope.yaml"
expect 0 "load: replay_scope process" "$zesp" --sad "$A" load "$work/scope.yaml"
"$zesp" --sad "$A" sa list | grep -q "^0x00007301 in .* process$"; ok $? "sa list shows the SA's replay scope: process"
"$zesp" --sad "$A" sa list | grep -q "^0x00b0b001 in .* host$"; ok $? "sa list shows another SA's: host"
"$zesp" --sad "$A" policy list | grep -q "^ticks .*0x00007301 .*replay_scope=process"; ok $? "policy list shows the policy's replay scope"
"$zesp" --sad "$A" --json sa show 0x7301 | grep -q '"replay_scope":"process"'; ok $? "sa show --json has the replay scope"
# A policy of integrity-only SAs: its bodies go in clear, and the listing says so.
key4=$("$zesp" keygen | sed 's/^hex://')
printf 'sas:\n  - { spi: 0x7401, direction: in, transform: null-chacha20-poly1305, key: "hex:%s" }\npolicies:\n  - { name: audit, in: [0x7401] }\n' "$key4" > "$work/null.yaml"
expect 0 "load: a policy of integrity-only SAs" "$zesp" --sad "$A" load "$work/null.yaml"
"$zesp" --sad "$A" policy list | grep -q "^audit .*0x00007401 .*integrity-only"; ok $? "policy list says a policy is integrity-only"
"$zesp" --sad "$A" policy list | grep "^ticks " | grep -vq "integrity-only"; ok $? "...and not of an encrypting one"
"$zesp" --sad "$A" --json policy list | grep -q '"name":"audit"[^}]*"integrity_only":true'; ok $? "policy list --json: integrity_only true"
"$zesp" --sad "$A" --json policy list | grep -q '"name":"ticks"[^}]*"integrity_only":false'; ok $? "policy list --json: integrity_only false"
printf 'sas:\n  - { spi: 0x7302, direction: in, key: "hex:%s",\n      replay_scope: each }\n' "$key1" > "$work/scope-bad.yaml"
expect 3 "check: a bad replay_scope: exit 3" "$zesp" check "$work/scope-bad.yaml"
grep -q "scope-bad.yaml:3:21: sas\[0\].replay_scope: expected host .* or process .*, found 'each'" "$work/err"; ok $? "check names the field and the values it takes"
expect 3 "load: a bad replay_scope: exit 3" "$zesp" --sad "$A" load "$work/scope-bad.yaml"

# The acceptance test: nothing but `zesp load` configured these two.
if [ -x "$b/examples/policy_pingpong" ]; then
    pt=$((20000 * ${ZESP_TEST_TIMEOUT_SCALE:-1}))   # a bound on each wait
    "$b/examples/policy_pingpong" --sad "$A" --policy to-bob --timeout-ms "$pt" \
        --bind "ipc://$work/pp" --count 50 > "$work/alice.out" 2>&1 &
    pid=$!
    expect 0 "two processes exchange messages through their SADs" \
        "$b/examples/policy_pingpong" --sad "$B" --policy to-alice --timeout-ms "$pt" \
        --connect "ipc://$work/pp" --count 50
    wait $pid; ok $? "the other side verified every message"
else
    echo "skip: policy_pingpong not built"
fi

expect 0 "stats" "$zesp" --sad "$B" stats
grep -q "0x00a11ce1 in *50 " "$work/out"; ok $? "stats counts the messages received"
expect 0 "stats --json" "$zesp" --sad "$B" --json stats
if command -v python3 > /dev/null; then
    python3 -m json.tool "$work/out" > /dev/null; ok $? "stats --json is JSON"
    "$zesp" --sad "$A" --json sa list | python3 -m json.tool > /dev/null; ok $? "sa list --json is JSON"
    "$zesp" --sad "$A" --json policy list | python3 -m json.tool > /dev/null; ok $? "policy list --json is JSON"
fi
# Two formats asked for: refused, not one of them silently dropped (the
# OpenMetrics text was written for --openmetrics --json, exit 0).
expect 2 "stats --openmetrics --json refused" "$zesp" --sad "$B" --json stats --openmetrics
grep -q "^zesp: stats: --openmetrics and --json are two formats; give one" "$work/err"
ok $? "stats --openmetrics --json: says the two formats exclude each other"

# Output that cannot be written is a failure, said on stderr, for every
# command as for keygen: a listing into a full disk (/dev/full) or a
# closed stdout (EBADF, not a file the command opened in its place).
# Before, each of these exited 0 with nothing written.
for c in "--help" "--version" "sa list" "sa show 0x00a11ce1" "policy list" \
         "stats" "stats --json" "stats --openmetrics" "expire" \
         "check $work/sad-bob.yaml"; do
    set -- $c
    "$zesp" --sad "$B" "$@" > /dev/full 2> "$work/err"
    [ $? -eq 1 ] && grep -q "^zesp: $1: standard output: No space left on device$" "$work/err"
    ok $? "$c to a full disk: exit 1, said on stderr"
    "$zesp" --sad "$B" "$@" >&- 2> "$work/err"
    [ $? -eq 1 ] && grep -q "^zesp: $1: standard output: Bad file descriptor$" "$work/err"
    ok $? "$c to a closed stdout: exit 1, said on stderr"
done
set --
# A pipe whose reader is gone: SIGPIPE ends the command, as any program
# (the shell's 141), unless it is ignored (a service's default under
# systemd): then EPIPE, said, exit 1, as zesp.1 says.
if command -v python3 > /dev/null; then
    python3 - "$zesp" > "$work/err" 2>&1 <<'PY'
import os, subprocess, sys
r, w = os.pipe()
os.close(r)
dflt = subprocess.run([sys.argv[1], "--help"], stdout=w, stderr=subprocess.PIPE)
ign = subprocess.run([sys.argv[1], "--help"], stdout=w, stderr=subprocess.PIPE,
                     restore_signals=False)    # Python ignores SIGPIPE
print(dflt.returncode, dflt.stderr, ign.returncode, ign.stderr)
sys.exit(0 if dflt.returncode == -13 and ign.returncode == 1 and
         ign.stderr == b"zesp: --help: standard output: Broken pipe\n" else 1)
PY
    ok $? "--help into a closed pipe: SIGPIPE, or (ignored) exit 1, said"
fi

# Group SAs: one outbound, two senders' windows on one inbound SPI.
cat > "$work/group.yaml" <<EOF
sas:
  - { spi: 0x6001, direction: out, key: "hex:$key3", group: true, sender_id: 5 }
  - { spi: 0x6002, direction: in, key: "hex:$key3", group: true, sender_id: 7, peer: carol }
  - { spi: 0x6002, direction: in, key: "hex:$key3", group: true, sender_id: 3, peer: dave }
EOF
expect 0 "load group SAs" "$zesp" --sad "$A" load "$work/group.yaml"
expect 0 "sa list with group SAs" "$zesp" --sad "$A" sa list
grep -q "0x00006001 out .* yes 5  " "$work/out" &&
    grep -q "0x00006002 in .* 7  *carol" "$work/out" &&
    grep -q "0x00006002 in .* 3  *dave" "$work/out"; ok $? "sa list shows each sender"
grep -q "0x00a11ce1 out .* yes -  " "$work/out"; ok $? "sa list: pairwise SAs have no sender"
expect 0 "sa show --sender" "$zesp" --sad "$A" sa show 0x6002 --sender 7
grep -q "group  *sender 7, unsigned" "$work/out" && grep -q "peer  *carol" "$work/out"; ok $? "sa show --sender names that sender's window"
expect 0 "sa show a group SPI" "$zesp" --sad "$A" sa show 0x6002
grep -q "group  *sender 3" "$work/out"; ok $? "sa show: the lowest Sender ID"
expect 1 "sa show --sender unknown: exit 1" "$zesp" --sad "$A" sa show 0x6002 --sender 4
# The SA is there: the error names the Sender ID, not "no security
# association with that SPI", which sent the operator looking for the SA.
grep -q "zesp: 0x6002: SPI 0x00006002 in has no Sender ID 4 (zesp sa list shows its senders)" "$work/err"
ok $? "sa show --sender unknown: the error says the SA has no such sender"
expect 0 "sa del a group SPI" "$zesp" --sad "$A" sa del 0x6002
"$zesp" --sad "$A" sa list | grep -q 0x00006002; ok $((! $?)) "sa del removed every sender's window"
expect 0 "sa del" "$zesp" --sad "$A" sa del 0x00a11ce1
expect 1 "sa del again: exit 1" "$zesp" --sad "$A" sa del 0x00a11ce1 --dir out
# Alice's out SA is gone, her key's record is not: the key in on another
# SPI would be her peer numbering from 1 under it (doc/sad.md).
printf 'sas:\n  - { spi: 0x7303, direction: in, key: "hex:%s" }\n' "$key1" > "$work/key-again.yaml"
expect 3 "load of a deleted out SA's key in on another SPI: exit 3" "$zesp" --sad "$A" load "$work/key-again.yaml"
grep -q "key-again.yaml:2:40: sas\[0\].key: this key served SPI 0x00a11ce1 out (the state directory's records say so)" "$work/err"
ok $? "and it names the SPI the records hold"
expect 0 "sa del alice's in SA" "$zesp" --sad "$A" sa del 0x00b0b001 --dir in
expect 0 "alice loaded again: her keys on their own SPIs" "$zesp" --sad "$A" load "$work/sad-alice.yaml"
expect 0 "expire" "$zesp" --sad "$A" expire
expect 0 "flush" "$zesp" --sad "$A" flush
"$zesp" --sad "$A" sa list | grep -q 0x; ok $((! $?)) "flush removed every SA"

printf 'not a SAD at all, not a SAD at all, not a SAD at all.' > "$work/junk.sad"
chmod 644 "$work/junk.sad"
expect 4 "a SAD others may read: exit 4" "$zesp" --sad "$work/junk.sad" sa list
grep -q "other users may read or write" "$work/err"; ok $? "a SAD others may read is refused as such"
chmod 600 "$work/junk.sad"
expect 4 "a damaged SAD: exit 4" "$zesp" --sad "$work/junk.sad" sa list
grep -q "damaged or is not an SA database" "$work/err"; ok $? "a damaged SAD is named as such"
expect 4 "a missing SAD: exit 4" "$zesp" --sad "$work/none.sad" stats

# ---- the SAD's mode and group from the YAML file (sad: {path, mode, group}) ----
# A group other than ours when one is allowed: any as root, else one we
# are a member of.
if [ "$(id -u)" -eq 0 ] && getent group daemon > /dev/null; then grp=daemon
else grp=$(id -Gn | tr ' ' '\n' | sed -n '2p'); grp=${grp:-$(id -gn)}; fi
printf 'sad: { path: shared.sad, mode: 0660, group: %s }\npolicies: [ { name: p } ]\n' "$grp" > "$work/shared.yaml"
expect 0 "zesp load with sad: {path, mode: 0660, group: $grp}" "$zesp" load "$work/shared.yaml"
[ "$(stat -c %a:%G "$work/shared.sad")" = "660:$grp" ]
ok $? "the SAD is made where the file says, mode 0660, group $grp ($(stat -c %a:%G "$work/shared.sad" 2> /dev/null))"
expect 0 "a group-shared SAD opens with --group" "$zesp" --group --sad "$work/shared.sad" policy list
grep -q "^p " "$work/out"; ok $? "and holds the file's policy"
printf 'sad: { path: own.sad, mode: 0600 }\n' > "$work/own.yaml"
expect 0 "an existing SAD of ours..." "$zesp" load "$work/own.yaml"
printf 'sad: { path: own.sad, mode: 0640, group: %s }\n' "$grp" > "$work/own.yaml"
expect 0 "...loaded with another mode and group" "$zesp" load "$work/own.yaml"
[ "$(stat -c %a:%G "$work/own.sad")" = "640:$grp" ]
ok $? "gets them, no chmod by hand ($(stat -c %a:%G "$work/own.sad"))"
printf 'sad: { path: bad.sad, mode: 0664 }\n' > "$work/bad.yaml"
expect 3 "sad.mode 0664: exit 3" "$zesp" load "$work/bad.yaml"
grep -q "bad.yaml:1:.*sad.mode: mode 0664 gives other users access to the keys" "$work/err" && [ ! -e "$work/bad.sad" ]
ok $? "mode for others: refused with file:line, and no SAD made"
expect 3 "zesp check refuses it too" "$zesp" check "$work/bad.yaml"
printf 'sad: { path: bad.sad, mode: 0700 }\n' > "$work/bad.yaml"
expect 3 "sad.mode 0700: exit 3" "$zesp" load "$work/bad.yaml"
grep -q "sad.mode: mode 0700: the owner must read and write" "$work/err"; ok $? "an execute bit is refused, saying what is allowed"
printf 'sad: { path: bad.sad, mode: 0660, group: no-such-group-zesp }\n' > "$work/bad.yaml"
expect 3 "sad.group that does not exist: exit 3" "$zesp" load "$work/bad.yaml"
grep -q "sad.group: group 'no-such-group-zesp' does not exist" "$work/err" && [ ! -e "$work/bad.sad" ]
ok $? "a missing group is named, and no SAD made"
printf 'sad: { path: bad.sad, owner: root }\n' > "$work/bad.yaml"
expect 3 "an unknown key under sad: exit 3" "$zesp" check "$work/bad.yaml"

# ---- the SAD's capacity: --capacity N, or the file's sad.capacity ----------
# Used only when load makes the SAD; before, every SAD zesp made had 1024.
capa() { "$zesp" --sad "$1" --json stats | sed -n 's/.*"capacity":\([0-9]*\),.*/\1/p'; }
printf 'policies: [ { name: p } ]\n' > "$work/cap.yaml"
expect 0 "load --capacity 4096 makes the SAD" "$zesp" --sad "$work/cap.sad" load --capacity 4096 "$work/cap.yaml"
[ "$(capa "$work/cap.sad")" = 4096 ]; ok $? "with 4096 slots (JSON capacity $(capa "$work/cap.sad"))"
"$zesp" --sad "$work/cap.sad" stats | grep -q "^SAD: 0 of 4096 SAs"; ok $? "stats says 0 of 4096 SAs"
printf 'policies: [ { name: q } ]\n' > "$work/cap-q.yaml"
expect 4 "load --capacity 2048 on a SAD of 4096: exit 4" "$zesp" --sad "$work/cap.sad" --capacity 2048 load "$work/cap-q.yaml"
grep -q "SAD $work/cap.sad has 4096 SA slots, not the 2048 asked for (--capacity): a SAD's capacity is fixed when it is made" "$work/err" &&
    ! "$zesp" --sad "$work/cap.sad" policy list | grep -q "^q "
ok $? "says the SAD's capacity is fixed, and loads nothing"
expect 0 "load --capacity 4096 on it again" "$zesp" --sad "$work/cap.sad" --capacity 4096 load "$work/cap-q.yaml"
expect 0 "load without --capacity takes it as it is" "$zesp" --sad "$work/cap.sad" load "$work/cap.yaml"
for v in 0 16777217 many 12k -3 ""; do
    expect 2 "--capacity '$v': exit 2" "$zesp" --sad "$work/cap-bad.sad" --capacity "$v" load "$work/cap.yaml"
    grep -q "^zesp: --capacity takes a number of SA slots, 1 to 16777216 (not '$v')" "$work/err" && [ ! -e "$work/cap-bad.sad" ]
    ok $? "and says what it takes, no SAD made"
done
expect 2 "--capacity on a command that makes no SAD: exit 2" "$zesp" --sad "$work/cap.sad" --capacity 4096 stats
grep -q "stats takes no --capacity" "$work/err"; ok $? "said as for any option of another command"
printf 'sad: { path: capy.sad, capacity: 512 }\npolicies: [ { name: p } ]\n' > "$work/capy.yaml"
expect 0 "load with sad.capacity: 512" "$zesp" load "$work/capy.yaml"
[ "$(capa "$work/capy.sad")" = 512 ]; ok $? "makes a SAD of 512 slots"
expect 4 "sad.capacity: 512 on a SAD of 4096: exit 4" "$zesp" --sad "$work/cap.sad" load "$work/capy.yaml"
grep -q "has 4096 SA slots, not the 512 asked for (sad.capacity)" "$work/err"; ok $? "and names sad.capacity"
expect 0 "--capacity over the file's sad.capacity" "$zesp" --sad "$work/capo.sad" --capacity 300 load "$work/capy.yaml"
[ "$(capa "$work/capo.sad")" = 300 ]; ok $? "--capacity wins (300)"
for bad in "0:0 SA slots: at least 1" "16777217:above the maximum 16777216" "many:'many' is not a non-negative integer"; do
    v=${bad%%:*} why=${bad#*:}
    printf 'sad: { path: capb.sad, capacity: %s }\n' "$v" > "$work/bad.yaml"
    expect 3 "sad.capacity $v: exit 3" "$zesp" load "$work/bad.yaml"
    grep -q "bad.yaml:1:[0-9]*: sad.capacity: .*$why" "$work/err" && [ ! -e "$work/capb.sad" ]
    ok $? "refused with file:line ($why), no SAD made"
done

# A configuration error quotes the file's keys and values: escaped.
# Before, a key "x\rbad.yaml: valid\e[K" printed as is, and the terminal
# showed "bad.yaml: valid" over the refusal.
printf 'sas:\n  - { "x\\rbad.yaml: valid\\e[K": 1 }\n' > "$work/bad.yaml"
expect 3 "check of a key with a carriage return and an escape: exit 3" "$zesp" check "$work/bad.yaml"
! grep -q "$(printf '[\r\033]')" "$work/err" &&
    grep -qF "unknown key 'x\x0dbad.yaml: valid\x1b[K'" "$work/err"
ok $? "the error shows the key's control characters as \\xNN, never raw"

# ---- Names in the SAD shown as text ---------------------------------------
# zesp_sa_add takes any bytes as an SA's peer (any program holding the SAD
# may write one): zesp prints it escaped (\xNN, \\), so no escape sequence
# (ESC [, the one-byte CSI), no bidirectional override and no line of the
# writer's own reaches the terminal; JSON escapes them too.
py=${PYTHON3:-python3}
peer=$(printf 'ev\\il\033[2J\n0x0000dead in \302\233\342\200\256\377')
shown='ev\\il\x1b[2J\x0a0x0000dead in \xc2\x9b\xe2\x80\xae\xff'
"$b/tests/om_traffic" "$work/hostile.sad" hostile "$peer" 1 > /dev/null
ok $? "an SA and a policy whose peer holds ESC, a line feed, a CSI, U+202E, 0xff"
for cmd in "sa list" "sa show 0xbeef --dir in" "policy list"; do
    # shellcheck disable=SC2086
    expect 0 "zesp $cmd with that peer" "$zesp" --sad "$work/hostile.sad" $cmd
    "$py" "$s/tests/only_text.py" "$work/out" "$shown" &&
        ! grep -q '^0x0000dead' "$work/out"
    ok $? "zesp $cmd shows it as text, on its row"
done
expect 0 "zesp --json sa list with that peer" "$zesp" --sad "$work/hostile.sad" --json sa list
"$py" "$s/tests/only_text.py" "$work/out" '\u001b[2J\u000a0x0000dead in \u009b\u202e' &&
    "$py" -c 'import json,sys; json.load(open(sys.argv[1]))' "$work/out"
ok $? "its JSON is valid and only text, the controls \\u-escaped"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
