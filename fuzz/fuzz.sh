#!/bin/sh
# make fuzz: build each libFuzzer target with clang (ASan + UBSan) and run
# it for SECONDS from its seed corpus.  Exits non-zero on any finding; the
# crashing input is left in $FUZZ_BUILD for the corpus.
#   fuzz/fuzz.sh [SECONDS]      (srcdir, builddir (its config.h),
#                                FUZZ_BUILD and FUZZ_TARGETS, a list of
#                                targets to run, from the environment)
set -eu
seconds=${1:-60}
src=${srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
build=${FUZZ_BUILD:-./build-fuzz}
cc=${FUZZ_CC:-clang}
mkdir -p "$build"

if ! command -v "$cc" > /dev/null 2>&1; then
    echo "fuzz: $cc not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2
    exit 1
fi
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
deps=$(pkg-config --cflags --libs libsodium libzmq yaml-0.1)
ike_codec="message writer prf sk auth gsa"
lib_sources="$(ls "$src"/esp/*.c | grep -v /aead_openssl.c) $(for f in $ike_codec; do
    echo "$src/ike/$f.c"; done)"
# The OpenSSL AEAD backend where libcrypto is there, as configure does.
if pkg-config --exists 'libcrypto >= 3.0'; then
    lib_sources="$lib_sources $src/esp/aead_openssl.c"
    deps="$deps -DZESP_OPENSSL $(pkg-config --cflags --libs libcrypto)"
fi
# The daemon's exchange handlers: every other file of ike/ but its main loop,
# its sockets (listen, links, stream), its control socket and its metrics,
# so that a new file is fuzzed as it is added.
daemon_sources=$(for f in "$src"/ike/*.c; do
    case " $ike_codec zike sockets listen links stream reload control metrics metrics_http " in
    *" $(basename "$f" .c) "*) ;;
    *) echo "$f" ;;
    esac; done)
targets=${FUZZ_TARGETS:-"esp_open esp_payload config ike_message ike_exchange sad_attach zike_config verify_file verify seqstate control safe_text zmtp gcks_state"}
jobs=${FUZZ_JOBS:-$(nproc)}
includes="-D_GNU_SOURCE -I$src/include -I$src/esp -I$src/ike -I$src/tools -I$src/tests -I$build -I${builddir:-.}"
cflags=$(pkg-config --cflags libsodium libzmq yaml-0.1)
pkg-config --exists 'libcrypto >= 3.0' &&
    cflags="$cflags -DZESP_OPENSSL $(pkg-config --cflags libcrypto)"

# objects DIR EXTRA SOURCES...: each source compiled once into DIR, $jobs
# at a time (the targets share most of them), printing the objects' paths.
objects() {
    dir=$1 extra=$2
    shift 2
    mkdir -p "$dir"
    pairs=$(for f in "$@"; do
        echo "$f $dir/$(basename "$(dirname "$f")")_$(basename "$f" .c).o"; done)
    echo "$pairs" | xargs -P "$jobs" -n 2 sh -c '
        # shellcheck disable=SC2086
        '"$cc $flags $includes $cflags"' $2 -c "$3" -o "$4"' sh "$dir" "$extra" ||
        return 1
    echo "$pairs" | cut -d" " -f2
}
# shellcheck disable=SC2086
lib_objects=$(objects "$build/obj" "" $lib_sources) || exit 1
# shellcheck disable=SC2086
daemon_objects=$(objects "$build/obj" "" $daemon_sources) || exit 1
# What shows text (zike's log among them): the escaper and the JSON writer.
text_sources="$src/tools/safe_text.c $src/tools/utf8.c $src/tools/json.c"
# shellcheck disable=SC2086
text_objects=$(objects "$build/obj" "" $text_sources) || exit 1
control_sources="$src/ike/control.c $src/tools/when.c"
# shellcheck disable=SC2086
control_objects=$(objects "$build/obj" "" $control_sources) || exit 1
# A damaged lock or index would make each input wait seconds.
# shellcheck disable=SC2086
sad_objects=$(objects "$build/obj-sad" "-DSAD_LOCK_TIMEOUT_S=0 -DSAD_SPINS_GIVE_UP=2560" \
    $lib_sources) || exit 1

for target in $targets; do
    bin="$build/fuzz_$target"
    objs=$lib_objects
    case $target in
    ike_exchange) objs="$objs $daemon_objects $text_objects" ;;
    zike_config) objs="$objs $text_objects $(for f in log conf_load zike_config group_config; do
        echo "$build/obj/ike_$f.o"; done)" ;;
    sad_attach) objs=$sad_objects ;;
    control) objs="$objs $daemon_objects $control_objects $text_objects" ;;
    safe_text) objs=$text_objects ;;
    zmtp) objs=$build/obj/ike_zmtp.o ;;
    gcks_state) objs="$build/obj/ike_gcks_state.o $build/obj/esp_dir_sync.o $build/obj/esp_temp_file.o" ;;
    esac
    # shellcheck disable=SC2086
    $cc $flags $includes "$src/fuzz/${target}_fuzz.c" $objs $deps -lpthread -o "$bin"
    corpus="$build/corpus-$target"
    mkdir -p "$corpus"
    cp "$src/fuzz/corpus/$target/"* "$corpus/"
    log="$build/fuzz-$target.log"
    max_len=4096
    [ "$target" = sad_attach ] && max_len=65536    # whole SAD files
    # -timeout: one input slower than this is a finding (a hang), scaled
    # like the tests' bounds on a loaded or slow machine.
    if ! "$bin" "$corpus" -max_total_time="$seconds" -max_len=$max_len \
            -timeout=$((10 * ${ZESP_TEST_TIMEOUT_SCALE:-1})) \
            -rss_limit_mb=2048 -print_final_stats=1 \
            -artifact_prefix="$build/" > "$log" 2>&1; then
        tail -n 40 "$log"
        echo "fuzz $target: FINDING (see $build/crash-* and $log)"
        echo "0 passed, 1 failed"
        exit 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz $target: ${runs:-?} executions in $seconds s, 0 findings"
done
echo "$(echo $targets | wc -w) passed, 0 failed"
