# Two zikes, a and b, and policy orders between them, for the tests of
# child SAs' lives (test_zike_sa_gone.sh, test_zike_idle_rekey.sh).
# Sourced after lib.sh and work_begin; needs $zesp, $pp (policy_pingpong)
# and $pt (each wait of policy_pingpong, ms).

# zike_pair_conf LIFETIME: a starts the IKE SA with b (start: true), b
# knows no endpoint of a; their child SAs of orders get LIFETIME.
zike_pair_conf() {
    zike_conf a "$(port 0)" "retransmit: { timeout-ms: $(ms 250), tries: 4 }" \
        "rekey-overlap: 500" "peers:" "  - name: b" "    id: b.example" \
        "    endpoint: tcp://127.0.0.1:$(port 1)" "    auth: psk" \
        "    psk: $PSK" "    start: true" "    policies: [orders]" \
        "    lifetime: $1"
    zike_conf b "$(port 1)" "retransmit: { timeout-ms: $(ms 250), tries: 4 }" \
        "rekey-overlap: 500" "peers:" "  - name: a" "    id: a.example" \
        "    auth: psk" "    psk: $PSK" "    policies: [orders]" \
        "    lifetime: $1"
}
# has_sa NAME SPI DIR: NAME's SAD holds that SA.
has_sa() {
    ZESP_SAD="$work/$1.sad" "$zesp" sa list 2> /dev/null |
        awk -v s="$2" -v d="$3" '$1 == s && $2 == d { f = 1 } END { exit !f }'
}
gone() { ! has_sa "$@"; }
# moved NAME SPI: NAME's policy orders sends on an SA, not SPI.
moved() {
    q=$(out_spi "$work/$1.sad" orders)
    [ -n "$q" ] && [ "$q" != 0x00000000 ] && [ "$q" != "$2" ]
}
# pingpong TAG [COUNT]: a pings b COUNT times (10) on policy orders, b
# answers; either may wait for an SA (ACQUIRE).
pingpong() {
    "$pp" --timeout-ms "$pt" --wait-sa "$pt" --sad "$work/b.sad" \
        --policy orders --bind "tcp://127.0.0.1:$(port 2)" \
        --count "${2:-10}" > "$work/srv-$1.out" 2>&1 &
    srv=$!
    "$pp" --timeout-ms "$pt" --wait-sa "$pt" --sad "$work/a.sad" \
        --policy orders --connect "tcp://127.0.0.1:$(port 2)" \
        --count "${2:-10}" > "$work/cli-$1.out" 2>&1
    rc=$?
    wait $srv || rc=1
    return $rc
}
