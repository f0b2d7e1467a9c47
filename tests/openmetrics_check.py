"""A scraper's view of zesp's OpenMetrics exposition (tests/test_metrics.sh).

  openmetrics_check.py sad OM SAD_JSON PEER
      OM (`zesp stats --openmetrics`) parses as OpenMetrics, and its zesp_*
      counters equal those of SAD_JSON (`zesp --json stats`); every SA's
      peer label reads PEER (its bytes, invalid UTF-8 replaced).
  openmetrics_check.py zike OM SAD_JSON STATS_JSON GROUPS_JSON
      OM (a scrape of zike's endpoint) parses, its zesp_* counters equal
      SAD_JSON's and its zike_* counters equal `zikectl --json stats` and
      `zikectl --json groups`.

The parser is prometheus_client's OpenMetrics parser, the one a Python
scraper uses; it refuses what the format does not allow (a missing
# EOF, a bad escape, a counter sample without _total, a family split).
Prints "# ok WHAT" or "# FAIL WHAT" per check; exit 1 if one failed.
"""
import json
import os
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

failures = 0


def check(cond, what):
    global failures
    print("# %s %s" % ("ok  " if cond else "FAIL", what))
    if not cond:
        failures += 1


def families(path):
    with open(path, "rb") as f:
        raw = f.read()
    text = raw.decode("utf-8")          # OpenMetrics is UTF-8: must decode
    check(text.endswith("# EOF\n"), "%s ends with # EOF" % path)
    return {fam.name: fam for fam in text_string_to_metric_families(text)}


def value(fams, family, sample, **labels):
    """The value of the one sample of family whose labels include labels."""
    found = [s.value for s in fams[family].samples
             if s.name == sample and
             all(s.labels.get(k) == v for k, v in labels.items())]
    if len(found) != 1:
        raise KeyError("%s%s: %d samples" % (sample, labels, len(found)))
    return found[0]


def sad_matches(fams, sad):
    for sa in sad["per_sa"]:
        key = dict(spi=sa["spi"], direction=sa["direction"],
                   sender_id=str(sa["sender_id"]))
        check(value(fams, "zesp_sa_messages", "zesp_sa_messages_total", **key)
              == sa["messages"], "SA %(spi)s %(direction)s messages" % sa)
        check(value(fams, "zesp_sa_bytes", "zesp_sa_bytes_total", **key)
              == sa["bytes"], "SA %(spi)s %(direction)s bytes" % sa)
        for kind, n in sa["rejected"].items():
            check(value(fams, "zesp_sa_rejected", "zesp_sa_rejected_total",
                        kind=kind, **key) == n,
                  "SA %s %s rejected %s = %d" % (sa["spi"], sa["direction"],
                                                 kind, n))
    for pol in sad["per_policy"]:
        for kind, n in pol["rejected"].items():
            check(value(fams, "zesp_policy_rejected",
                        "zesp_policy_rejected_total", policy=pol["name"],
                        kind=kind) == n,
                  "policy %r rejected %s = %d" % (pol["name"], kind, n))
    for kind, n in sad["sad"]["rejected"].items():
        check(value(fams, "zesp_sad_rejected", "zesp_sad_rejected_total",
                    kind=kind) == n, "host rejected %s = %d" % (kind, n))
    check(value(fams, "zesp_sad_sas", "zesp_sad_sas") == sad["sad"]["sas"],
          "SAs installed")


# zikectl stats' JSON name of each zike_* counter.
ZIKE_COUNTERS = {
    "zike_ike_established_total": "ike_established",
    "zike_child_installed_total": "child_installed",
    "zike_ike_rekeys_total": "ike_rekeys",
    "zike_child_rekeys_total": "rekeys",
    "zike_child_deleted_total": "deleted",
    "zike_auth_failures_total": "auth_failed",
    "zike_cookies_sent_total": "cookies_sent",
    "zike_retransmits_total": "retransmits",
    "zike_dead_peers_total": "dead_peers",
    "zike_spi_collisions_total": "spi_collisions",
    "zike_ike_refused_total": "ike_refused",
    "zike_ike_rekeys_refused_total": "ike_rekeys_refused",
    "zike_ike_init_invalid_total": "ike_init_invalid",
    "zike_ike_requests_invalid_total": "ike_requests_invalid",
    "zike_group_rekeys_total": "group_rekeys",
    "zike_group_registrations_total": "group_registrations",
    "zike_group_updates_total": "group_updates",
    "zike_group_holddown_refusals_total": "group_holddown_refusals",
}


def zike_matches(fams, stats, groups):
    by_sample = {s.name: s.value for fam in fams.values()
                 for s in fam.samples if not s.labels}
    for sample, key in ZIKE_COUNTERS.items():
        check(by_sample.get(sample) == stats[key],
              "%s = %s (zikectl: %s)" % (sample, by_sample.get(sample),
                                         stats[key]))
    check(sum(s.value for s in fams["zike_ike_sas"].samples)
          == stats["ike_sas"], "zike_ike_sas over every state = ike_sas")
    check(by_sample.get("zike_child_sas") == stats["child_sas"],
          "zike_child_sas")
    for gauge in ("listen_connections", "listen_authenticated"):
        check(by_sample.get("zike_" + gauge) == stats[gauge],
              "zike_%s = %s (zikectl: %s)" % (gauge, by_sample.get(
                  "zike_" + gauge), stats[gauge]))
    for s in fams["zike_dropped_messages"].samples:
        check(s.value == stats["ike_dropped_" + s.labels["reason"]],
              "dropped %s = %s" % (s.labels["reason"], s.value))
    check(sum(s.value for s in fams["zike_dropped_messages"].samples)
          == stats["dropped_messages"], "dropped by reason add up")
    for g in groups["served"]:
        check(value(fams, "zike_group_members", "zike_group_members",
                    group=g["group"]) == g["members"],
              "group %s members" % g["group"])
    for g in groups["joined"]:
        check(value(fams, "zike_group_registered", "zike_group_registered",
                    group=g["group"]) == int(g["registered"]),
              "group %s registered" % g["group"])


def load(path):
    with open(path, "rb") as f:
        return json.loads(f.read().decode("utf-8"))


def main(argv):
    fams = families(argv[2])
    sad = load(argv[3])
    sad_matches(fams, sad)
    if argv[1] == "sad":
        peer = os.fsencode(argv[4]).decode("utf-8", "replace")
        peers = {s.labels["peer"] for s in fams["zesp_sa_messages"].samples}
        check(peers == {peer}, "peer label %r reads %r" % (peers, peer))
        policies = {s.labels["policy"]
                    for s in fams["zesp_policy_rejected"].samples}
        check(policies == {p["name"] for p in sad["per_policy"]},
              "policy labels %r" % policies)
    else:
        zike_matches(fams, load(argv[4]), load(argv[5]))
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (KeyError, ValueError, OSError) as e:
        print("# FAIL %s: %r" % (sys.argv[2], e))
        sys.exit(1)
