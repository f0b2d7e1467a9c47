# Shared by the shell tests: counting results and waiting for a condition.
# Source it after setting nothing; it sets passed=0 failed=0 skipped=0.
passed=0 failed=0 skipped=0

# Tests decide on events (a line in a log, a state zikectl reports, a
# counter in the SAD), never on a fixed sleep; a bound only says how long
# to wait for the event before calling its absence a failure.  Bounds are
# generous and multiplied by ZESP_TEST_TIMEOUT_SCALE (a whole number,
# default 1), the knob shared with the C tests (tests/test.h) that
# sanitizer builds set higher.
scale=${ZESP_TEST_TIMEOUT_SCALE:-1}
case $scale in '' | *[!0-9]*) scale=1 ;; esac
[ "$scale" -ge 1 ] || scale=1

# ms N: N milliseconds, scaled: a bound handed to a program (--timeout-ms).
ms() { echo $(($1 * scale)); }

# ok STATUS NAME: count one check.
ok() {
    if [ "$1" -eq 0 ]; then
        echo "ok   $2"; passed=$((passed + 1))
    else
        echo "FAIL $2"; failed=$((failed + 1))
    fi
}

# now_s: seconds since boot, which nobody steps (the wall clock may be
# set while a test waits: an NTP step, a VM's clock catching up).
now_s() {
    if [ -r /proc/uptime ]; then cut -d. -f1 /proc/uptime; else date +%s; fi
}

# until_ok SECONDS CMD...: run CMD every 0.1 s until it succeeds, for at
# most SECONDS (scaled) by the clock.  A wait over 5 s is noted in the
# log, and what it gave up on.
until_ok() {
    until_from=$(now_s)
    until_end=$((until_from + $1 * scale)); shift
    while :; do
        if "$@" > /dev/null 2>&1; then
            until_took=$(($(now_s) - until_from))
            [ $until_took -lt 5 ] || echo "# waited $until_took s for: $*"
            return 0
        fi
        [ "$(now_s)" -lt $until_end ] || break
        sleep 0.1
    done
    echo "# gave up after $(($(now_s) - until_from)) s waiting for: $*"
    return 1
}

# not_running PATTERN: no process's command line matches PATTERN (pgrep -f).
not_running() { ! pgrep -f "$1" > /dev/null; }

# orders_traffic TAG PORT: 20 messages each way on policy orders, bob's
# SAD binding PORT and alice's connecting ($pp: policy_pingpong, $pt: its
# bound on each wait, ms); their output in $work/srv-TAG.out, cli-TAG.out.
orders_traffic() {
    "$pp" --timeout-ms "$pt" --sad "$work/bob.sad" --policy orders \
        --bind "tcp://127.0.0.1:$2" --count 20 > "$work/srv-$1.out" 2>&1 &
    srv=$!
    "$pp" --timeout-ms "$pt" --sad "$work/alice.sad" --policy orders \
        --connect "tcp://127.0.0.1:$2" --count 20 > "$work/cli-$1.out" 2>&1
    rc=$?
    wait $srv && [ $rc -eq 0 ]
}

# zike_conf NAME PORT [lines...]: $work/NAME.yaml, a zike of identity
# NAME.example listening on tcp://127.0.0.1:PORT, its control socket and
# SAD in $work, then each line given.
zike_conf() {
    zc_n=$1 zc_p=$2
    shift 2
    {
        echo "identity: { id: $zc_n.example }"
        echo "listen: tcp://127.0.0.1:$zc_p"
        echo "control: ipc://$work/$zc_n.ctl"
        echo "sad: $work/$zc_n.sad"
        for l in "$@"; do echo "$l"; done
    } > "$work/$zc_n.yaml"
}

# zike_stat NAME KEY: the zike of zike_conf NAME's counter KEY ($ctl:
# zikectl); zike_active_child NAME POLICY: whether it holds an active child
# SA for the policy.
zike_stat() { "$ctl" -s "ipc://$work/$1.ctl" stats | awk -v k="$2" '$1 == k { print $2 }'; }
zike_active_child() { "$ctl" -s "ipc://$work/$1.ctl" list | grep -q "child $2 .* active"; }

# zike_start NAME: zike on $work/NAME.yaml, its log in $work/NAME.log,
# its pid added to $pids (for the caller's cleanup); $zike names it.
zike_start() {
    "$zike" -c "$work/$1.yaml" 2>> "$work/$1.log" &
    pids="$pids $!"
}

# out_spi SAD POLICY: the SPI the policy sends on (0x00000000: none).
out_spi() {
    "$b/tools/zesp" --sad "$1" policy list 2> /dev/null |
        awk -v p="$2" '$1 == p { print $3 }'
}

# out_seq SAD POLICY: the last sequence number sent on the policy's SA.
out_seq() {
    "$b/tools/zesp" --sad "$1" sa list 2> /dev/null |
        awk -v s="$(out_spi "$1" "$2")" '$1 == s && $2 == "out" { print $7 }'
}

# has_subscribers FILE TOPIC N: a proxy that prints "... subscribe TOPIC"
# and "... unsubscribe TOPIC" to FILE holds N subscriptions to TOPIC now.
has_subscribers() {
    [ "$(awk -v t="$2" '$NF == t && $(NF - 1) == "subscribe" { n++ }
        $NF == t && $(NF - 1) == "unsubscribe" { n-- }
        END { print n + 0 }' "$1" 2> /dev/null)" -eq "$3" ]
}

# skip_all WHY: the whole script cannot run here.
skip_all() {
    echo "skip: $1"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
}

# The closing line tests/run adds up.
finish() {
    if [ "$skipped" -ne 0 ]; then
        echo "$passed passed, $failed failed, $skipped skipped"
    else
        echo "$passed passed, $failed failed"
    fi
    [ "$failed" -eq 0 ]
}

# hosts_setup TAG N: N hosts, each a network namespace with the address
# 10.80.0.I on one bridge (its own namespace), when root can make them;
# else (or with ZESP_TEST_NO_NETNS=1) every host is this machine,
# 127.0.0.1.  Sets netns=yes|no; hosts_cleanup undoes it.  Then:
#   on I CMD...   run CMD on host I
#   ip_of I       host I's address
hosts_setup() {
    hosts_tag=$1 hosts_n=$2 netns=no
    if [ -z "${ZESP_TEST_NO_NETNS:-}" ] && [ "$(id -u)" -eq 0 ] &&
        command -v ip > /dev/null && ip netns add "zs$hosts_tag" 2> /dev/null; then
        netns=yes
        ip -n "zs$hosts_tag" link add br0 type bridge &&
            ip -n "zs$hosts_tag" link set br0 up || netns=broken
        i=1
        while [ $i -le "$hosts_n" ] && [ $netns = yes ]; do
            ip netns add "z$i$hosts_tag" &&
                ip link add "zh$i$hosts_tag" type veth peer name "zp$i$hosts_tag" &&
                ip link set "zh$i$hosts_tag" netns "z$i$hosts_tag" &&
                ip link set "zp$i$hosts_tag" netns "zs$hosts_tag" &&
                ip -n "zs$hosts_tag" link set "zp$i$hosts_tag" master br0 up &&
                ip -n "z$i$hosts_tag" addr add "10.80.0.$i/24" dev "zh$i$hosts_tag" &&
                ip -n "z$i$hosts_tag" link set "zh$i$hosts_tag" up &&
                ip -n "z$i$hosts_tag" link set lo up || netns=broken
            i=$((i + 1))
        done
    fi
    if [ $netns = yes ]; then
        echo "# hosts: network namespaces 10.80.0.1-$hosts_n on one bridge"
    elif [ $netns = no ]; then
        echo "# hosts: all on 127.0.0.1 (no network namespaces here)"
    fi
    [ $netns != broken ]
}
hosts_cleanup() {
    [ "${netns:-no}" = no ] && return 0
    i=1
    while [ $i -le "$hosts_n" ]; do
        for p in $(ip netns pids "z$i$hosts_tag" 2> /dev/null); do
            kill -9 "$p" 2> /dev/null
        done
        ip netns del "z$i$hosts_tag" 2> /dev/null
        i=$((i + 1))
    done
    ip netns del "zs$hosts_tag" 2> /dev/null
}
# host_kill I: every process of host I dies (its namespace's, or those
# whose command line names PATTERN, $2, on 127.0.0.1).
host_kill() {
    if [ "$netns" = yes ]; then
        for p in $(ip netns pids "z$1$hosts_tag"); do kill -9 "$p"; done
    else
        pkill -9 -f "$2"
    fi
}
# port_block: $base, the first of 32 TCP ports no other test holds while
# this one runs.  Tests run side by side (ZESP_TEST_JOBS) and their pids
# are close, so a base derived from the pid is not enough: each block of
# 20000-32767 (below Linux's ephemeral ports, which wildcard binds and
# outgoing connections take) is a directory made atomically, with its
# holder's pid; a block whose holder is gone is taken over.  port_release
# gives it back (work_end and hosts_end do).
# A block is also passed over while anything listens on one of its ports:
# a process that does not use this lock (a test run from another /tmp, as
# in a chroot sharing the network, or any other program) would otherwise
# make a daemon's bind fail with "Address already in use".
PORT_BLOCKS=399
ports_listened() {
    command -v ss > /dev/null 2>&1 || return 1
    ss -Htln 2> /dev/null | awk -v lo="$1" -v hi="$(($1 + 31))" '
        { n = split($4, a, ":"); p = a[n] + 0; if (p >= lo && p <= hi) busy = 1 }
        END { exit !busy }'
}
port_block() {
    port_dir=${TMPDIR:-/tmp}/zesp-ports
    mkdir -p "$port_dir" 2> /dev/null
    chmod 1777 "$port_dir" 2> /dev/null
    pb_start=$(($$ % PORT_BLOCKS)) pb_i=0
    while [ $pb_i -lt $PORT_BLOCKS ]; do
        pb=$(((pb_start + pb_i) % PORT_BLOCKS))
        if mkdir "$port_dir/$pb" 2> /dev/null; then
            if ports_listened $((20000 + pb * 32)); then
                rmdir "$port_dir/$pb"   # someone outside this lock holds it
                pb_i=$((pb_i + 1))
                continue
            fi
            echo $$ > "$port_dir/$pb/pid"
            port_held=$port_dir/$pb
            base=$((20000 + pb * 32))
            return 0
        fi
        pb_owner=$(cat "$port_dir/$pb/pid" 2> /dev/null)
        if [ -n "$pb_owner" ] && [ ! -d "/proc/$pb_owner" ]; then
            rm -rf "$port_dir/$pb"      # its holder died: try it again
            continue
        fi
        pb_i=$((pb_i + 1))
    done
    echo "# no free block of ports" >&2
    return 1
}
port_release() {
    [ -n "${port_held:-}" ] && rm -rf "$port_held"
    port_held=
}
# work_begin NAME [SALT]: a private work folder $work (files made 0600), a
# list $pids of processes to kill, and a block of ports (port N is the
# Nth); on exit the processes (and any whose command line names $work)
# are killed, the ports given back and $work
# is gone (KEEP=1 keeps $work for a post-mortem).
work_begin() {
    work=$(mktemp -d "${TMPDIR:-/tmp}/zesp-$1.XXXXXX") || exit 1
    pids=""
    umask 077
    trap work_end EXIT
    port_block || exit 1
}
work_end() {
    for p in $pids; do kill -9 "$p" 2> /dev/null; done
    # and any program started with a path in $work that $pids missed (a
    # test stopped between its start and its pid's record)
    pkill -9 -f "$work/" 2> /dev/null
    wait 2> /dev/null
    port_release
    [ -n "${KEEP:-}" ] && { echo "# kept $work"; return 0; }
    rm -rf "$work"
}
port() { echo $((base + $1)); }
# hosts_begin NAME N: a private work folder $work (files made 0600), then
# hosts_setup; on exit the hosts, every process whose command line names
# $work, and $work itself are gone.
hosts_begin() {
    work=$(mktemp -d "${TMPDIR:-/tmp}/zesp-$1.XXXXXX") || exit 1
    chmod 700 "$work"
    umask 077
    trap hosts_end EXIT
    hosts_setup $$ "$2" || skip_all "cannot set up the namespaces and bridge"
}
hosts_end() {
    port_release
    hosts_cleanup
    pkill -9 -f "$work/" 2> /dev/null
    rm -rf "$work"
}
ip_of() { if [ "$netns" = yes ]; then echo "10.80.0.$1"; else echo 127.0.0.1; fi; }
on() { n=$1; shift; if [ "$netns" = yes ]; then ip netns exec "z$n$hosts_tag" "$@"; else "$@"; fi; }
