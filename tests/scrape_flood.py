#!/usr/bin/env python3
"""Scrape a metrics endpoint as fast as THREADS clients can, for SECONDS,
and say how much CPU the serving process PID took meanwhile.

usage: scrape_flood.py HOST PORT THREADS SECONDS PID
prints: "answers=N answered=K threads=THREADS cpu=C wall=W" (K: clients
answered at least once; C and W in seconds)
"""
import http.client
import os
import sys
import threading
import time

host, port, threads, seconds, pid = (sys.argv[1], int(sys.argv[2]),
                                     int(sys.argv[3]), float(sys.argv[4]),
                                     int(sys.argv[5]))
tick = os.sysconf("SC_CLK_TCK")


def cpu_seconds():
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick   # utime + stime


answers = [0] * threads
stop = time.monotonic() + seconds


def client(i):
    conn = None
    while time.monotonic() < stop:
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, port, timeout=30)
            conn.request("GET", "/metrics")
            r = conn.getresponse()
            if r.status == 200 and r.read().endswith(b"# EOF\n"):
                answers[i] += 1
            else:
                r.read()
        except OSError:
            if conn is not None:
                conn.close()
            conn = None


c0, t0 = cpu_seconds(), time.monotonic()
ts = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
c1, t1 = cpu_seconds(), time.monotonic()
print("answers=%d answered=%d threads=%d cpu=%.2f wall=%.2f"
      % (sum(answers), sum(1 for a in answers if a), threads, c1 - c0,
         t1 - t0))
