#!/bin/sh
# Every input of the fuzz corpora (seeds and past findings), replayed
# through the fuzz targets in the normal build.
b=${builddir:-.} s=${srcdir:-.}
"$b/fuzz/replay_esp_open" "$s/fuzz/corpus/esp_open" &&
"$b/fuzz/replay_esp_payload" "$s/fuzz/corpus/esp_payload" &&
"$b/fuzz/replay_config" "$s/fuzz/corpus/config" &&
"$b/fuzz/replay_ike_message" "$s/fuzz/corpus/ike_message" &&
"$b/fuzz/replay_ike_exchange" "$s/fuzz/corpus/ike_exchange" &&
"$b/fuzz/replay_sad_attach" "$s/fuzz/corpus/sad_attach" &&
"$b/fuzz/replay_zike_config" "$s/fuzz/corpus/zike_config" &&
"$b/fuzz/replay_verify_file" "$s/fuzz/corpus/verify_file" &&
"$b/fuzz/replay_verify" "$s/fuzz/corpus/verify" &&
"$b/fuzz/replay_seqstate" "$s/fuzz/corpus/seqstate" &&
"$b/fuzz/replay_control" "$s/fuzz/corpus/control" &&
"$b/fuzz/replay_safe_text" "$s/fuzz/corpus/safe_text" &&
"$b/fuzz/replay_zmtp" "$s/fuzz/corpus/zmtp" &&
"$b/fuzz/replay_gcks_state" "$s/fuzz/corpus/gcks_state" &&
echo "14 passed, 0 failed"
