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
work=$(mktemp -d "${TMPDIR:-/tmp}/zesp-metrics.XXXXXX")
pids=""
cleanup() {
    for p in $pids; do kill -9 "$p" 2> /dev/null; done
    wait 2> /dev/null
    rm -rf "$work"
}
trap cleanup EXIT
umask 077
if "$py" -c "import prometheus_client.openmetrics.parser" 2> /dev/null; then
    parser=yes
else
    parser=no
    echo "# skip: no prometheus_client for $py (Debian: python3-prometheus-client)"
fi
# parse sad|zike OM JSON...: the scraper's parser agrees with the JSON.
parse() {
    if [ $parser = no ]; then
        skipped=$((skipped + 1))
        return 0
    fi
    "$py" "$s/tests/openmetrics_check.py" "$@" > "$work/parse.out" 2>&1
    rc=$?
    [ $rc -eq 0 ] || grep -v '^# ok' "$work/parse.out"
    return $rc
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
if [ $parser = yes ]; then
    parse sad "$work/t.om" "$work/t.json" "$peer"
    ok $? "prometheus_client parses it; every counter equals zesp --json stats; names read back as they are"
fi
