"""pyzmq plain, pyzmq CURVE and pyzmq + zesp, side by side, in one run.

    python3 bench/python_bench.py [--smoke] [--repeat N] [--sizes 64,1024]
                                  [--configs plain,curve,zesp-aesgcm]
                                  [--markdown FILE] [--profile DIR]

The method of bench/zesp_bench.c (libzmq's local_thr / remote_thr): a PUSH
sender and a PULL receiver in two processes over tcp://127.0.0.1, timed at
the receiver from the first message to the last; CPU per message is each
process's user + system time (its ZeroMQ I/O thread included) from
getrusage; each figure is the median of --repeat runs (3), the
configurations taking turns run by run.

Each side does what a pyzmq application does at its best: plain and CURVE
send bytes and receive bytes up to 1 KiB, and above that send and receive
without copying (copy=False, the frame's buffer), as pyzmq advises; zesp
sends a body of bytes on a policy and receives on that policy, reading
msg.body[0] (a memoryview).  --profile DIR writes each zesp process's
cProfile of its loop there.  --calls: instead, where a message's time goes
in one process over inproc (no I/O thread, no TCP): CPU ns per send and
per receive of pyzmq, of libzesp's own call through cffi, and of the zesp
API, at 64 B, the fastest of many rounds taken in turns.  --smoke: a few messages per case, to check
that it runs (CI); never a measure.
"""
import argparse
import cProfile
import json
import os
import resource
import subprocess
import sys
import time

SIZES = [64, 1024, 65536, 1048576]
CONFIGS = ["plain", "curve", "zesp-chacha", "zesp-aesgcm"]
# Messages per run: about a second each on two shared vCPUs.
COUNTS = {64: 400000, 1024: 300000, 65536: 20000, 1048576: 1500}
ZERO_COPY_FROM = 65536      # pyzmq's copy_threshold
HWM = 10000                 # messages queued, up to QUEUE_BYTES at large sizes
QUEUE_BYTES = 64 << 20
TIMEOUT_MS = 60000
SPI = 0x00b0b001
TRANSFORMS = {"zesp-chacha": "chacha20-poly1305", "zesp-aesgcm": "aes256gcm"}


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def make_socket(ctx, kind, config, keys, server, size):
    import zmq
    s = ctx.socket(kind)
    s.rcvtimeo = TIMEOUT_MS
    s.sndhwm = s.rcvhwm = max(16, min(HWM, QUEUE_BYTES // size))
    s.linger = -1               # the sender delivers every message
    if config == "curve":
        if server:
            s.curve_server = True
            s.curve_secretkey = keys["curve_secret"].encode()
        else:
            public, secret = zmq.curve_keypair()
            s.curve_serverkey = keys["curve_public"].encode()
            s.curve_publickey, s.curve_secretkey = public, secret
    return s


def make_sad(config, keys, direction):
    import zesp
    sad = zesp.SAD.private()
    # A key made for this run alone: no sequence record, no state dir.
    sad.add_sa(SPI, direction, bytes.fromhex(keys["sa_key"]),
               transform=TRANSFORMS[config], peer="bench", manual=False)
    if direction == zesp.OUT:
        sad.set_policy("bench", out=SPI, peer="bench")
    else:
        sad.set_policy("bench", inbound=[SPI], peer="bench")
    return sad


def receiver(args, keys):
    import zmq
    ctx = zmq.Context()
    s = make_socket(ctx, zmq.PULL, args.config, keys, True, args.size)
    s.bind("tcp://127.0.0.1:*")
    print(s.last_endpoint.decode(), flush=True)
    n, size = args.count, args.size
    if args.config.startswith("zesp"):
        sad = make_sad(args.config, keys, "in")
        recv = sad.recv

        def one():
            return len(recv(s, "bench").body[0])
    elif size >= ZERO_COPY_FROM:
        recv = s.recv

        def one():
            return len(recv(copy=False).buffer)
    else:
        recv = s.recv

        def one():
            return len(recv())
    profile = cProfile.Profile() if args.profile else None
    if one() != size:
        raise SystemExit("bench: first message of the wrong size")
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    if profile:
        profile.enable()
    for _ in range(n - 1):
        one()
    if profile:
        profile.disable()
        profile.dump_stats(os.path.join(args.profile, "recv-%s-%d.prof" % (args.config, size)))
    elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    print(json.dumps({"msgs_per_s": (n - 1) / elapsed,
                      "cpu_us": cpu / (n - 1) * 1e6}), flush=True)
    s.close()
    ctx.term()


def sender(args, keys):
    import zmq
    ctx = zmq.Context()
    s = make_socket(ctx, zmq.PUSH, args.config, keys, False, args.size)
    s.connect(args.endpoint)
    data = os.urandom(args.size)
    n = args.count
    profile = cProfile.Profile() if args.profile else None
    cpu0 = cpu_seconds()
    if profile:
        profile.enable()
    if args.config.startswith("zesp"):
        sad = make_sad(args.config, keys, "out")
        send, body = sad.send, [data]
        cpu0 = cpu_seconds()
        for _ in range(n):
            send(s, "bench", body=body)
    elif args.size >= ZERO_COPY_FROM:
        send = s.send
        for _ in range(n):
            send(data, copy=False)
    else:
        send = s.send
        for _ in range(n):
            send(data)
    if profile:
        profile.disable()
        profile.dump_stats(os.path.join(args.profile, "send-%s-%d.prof" % (args.config, args.size)))
    cpu = cpu_seconds() - cpu0
    s.close()
    ctx.term()
    print(json.dumps({"cpu_us": cpu / n * 1e6}), flush=True)


def run_pair(config, size, count, keys, profile):
    """One throughput run: the receiver's rate, and both sides' CPU."""
    me = [sys.executable, os.path.abspath(__file__), "--config", config,
          "--size", str(size), "--count", str(count)]
    if profile:
        me += ["--profile", profile]
    secret = json.dumps(keys) + "\n"
    rx = subprocess.Popen(me + ["--role", "recv"], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True)
    rx.stdin.write(secret)
    rx.stdin.close()
    endpoint = rx.stdout.readline().strip()
    if not endpoint:
        rx.wait()
        raise SystemExit("bench: the receiver did not start")
    tx = subprocess.run(me + ["--role", "send", "--endpoint", endpoint],
                        input=secret, stdout=subprocess.PIPE, text=True,
                        check=True)
    out = rx.stdout.read()
    if rx.wait(timeout=600) != 0:
        raise SystemExit("bench: the receiver of %s at %d B failed" % (config, size))
    got = json.loads(out.strip().splitlines()[-1])
    got["cpu_us_send"] = json.loads(tx.stdout.strip().splitlines()[-1])["cpu_us"]
    got["cpu_us_recv"] = got.pop("cpu_us")
    return got


def calls(transform, size, rounds=40, n=2000):
    """CPU ns per call, in one process: pyzmq, libzesp through cffi alone,
    and the zesp API on top of it."""
    import zmq
    import zesp
    from zesp._native import ffi, lib
    key = os.urandom(36)
    tx, rx = zesp.SAD.private(), zesp.SAD.private()
    tx.add_sa(SPI, zesp.OUT, key, transform=transform, manual=False)
    tx.set_policy("p", out=SPI)
    rx.add_sa(SPI, zesp.IN, key, transform=transform, manual=False)
    rx.set_policy("p", inbound=[SPI])
    ctx = zmq.Context()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    a.sndhwm = b.rcvhwm = 0
    a.bind("inproc://calls")
    b.connect("inproc://calls")
    data, ha, hb, body = os.urandom(size), a.underlying, b.underlying, [None]
    body[0] = data

    def zmq_fill():
        for _ in range(n):
            a.send(data)

    def raw_fill():
        for _ in range(n):
            lib.zesp_py_send_body(tx._sad, b"p", 0, ha, data, size, 0)

    def zmq_send():
        send = a.send
        for _ in range(n):
            send(data)

    def zmq_recv():
        recv = b.recv
        for _ in range(n):
            recv()

    def raw_send():
        f, sad = lib.zesp_py_send_body, tx._sad
        for _ in range(n):
            f(sad, b"p", 0, ha, data, size, 0)

    def raw_recv():
        # Into one zesp_msg held by the caller, wiped after each (as recv
        # gives it back).
        f, wipe, sad = lib.zesp_py_recv, lib.zesp_py_msg_wipe, rx._sad
        m = ffi.gc(lib.zesp_msg_new(), lib.zesp_py_msg_free)
        out = ffi.new("zesp_py_body *")
        for _ in range(n):
            f(sad, b"p", hb, 0, m, out)
            wipe(m)

    def api_send():
        send = tx.send
        for _ in range(n):
            send(a, "p", body=body)

    def api_recv():
        recv = rx.recv
        for _ in range(n):
            recv(b, "p").body[0]

    cases = [("pyzmq send", None, zmq_send), ("pyzmq recv", zmq_fill, zmq_recv),
             ("libzesp via cffi send", None, raw_send),
             ("libzesp via cffi recv", raw_fill, raw_recv),
             ("zesp API send", None, api_send),
             ("zesp API recv + body[0]", raw_fill, api_recv)]
    best = {name: float("inf") for name, _, _ in cases}
    for _ in range(rounds):
        for name, fill, run in cases:
            while b.poll(0):
                b.recv()
            if fill:
                fill()
            t0 = time.thread_time()
            run()
            best[name] = min(best[name], time.thread_time() - t0)
    a.close(linger=0)
    b.close(linger=0)
    ctx.term()
    return [(name, best[name] / n * 1e9) for name, _, _ in cases]


def library_line():
    import zmq
    import zesp
    return ("pyzmq %s, libzmq %s (%s), zesp %s, Python %s"
            % (zmq.__version__, zmq.zmq_version(), zesp.libzmq_path(),
               zesp.__version__, sys.version.split()[0]))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--sizes", default=",".join(map(str, SIZES)))
    p.add_argument("--configs", default=",".join(CONFIGS))
    p.add_argument("--markdown")
    p.add_argument("--profile")
    p.add_argument("--calls", action="store_true")
    p.add_argument("--role", choices=["send", "recv"])
    p.add_argument("--config")
    p.add_argument("--size", type=int)
    p.add_argument("--count", type=int)
    p.add_argument("--endpoint")
    args = p.parse_args()
    if args.role:
        keys = json.loads(sys.stdin.readline())
        (sender if args.role == "send" else receiver)(args, keys)
        return

    import zmq
    import zesp
    public, secret = zmq.curve_keypair()
    keys = {"curve_public": public.decode(), "curve_secret": secret.decode(),
            "sa_key": os.urandom(36).hex()}
    sizes = [int(x) for x in args.sizes.split(",")]
    configs = []
    for c in args.configs.split(","):
        if c not in CONFIGS:
            raise SystemExit("bench: unknown config %s (%s)" % (c, ", ".join(CONFIGS)))
        if c in TRANSFORMS and not zesp.transform_available(TRANSFORMS[c]):
            print("bench: %s unavailable on this CPU: skipped" % c)
        else:
            configs.append(c)
    if args.calls:
        lines = ["| size | transform | call | CPU ns |", "|---:|---|---|---:|"]
        for size in sizes:
            for c in configs:
                if c in TRANSFORMS:
                    for name, ns in calls(TRANSFORMS[c], size,
                                          rounds=2 if args.smoke else 40):
                        lines.append("| %d | %s | %s | %.0f |" % (size, TRANSFORMS[c], name, ns))
        print("\n".join(lines))
        if args.markdown:
            with open(args.markdown, "a", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
        return
    repeat = 1 if args.smoke else max(1, args.repeat)
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
    print("python bench: %s" % library_line(), flush=True)
    rows = []
    for size in sizes:
        count = 200 if args.smoke else COUNTS.get(size, 20000)
        base = {}
        # Configurations take turns, so that a change of load on the
        # machine falls on each of them alike.
        runs_of = {c: [] for c in configs}
        for _ in range(repeat):
            for config in configs:
                runs_of[config].append(run_pair(config, size, count, keys, args.profile))
        for config in configs:
            runs = sorted(runs_of[config], key=lambda r: r["msgs_per_s"])
            r = runs[len(runs) // 2]
            r["spread"] = (runs[-1]["msgs_per_s"] - runs[0]["msgs_per_s"]) / r["msgs_per_s"]
            base[config] = r["msgs_per_s"]
            rows.append((size, config, r, base))
            print("%8d B  %-12s %10.0f msgs/s  cpu send %7.2f us  recv %7.2f us"
                  % (size, config, r["msgs_per_s"], r["cpu_us_send"],
                     r["cpu_us_recv"]), flush=True)
    table = ["| size | config | msgs/s | MB/s | CPU µs/msg send | CPU µs/msg recv "
             "| x plain | x curve | spread of %d runs |" % repeat,
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for size, config, r, base in rows:
        rate = r["msgs_per_s"]
        ratio = lambda k: "%.2f" % (rate / base[k]) if k in base else "-"
        table.append("| %d | %s | %.0f | %.1f | %.2f | %.2f | %s | %s | %.0f%% |"
                     % (size, "pyzmq " + config if config in ("plain", "curve")
                        else "pyzmq + " + config, rate, rate * size / 1e6,
                        r["cpu_us_send"], r["cpu_us_recv"], ratio("plain"),
                        ratio("curve"), r["spread"] * 100))
    print("\n".join(table))
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write("Python (%s), %d messages per run at 64 B; median of %d.\n\n"
                    % (library_line(), 200 if args.smoke else COUNTS[64], repeat))
            f.write("\n".join(table) + "\n")
    if args.smoke:
        print("python bench: smoke run done (figures mean nothing)")


if __name__ == "__main__":
    main()
