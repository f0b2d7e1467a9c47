#!/bin/sh
# Third-party check: Wireshark's ESP dissector (tshark) decrypts an ESP
# frame made by libzesp (AES-256-GCM, no ESN, no clear frames bound),
# shows its ICV correct and the payload we sealed; and shows the ICV
# wrong for the same frame with one bit flipped, and for a wrong key.
# The same for a signed group frame (wire-format.md 9.4) without its
# signature: the ESP frame the signature covers is plain RFC 4303.
builddir=${builddir:-.}
tshark=${TSHARK:-$(command -v tshark)}
passed=0 failed=0

if [ -z "$tshark" ] || [ ! -x "$tshark" ]; then
    echo "skip: tshark not installed (Debian package tshark)"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/zesp-tshark.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$builddir/tests/test_pcap_esp" "$work"
rc=$?
if [ $rc -eq 77 ]; then
    echo "skip: no AES-GCM on this CPU"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
fi
[ $rc -eq 0 ] || { echo "test_pcap_esp failed"; echo "0 passed, 1 failed"; exit 1; }
read -r spi key payload < "$work/sa"

# decode PCAP KEY [SPI]: prints "icv_good icv_bad contained_data"
decode() {
    spi=${3:-$spi}
    "$tshark" -r "$1" -n \
        -o esp.enable_encryption_decode:TRUE \
        -o esp.enable_authentication_check:TRUE \
        -o "uat:esp_sa:\"IPv4\",\"*\",\"*\",\"$spi\",\"AES-GCM with 16 octet ICV [RFC4106]\",\"0x$2\",\"NULL\",\"\"" \
        -T fields -e esp.icv_good -e esp.icv_bad -e esp.contained_data 2>/dev/null
}

check() {
    name=$1 want=$2 got=$3
    if [ "$got" = "$want" ]; then
        echo "ok   $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name: want '$want', got '$got'"
        failed=$((failed + 1))
    fi
}

good=$(decode "$work/good.pcap" "$key")
check "decrypted by tshark, ICV correct" "1	0	$payload" "$good"
bad=$(decode "$work/tampered.pcap" "$key" | cut -f1,2)
check "one flipped bit: ICV wrong" "0	1" "$bad"
# Another first hex digit (the old sed left a key starting with 'f' as it
# was, one run in 16).
case $key in
0*) wrong_key="1${key#?}" ;;
*) wrong_key="0${key#?}" ;;
esac
# With a wrong key tshark reports the ICV wrong, or (about one key in 40,
# when the garbage "decrypted" has an impossible trailer) no ICV at all:
# what must never happen is an ICV found good or our payload shown.
bad=$(decode "$work/good.pcap" "$wrong_key")
case $(printf '%s' "$bad" | cut -f1,2) in
"0	1"|"	") verdict=refused ;;
*) verdict="accepted: $bad" ;;
esac
[ "$(printf '%s' "$bad" | cut -f3)" = "$payload" ] && verdict="payload shown"
check "wrong key: ICV wrong (or not checked), payload not shown" refused "$verdict"

read -r gspi gkey gpayload < "$work/sa_signed"
good=$(decode "$work/signed.pcap" "$gkey" "$gspi")
check "a signed group frame without its signature: decrypted by tshark, ICV correct" \
    "1	0	$gpayload" "$good"

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
