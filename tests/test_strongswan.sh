#!/bin/sh
# Interoperability with a standard IKEv2 implementation: strongSwan's
# charon (Debian's strongswan-charon) in a network namespace negotiates
# with zike through tests/ike_udp_relay (UDP port 500 <-> ZeroMQ frames),
# with a PSK and with Ed25519, with ChaCha20-Poly1305 and AES-256-GCM, each
# side initiating, and with no AEAD named in zike's configuration (AES-GCM
# chosen where both can, ChaCha20 when charon proposes only that).  Checked: both ends authenticate each other, charon's
# IKE SA keys (SK_ei, SK_er) and child SA keys (KEYMAT) are byte for byte
# zike's, the SPIs agree, and DELETE from either side ends the IKE SA on
# both; and, later, IKE SA rekeys from each side, liveness checks, charon
# restarted (INITIAL_CONTACT) and gone (zike's liveness checks).  Needs root (network namespaces); skipped otherwise.
b=$(cd "${builddir:-.}" && pwd)
charon=${CHARON:-/usr/lib/ipsec/charon}
. "$(cd "${srcdir:-.}" && pwd)/tests/lib.sh"
[ "$(id -u)" -eq 0 ] || skip_all "not root: network namespaces need it"
[ -x "$charon" ] && command -v swanctl > /dev/null ||
    skip_all "strongSwan not installed (strongswan-charon strongswan-swanctl)"
ns=zsw$$ hv=zs$$h sv=zs$$s
# A subnet of its own: another run of this test may be under way.
net=10.77.$(($$ % 250 + 1))
ip netns add "$ns" 2> /dev/null || skip_all "cannot create a network namespace"
work=$(mktemp -d "${TMPDIR:-/tmp}/zesp-sw.XXXXXX")
chmod 700 "$work"
cleanup() {
    pkill -f "$work/" 2> /dev/null
    [ -f "$work/charon.pid" ] && kill "$(cat "$work/charon.pid")" 2> /dev/null &&
        until_ok 10 sh -c "! kill -0 $(cat "$work/charon.pid") 2> /dev/null" > /dev/null
    ip netns del "$ns" 2> /dev/null
    ip link del "$hv" 2> /dev/null
    port_release
    rm -rf "$work"
}
trap cleanup EXIT
[ -n "$KEEP" ] && trap "" EXIT
umask 077
ip link add "$hv" type veth peer name "$sv" &&
    ip link set "$sv" netns "$ns" &&
    ip addr add $net.1/24 dev "$hv" && ip link set "$hv" up &&
    ip netns exec "$ns" ip addr add $net.2/24 dev "$sv" &&
    ip netns exec "$ns" ip link set "$sv" up &&
    ip netns exec "$ns" ip link set lo up || skip_all "cannot set up veth"

export STRONGSWAN_CONF="$work/strongswan.conf"
vici="unix://$work/charon.vici"
cat > "$STRONGSWAN_CONF" <<EOT
charon {
  install_routes = no
  plugins {
    vici { socket = $vici }
    bypass-lan { load = no }
    kernel-libipsec { load = no }
  }
  filelog {
    log {
      path = $work/charon.log
      flush_line = yes
      default = 1
      ike = 4
      chd = 4
    }
  }
}
EOT
(cd "$work" && "$b/tools/zesp" keygen --identity zike > /dev/null &&
    "$b/tools/zesp" keygen --identity charon > /dev/null)
# swanctl loads private keys from the pkcs8/ folder beside swanctl.conf.
mkdir "$work/pkcs8"
"$b/tests/ed25519_pem" key "$work/charon.key" > "$work/pkcs8/charon.pem"
"$b/tests/ed25519_pem" pub "$work/charon.pub" > "$work/charon-pub.pem"
"$b/tests/ed25519_pem" pub "$work/zike.pub" > "$work/zike-pub.pem"

# The bytes of a charon hex dump that follows the line matching $1.
dump() {
    awk -v pat="$1" '
        found && /\] +[0-9]+: / {
            sub(/^.*\] +[0-9]+: /, ""); s = substr($0, 1, 48)
            gsub(/ /, "", s); out = out s; next }
        found { exit }
        index($0, pat) { found = 1; out = "" }
        END { print tolower(out) }' "$work/charon.log"
}
sw() { swanctl "$@" -u "$vici" 2>&1 | grep -v "^plugin '"; }

# AES-GCM where both ends can (zike and charon run on this CPU).
if grep -qw aes /proc/cpuinfo && grep -qw pclmulqdq /proc/cpuinfo; then
    fast=aes256gcm sw_fast=AES_GCM_16_256
else
    fast=chacha20-poly1305 sw_fast=CHACHA20_POLY1305
fi

# scenario AUTH AEAD INITIATOR.  AEAD default: zike names none (it offers
# AES-GCM first where it can, then ChaCha20) and charon proposes both,
# AES-GCM first; default-chacha: zike names none, charon only ChaCha20.
scenario() {
    auth=$1 aead=$2 who=$3
    z_aead="ike: $aead
    esp: $aead"
    case $aead in
    chacha20-poly1305) sw_aead=chacha20poly1305 want=$aead
        sw_want=CHACHA20_POLY1305 ;;
    aes256gcm) sw_aead=aes256gcm16 want=$aead sw_want=AES_GCM_16_256 ;;
    default) sw_aead=aes256gcm16-chacha20poly1305 z_aead="" want=$fast
        sw_want=$sw_fast ;;
    default-chacha) sw_aead=chacha20poly1305 z_aead="" want=chacha20-poly1305
        sw_want=CHACHA20_POLY1305 ;;
    esac
    name="$auth/$aead, $who initiates"
    rm -f "$work/charon.log" "$work/zike.keys"*
    if [ "$auth" = psk ]; then
        sw_local="auth = psk" sw_remote="auth = psk"
        z_auth="auth: psk
    psk: interop-pre-shared-key"
    else
        sw_local="auth = pubkey
      pubkeys = $work/charon-pub.pem"
        sw_remote="auth = pubkey
      pubkeys = $work/zike-pub.pem"
        z_auth="auth: ed25519
    pubkey: \"$(cat "$work/charon.pub")\""
    fi
    cat > "$work/swanctl.conf" <<EOT
connections {
  c {
    local_addrs = $net.2
    remote_addrs = $net.1
    proposals = $sw_aead-prfsha256-x25519
    local {
      $sw_local
      id = charon.example
    }
    remote {
      $sw_remote
      id = zike.example
    }
    children {
      sw {
        esp_proposals = $sw_aead-x25519-esn
        local_ts = 10.88.0.2/32
        remote_ts = 10.88.0.1/32
      }
    }
  }
}
secrets {
  ike-psk {
    id-1 = charon.example
    id-2 = zike.example
    secret = "interop-pre-shared-key"
  }
}
EOT
    cat > "$work/zike.yaml" <<EOT
identity: { id: zike.example, key: zike.key }
listen: tcp://127.0.0.1:$zport
control: ipc://$work/zike.ctl
sad: $work/zike.sad
peers:
  - name: charon
    id: charon.example
    endpoint: tcp://127.0.0.1:$rport
    $z_auth
    $z_aead
    policies: [sw]
EOT
    "$b/ike/zike" -c "$work/zike.yaml" --capture-keys "$work/zike.keys" \
        2>> "$work/zike.log" &
    zpid=$!
    "$b/tests/ike_udp_relay" $net.1 $net.2 "tcp://127.0.0.1:$zport" \
        "tcp://127.0.0.1:$rport" $((300 * scale)) 2>> "$work/relay.log" &
    rpid=$!
    # A /run of its own: charon refuses to start beside another charon's
    # pid file (another run of this test, the host's own).
    ip netns exec "$ns" unshare -m sh -c \
        'mount -t tmpfs -o mode=755 zsw /run && exec "$0"' "$charon" \
        > "$work/charon.out" 2>&1 &
    echo $! > "$work/charon.pid"
    until_ok 20 sh -c "swanctl --stats -u $vici > /dev/null 2>&1"
    sw --load-all --file "$work/swanctl.conf" > "$work/load.out"
    if [ "$who" = charon ]; then
        sw --initiate --child sw --timeout $((20 * scale)) > "$work/initiate.out"
    else
        "$b/tools/zikectl" -s "ipc://$work/zike.ctl" initiate charon > /dev/null
    fi
    until_ok 20 sh -c "swanctl --list-sas -u $vici 2>/dev/null | grep -q ESTABLISHED"
    ok $? "$name: charon has the IKE SA ESTABLISHED"
    grep -q "authentication of 'zike.example' with .* successful" "$work/charon.log"
    ok $? "$name: charon verified zike's AUTH ($auth)"
    until_ok 20 sh -c "'$b/tools/zikectl' -s ipc://$work/zike.ctl list | grep -q '^charon .*established'"
    ok $? "$name: zike verified charon's AUTH and has the IKE SA"
    grep -q "IKE SA established (.*, $want," "$work/zike.log" &&
        grep -q "selected proposal: IKE:$sw_want/" "$work/charon.log"
    ok $? "$name: both chose $want for the IKE SA"
    zk=$(cut -d, -f3,4 "$work/zike.keys" | head -n 1)
    ck="$(dump "Sk_ei secret"),$(dump "Sk_er secret")"
    [ -n "$zk" ] && [ "$zk" = "$ck" ]
    ok $? "$name: SK_ei and SK_er identical in charon and zike"
    until_ok 20 grep -q "encryption responder key" "$work/charon.log"
    ki=$(dump "encryption initiator key") kr=$(dump "encryption responder key")
    in_spi=$(grep -A1 "adding inbound ESP SA" "$work/charon.log" | sed -n 's/.*SPI 0x\([0-9a-f]*\).*/\1/p' | head -n 1)
    if [ "$who" = charon ]; then zi=in zr=out; else zi=out zr=in; fi
    nokernel=0
    grep -q "unable to add SAD entry" "$work/charon.log" && nokernel=1
    if [ "$who" = zike ] && [ $nokernel -eq 1 ]; then
        # charon answers NO_PROPOSAL_CHOSEN when its kernel cannot take
        # the SA, so zike, the initiator, never installs the child.
        echo "skip: $name: this kernel lacks the ESP AEAD; charon refused the child SA it could not install"
        skipped=$((skipped + 2))
    else
        [ -n "$ki" ] && grep -q " $zi $ki\$" "$work/zike.keys.esp" &&
            grep -q " $zr $kr\$" "$work/zike.keys.esp"
        ok $? "$name: child SA KEYMAT identical in charon and zike (both directions)"
        [ -n "$in_spi" ] && grep -q "^$in_spi out " "$work/zike.keys.esp"
        ok $? "$name: charon's inbound SPI is zike's outbound SA"
        # charon ignores zike's ZESP_LANES notify: SAs without lanes.
        ! grep -q "has lanes" "$work/zike.log"
        ok $? "$name: zike installed the child SA without lanes"
        # charon logs the proposal selected, by either side.  Where its
        # kernel refused the SA, charon deleted it from zike's SAD too.
        grep -q "selected proposal: ESP:$sw_want/" "$work/charon.log"
        ok $? "$name: the child SA's AEAD is $want"
        if [ $nokernel -eq 0 ]; then
            got=$(ZESP_SAD="$work/zike.sad" "$b/tools/zesp" sa list | awk '/^0x/ { print $3 }' | sort -u)
            [ "$got" = "$want" ]
            ok $? "$name: zike's child SAs use $want ($got)"
        fi
    fi
    if grep -q "CHILD_SA sw{[0-9]*} established" "$work/charon.log"; then
        echo "     charon installed the child SA in its kernel"
    elif [ $nokernel -eq 1 ]; then
        echo "     note: this kernel lacks the ESP AEAD: charon derived the child SA but could not install it"
    fi
    if [ "$who" = charon ]; then
        sw --terminate --ike c --timeout $((20 * scale)) > /dev/null
        until_ok 20 sh -c "! '$b/tools/zikectl' -s ipc://$work/zike.ctl list | grep -q '^charon'"
        ok $? "$name: charon's DELETE ends zike's IKE SA"
    else
        "$b/tools/zikectl" -s "ipc://$work/zike.ctl" terminate charon > /dev/null
        until_ok 20 sh -c "! swanctl --list-sas -u $vici 2>/dev/null | grep -q 'c: #'"
        ok $? "$name: zike's DELETE ends charon's IKE SA"
    fi
    kill "$zpid" "$rpid" "$(cat "$work/charon.pid")" 2> /dev/null
    wait "$zpid" "$rpid" 2> /dev/null
    until_ok 20 sh -c "! kill -0 $(cat "$work/charon.pid") 2>/dev/null"
    rm -f "$work/charon.pid" "$work/zike.sad"
}

# The IKE SA with charon as "SPIi_SPIr", if each side has exactly one,
# established, and both name the same.
one_ike() {
    c=$(swanctl --list-sas -u "$vici" 2> /dev/null |
        awk '/^c: #[0-9]+, ESTABLISHED/ { n++; i = $5; r = $6 } /^c: #/ { all++ }
             END { sub(/_i\*?$/, "", i); sub(/_r\*?$/, "", r)
                   if (n == 1 && all == 1) print i "_" r }')
    z=$("$b/tools/zikectl" -s "ipc://$work/zike.ctl" list |
        awk '/^charon / { n++; if ($2 == "established") s = $4 } END { if (n == 1) print s }')
    [ -n "$c" ] && [ "$c" = "$z" ] && echo "$c"
}
new_ike() { [ "$(one_ike)" != "" ] && [ "$(one_ike)" != "$1" ]; }
charon_start() {
    ip netns exec "$ns" unshare -m sh -c \
        'mount -t tmpfs -o mode=755 zsw /run && exec "$0"' "$charon" \
        >> "$work/charon.out" 2>&1 &
    echo $! > "$work/charon.pid"
    until_ok 20 sh -c "swanctl --stats -u $vici > /dev/null 2>&1"
    sw --load-all --file "$work/swanctl.conf" > "$work/load.out"
}

# After IKE_SA_INIT and IKE_AUTH: the IKE SA rekeyed by charon, then by
# zike, then by charon again (each on the IKE SA the one before made);
# charon's liveness checks answered; charon killed and started again
# (INITIAL_CONTACT); charon gone for good (zike's liveness checks).  Each
# side must end with one IKE SA, the same.  No child SA here: charon
# needs its kernel's ESP for one, which this machine may lack.
later() {
    name="after the first exchanges"
    rm -f "$work/charon.log" "$work/zike.log"
    cat > "$work/swanctl.conf" <<EOT
connections {
  c {
    local_addrs = $net.2
    remote_addrs = $net.1
    proposals = chacha20poly1305-prfsha256-x25519
    dpd_delay = 1s
    local { auth = psk
      id = charon.example }
    remote { auth = psk
      id = zike.example }
  }
}
secrets {
  ike-psk {
    id-1 = charon.example
    id-2 = zike.example
    secret = "interop-pre-shared-key"
  }
}
EOT
    cat > "$work/zike.yaml" <<EOT
identity: { id: zike.example, key: zike.key }
listen: tcp://127.0.0.1:$zport
control: ipc://$work/zike.ctl
sad: $work/zike.sad
retransmit: { timeout-ms: $(ms 500), tries: 2 }
peers:
  - name: charon
    id: charon.example
    endpoint: tcp://127.0.0.1:$rport
    auth: psk
    psk: interop-pre-shared-key
    dpd: 2s
    policies: [sw]
EOT
    "$b/ike/zike" -c "$work/zike.yaml" 2>> "$work/zike.log" &
    zpid=$!
    "$b/tests/ike_udp_relay" $net.1 $net.2 "tcp://127.0.0.1:$zport" \
        "tcp://127.0.0.1:$rport" $((600 * scale)) 2>> "$work/relay.log" &
    rpid=$!
    charon_start
    sw --initiate --ike c --timeout $((20 * scale)) > "$work/initiate.out"
    until_ok 20 one_ike
    ok $? "$name: one IKE SA each, the same"
    sa=$(one_ike)
    sw --rekey --ike c > /dev/null
    until_ok 20 new_ike "$sa"
    ok $? "$name: charon rekeyed the IKE SA: the old one gone on both sides, the new one the same"
    sa=$(one_ike)
    "$b/tools/zikectl" -s "ipc://$work/zike.ctl" rekey charon ike > /dev/null
    until_ok 20 new_ike "$sa"
    ok $? "$name: zike rekeyed the new IKE SA: the old one gone on both sides, the new one the same"
    sa=$(one_ike)
    sw --rekey --ike c > /dev/null
    until_ok 20 new_ike "$sa"
    ok $? "$name: charon rekeyed zike's IKE SA: one each, the same"
    dpd=$(grep -c "parsed INFORMATIONAL response [0-9]* \[ \]" "$work/charon.log")
    until_ok 20 sh -c "[ \$(grep -c 'parsed INFORMATIONAL response [0-9]* \[ \]' '$work/charon.log') -ge $((dpd + 2)) ]"
    ok $? "$name: charon's liveness checks answered on the newest IKE SA"
    sa=$(one_ike)
    kill -9 "$(cat "$work/charon.pid")"
    until_ok 20 sh -c "! kill -0 $(cat "$work/charon.pid") 2>/dev/null"
    charon_start
    sw --initiate --ike c --timeout $((20 * scale)) > "$work/initiate.out"
    until_ok 20 new_ike "$sa"
    ok $? "$name: charon started again: zike dropped the stale IKE SA (INITIAL_CONTACT)"
    kill -9 "$(cat "$work/charon.pid")"
    until_ok 30 sh -c "! '$b/tools/zikectl' -s ipc://$work/zike.ctl list | grep -q '^charon '"
    ok $? "$name: charon gone: zike's liveness checks dropped its IKE SA"
    kill "$zpid" "$rpid" 2> /dev/null
    wait "$zpid" "$rpid" 2> /dev/null
    rm -f "$work/charon.pid" "$work/zike.sad"
}

port_block || exit 1
zport=$(port 0) rport=$(port 1)
scenario psk chacha20-poly1305 charon
scenario ed25519 chacha20-poly1305 zike
if [ $fast = aes256gcm ]; then
    scenario psk aes256gcm zike
    scenario ed25519 aes256gcm charon
else
    echo "skip: no AES-NI, AES-GCM scenarios left out"
fi
scenario psk default charon
scenario ed25519 default zike
scenario psk default-chacha zike
later
if [ "$failed" -ne 0 ]; then
    for f in zike.log relay.log initiate.out charon.out; do
        [ -f "$work/$f" ] && { echo "== $f"; tail -n 20 "$work/$f"; }
    done
    echo "== charon.log"; grep -E "IKE\]|CFG\] selected|CHD\]" "$work/charon.log" | grep -v "^.*\] +[0-9]*: " | tail -n 30
fi
finish
