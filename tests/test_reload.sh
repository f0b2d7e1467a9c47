#!/bin/sh
# Manual keys loaded again (issue 14, item 1), with the zesp tool and real
# processes over tcp on 127.0.0.1.  Host A sends on a policy, host B
# receives and keeps every ESP frame as it came off the wire.  For each way
# of taking the SA out (flush, sa del, hard expiry, the SAD file deleted)
# both hosts load the same YAML again; an attacker replays every frame of
# before, then A sends again.  Wanted: no (SPI, IV) twice on the wire, no
# old frame accepted, every new one accepted.  Then a sender killed with
# SIGKILL when the receiver has counted a random number of its messages,
# the SA loaded again, five times: no IV twice.  Last, loads refused
# without a usable state directory or record, with the error checked.
b=${builddir:-.} s=${srcdir:-.}
. "$s/tests/lib.sh"
zesp="$b/tools/zesp" peer="$b/tests/seq_peer"
work=$(mktemp -d "${TMPDIR:-/tmp}/zesp-reload.XXXXXX") || exit 1
umask 077
N=40            # messages before and after; blocks of 16 run out often
pids=
cleanup() {
    for p in $pids; do kill "$p" 2> /dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT

# za / zb CMD...: the zesp tool on host A / B, each with its own SAD and
# state directory (never the machine's).
za() { ZESP_STATE_DIR="$work/a.state" "$zesp" --sad "$work/a.sad" "$@"; }
zb() { ZESP_STATE_DIR="$work/b.state" "$zesp" --sad "$work/b.sad" "$@"; }

key=$("$zesp" keygen)
# yaml HOST [HARD_MESSAGES]
yaml() {
    life=
    [ -n "${2:-}" ] && life="
    lifetime: { hard: { messages: $2 } }"
    if [ "$1" = a ]; then
        cat <<EOF
seq_block: 16
sas:
  - spi: 0x5001
    direction: out
    key: "$key"$life
policies:
  - { name: to-b, out: 0x5001 }
EOF
    else
        cat <<EOF
seq_block: 16
sas:
  - spi: 0x5001
    direction: in
    key: "$key"$life
EOF
    fi
}

lines() { c=$(grep -c "${2:-.}" "$1" 2> /dev/null); echo "${c:-0}"; }
# receiver NAME: start B's receiver, its log $work/NAME.log, its capture
# $work/NAME.cap; sets $ep and $rpid.
receiver() {
    rm -f "$work/ep"
    "$peer" recv --sad "$work/b.sad" --endpoint-file "$work/ep" \
        --capture "$work/$1.cap" > "$work/$1.log" 2>&1 &
    rpid=$! pids="$pids $rpid"
    until_ok 30 test -s "$work/ep" || echo "# the receiver did not start"
    ep=$(cat "$work/ep")
}
stop() { kill "$1" 2> /dev/null; wait "$1" 2> /dev/null; }
send() { "$peer" send --sad "$work/a.sad" --policy to-b --connect "$ep" --count "$1" > /dev/null; }
replay() { "$peer" replay --connect "$ep" --capture "$work/$1.cap" > /dev/null; }
# wait_lines LOG N: the receiver has answered N messages (generous bound).
wait_lines() { until_ok 60 sh -c "[ \$(grep -c . '$1') -ge $2 ]"; }

za state init > /dev/null && zb state init > /dev/null
ok $? "state init on both hosts"

round() {
    kind=$1 hard=
    [ "$kind" = expiry ] && hard=$N
    yaml a $hard > "$work/a.yaml"
    yaml b $hard > "$work/b.yaml"
    za flush > /dev/null 2>&1; zb flush > /dev/null 2>&1
    za load "$work/a.yaml" > /dev/null && zb load "$work/b.yaml" > /dev/null
    ok $? "$kind: load A and B"

    receiver "$kind-1"
    send $N
    wait_lines "$work/$kind-1.log" $N
    stop $rpid
    [ "$(lines "$work/$kind-1.log" '^ok ')" -eq $N ]; ok $? "$kind: $N accepted before"

    case $kind in
    flush) za flush && zb flush ;;
    "sa del") za sa del 0x5001 && zb sa del 0x5001 ;;
    expiry) [ "$(za expire)" = "1 SAs expired" ] && [ "$(zb expire)" = "1 SAs expired" ] ;;
    "SAD file") rm "$work/a.sad" "$work/b.sad" ;;
    esac
    ok $? "$kind: the SA taken out of both hosts"
    za load "$work/a.yaml" > /dev/null && zb load "$work/b.yaml" > /dev/null
    ok $? "$kind: the same YAML loaded again"

    receiver "$kind-2"
    replay "$kind-1"                  # frames 0 .. N-1: replays
    wait_lines "$work/$kind-2.log" $N
    send $N                           # frames N .. 2N-1: new
    wait_lines "$work/$kind-2.log" $((2 * N))
    replay "$kind-1"                  # frames 2N .. 3N-1: replays again
    wait_lines "$work/$kind-2.log" $((3 * N))
    stop $rpid
    accepted=$(lines "$work/$kind-2.log" '^ok ')
    [ "$accepted" -eq $N ] &&
        [ "$(sed -n "$((N + 1)),$((2 * N))p" "$work/$kind-2.log" | grep -c '^ok ')" -eq $N ]
    ok $? "$kind: after the reload every new frame accepted, no replay ($accepted accepted of $((3 * N)))"
    { "$peer" ivs --capture "$work/$kind-1.cap"
      "$peer" ivs --capture "$work/$kind-2.cap" --from $N --to $((2 * N)); } > "$work/$kind.ivs"
    total=$(wc -l < "$work/$kind.ivs")
    twice=$(sort "$work/$kind.ivs" | uniq -d | wc -l)
    [ "$total" -eq $((2 * N)) ] && [ "$twice" -eq 0 ]
    ok $? "$kind: no (SPI, IV) twice on the wire ($total frames, $twice repeated)"
}
round flush
round "sa del"
round expiry
round "SAD file"

# kill -9 of the sender at a random point between its record's writes (the
# receiver has counted a random number of its messages), then the SA
# loaded again (a flush, or the SAD file gone) and the next sender.
yaml a > "$work/a.yaml"; yaml b > "$work/b.yaml"
za flush > /dev/null; zb flush > /dev/null
za load "$work/a.yaml" > /dev/null && zb load "$work/b.yaml" > /dev/null
receiver kill
for i in 1 2 3 4 5; do
    before=$(lines "$work/kill.log" '^ok ')
    at=$((before + 1 + $(od -An -N1 -tu1 /dev/urandom) % 48))
    "$peer" send --sad "$work/a.sad" --policy to-b --connect "$ep" \
        --count 1000000 > /dev/null 2>&1 &
    spid=$! pids="$pids $spid"
    until_ok 60 sh -c "[ \$(grep -c '^ok ' '$work/kill.log') -ge $at ]"
    kill -9 $spid; wait $spid 2> /dev/null
    if [ $((i % 2)) -eq 0 ]; then
        rm "$work/a.sad"
    else
        za flush
    fi
    za load "$work/a.yaml" > /dev/null || echo "# load $i failed"
done
before=$(lines "$work/kill.log" '^ok ')
send $N
wait_lines "$work/kill.log" $((before + N))
stop $rpid
"$peer" ivs --capture "$work/kill.cap" > "$work/kill.ivs"
twice=$(sort "$work/kill.ivs" | uniq -d | wc -l)
[ "$twice" -eq 0 ] && [ "$(lines "$work/kill.log" '^refused ')" -eq 0 ]
ok $? "kill -9 five times, loaded again: $(wc -l < "$work/kill.ivs") frames, $twice (SPI, IV) repeated, none refused"
# One key through every round: its numbering never went back.
twice=$(cat "$work"/*.ivs | sort | uniq -d | wc -l)
[ "$twice" -eq 0 ]; ok $? "over all rounds: $(cat "$work"/*.ivs | wc -l) frames, $twice (SPI, IV) repeated"

# Loads refused: no state directory, a damaged record, one not writable.
za flush > /dev/null
ZESP_STATE_DIR="$work/none" "$zesp" --sad "$work/c.sad" load "$work/a.yaml" > /dev/null 2> "$work/err"
[ $? -eq 1 ] && grep -q "state directory $work/none" "$work/err" &&
    grep -q "make it with 'zesp state init'" "$work/err" && [ ! -e "$work/none" ]
ok $? "no state directory: load refused, says how to make one"
for r in $(ls "$work/a.state"); do cp "$work/a.state/$r" "$work/$r.keep"; done
for r in $(ls "$work/a.state"); do printf 'X' | dd of="$work/a.state/$r" bs=1 seek=42 conv=notrunc 2> /dev/null; done
za load "$work/a.yaml" > /dev/null 2> "$work/err"
[ $? -eq 1 ] && grep -q "sequence record is damaged: .* install a new key" "$work/err"
ok $? "a damaged record: load refused, says to install a new key"
for r in $(ls "$work/a.state"); do cp "$work/$r.keep" "$work/a.state/$r"; done
# No byte may be written to a file (root writes whatever the modes say):
# SIGXFSZ ignored, write fails with EFBIG; the error read through a pipe.
out=$( (trap '' XFSZ; ulimit -f 0; za load "$work/a.yaml" 2>&1 > /dev/null
        echo "exit $?") )
case $out in *"cannot write a manual key's sequence record"*"exit 1") ;;
    *) false ;; esac
ok $? "a record that cannot be written: load refused"
za load "$work/a.yaml" > /dev/null
ok $? "the record usable again: loaded"

finish
