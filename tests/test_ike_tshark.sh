#!/bin/sh
# Third-party check of the IKEv2 codec: Wireshark's ISAKMP/IKEv2 dissector
# decodes an IKE_SA_INIT request written by ike/writer.c, payload by
# payload, with no malformed-packet warning.
builddir=${builddir:-.}
tshark=${TSHARK:-$(command -v tshark)}
if [ -z "$tshark" ] || [ ! -x "$tshark" ]; then
    echo "skip: tshark not installed"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/zesp-ike-tshark.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$builddir/tests/test_ike_message" "$work" || { echo "0 passed, 1 failed"; exit 1; }
out=$("$tshark" -r "$work/ike_sa_init.pcap" -n -V 2>/dev/null)
passed=0 failed=0
check() {
    if echo "$out" | grep -q "$1"; then
        echo "ok   $2"; passed=$((passed + 1))
    else
        echo "FAIL $2 (no '$1' in tshark's decode)"; failed=$((failed + 1))
    fi
}
check "Version: 2.0" "IKE version 2.0"
check "Exchange type: IKE_SA_INIT (34)" "exchange type IKE_SA_INIT"
check "Payload: Security Association (33)" "SA payload"
check "Transform ID (ENCR): ENCR_CHACHA20_POLY1305" "ChaCha20-Poly1305 transform"
check "Transform ID (ENCR): AES-GCM with a 16 octet ICV (20)" "AES-GCM-16 transform"
check "Key Length: 256" "key length attribute"
check "Transform ID (D-H): Curve25519" "Curve25519 transform"
check "Payload: Key Exchange (34)" "KE payload"
check "DH Group #: Curve25519" "KE group Curve25519"
check "Payload: Nonce (40)" "Nonce payload"
check "Payload: Notify (41)" "Notify payload"
check "Notify Message Type: NAT_DETECTION_SOURCE_IP (16388)" "Notify type"
if echo "$out" | grep -qi "malformed"; then
    echo "FAIL tshark reports a malformed packet"; failed=$((failed + 1))
else
    echo "ok   no malformed-packet warning"; passed=$((passed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
