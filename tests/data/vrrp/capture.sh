#!/bin/bash
# Regenerate the keepalived-*.pcap fixtures: keepalived (-P, MASTER on all four instances of
# keepalived-capture.conf) on a veth inside a throwaway namespace, tcpdump on the peer end.
# Needs root, keepalived and tcpdump. Everything it creates is removed on exit.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
ns=vw-$$
ip netns add "$ns"
cleanup() {
    [ -n "${kp:-}" ] && kill "$kp" 2>/dev/null || true
    [ -n "${tp:-}" ] && kill "$tp" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
ip -n "$ns" link add vwa type veth peer name vwb
ip -n "$ns" link set lo up
ip -n "$ns" addr add 10.98.0.1/24 dev vwa
ip -n "$ns" link set vwa up
ip -n "$ns" link set vwb up
sleep 1
ip netns exec "$ns" tcpdump -i vwb -U -w "$work/all.pcap" 'ip proto 112 or ip proto 51 or ip6 proto 112' &
tp=$!
sleep 1
ip netns exec "$ns" keepalived -n -l -D -P -f "$here/keepalived-capture.conf" \
    -p "$work/k.pid" -r "$work/v.pid" -c "$work/c.pid" >"$work/ka.log" 2>&1 &
kp=$!
sleep 5
kill "$kp"; wait "$kp" || true; kp=
sleep 1.5
kill "$tp"; wait "$tp" || true; tp=
tcpdump -r "$work/all.pcap" -w "$here/keepalived-v2-pass.pcap" 'ip proto 112 and ip[20]=0x21 and ip[21]=10'
tcpdump -r "$work/all.pcap" -w "$here/keepalived-v2-ah.pcap" 'ip proto 51'
tcpdump -r "$work/all.pcap" -w "$here/keepalived-v3-ipv4.pcap" 'ip proto 112 and ip[20]=0x31'
tcpdump -r "$work/all.pcap" -w "$here/keepalived-v3-ipv6.pcap" 'ip6'
