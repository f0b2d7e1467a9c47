#!/bin/sh
# The group key server killed with -9 under traffic and started again
# (doc/zike.md 9.7).  Three hosts: h1 the key server (zike) and an
# XSUB/XPUB proxy that holds no key and logs SPI and IV of every ESP frame
# it forwards to the subscriber; h2 a publisher (a sender of "prices");
# h3 a subscriber.  A restarted key server has forgotten which (key,
# Sender ID) pairs it gave out; it must never give one again.  zike's
# answer: it never reuses a group key, a start makes new group SAs, and
# the members, finding the old IKE SA dead, register again and get them.
# Checked on the wire: no (SPI, IV) twice, over both key servers' SAs;
# the publisher's second half goes out on an SA of the new key server;
# the subscriber reads what is sent afterwards.  rekey-on-join is on, so
# the members joining the first key server are handed keys made for them.
b=$(cd "${builddir:-.}" && pwd)
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
[ -x "$b/tests/group_peer" ] || skip_all "tests/group_peer not built"
hosts_begin grestart 3
zesp="$b/tools/zesp" zikectl="$b/tools/zikectl" gp="$b/tests/group_peer"
. "$(cd "${srcdir:-.}" && pwd)/tests/group_hosts.sh"

group_of_three "activation-delay: 1s" "deactivation-delay: 10s" "rekey-on-join: true"
ok $? "the three configurations check (rekey-on-join: true)"
sending_on() {  # h2's policy sends on SA 0x$1
    [ "$(out_spi "$work/h2.sad" prices)" = "0x$1" ]
}
wire() { [ "$(grep -c . "$work/wire.log" 2> /dev/null)" -ge "$1" ]; }
until_ok 30 holding 2 && old=$(serving_hex) && until_ok 20 sending_on "$old"
ok $? "both members registered; the publisher sends on SA 0x$old"
grep -q "new group SA 0x$old: a member joins" "$work/h1.log"
ok $? "the second member to join got a key made at its registration (rekey-on-join)"

on 1 "$gp" proxy --xsub "tcp://$h1:6101" --xpub "tcp://$h1:6102" \
    --log "$work/wire.log" > "$work/proxy.out" &
on 3 "$gp" sub --sad "$work/h3.sad" --connect "tcp://$h1:6102" --topic prices \
    --tag r1 --count 2000 --timeout-ms "$(ms 60000)" > "$work/sub.r1" 2>&1 &
sub=$!
until_ok 30 has_subscribers "$work/proxy.out" prices 1
# The second half waits until the publisher's policy moved to another SA:
# only the new key server's can come.
on 2 "$gp" pub --sad "$work/h2.sad" --policy prices --connect "tcp://$h1:6101" \
    --topic prices --tag r1 --count 2000 --interval-us 1000 --switch-at 1000 \
    --timeout-ms "$(ms 60000)" > "$work/pub.r1" 2>&1 &
pubr=$!
until_ok 30 wire 100
gcks=$(pid_of 1)
kill -9 $gcks
frames=$(grep -c . "$work/wire.log")
until_ok 20 not_running "zike -c $work/h1.yaml"
ok $? "the key server (pid $gcks) killed with -9 after $frames frames"
on 1 "$b/ike/zike" -c "$work/h1.yaml" 2>> "$work/h1.log" &
until_ok 60 holding 2 && new=$(serving_hex) && [ "$new" != "$old" ]
ok $? "the restarted key server made a new group SA (0x$new), both members registered again and hold it"
wait $pubr
ok $? "the publisher sent 2000 messages, the second 1000 after its policy moved"
[ "$(grep -c . "$work/wire.log")" -eq 2000 ]
ok $? "2000 ESP frames reached the subscriber's side of the proxy"
[ -z "$(sort "$work/wire.log" | uniq -d | head -1)" ]
ok $? "no (SPI, IV) twice on the wire across the restart"
# SAs of the restarted key server: those its log says it made.
made=$(sed -n "s/.*zike\[$(pid_of 1)\] notice: group prices: new group SA 0x\([0-9a-f]*\).*/\1/p" "$work/h1.log" | tr '\n' ' ')
before=$(head -n 1000 "$work/wire.log" | cut -c1-8 | sort -u | tr '\n' ' ')
after=$(tail -n 1000 "$work/wire.log" | cut -c1-8 | sort -u | tr '\n' ' ')
all=0
for spi in $after; do
    case " $made" in *" $spi "*) ;; *) all=1 ;; esac
    case " $before" in *" $spi "*) all=1 ;; esac
done
[ "$before" = "$old " ] && [ -n "$after" ]
ok $(($? | all)) "the first 1000 on SA $old, the second 1000 only on SAs the new key server made ($after)"
p=$(pgrep -f "group_peer sub --sad $work/h3.sad .* --tag r1 ") && kill $p
wait $sub 2> /dev/null

# After the restart the subscriber reads everything sent.
until_ok 30 has_subscribers "$work/proxy.out" prices 0 && until_ok 20 sending_on "$new"
on 3 "$gp" sub --sad "$work/h3.sad" --connect "tcp://$h1:6102" --topic prices \
    --tag r2 --count 300 --timeout-ms "$(ms 60000)" > "$work/sub.r2" 2>&1 &
sub=$!
until_ok 30 has_subscribers "$work/proxy.out" prices 1
on 2 "$gp" pub --sad "$work/h2.sad" --policy prices --connect "tcp://$h1:6101" \
    --topic prices --tag r2 --count 300 --interval-us 500 \
    --timeout-ms "$(ms 60000)" > /dev/null 2>&1
wait $sub
grep -q "sub r2: accepted 300 dup 0" "$work/sub.r2"
ok $? "after the restart the subscriber accepts all 300 new messages, none twice"
[ -z "$(sort "$work/wire.log" | uniq -d | head -1)" ]
ok $? "still no (SPI, IV) twice on the wire ($(grep -c . "$work/wire.log") frames)"

if [ "$failed" -ne 0 ]; then
    for f in h1.log h2.log h3.log check.log pub.r1 sub.r1 sub.r2 proxy.out; do
        echo "== $f"; tail -n 25 "$work/$f" 2> /dev/null
    done
fi
p=$(pgrep -f "group_peer proxy --xsub tcp://$h1:6101") && kill $p
for n in 1 2 3; do p=$(pid_of $n) && kill $p; done
finish
