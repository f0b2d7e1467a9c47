"""A Python worker of a service behind the C broker (examples/mdp_broker).

    python3 mdp_worker.py --sad PATH --back EP --service NAME
                          [--policy POLICY] [--reply POLICY] [--name NAME]
                          [--count N] [--heartbeat-ms MS]

It says READY to the broker, then answers each request [REQUEST | request
id | text] it can verify, and that the client bound to this service
(services may share a policy), with [ANSWER | request id | "NAME/1: text"]
(the id echoed, encrypted, so that the client can tell its answer from any
other the broker hands it: examples/request_id.h), refusing one that is
not a request with a request id (another worker's answer, where one SA
carries both ways), until it has answered
N (default: forever) or is stopped (SIGTERM, Ctrl-C).  Every
--heartbeat-ms (default 2500, the broker's) it says HEARTBEAT, so that the
broker can tell a worker whose host is gone from a quiet one.  Requests are accepted only under an SA of
--policy (default: the service's name): the broker routes them on the clear
service frame and can read nothing else.  Answers go on --reply (default:
--policy), back to the client's routing id.  The same protocol as the C
mdp_worker; a C mdp_client can use it, and the other way round.
"""
import argparse
import signal
import sys
import time

import zmq

import zesp

REQUEST_ID_BYTES = 16       # examples/request_id.h
KIND_REQUEST = b"\x01"
KIND_ANSWER = b"\x03"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sad", required=True, help="this host's SAD file")
    p.add_argument("--back", required=True, help="the broker's worker endpoint")
    p.add_argument("--service", required=True)
    p.add_argument("--policy", help="the policy requests come under (default: the service)")
    p.add_argument("--reply", help="the policy answers go on (default: --policy)")
    p.add_argument("--name", default="py-worker")
    p.add_argument("--count", type=int, default=0, help="stop after N answers")
    p.add_argument("--heartbeat-ms", type=int, default=2500,
                   help="how often to tell the broker it lives (its --heartbeat-ms)")
    a = p.parse_args()
    policy = a.policy or a.service
    reply = a.reply or policy
    service = a.service.encode()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    answered = refused = 0
    ctx = zmq.Context()
    with zesp.SAD.open(a.sad) as sad, ctx.socket(zmq.DEALER) as s:
        s.linger = 1000
        # Woken at least twice an interval, to say HEARTBEAT.
        s.rcvtimeo = max(1, min(200, a.heartbeat_ms // 2))
        s.connect(a.back)
        s.send_multipart([b"READY", service])
        beat = time.monotonic() + a.heartbeat_ms / 1000
        print("mdp_worker.py %s: ready for %s" % (a.name, a.service), flush=True)
        try:
            while a.count == 0 or answered < a.count:
                if time.monotonic() >= beat:
                    try:
                        # Not worth waiting for: the broker may be away.
                        s.send_multipart([b"HEARTBEAT", service], zmq.NOBLOCK)
                    except zmq.Again:
                        pass
                    beat = time.monotonic() + a.heartbeat_ms / 1000
                try:
                    # [client] envelope, [service] clear, the request body
                    msg = sad.recv(s, policy)
                except zesp.Again:
                    continue
                except zesp.Error as e:
                    refused += 1
                    print("mdp_worker.py %s: refused a request: %s" % (a.name, e),
                          file=sys.stderr, flush=True)
                    s.send_multipart([b"READY", service])
                    continue
                with msg:
                    # The binding proves what the client named, not that
                    # it named us: services may share a policy, and the
                    # broker picks the worker.
                    if msg.clear != [service]:
                        refused += 1
                        print("mdp_worker.py %s: refused a request: bound to "
                              "another service than %s" % (a.name, a.service),
                              file=sys.stderr, flush=True)
                        s.send_multipart([b"READY", service])
                        continue
                    body = msg.body
                    # An answer (one SA may carry both ways), or nothing to
                    # echo: its answer could not be told from another.
                    if (len(body) != 3 or bytes(body[0]) != KIND_REQUEST or
                            len(body[1]) != REQUEST_ID_BYTES):
                        refused += 1
                        print("mdp_worker.py %s: refused a request: not a request "
                              "with a request id" % a.name, file=sys.stderr,
                              flush=True)
                        s.send_multipart([b"READY", service])
                        continue
                    text = b"%s/1: %s" % (a.name.encode(), bytes(body[2]))
                    sad.send(s, reply, envelope=msg.envelope, clear=msg.clear,
                             body=[KIND_ANSWER, body[1], text])
                answered += 1
        finally:
            print("mdp_worker.py %s: answered %d, refused %d"
                  % (a.name, answered, refused), flush=True)
    ctx.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())
