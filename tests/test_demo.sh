#!/bin/sh
# The README's demo, run as a test: every attack refused, nothing else.
out=$(ZESP_BUILD=${builddir:-.} sh "${srcdir:-.}/examples/demo.sh" 2>&1)
rc=$?
echo "$out"
if [ $rc -eq 0 ] && echo "$out" | grep -q '7 accepted, 1 replayed, 1 forged (ICV), 1 with altered clear frames'; then
    echo "1 passed, 0 failed"
else
    echo "0 passed, 1 failed"
    exit 1
fi
