#!/bin/sh
# make bench-python: pyzmq plain, pyzmq CURVE and pyzmq + zesp side by side
# (bench/python_bench.py), with zesp for Python built against this build
# tree's libzesp.  Writes bench/PYTHON-RESULTS.md in the build tree.
#   make bench-python BENCH_FLAGS=--smoke     only checks that it works (CI)
set -eu
s=$(cd "${srcdir:-.}" && pwd) b=$(cd "${builddir:-.}" && pwd)
py=${PYTHON3:-python3}
out=${BENCH_OUT:-bench}
mkdir -p "$out"
if ! PYTHON3=$py sh "$s/python/build_tree.sh" "$s" "$b" "$out/python" > "$out/python-build.log" 2>&1; then
    cat "$out/python-build.log"
    echo "bench-python: cannot build zesp for Python (Debian: python3-dev python3-pip python3-cffi python3-zmq)" >&2
    exit 1
fi
run() {
    PYTHONPATH="$out/python/site" LD_LIBRARY_PATH="$b/esp/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        "$py" "$s/bench/python_bench.py" "$@"
}
load=$(cut -d' ' -f1-3 /proc/loadavg)
run --markdown "$out/python-tables.md" "$@"
# Where a message's time goes, in one process (no I/O thread, no TCP).
{ echo; echo "CPU per call in one process over inproc (\`python_bench.py --calls\`):"; echo; } >> "$out/python-tables.md"
case " $* " in *" --smoke "*) calls_flags=--smoke ;; *) calls_flags= ;; esac
run --calls --sizes 64,1024 --markdown "$out/python-tables.md" $calls_flags
{
    echo "# zesp for Python: benchmark results"
    echo
    echo "Run on $(date -u +%Y-%m-%d) with \`make bench-python\`$( [ $# -gt 0 ] && echo " $*")."
    echo
    echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'),"
    echo "load average before the run: $load, after: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    cat "$out/python-tables.md"
} > "$out/PYTHON-RESULTS.md"
echo "bench-python: wrote $out/PYTHON-RESULTS.md"
