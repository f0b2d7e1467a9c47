#!/bin/sh
# A member's own configuration decides the source authentication it
# requires of a group, as an SPD does (doc/configuration.md, join
# source-auth; doc/zike.md 9.6): its key server cannot turn it off.
# Two hosts, each its own zike and SAD: h1 the key server of "prices",
# h2 a receiver with a sign-key.  Checked: a join's source-auth that
# cannot work is refused at --check; a group pushed without source
# authentication to a member with a sign-key is refused, with a line
# naming the group, what it requires and what was offered, and nothing
# is installed (before, it was installed without a word); the member
# that says source-auth: false takes it; back to the default its SAs go;
# a group with signatures is taken under the default; a member requiring
# mac refuses it; a refusal repeated is said once.
b=$(cd "${builddir:-.}" && pwd)
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
[ -x "$b/tools/zikectl" ] || skip_all "tools/zikectl not built"
hosts_begin gsrcauth 2
zesp="$b/tools/zesp" zikectl="$b/tools/zikectl"
. "$(cd "${srcdir:-.}" && pwd)/tests/group_hosts.sh"

(cd "$work" && for k in h1 h2 h3 s2 s3; do
    "$zesp" keygen --identity "$k" > /dev/null
done)
h1=$(ip_of 1)
gcks_conf() {   # the group's source-auth
    if [ "$1" = false ]; then
        senders="[h3.example]"
    else
        senders="[{ id: h3.example, sign-pubkey: \"$(pub s3)\" }]"
    fi
    cat <<EOT
identity: { id: h1.example, key: $work/h1.key }
listen: tcp://$h1:5910
control: ipc://$work/h1.ctl
sad: $work/h1.sad
retransmit: { timeout-ms: $(ms 250), tries: 3 }
peers:
  - { name: h2, id: h2.example, auth: ed25519, pubkey: "$(pub h2)", dpd: 1s }
  - { name: h3, id: h3.example, auth: ed25519, pubkey: "$(pub h3)", dpd: 1s }
groups:
  - name: prices
    source-auth: $1
    activation-delay: 0s
    deactivation-delay: 1s
    rekey-holddown: 0s
    senders: $senders
    receivers: [h2.example]
EOT
}
member_conf() {   # more keys of the join: ", source-auth: mac"
    cat <<EOT
identity: { id: h2.example, key: $work/h2.key }
listen: tcp://$(ip_of 2):5920
control: ipc://$work/h2.ctl
sad: $work/h2.sad
retransmit: { timeout-ms: $(ms 250), tries: 3 }
peers:
  - { name: gcks, id: h1.example, endpoint: "tcp://$h1:5910", auth: ed25519, pubkey: "$(pub h1)", dpd: 1s }
join:
  - { group: prices, server: gcks, role: receiver, sign-key: $work/s2.key$1 }
EOT
}

# refused NAME MESSAGE JOIN: a member whose join is JOIN is refused
refused() {
    sed "s|^  - { group: prices.*|  - $3|" "$work/h2.yaml" > "$work/bad.yaml"
    "$b/ike/zike" --check -c "$work/bad.yaml" > "$work/bad.out" 2>&1
    rc=$?
    [ $rc -eq 3 ] && grep -q -- "$2" "$work/bad.out"
    st=$?
    [ $st -eq 0 ] || { echo "# exit $rc:"; sed 's/^/# /' "$work/bad.out"; }
    ok $st "refused: $1"
}
gcks_conf false > "$work/h1.yaml"
member_conf "" > "$work/h2.yaml"
bad=0
for n in 1 2; do
    "$b/ike/zike" --check -c "$work/h$n.yaml" > /dev/null 2>> "$work/check.log" || bad=1
done
ok $bad "both configurations check"
refused "source-auth: mac without sign-key" "join\[0\].source-auth: mac needs sign-key" \
    "{ group: prices, server: gcks, role: receiver, source-auth: mac }"
refused "source-auth: signature for a sender without sign-key" \
    "join\[0\].source-auth: signature needs sign-key for a sender" \
    "{ group: prices, server: gcks, role: sender, source-auth: signature }"
refused "an unknown source-auth" "expected signature, mac or false, found 'maybe'" \
    "{ group: prices, server: gcks, role: receiver, source-auth: maybe }"

# holds_sa N: the member's status lists a group SA of prices (or, with
# "none", lists none while registered or not)
holds_sa() { ctl 2 groups 2> /dev/null | grep "^joined prices:" | grep -q " 0x[0-9a-f]*"; }
holds_none() { ctl 2 groups 2> /dev/null | grep "^joined prices:" > "$work/joined" && ! grep -q " 0x[0-9a-f]" "$work/joined"; }
refusals() { grep -c "group prices: key server gcks offers source-auth $1, the join requires $2: group SA 0x[0-9a-f]* refused" "$work/h2.log"; }
refused_more() { [ "$(refusals "$1" "$2")" -gt "$3" ]; }

for n in 1 2; do on $n "$b/ike/zike" -c "$work/h$n.yaml" 2>> "$work/h$n.log" & done
until_ok 30 refused_more false "signature or mac" 0
ok $? "a group without source authentication refused by a member with a sign-key, said in its log"
holds_none
ok $? "and nothing installed: $(cat "$work/joined")"
# It registers again every 2 s, refused each time the same way: said once
# (before, a line every 2 s for as long as the two configurations differ).
registrations() { grep -c "group prices: registering with gcks" "$work/h2.log"; }
regs=$(registrations)
more_registrations() { [ "$(registrations)" -ge $((regs + 2)) ]; }
until_ok 30 more_registrations && [ "$(refusals false "signature or mac")" -eq 1 ]
ok $? "the same refusal said once, however often it registers again ($(refusals false "signature or mac") lines)"

member_conf ", source-auth: false" > "$work/h2.yaml"
ctl 2 reload > /dev/null
until_ok 30 holds_sa
ok $? "source-auth: false in the join: the same group taken"
grep -q "group prices: group SA 0x[0-9a-f]* installed (chacha20-poly1305, 1 senders)" "$work/h2.log"
ok $? "installed without source authentication, as its log says"

before=$(refusals false "signature or mac")
member_conf "" > "$work/h2.yaml"
ctl 2 reload > /dev/null
until_ok 30 refused_more false "signature or mac" "$before" && until_ok 10 holds_none
ok $? "back to the default: its group SAs removed, the group refused again"

gcks_conf signature > "$work/h1.yaml"
ctl 1 reload > /dev/null
until_ok 60 holds_sa
ok $? "a group with signatures taken under the default"
grep -q "group prices: group SA 0x[0-9a-f]* installed (chacha20-poly1305, 1 senders, signed)" "$work/h2.log"
ok $? "installed signed, as its log says"

member_conf ", source-auth: mac" > "$work/h2.yaml"
ctl 2 reload > /dev/null
until_ok 30 refused_more signature mac 0 && until_ok 10 holds_none
ok $? "a member requiring source MACs refuses the group with signatures"

if [ "$failed" -ne 0 ]; then
    for f in h1.log h2.log check.log; do
        echo "== $f"; tail -n 25 "$work/$f" 2> /dev/null
    done
fi
for n in 1 2; do p=$(pid_of $n) && kill $p; done
finish
