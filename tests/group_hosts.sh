# Host 1 serves group prices to hosts 2 to 4, each its own zike (hN.yaml,
# hN.ctl, hN.sad in $work): test_group_mac.sh, test_proxy_zike.sh.
# Sourced after lib.sh; needs $zikectl.

ctl() { n=$1; shift; "$zikectl" -s "ipc://$work/h$n.ctl" "$@"; }
holding() {  # N members registered and holding the current SA
    ctl 1 groups 2> /dev/null | grep -q "serves prices: SA 0x[0-9a-f]*, $1 members, $1 hold it"
}
serving() { ctl 1 groups 2> /dev/null | sed -n 's/^serves prices: SA \(0x[0-9a-f]*\),.*/\1/p'; }
moved_from() { c=$(serving) && [ -n "$c" ] && [ "$c" != "$1" ]; }
sending() {  # host N's policy sends on the key server's current SA
    c=$(serving) && [ -n "$c" ] && [ "$(out_spi "$work/h$1.sad" prices)" = "$c" ]
}
