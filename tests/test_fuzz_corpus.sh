#!/bin/sh
# Every input of the fuzz corpora (seeds and past findings), replayed
# through the fuzz targets in the normal build.
b=${builddir:-.} s=${srcdir:-.}
"$b/fuzz/replay_esp_open" "$s/fuzz/corpus/esp_open" &&
"$b/fuzz/replay_esp_payload" "$s/fuzz/corpus/esp_payload" &&
echo "2 passed, 0 failed"
