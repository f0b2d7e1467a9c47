"""A TCP relay that can drop its connections, as a network blip would:

    tcp_relay.py PORT TARGET_PORT

Listens on 127.0.0.1:PORT and relays each connection to
127.0.0.1:TARGET_PORT, both ways.  Prints "ready" once listening and
"pairs N" each time the number of relayed connections changes.  SIGUSR1
closes every relayed connection at both ends (the client's ZeroMQ socket
then connects again through the relay); it prints "dropped N".  SIGUSR2
does the same and then closes each new connection at once, as a network
that stays down would, until the next SIGUSR2; it prints "held N", then
"released"."""
import os
import selectors
import signal
import socket
import sys


def main():
    port, target = int(sys.argv[1]), int(sys.argv[2])
    sel = selectors.DefaultSelector()
    server = socket.create_server(("127.0.0.1", port))
    sel.register(server, selectors.EVENT_READ)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    sel.register(wake_r, selectors.EVENT_READ)
    signal.signal(signal.SIGUSR1, lambda *_: os.write(wake_w, b"x"))
    signal.signal(signal.SIGUSR2, lambda *_: os.write(wake_w, b"h"))
    other = {}                      # each relayed socket -> its twin
    held = False

    def close(s):
        for x in (s, other.pop(s, None)):
            if x is not None:
                other.pop(x, None)
                sel.unregister(x)
                x.close()

    def pairs():
        print("pairs", len(other) // 2, flush=True)

    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            s = key.fileobj
            if s is server:
                client, _ = server.accept()
                if held:
                    client.close()
                    continue
                try:
                    upstream = socket.create_connection(("127.0.0.1", target))
                except OSError:
                    client.close()
                    continue
                other[client], other[upstream] = upstream, client
                sel.register(client, selectors.EVENT_READ)
                sel.register(upstream, selectors.EVENT_READ)
                pairs()
            elif s == wake_r:
                for sig in os.read(wake_r, 64):
                    if sig == ord("h") and held:
                        held = False
                        print("released", flush=True)
                        continue
                    n = len(other) // 2
                    while other:
                        close(next(iter(other)))
                    held = sig == ord("h")
                    print("held" if held else "dropped", n, flush=True)
                    pairs()
            elif s in other:
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if data:
                    other[s].sendall(data)
                else:
                    close(s)
                    pairs()


if __name__ == "__main__":
    main()
