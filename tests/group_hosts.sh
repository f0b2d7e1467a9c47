# Host 1 serves group prices to the other hosts, each its own zike
# (hN.yaml, hN.ctl, hN.sad, hN.log in $work): test_group_mac.sh,
# test_proxy_zike.sh, test_group_restart.sh, test_group_restart_spi.sh.
# Sourced after lib.sh and hosts_begin; needs $zikectl (and $zesp, $b
# for group_of_three).

ctl() { n=$1; shift; "$zikectl" -s "ipc://$work/h$n.ctl" "$@"; }
pid_of() { pgrep -f "zike -c $work/h$1.yaml"; }  # one process a host
pub() { cat "$work/$1.pub"; }
holding() {  # N members registered and holding the current SA
    ctl 1 groups 2> /dev/null | grep -q "serves prices: SA 0x[0-9a-f]*, $1 members, $1 hold it"
}
serving() { ctl 1 groups 2> /dev/null | sed -n 's/^serves prices: SA \(0x[0-9a-f]*\),.*/\1/p'; }
serving_hex() { serving | sed 's/^0x//'; }  # as state files and wire logs write it
moved_from() { c=$(serving) && [ -n "$c" ] && [ "$c" != "$1" ]; }
sending() {  # host N's policy sends on the key server's current SA
    c=$(serving) && [ -n "$c" ] && [ "$(out_spi "$work/h$1.sad" prices)" = "$c" ]
}

# group_of_three OPTION...: h1 (key server, tcp://$h1:5710) serves prices
# to h2, a sender, and h3, a receiver; each OPTION a line of the group's
# entry ("deactivation-delay: 2s").  Makes the three identities and
# configurations, checks them (errors in check.log), starts the three
# zikes and returns 1 if a configuration did not check.  Sets h1.
group_of_three() {
    (cd "$work" && for n in 1 2 3; do "$zesp" keygen --identity "h$n" > /dev/null; done)
    h1=$(ip_of 1)
    {
        cat <<EOT
identity: { id: h1.example, key: $work/h1.key }
listen: tcp://$h1:5710
control: ipc://$work/h1.ctl
sad: $work/h1.sad
retransmit: { timeout-ms: $(ms 250), tries: 3 }
peers:
  - { name: h2, id: h2.example, auth: ed25519, pubkey: "$(pub h2)", dpd: 1s }
  - { name: h3, id: h3.example, auth: ed25519, pubkey: "$(pub h3)", dpd: 1s }
groups:
  - name: prices
EOT
        for o in "$@"; do echo "    $o"; done
        cat <<EOT
    senders: [h2.example]
    receivers: [h3.example]
EOT
    } > "$work/h1.yaml"
    for n in 2 3; do
        role=sender
        [ $n -eq 3 ] && role=receiver
        cat > "$work/h$n.yaml" <<EOT
identity: { id: h$n.example, key: $work/h$n.key }
listen: tcp://$(ip_of "$n"):57${n}0
control: ipc://$work/h$n.ctl
sad: $work/h$n.sad
retransmit: { timeout-ms: $(ms 250), tries: 3 }
peers:
  - { name: gcks, id: h1.example, endpoint: "tcp://$h1:5710", auth: ed25519, pubkey: "$(pub h1)", dpd: 1s }
join:
  - { group: prices, server: gcks, role: $role }
EOT
    done
    checked=0
    for n in 1 2 3; do
        "$b/ike/zike" --check -c "$work/h$n.yaml" > /dev/null 2>> "$work/check.log" || checked=1
    done
    for n in 1 2 3; do on $n "$b/ike/zike" -c "$work/h$n.yaml" 2>> "$work/h$n.log" & done
    return $checked
}
