#!/bin/sh
# Metrics and status: `zesp stats --openmetrics` read by a real scraper's
# parser (prometheus_client) with hostile names, zike's metrics endpoint
# scraped over HTTP and held against zikectl's JSON, `zikectl list` for
# people (times relative, empty lists said), and zikectl finding zike's
# default control socket without -s.
b=$(cd "${builddir:-.}" && pwd)
s=$(cd "${srcdir:-.}" && pwd)
zike="$b/ike/zike" ctl="$b/tools/zikectl" zesp="$b/tools/zesp"
. "$s/tests/lib.sh"
py=${PYTHON3:-python3}
work_begin metrics 17
if "$py" -c "import prometheus_client.openmetrics.parser" 2> /dev/null; then
    parser=yes
else
    parser=no
    echo "# skip: no prometheus_client for $py (Debian: python3-prometheus-client)"
fi
# parsed NAME sad|zike OM JSON...: the scraper's parser agrees with the
# JSON (tests/openmetrics_check.py); skipped without the parser.
parsed() {
    name=$1
    shift
    if [ $parser = no ]; then
        echo "skip $name"
        skipped=$((skipped + 1))
        return
    fi
    "$py" "$s/tests/openmetrics_check.py" "$@" > "$work/parse.out" 2>&1
    rc=$?
    [ $rc -eq 0 ] || grep -v '^# ok' "$work/parse.out"
    ok $rc "$name"
}

# ---- zesp stats --openmetrics: traffic, refusals, hostile names ----------
policy='q"u\ote\'
peer=$(printf 'pe"er\\\nx\377\303\251')
"$b/tests/om_traffic" "$work/t.sad" "$policy" "$peer" 7 > "$work/traffic.out"
ok $? "7 messages accepted, a replay, a forgery and a malformed frame refused"
"$zesp" --sad "$work/t.sad" stats --openmetrics > "$work/t.om"
ok $? "zesp stats --openmetrics"
"$zesp" --sad "$work/t.sad" --json stats > "$work/t.json"
[ "$(tail -n 1 "$work/t.om")" = "# EOF" ] &&
    grep -q '^zesp_sa_messages_total{spi="0x0000beef",direction="in",.*} 7$' "$work/t.om" &&
    grep -q '^zesp_policy_rejected_total{policy="q\\"u\\\\ote\\\\",.*kind="replay"} 1$' "$work/t.om"
ok $? "the exposition ends with # EOF, counts 7 messages in and the replay under the escaped policy name"
parsed "prometheus_client parses it; every counter equals zesp --json stats; names read back as they are" \
    sad "$work/t.om" "$work/t.json" "$peer"

# ---- zike: two daemons, an SA with traffic; a scrape of the endpoint -----
PSK=correct-horse-battery-staple
conf() {    # conf NAME ID PORT [top-level lines...]
    n=$1 id=$2 p=$3
    shift 3
    {
        echo "identity: { id: $id }"
        echo "listen: tcp://127.0.0.1:$p"
        echo "sad: $work/$n.sad"
        for line in "$@"; do echo "$line"; done
    } > "$work/$n.yaml"
}
# Without control:, zike binds ipc://SAD.ctl; zikectl finds it from
# $ZESP_SAD as zesp finds the SAD: no -s.
ctl_of() { n=$1; shift; ZESP_SAD="$work/$n.sad" "$ctl" "$@"; }
conf bob bob.example "$(port 1)" "peers:" \
    "  - { name: alice, id: alice.example, auth: psk, psk: $PSK, policies: [orders] }"
conf alice alice.example "$(port 0)" "metrics: http://127.0.0.1:$(port 2)" "peers:" \
    "  - { name: bob, id: bob.example, endpoint: \"tcp://127.0.0.1:$(port 1)\", auth: psk, psk: $PSK, start: true, policies: [orders], lifetime: { seconds: 1h, bytes: 100G } }"
if "$zike" -c "$work/alice.yaml" --check > "$work/check.out" 2>&1; then
    mhd=yes
else
    mhd=no
    grep -q "needs a zike built with libmicrohttpd" "$work/check.out"
    ok $? "zike without libmicrohttpd: --check says what metrics: needs"
    sed -i '/^metrics:/d' "$work/alice.yaml"
fi
unset ZIKE_CONTROL
zike_start bob
until_ok 20 ctl_of bob list
ctl_of bob list > "$work/empty.out" && ctl_of bob groups >> "$work/empty.out"
[ "$(cat "$work/empty.out")" = "no IKE SAs
no groups served or joined" ]
ok $? "empty lists say so: no IKE SAs, no groups"
zike_start alice
alice_pid=$!
established() { ctl_of "$1" --json list | grep -q '"state":"established"'; }
until_ok 20 established alice && until_ok 20 established bob
ok $? "zikectl finds zike's default control socket without -s (ZESP_SAD)"
pp="$b/examples/policy_pingpong" pt=$(ms 20000)
"$pp" --timeout-ms "$pt" --sad "$work/bob.sad" --policy orders --bind "tcp://127.0.0.1:$(port 3)" --count 20 > "$work/srv.out" 2>&1 &
srv=$!
"$pp" --timeout-ms "$pt" --sad "$work/alice.sad" --policy orders --connect "tcp://127.0.0.1:$(port 3)" --count 20 > "$work/cli.out" 2>&1
ok $? "20 messages each way under the negotiated SA"
wait $srv

# ---- zikectl list, for people and in JSON --------------------------------
ctl_of alice list > "$work/list.out"
ctl_of alice --json list > "$work/list.json"
ZESP_SAD="$work/alice.sad" "$zesp" --json stats > "$work/sad.json"
grep -Eq '^  established [0-9smhd ]+ ago \(20[0-9-]{8}T[0-9:]{8}Z\), rekeying in [0-9smhd ]+$' "$work/list.out" &&
    grep -Eq '^  last handshake [0-9smhd ]+ ago, last heard [0-9smhd ]+ ago$' "$work/list.out" &&
    grep -Eq '^    installed [0-9smhd ]+ ago, rekeying in [0-9smhd ]+, expires in [0-9smhd ]+$' "$work/list.out" &&
    grep -Eq '^    in  0x[0-9a-f]{8}: 20 messages, [0-9.]+ [KMG]?i?B$' "$work/list.out" &&
    grep -Eq '^    out 0x[0-9a-f]{8}: 20 messages, [0-9.]+ [KMG]?i?B$' "$work/list.out" &&
    grep -Eq '^    lifetime used: [0-9smhd ]+ of 1h, 20 messages, [0-9.]+ [KMG]?i?B of 100 GiB$' "$work/list.out"
ok $? "zikectl list: established ago, rekeying in, last handshake, messages and bytes each way, lifetime used of its limit"
# (the IKE SPIs, hex, are on the first line only)
! grep -v '^[^ ]' "$work/list.out" | grep -Eq '[0-9]{9}'
ok $? "zikectl list prints no epoch seconds"
"$py" - "$work/list.json" "$work/sad.json" << 'PY'
import json, sys, time
ike = json.load(open(sys.argv[1]))["ike_sas"]
sad = {(s["spi"], s["direction"]): s for s in json.load(open(sys.argv[2]))["per_sa"] if not s.get("sender_id")}  # not a lane's window
sa = ike[0]
child = sa["children"][0]
now = time.time()
assert len(ike) == 1 and sa["state"] == "established", ike
assert 0 <= now - sa["established"] < 3600 and sa["last_handshake"] >= sa["established"], sa
assert 0 < sa["rekey_in"] <= 14400 and "age_ms" in sa and "spi_i" in sa, sa
assert 0 <= now - child["installed"] < 3600 and 0 < child["rekey_in"] < child["expires_in"] <= 3600, child
assert child["hard"] == {"seconds": 3600, "messages": 0, "bytes": 100 << 30}, child
i, o = sad[(child["spi_in"], "in")], sad[(child["spi_out"], "out")]
assert (child["messages_in"], child["bytes_in"]) == (i["messages"], i["bytes"]) == (20, i["bytes"]), (child, i)
assert (child["messages_out"], child["bytes_out"]) == (o["messages"], o["bytes"]), (child, o)
assert child["messages_out"] == 20 and child["bytes_in"] > 0, child
PY
ok $? "zikectl --json list: times as unix time, each child's counters those of its SAs in the SAD"

if [ $mhd = yes ]; then
    url="http://127.0.0.1:$(port 2)/metrics"
    # scrape: the endpoint's text, and zike's and the SAD's JSON around it
    # unchanged (nothing moved during the scrape).
    scrape() {
        ctl_of alice --json stats > "$work/s1.json" &&
            ctl_of alice --json groups > "$work/g.json" &&
            ZESP_SAD="$work/alice.sad" "$zesp" --json stats > "$work/sad1.json" &&
            "$py" -c "
import sys, urllib.request
r = urllib.request.urlopen(sys.argv[1], timeout=10)
sys.stdout.buffer.write(r.headers['Content-Type'].encode() + b'\n')
sys.stdout.buffer.write(r.read())" "$url" > "$work/scrape.out" &&
            ctl_of alice --json stats > "$work/s2.json" &&
            ZESP_SAD="$work/alice.sad" "$zesp" --json stats > "$work/sad2.json" &&
            sed '1d' "$work/scrape.out" > "$work/zike.om" &&
            cmp -s "$work/s1.json" "$work/s2.json" &&
            cmp -s "$work/sad1.json" "$work/sad2.json"
    }
    until_ok 20 scrape
    ok $? "GET /metrics answers while zike runs"
    [ "$(head -n 1 "$work/scrape.out")" = "application/openmetrics-text; version=1.0.0; charset=utf-8" ]
    ok $? "served as application/openmetrics-text; version=1.0.0"
    grep -q '^zike_ike_sas{state="established"} 1$' "$work/zike.om" &&
        grep -q '^zike_ike_established_total 1$' "$work/zike.om" &&
        grep -q '^zesp_sa_messages_total{spi="0x[0-9a-f]*",direction="in",sender_id="0",peer="bob"} 20$' "$work/zike.om"
    ok $? "the scrape shows the IKE SA and the 20 messages received"
    parsed "prometheus_client parses the scrape; zike_* equal zikectl --json stats and groups, zesp_* zesp --json stats" \
        zike "$work/zike.om" "$work/sad1.json" "$work/s1.json" "$work/g.json"
    "$py" -c "
import sys, urllib.request, urllib.error
for path, method, want in (('/nothing', 'GET', 404), ('/metrics', 'POST', 405)):
    try:
        urllib.request.urlopen(urllib.request.Request(sys.argv[1] + path, method=method, data=b'' if method == 'POST' else None), timeout=10)
        sys.exit('%s %s: 200' % (method, path))
    except urllib.error.HTTPError as e:
        if e.code != want:
            sys.exit('%s %s: %d, want %d' % (method, path, e.code, want))
" "http://127.0.0.1:$(port 2)"
    ok $? "another path: 404; another method: 405"
    # Slowloris: 16 connections (all the endpoint takes) that each send a
    # header line a second and never end their request.  Each request has
    # 10 s in all: the connections are closed and a scrape gets through.
    # Before, libmicrohttpd's timeout of inactivity never came, and no
    # scrape did as long as the client went on.
    hold=$((40 * scale + 20))
    "$py" "$s/tests/slow_http.py" 127.0.0.1 "$(port 2)" 16 "$hold" "$work/slow.ready" > "$work/slow.out" 2>&1 &
    slow=$!
    pids="$pids $slow"
    until_ok 10 test -e "$work/slow.ready"
    ok $? "16 slow connections open, each a request that never ends"
    scraped() {
        "$py" -c "
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=2).read()" "$url"
    }
    until_ok 40 scraped
    ok $? "a scrape gets through while they go on"
    wait $slow
    grep -q "^closed 16 of 16$" "$work/slow.out"
    ok $? "zike closed all 16 ($(cat "$work/slow.out"))"

    # A scrape flood: 1,000 SAs more in zike's SAD (the exposition about
    # 1.4 MB), 16 clients asking for it as fast as they can for 6 s.
    # Builds are paced (at least 200 ms apart, or ten times a build's
    # time), so zike's thread spends a small part of the time on them:
    # the CPU it takes is bounded above whatever the load, as a busier
    # machine only builds less often.  Before, zike built one exposition
    # per request and spent most of the time on it.
    "$py" -c "
import os
print('sas:')
for i in range(1000):
    print('  - { spi: 0x%08x, direction: in, transform: aes256gcm, key: \"hex:%s\", peer: p%d }'
          % (0x10000 + i, os.urandom(36).hex(), i % 50))" > "$work/many.yaml"
    ZESP_SAD="$work/alice.sad" "$zesp" --state-dir "$work/state" state init > /dev/null &&
        ZESP_SAD="$work/alice.sad" "$zesp" --state-dir "$work/state" load "$work/many.yaml" > /dev/null
    ok $? "1,000 SAs more in alice's SAD"
    "$py" "$s/tests/scrape_flood.py" 127.0.0.1 "$(port 2)" 16 6 "$alice_pid" > "$work/flood.out"
    tr ' ' '\n' < "$work/flood.out" | awk -F= '{ v[$1] = $2 }
        END { exit !(v["answered"] == 16 && v["cpu"] <= 0.3 * v["wall"]) }'
    ok $? "a scrape flood: every client answered, zike's CPU at most 30 % of the time ($(cat "$work/flood.out"))"
    until_ok 20 scraped
    ok $? "and a scrape after it is answered"
    until_ok 20 established alice
    ok $? "the IKE SA is still there"

    # metrics on every interface: the endpoint has no authentication, so
    # zike says whom it serves; on loopback (alice above) it says nothing.
    conf wild wild.example "$(port 4)" "metrics: http://0.0.0.0:$(port 5)" \
        "control: ipc://$work/wild.ctl"
    zike_start wild
    wild_said() { grep -q "warning: metrics http://0.0.0.0:$(port 5): on every interface, with no authentication" "$work/wild.log"; }
    until_ok 20 wild_said
    ok $? "metrics on 0.0.0.0: a warning that anyone reaching the host reads them"
    ! grep -q "on every interface" "$work/alice.log"
    ok $? "metrics on 127.0.0.1: no such warning"
fi

finish
