#!/bin/sh
# Regenerates the ipvsadm request fixtures (*.hex) that src/ipvs/tests.rs compares with.
#
# The host kernel has no IPVS, so ipvsadm would stop at the family lookup. ipvsadm_shim.c,
# loaded with LD_PRELOAD, stands in for the kernel: it answers the generic-netlink family
# lookup (IPVS = id 0x2a) and IPVS_CMD_GET_INFO, acks everything else, and prints each request
# as "REQ xx xx ..." on stderr. Nothing reaches a kernel. Needs gcc and ipvsadm (1.31).
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -shared -fPIC -O1 -o "$tmp/shim.so" ipvsadm_shim.c -ldl
cap() {
    name=$1; shift
    # The last request is the command's own; earlier ones are the family lookup and GET_INFO.
    LD_PRELOAD="$tmp/shim.so" ipvsadm "$@" 2>&1 >/dev/null | grep '^REQ' | tail -n 1 \
        | sed 's/^REQ //' > "$tmp/out"
    { echo "# ipvsadm $*"; cat "$tmp/out"; } > "$name.hex"
}
# The generic-netlink family lookup is the first request of any command.
LD_PRELOAD="$tmp/shim.so" ipvsadm -C 2>&1 >/dev/null | grep '^REQ' | head -n 1 | sed 's/^REQ //' > "$tmp/out"
{ echo "# ipvsadm's CTRL_CMD_GETFAMILY \"IPVS\""; cat "$tmp/out"; } > get_family.hex
cap add_service_tcp_rr      -A -t 192.0.2.10:80 -s rr
cap edit_service_wlc_persist -E -t 192.0.2.10:80 -s wlc -p 300
cap del_service             -D -t 192.0.2.10:80
cap add_service_fwmark      -A -f 42 -s sh
cap add_service_udp6        -A -u '[2001:db8::1]:53' -s rr
cap add_service_sctp_mask   -A --sctp-service 192.0.2.10:80 -s rr -p 60 -M 255.255.255.0
cap add_dest_masq           -a -t 192.0.2.10:80 -r 198.51.100.1:8080 -m -w 5
cap edit_dest_dr            -e -t 192.0.2.10:80 -r 198.51.100.1:8080 -g -w 3 -x 100 -y 10
cap del_dest                -d -t 192.0.2.10:80 -r 198.51.100.1:8080
cap add_dest_gue            -a -t 192.0.2.10:80 -r 198.51.100.2 -i --tun-type gue --tun-port 6080
cap flush                   -C
cap set_timeouts            --set 900 120 300
cap get_timeouts            -L --timeout
cap dump_services           -Ln
cap dump_daemons            -L --daemon
cap start_daemon            --start-daemon master --mcast-interface eth0 --syncid 7
cap stop_daemon             --stop-daemon master
