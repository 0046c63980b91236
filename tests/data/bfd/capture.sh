#!/bin/sh
# Regenerates frr-bfdd.hex: BFD control packets between two FRR 8.4 bfdd (Debian's frr) in two
# network namespaces joined by a veth pair, single hop (UDP 3784), captured with tcpdump.
# The session comes up (Down, Init, Up, the poll sequence to the configured 300 ms), runs, and
# is then shut down on A (AdminDown, and B's Down with diag 3). Needs root, frr, tcpdump,
# python3. Nothing touches /etc/frr; everything it creates it removes.
set -eu
cd "$(dirname "$0")"
out=$PWD/frr-bfdd.hex
tmp=$(mktemp -d /tmp/vigil-bfdcap.XXXXXX)
chmod 755 "$tmp"
A=vbfdcap-a-$$
B=vbfdcap-b-$$
cleanup() {
    for n in "$A" "$B"; do
        for p in "$tmp/$n"/*.pid; do
            [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
        done
    done
    [ -f "$tmp/tcpdump.pid" ] && kill "$(cat "$tmp/tcpdump.pid")" 2>/dev/null || true
    sleep 0.5
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$A"
ip netns add "$B"
ip link add va netns "$A" type veth peer name vb netns "$B"
ip -n "$A" addr add 10.99.0.1/24 dev va
ip -n "$B" addr add 10.99.0.2/24 dev vb
for n in "$A" "$B"; do ip -n "$n" link set lo up; done
ip -n "$A" link set va up
ip -n "$B" link set vb up

start() { # namespace, local address, peer address
    d=$tmp/$1
    mkdir -p "$d"
    printf 'log file %s/zebra.log\n' "$d" > "$d/zebra.conf"
    printf 'log file %s/bfdd.log\n!\nbfd\n peer %s local-address %s\n  receive-interval 300\n  transmit-interval 300\n  detect-multiplier 3\n !\n!\n' \
        "$d" "$3" "$2" > "$d/bfdd.conf"
    chown -R frr:frr "$d"
    common="--vty_socket $d -z $d/zserv.api -P 0"
    ip netns exec "$1" /usr/lib/frr/zebra -d $common -f "$d/zebra.conf" -i "$d/zebra.pid"
    sleep 1
    ip netns exec "$1" /usr/lib/frr/bfdd -d $common --bfdctl "$d/bfdd.sock" -f "$d/bfdd.conf" -i "$d/bfdd.pid"
}

ip netns exec "$A" tcpdump -i va -U -w "$tmp/cap.pcap" udp port 3784 2>/dev/null &
echo $! > "$tmp/tcpdump.pid"
sleep 1
start "$A" 10.99.0.1 10.99.0.2
start "$B" 10.99.0.2 10.99.0.1
sleep 6
vtysh --vty_socket "$tmp/$A" -c 'show bfd peers' >&2 || true
vtysh --vty_socket "$tmp/$A" -c 'configure terminal' -c 'bfd' -c 'peer 10.99.0.2 local-address 10.99.0.1' -c 'shutdown'
sleep 3
kill "$(cat "$tmp/tcpdump.pid")"
sleep 0.5

python3 - "$tmp/cap.pcap" "$out" <<'PY'
import struct, sys
data = open(sys.argv[1], 'rb').read()
magic = struct.unpack('<I', data[:4])[0]
end = '<' if magic in (0xa1b2c3d4, 0xa1b23c4d) else '>'
linktype = struct.unpack(end + 'I', data[20:24])[0]
off, t0, lines = 24, None, []
while off + 16 <= len(data):
    sec, usec, incl, _ = struct.unpack(end + 'IIII', data[off:off + 16])
    pkt = data[off + 16: off + 16 + incl]
    off += 16 + incl
    ip = pkt[14:] if linktype == 1 else pkt[16:]      # Ethernet or Linux cooked
    if not ip or ip[0] >> 4 != 4:
        continue
    ihl = (ip[0] & 15) * 4
    src, dst, ttl = '.'.join(map(str, ip[12:16])), '.'.join(map(str, ip[16:20])), ip[8]
    payload = ip[ihl + 8:]
    t = sec + usec / 1e6
    t0 = t if t0 is None else t0
    lines.append(f"{t - t0:9.6f} {src} > {dst} ttl {ttl}: {payload.hex(' ')}")
with open(sys.argv[2], 'w') as f:
    f.write("# BFD control packets between two FRR 8.4 bfdd (tests/data/bfd/capture.sh):\n")
    f.write("# seconds since the first, source > destination, IP TTL: the UDP payload.\n")
    f.write("\n".join(lines) + "\n")
print(f"{len(lines)} packets", file=sys.stderr)
PY
