"""A slowloris client for zike's metrics endpoint (tests/test_metrics.sh).

  slow_http.py HOST PORT N SECONDS READY-FILE

opens N connections, sends each the start of a GET and then one more
header line a second, never ending the request, for SECONDS; writes
READY-FILE once all N are open, and prints how many the server closed.
"""
import socket
import sys
import time

host, port, n, seconds, ready = sys.argv[1], int(sys.argv[2]), \
    int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
conns = []
for _ in range(n):
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    conns.append(s)
open(ready, "w").close()
closed = set()
end = time.monotonic() + seconds
while time.monotonic() < end and len(closed) < n:
    time.sleep(1)
    for i, s in enumerate(conns):
        if i in closed:
            continue
        try:
            s.sendall(b"X-Slow: 1\r\n")
        except OSError:
            closed.add(i)
print("closed %d of %d" % (len(closed), n))
