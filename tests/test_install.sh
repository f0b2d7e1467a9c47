#!/bin/sh
# What `make install` puts where, as a user of the library finds it: the
# programs, the header, the library and its pkg-config file, the man pages
# and the documents they refer to, the example configurations.  A program
# that includes only zesp.h builds with `pkg-config --cflags --libs
# libzesp`, which names no other package's include flags, and runs.
b=${builddir:-.} s=${srcdir:-.}
. "$s/tests/lib.sh"
command -v pkg-config > /dev/null || skip_all "pkg-config not found"
command -v cc > /dev/null || skip_all "no C compiler"
work=$(mktemp -d "${TMPDIR:-/tmp}/zesp-install.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
dest="$work/root"

make -C "$b" install DESTDIR="$dest" > "$work/install.log" 2>&1
ok $? "make install DESTDIR=..."
prefix=$(sed -n 's/^prefix=//p' "$b/libzesp.pc")
root="$dest$prefix"
for f in bin/zesp bin/zikectl sbin/zike include/zesp.h \
    lib/pkgconfig/libzesp.pc share/man/man1/zesp.1 share/man/man8/zike.8 \
    share/man/man8/zikectl.8 share/man/man5/zike.conf.5 \
    share/doc/zesp/README.md share/doc/zesp/configuration.md \
    share/doc/zesp/zike.md share/doc/zesp/sad.md \
    share/doc/zesp/threat-model.md share/doc/zesp/examples/sad-alice.yaml \
    share/doc/zesp/examples/zike-alice.yaml; do
    [ -e "$root/$f" ] || { echo "  missing: $prefix/$f"; missing=1; }
done
ok "${missing:-0}" "programs, header, library, pkg-config, man pages, documents and examples installed"

# The man pages' references resolve to installed files.
refs=$(cat "$root"/share/man/man*/* | grep -o 'doc/[a-z-]*\.md' | sort -u)
bad=0
for r in $refs; do
    [ -e "$root/share/doc/zesp/${r#doc/}" ] || { echo "  man page refers to $r: not installed"; bad=1; }
done
ok $bad "every document a man page names is installed"

# A fake libzmq whose include flags must not reach zesp's users.
mkdir -p "$work/pc"
cat > "$work/pc/libzmq.pc" << EOF
Name: libzmq
Description: stand-in
Version: 4.3.4
Cflags: -I/nonexistent/zmq-include
Libs: -lzmq
EOF
export PKG_CONFIG_PATH="$work/pc:$root/lib/pkgconfig"
cflags=$(pkg-config --define-variable=prefix="$root" --cflags libzesp)
libs=$(pkg-config --define-variable=prefix="$root" --libs libzesp)
# Built without a shared library (configure --disable-shared, as CI's
# sanitizer build is), a program links the archive and what it needs: the
# private libraries, and the build's own flags (the sanitizers' runtime).
if [ ! -e "$root/lib/libzesp.so" ]; then
    libs="$(pkg-config --define-variable=prefix="$root" --static --libs libzesp)"
    build_flags="$(sed -n 's/^CFLAGS = //p; s/^LDFLAGS = //p' "$b/Makefile" | tr '\n' ' ')"
fi
case "$cflags" in
*zmq-include*) echo "  cflags: $cflags"; false ;;
*) true ;;
esac
ok $? "pkg-config --cflags libzesp names no dependency's include flags"

cat > "$work/hello.c" << 'EOF'
#include <stdio.h>
#include <zesp.h>
int main(void)
{
    zesp_sad *sad;

    if (zesp_init() != 0 || (sad = zesp_sad_new(NULL)) == NULL)
        return 1;
    printf("zesp %s: %s\n", ZESP_VERSION_STRING, zesp_strerror(ZESP_EREPLAY));
    /* libzmq's EFSM (ZMQ_HAUSNUMERO + 51), which zesp_send may return */
    printf("EFSM: %s\n", zesp_strerror(156384712 + 51));
    zesp_sad_free(sad);
    return 0;
}
EOF
cc $cflags ${build_flags:-} -o "$work/hello" "$work/hello.c" $libs 2> "$work/cc.log" &&
    LD_LIBRARY_PATH="$root/lib" "$work/hello" > "$work/hello.out" &&
    grep -q "replayed message" "$work/hello.out"
rc=$?
[ $rc -eq 0 ] || cat "$work/cc.log"
ok $rc "a program including only zesp.h builds with pkg-config and runs"
grep -q "EFSM: Operation cannot be accomplished in current state" "$work/hello.out"
ok $? "zesp_strerror knows libzmq's own errors (EFSM)"
finish
