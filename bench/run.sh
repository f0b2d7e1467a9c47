#!/bin/sh
# make bench: run zesp_bench, write RESULTS.md (the machine, the tables) and
# throughput.png (msgs/s against size, tcp) next to it in the build tree.
#   BENCH_FLAGS=--smoke make bench   only checks that it works (CI)
set -eu
out=${BENCH_OUT:-bench}
mkdir -p "$out"
./bench/zesp_bench "$@" --markdown "$out/tables.md" --data "$out/throughput.dat" \
    --zmq-lines "$out/zmq-lines.txt"
./bench/zike_bench "$@" --markdown "$out/tables.md"

{
    echo "# zesp benchmark results"
    echo
    echo "Run on $(date -u +%Y-%m-%d) with \`make bench\`$( [ $# -gt 0 ] && echo " $*")."
    echo
    echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'),"
    echo "$(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr), libzmq $(pkg-config --modversion libzmq), libsodium $(pkg-config --modversion libsodium), libcrypto $(pkg-config --modversion libcrypto 2>/dev/null || echo absent) (used if configure found it)."
    echo
    echo "Throughput: PUSH -> PULL, timed at the receiver (libzmq's local_thr"
    echo "method), the median of 3 runs. CPU µs/msg from getrusage of each side."
    echo "Latency: REQ/REP round trip, both processes and all their threads"
    echo "(ZeroMQ's I/O threads too) pinned to CPU 0, as taskset pins libzmq's"
    echo "local_lat/remote_lat. x plain / x curve: message rate relative to plain"
    echo "ZeroMQ / CURVE at the same size and transport. refused: messages the"
    echo "receiver refused (not counted in msgs/s). p50 added: p50 minus plain"
    echo "ZeroMQ's. zmq+chacha / zmq+aesgcm: plain ZeroMQ whose application seals"
    echo "each message with the bare AEAD, on the backend zesp uses for that size."
    echo "zesp-default: what a user gets who names no transform, the AEAD two zike"
    echo "daemons that name none negotiate on this machine."
    echo
    cat "$out/tables.md"
} > "$out/RESULTS.md"

if command -v gnuplot > /dev/null 2>&1; then
    gnuplot <<GP
set terminal png size 900,560
set output "$out/throughput.png"
set logscale xy
set xlabel "message size (bytes)"
set ylabel "messages per second (tcp://127.0.0.1)"
set key top right
set grid
plot "< grep '^tcp' $out/throughput.dat" using 2:3 with linespoints title "plain ZeroMQ", \
     "" using 2:4 with linespoints title "CURVE", \
     "" using 2:5 with linespoints title "zesp ChaCha20-Poly1305", \
     "" using 2:6 with linespoints title "zesp AES-256-GCM", \
     "" using 2:7 with linespoints title "zesp default (negotiated)"
GP
    echo "bench: wrote $out/RESULTS.md and $out/throughput.png"
else
    echo "bench: wrote $out/RESULTS.md (install gnuplot for the plot)"
fi
