#!/usr/bin/env python3
"""VRRP takeover after a link cut, with and without BFD, vigil beside
Debian's keepalived 2.2.7 (issue: BFD).

How keepalived users put BFD under VRRP (keepalived.conf(5)): an unweighted
track_bfd between the pair itself would let an instance come up only while
both nodes run, and a weighted one on the backup only moves its skew (a
backup's priority change shifts Master_Down_Interval by the skew difference,
vrrp_set_effective_priority), so the pattern is that each node of the pair
runs a bfd_instance to its upstream gateway and tracks it without weight: a
master that loses its gateway goes FAULT and sends priority 0, and the backup
takes over after Skew_Time.

Topology (namespaces, a switch namespace with two bridges):
  n1 (master, priority 200) and n2 (backup, priority 100) on the LAN (br0,
  192.0.2.0/24, VRRP VI_1, VIP 192.0.2.100, advert_int 1); n1, n2 and the
  gateway n3 on the uplink (br1, 198.51.100.0/24). With BFD: n1 and n2 each
  run `bfd_instance GW` to n3 (100 ms x 3: a 300 ms Detection Time) and
  `track_bfd { GW }`; n3 runs the peer sessions (the same daemon as the pair).
Cuts (the switch drops n1's port both ways, nftables: no carrier change):
  lan     n1's LAN link: the backup hears no more adverts
  uplink  n1's uplink: the pair's own link is untouched
Takeover = from the start of the cut to n2's first advert on the wire (a
packet socket in n2's namespace; CLOCK_MONOTONIC on both sides).

Run as root with keepalived installed:

    python3 benches/bfd_takeover.py [--reps 3] [--advert 1]

Uses the musl release binary (cargo build --release --target
x86_64-unknown-linux-musl). Nothing is asserted: it prints a table.
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VIGIL = os.path.join(ROOT, "target/x86_64-unknown-linux-musl/release/vigil")
KEEPALIVED = shutil.which("keepalived") or "/usr/sbin/keepalived"
TAG = f"vbt{os.getpid() % 10000}"
WAIT = 10.0

SNIFF = r"""
import socket, sys, time
src, timeout = socket.inet_aton(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind(("eth0", 0))
s.settimeout(0.05)
print("ready", flush=True)
end = time.monotonic() + timeout
while time.monotonic() < end:
    try:
        f = s.recv(2048)
    except socket.timeout:
        continue
    if len(f) >= 34 and f[12:14] == b"\x08\x00" and f[23] == 112 and f[26:30] == src:
        print(repr(time.monotonic()), flush=True)
        sys.exit(0)
print("none", flush=True)
"""


def sh(*args, check=True):
    return subprocess.run(args, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def nsx(ns, *args, check=True):
    return sh("ip", "netns", "exec", ns, *args, check=check)


class Lab:
    def __init__(self):
        self.sw = f"{TAG}sw"
        self.n = {i: f"{TAG}n{i}" for i in (1, 2, 3)}
        for ns in [self.sw, *self.n.values()]:
            sh("ip", "netns", "add", ns)
            nsx(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        for br in ("br0", "br1"):
            sh("ip", "-n", self.sw, "link", "add", br, "type", "bridge", "stp_state", "0", "forward_delay", "0")
            sh("ip", "-n", self.sw, "link", "set", br, "up")
        for i, ns in self.n.items():
            links = [("eth1", "br1", f"198.51.100.{i}")]
            if i != 3:
                links.append(("eth0", "br0", f"192.0.2.{i}"))
            for dev, br, addr in links:
                port = f"p{dev[-1]}-n{i}"
                sh("ip", "-n", ns, "link", "add", dev, "type", "veth", "peer", "name", port, "netns", self.sw)
                sh("ip", "-n", self.sw, "link", "set", port, "master", br)
                sh("ip", "-n", self.sw, "link", "set", port, "up")
                sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
                sh("ip", "-n", ns, "link", "set", dev, "up")

    def cut(self, dev):
        """n1's `dev` cut at the switch: its bridge port drops both ways (one
        nftables transaction; no carrier change)."""
        port = f"p{dev[-1]}-n1"
        rules = (f"table bridge cut {{\n chain drops {{\n  type filter hook forward priority 0;\n"
                 f"  iifname \"{port}\" drop\n  oifname \"{port}\" drop\n }}\n}}\n")
        subprocess.run(["ip", "netns", "exec", self.sw, "nft", "-f", "-"], input=rules, text=True, check=True)

    def close(self):
        for ns in [self.sw, *self.n.values()]:
            sh("ip", "netns", "del", ns, check=False)


def bfd(name, me, peer):
    return (f"bfd_instance {name} {{\n    neighbor_ip 198.51.100.{peer}\n    source_ip 198.51.100.{me}\n"
            f"    min_rx 100\n    min_tx 100\n    multiplier 3\n}}\n")


def pair_conf(node, prio, advert, with_bfd):
    s = f"global_defs {{\n    router_id n{node}\n}}\n"
    if with_bfd:
        s += bfd("GW", node, 3)
    s += (f"vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n"
          f"    priority {prio}\n    advert_int {advert}\n    virtual_ipaddress {{\n        192.0.2.100/24\n    }}\n")
    if with_bfd:
        s += "    track_bfd {\n        GW\n    }\n"
    return s + "}\n"


class Daemon:
    def __init__(self, prog, ns, text, d, name):
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, f"{name}.conf")
        with open(conf, "w") as f:
            f.write(text)
        argv = [prog, "-n", "-l", "-D", "-f", conf]
        for flag, pid in (("-p", "main"), ("-r", "vrrp"), ("-c", "check"), ("-b", "bfd")):
            argv += [flag, os.path.join(d, f"{name}.{pid}.pid")]
        if prog == VIGIL:
            argv += ["--control", os.path.join(d, f"{name}.sock")]
        self.log = open(os.path.join(d, f"{name}.log"), "w")
        self.p = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=self.log, stderr=subprocess.STDOUT,
                                  start_new_session=True)

    def stop(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(5)
        self.log.close()


def sniff(lab, src, timeout):
    """A packet socket in n2's namespace: the time of the first VRRP packet from `src`."""
    p = subprocess.Popen(["ip", "netns", "exec", lab.n[2], sys.executable, "-c", SNIFF, src, str(timeout)],
                         stdout=subprocess.PIPE, text=True)
    if p.stdout.readline().strip() != "ready":
        raise RuntimeError("sniffer did not start")
    return p


def first(p):
    out = p.stdout.readline().strip()
    p.wait(5)
    return None if out in ("", "none") else float(out)


def run_once(prog, cut, with_bfd, advert, d):
    lab = Lab()
    daemons = []
    try:
        if with_bfd:
            daemons.append(Daemon(prog, lab.n[3], bfd("N1", 3, 1) + bfd("N2", 3, 2), d, "gw"))
        daemons.append(Daemon(prog, lab.n[1], pair_conf(1, 200, advert, with_bfd), d, "n1"))
        # The master is master once n2's namespace hears it.
        if first(sniff(lab, "192.0.2.1", 30)) is None:
            raise RuntimeError(f"n1 never advertised (logs in {d})")
        daemons.append(Daemon(prog, lab.n[2], pair_conf(2, 100, advert, with_bfd), d, "n2"))
        time.sleep(3 * advert)
        p = sniff(lab, "192.0.2.2", WAIT)
        t0 = time.monotonic()
        lab.cut("eth0" if cut == "lan" else "eth1")
        t = first(p)
        return None if t is None else (t - t0) * 1000
    finally:
        for x in reversed(daemons):
            x.stop()
        lab.close()


def fmt(v):
    ok = [x for x in v if x is not None]
    if not ok:
        return f"none in {WAIT:.0f} s"
    s = f"{statistics.median(ok):.0f} [{min(ok):.0f}-{max(ok):.0f}]"
    return s + ("" if len(ok) == len(v) else f" ({len(v) - len(ok)} none)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--advert", type=int, default=1)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root")
    for prog in (VIGIL, KEEPALIVED):
        if not os.access(prog, os.X_OK):
            sys.exit(f"{prog} missing")
    tmp = tempfile.mkdtemp(prefix="bfd_takeover.")
    rows = [("lan", False), ("lan", True), ("uplink", False), ("uplink", True)]
    res = {}
    for cut, with_bfd in rows:
        for name, prog in (("vigil", VIGIL), ("keepalived", KEEPALIVED)):
            v = []
            for r in range(a.reps):
                d = os.path.join(tmp, f"{name}-{cut}-{'bfd' if with_bfd else 'plain'}-{r}")
                v.append(run_once(prog, cut, with_bfd, a.advert, d))
                print(f"  {name:<10} {cut:<6} {'bfd' if with_bfd else 'plain':<5} run {r + 1}: "
                      f"{'none' if v[-1] is None else f'{v[-1]:.0f} ms'}", file=sys.stderr, flush=True)
            res[(cut, with_bfd, name)] = v
    skew = (256 - 100) / 256 * a.advert
    print(f"\nVRRP takeover after a link cut, ms from the cut to the backup's first advert: median [min-max] of {a.reps}")
    print(f"advert_int {a.advert} s, backup priority 100: Master_Down_Interval {3 * a.advert + skew:.3f} s, "
          f"Skew_Time {skew:.3f} s; BFD 100 ms x 3 (Detection Time 300 ms)\n")
    print(f"| {'cut':<40} | {'vigil':<22} | {'keepalived 2.2.7':<22} |")
    print(f"|{'-' * 42}|{'-' * 24}|{'-' * 24}|")
    label = {
        ("lan", False): "master's LAN link, plain VRRP",
        ("lan", True): "master's LAN link, VRRP + track_bfd GW",
        ("uplink", False): "master's uplink, plain VRRP",
        ("uplink", True): "master's uplink, VRRP + track_bfd GW",
    }
    for cut, with_bfd in rows:
        print(f"| {label[(cut, with_bfd)]:<40} | {fmt(res[(cut, with_bfd, 'vigil')]):<22} | "
              f"{fmt(res[(cut, with_bfd, 'keepalived')]):<22} |")
    print(f"\nlogs: {tmp}")


if __name__ == "__main__":
    main()
