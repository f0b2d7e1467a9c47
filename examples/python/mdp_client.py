"""A Python client of a service behind the C broker (examples/mdp_broker).

    python3 mdp_client.py --sad PATH --front EP --service NAME --policy POLICY
                          [--reply POLICY] [--count N] [--timeout-ms MS]

Sends N requests [REQUEST | request id | "request I"] on POLICY, the
service name as a clear frame bound to each (the broker routes on it and
can read nothing else), and waits up to --timeout-ms for each answer
[ANSWER | request id | text], accepted only under an SA of --reply
(default: POLICY), only if it is bound to the service asked (services may
share a policy: a worker of another one that served the request answers
for its own), only if it says it is an answer (one SA may carry both
ways: a request, this client's own, would otherwise pass), and only if it
echoes the request id (16 random bytes, encrypted) of the request
outstanding, once: the reply SA may be a group SA every client holds, so
without it a broker could hand this client another client's answer, or
one of this host's it withheld (examples/request_id.h).  Any
other answer is refused and counted, and the client waits on for its own.
Prints what happened and which workers answered; exits 0 when every request
was answered.  The same protocol as the C mdp_client.
"""
import argparse
import collections
import hmac
import secrets
import sys
import time

import zmq

import zesp

REQUEST_ID_BYTES = 16       # examples/request_id.h
KIND_REQUEST = b"\x01"
KIND_ANSWER = b"\x03"


def answers(body: list, request_id: bytes) -> bool:
    """Whether body is [ANSWER | request_id | "WORKER: ..."], the answer to it."""
    return (len(body) == 3 and body[0] == KIND_ANSWER and
            hmac.compare_digest(bytes(body[1]), request_id))


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
        s.connect(a.front)
        for i in range(a.count):
            request_id = secrets.token_bytes(REQUEST_ID_BYTES)
            sad.send(s, a.policy, clear=[a.service.encode()],
                     body=[KIND_REQUEST, request_id, b"request %d" % i])
            # Answers that are not this request's do not make it wait longer.
            end = time.monotonic() + a.timeout_ms / 1000
            while time.monotonic() < end:
                s.rcvtimeo = max(1, int((end - time.monotonic()) * 1000))
                try:
                    with sad.recv(s, reply) as msg:
                        body = [bytes(f) for f in msg.body]
                        clear = [bytes(f) for f in msg.clear]
                except zesp.Again:
                    break                   # unanswered
                except zesp.Error as e:
                    refused += 1
                    print("mdp_client.py: refused an answer: %s" % e, file=sys.stderr)
                    continue
                if clear != [a.service.encode()]:
                    refused += 1
                    print("mdp_client.py: refused an answer: bound to another "
                          "service than %s" % a.service, file=sys.stderr)
                    continue
                if not answers(body, request_id):
                    # Another client's, a late or second one to an earlier
                    # request of ours, a request: not this request's answer.
                    refused += 1
                    print("mdp_client.py: refused an answer: not to the request "
                          "outstanding", file=sys.stderr)
                    continue
                worker, _, _ = body[2].partition(b": ")
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
