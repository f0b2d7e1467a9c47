"""A Python client of a service behind the C broker (examples/mdp_broker).

    python3 mdp_client.py --sad PATH --front EP --service NAME --policy POLICY
                          [--reply POLICY] [--count N] [--timeout-ms MS]

Sends N requests "request I" on POLICY, the service name as a clear frame
bound to each (the broker routes on it and can read nothing else), and
waits up to --timeout-ms for each answer, accepted only under an SA of
--reply (default: POLICY).  An answer must echo its request.  Prints what
happened and which workers answered; exits 0 when every request was
answered.  The same protocol as the C mdp_client.
"""
import argparse
import collections
import sys

import zmq

import zesp


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sad", required=True, help="this host's SAD file")
    p.add_argument("--front", required=True, help="the broker's client endpoint")
    p.add_argument("--service", required=True)
    p.add_argument("--policy", required=True, help="the policy requests go on")
    p.add_argument("--reply", help="the policy answers come under (default: --policy)")
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--timeout-ms", type=int, default=5000)
    a = p.parse_args()
    reply = a.reply or a.policy
    workers: collections.Counter = collections.Counter()
    answered = refused = 0

    ctx = zmq.Context()
    with zesp.SAD.open(a.sad, acquire_timeout=5.0) as sad, ctx.socket(zmq.DEALER) as s:
        s.linger = 1000
        s.rcvtimeo = a.timeout_ms
        s.connect(a.front)
        for i in range(a.count):
            request = b"request %d" % i
            sad.send(s, a.policy, clear=[a.service.encode()], body=[request])
            while True:
                try:
                    with sad.recv(s, reply) as msg:
                        answer = msg.bytes()
                except zesp.Again:
                    break                   # unanswered
                except zesp.Error as e:
                    refused += 1
                    print("mdp_client.py: refused an answer: %s" % e, file=sys.stderr)
                    continue
                worker, _, echoed = answer.partition(b": ")
                if echoed == request:
                    answered += 1
                    workers[worker.decode(errors="replace")] += 1
                    break
    ctx.term()
    print("mdp_client.py: %d requests, %d answered, %d unanswered, %d answers refused, "
          "%d workers answered" % (a.count, answered, a.count - answered, refused,
                                   len(workers)))
    for name, n in sorted(workers.items()):
        print("mdp_client.py:   %s answered %d" % (name, n))
    return 0 if answered == a.count else 1


if __name__ == "__main__":
    sys.exit(main())
