"""A Majordomo broker that attacks what it routes (doc/topologies.md 1):

    hostile_broker.py FRONT BACK ATTACK

Clients (DEALER) send [service | ESP] to FRONT, workers (DEALER) say
[READY | service] and answer [client | service | ESP] on BACK, as with
examples/mdp_broker.  It holds no key: it replays, reflects, cuts and
rewrites frames.  Each ATTACK, on the client's requests in the order
they come, then routing the request honestly, so that a client and a
worker that refuse the forgery still serve the real one:

  reflect         the request, unchanged, back to its client as an answer
  reflect-only    the same, and the request goes to no worker
  reply-as-request  the first answer, unchanged, handed to the other
                  worker as a request (then to its client)
  plaintext       [service | text] to the client and [client | service |
                  text] to the worker, no ESP frame; and [service] alone
  truncate        to the worker: the request without its service frame,
                  its ESP frame cut by 4 octets, and with a body frame of
                  its own behind the ESP frame
  every-worker    the request to every idle worker at once (processes of
                  one host sharing its SAD: one may take it)
  old-reply       each answer is recorded; a client that comes after is
                  first handed every answer recorded (already accepted
                  by its host: a replay), then its own
  other-service   the request first to a worker of another service (one
                  that shares the policy), its answer to the client, and
                  only then to a worker of the service named

Prints "hostile_broker: ready" once bound, "hostile_broker: worker N
ready" per worker, "hostile_broker: answer from worker N" per answer,
and a line per forgery sent ("hostile_broker: sent
WHAT")."""
import sys

import zmq


def main():
    front_ep, back_ep, attack = sys.argv[1:4]
    ctx = zmq.Context()
    front, back = ctx.socket(zmq.ROUTER), ctx.socket(zmq.ROUTER)
    for s in (front, back):
        s.linger = 0
    front.bind(front_ep)
    back.bind(back_ep)
    print("hostile_broker: ready", flush=True)
    idle, workers, queue, recorded = [], [], [], []
    services, waiting, misrouted = {}, [], set()

    def sent(what):
        print("hostile_broker: sent %s" % what, flush=True)

    def pick(service, same):
        for w in idle:
            if (services.get(w) == service) == same:
                idle.remove(w)
                return w
        return None

    def misroute():
        while queue:
            client, service, esp = queue[0]
            other = (client, esp) not in misrouted
            worker = pick(service, not other)
            if worker is None:
                return
            queue.pop(0)
            back.send_multipart([worker, client, service, esp])
            if other:
                misrouted.add((client, esp))
                waiting.append((client, service, esp))
                sent("the request to a worker of another service")

    def dispatch():
        if attack == "other-service":
            misroute()
            return
        while queue and idle:
            client, service, esp = queue.pop(0)
            worker = idle.pop(0)
            if attack == "plaintext":
                back.send_multipart([worker, client, service,
                                     b"a request in clear"])
                back.send_multipart([worker, client, service])
                sent("a request in clear to the worker")
            elif attack == "truncate":
                back.send_multipart([worker, client, esp])
                back.send_multipart([worker, client, service, esp[:-4]])
                back.send_multipart([worker, client, service, esp,
                                     b"a body frame of the broker's"])
                sent("a cut request to the worker")
            if attack == "every-worker":
                for other in idle:
                    back.send_multipart([other, client, service, esp])
                    sent("the request to another worker too")
                idle.clear()
            back.send_multipart([worker, client, service, esp])

    poller = zmq.Poller()
    poller.register(front, zmq.POLLIN)
    poller.register(back, zmq.POLLIN)
    while True:
        for s, _ in poller.poll():
            parts = s.recv_multipart()
            if s is front:
                if len(parts) != 3:
                    continue
                client, service, esp = parts
                if attack in ("reflect", "reflect-only"):
                    front.send_multipart([client, service, esp])
                    sent("a request back to its client")
                    if attack == "reflect-only":
                        continue
                elif attack == "plaintext":
                    front.send_multipart([client, service,
                                          b"an answer in clear"])
                    front.send_multipart([client, service])
                    sent("an answer in clear to the client")
                elif attack == "old-reply":
                    for old in recorded:
                        front.send_multipart([client] + old[1:])
                        sent("an old answer to a new client")
                queue.append((client, service, esp))
            elif len(parts) == 3 and parts[1] in (b"READY", b"HEARTBEAT"):
                if parts[0] not in workers:
                    workers.append(parts[0])
                    print("hostile_broker: worker %d ready" % len(workers),
                          flush=True)
                services[parts[0]] = parts[2]
                if parts[1] == b"READY" and parts[0] not in idle:
                    idle.append(parts[0])
            elif len(parts) == 4:
                worker, client = parts[0], parts[1]
                if worker in workers:
                    print("hostile_broker: answer from worker %d"
                          % (workers.index(worker) + 1), flush=True)
                if (attack == "reply-as-request" and len(workers) > 1 and
                        not recorded):
                    other = workers[1] if worker == workers[0] else workers[0]
                    back.send_multipart([other] + parts[1:])
                    recorded.append(parts[1:])
                    sent("an answer to another worker as a request")
                if attack == "old-reply":
                    recorded.append(parts[1:])
                front.send_multipart(parts[1:])
                queue[:0] = waiting     # other-service: now the right one
                waiting.clear()
                if worker not in idle:
                    idle.append(worker)
            dispatch()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
