#!/usr/bin/env python3
"""Appliance figures for docs/figures.md, "The appliance" (printed, never asserted
against a clock).

Boots the image under QEMU (TCG) with a 1 s watchdog and, from the serial
console, measures: time from /init start to both children answering (from
the log's timestamps), restart latency after `fault kill` (SIGKILL) and after
`fault hang` (SIGSTOP: detection by the watchdog plus restart), and the RSS
of the three processes. Also prints the stripped binary's size, and runs the
daemon on the host beside Debian's keepalived (same empty-ish config) to
compare RSS.

usage: benches/appliance.py [--rounds N]
"""
import argparse, os, re, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from guest_console import Console
BIN = os.path.join(ROOT, "target/x86_64-unknown-linux-musl/release/vigil")
TS = re.compile(r"\[\s*(\d+)\.(\d{3})\]")


def ms(m):
    return int(m.group(1)) * 1000 + int(m.group(2))


def pct(v):
    if not v:
        return "-"
    return f"{min(v)} / {statistics.median(v):.0f} / {max(v)}"


def guest(rounds):
    c = Console(["bash", "qemu/run", "--timeout", "600", "--watchdog-ms", "1000"])
    res = {"kill": [], "hang": []}
    try:
        m = c.read_until(r"both children answering after (\d+) ms \(parent started (\d+) ms after boot\)", 180)
        boot = {"children_ms": int(m.group(1)), "init_start_ms": int(m.group(2))}
        c.read_until(r"vigil> ", 30)
        for kind, role in [("kill", "vrrp"), ("hang", "check")] * rounds:
            c.buf = ""
            c.send(f"fault {kind} {role}")
            sig = "SIGKILL" if kind == "kill" else "SIGSTOP"
            t0 = c.read_until(r"\[\s*(\d+)\.(\d{3})\] vigil\[1\]: console: " + sig + " to " + role, 30)
            t1 = c.read_until(r"\[\s*(\d+)\.(\d{3})\] vigil\[1\]: " + role + r" child \d+ answering, \d+ ms after", 30)
            res[kind].append(ms(t1) - ms(t0))
            time.sleep(4)  # let the child prove itself stable (policy resets the backoff)
        c.buf = ""
        c.send("mem")
        m = c.read_until(r"ROLE RSS_KB.*\n(parent \S+) .*\n(vrrp \S+) .*\n(check \S+) .*\n", 30)
        rss = {l.split()[0]: l.split()[1] for l in m.groups()}
        c.send("poweroff")
        c.read_until(r"reboot: Power down", 60)
    finally:
        c.close()
    return boot, res, rss


HOST_CONF = """global_defs {
  router_id bench
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int 1
  virtual_ipaddress {
    192.0.2.100/24
  }
}
"""


def host_rss():
    """RSS (KiB) of vigil's and keepalived's processes, same config (one VRRP
    instance), each in a network namespace with an eth0 made for it."""
    out = {}
    d = tempfile.mkdtemp(prefix="vigil-bench-")
    conf = os.path.join(d, "k.conf")
    with open(conf, "w") as f:
        f.write(HOST_CONF)
    runs = {
        "vigil": [BIN, "-n", "-G", "-f", conf, "-p", f"{d}/v.pid", "-r", f"{d}/v1.pid", "-c", f"{d}/v2.pid", "--control", f"{d}/ctl"],
        "keepalived": ["keepalived", "-n", "-G", "-f", conf, "-p", f"{d}/k.pid", "-r", f"{d}/k1.pid", "-c", f"{d}/k2.pid"],
    }
    for name, cmd in runs.items():
        ns = f"vigil-bench-{os.getpid()}"
        subprocess.run(["ip", "netns", "add", ns], check=True)
        try:
            subprocess.run(["ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1"], check=True)
            subprocess.run(["ip", "-n", ns, "link", "set", "eth0", "up"], check=True)
            subprocess.run(["ip", "-n", ns, "link", "set", "eth1", "up"], check=True)
            try:
                p = subprocess.Popen(["ip", "netns", "exec", ns] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            except FileNotFoundError:
                out[name] = None
                continue
            time.sleep(3)
            pids = [p.pid] + [int(x) for x in subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()]
            rss = []
            for pid in pids:
                try:
                    for l in open(f"/proc/{pid}/status"):
                        if l.startswith("VmRSS:"):
                            rss.append(int(l.split()[1]))
                except OSError:
                    pass
            out[name] = rss
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        finally:
            subprocess.run(["ip", "netns", "del", ns])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    size = os.path.getsize(BIN)
    boot, res, rss = guest(a.rounds)
    hrss = host_rss()
    print()
    print("| figure | value |")
    print("|---|---|")
    print(f"| stripped static binary | {size} bytes ({size / 1048576:.2f} MiB) |")
    print(f"| /init start (ms after kernel boot) | {boot['init_start_ms']} |")
    print(f"| /init start to both children answering | {boot['children_ms']} ms |")
    print(f"| restart after `fault kill vrrp` (SIGKILL), min / median / max of {len(res['kill'])} | {pct(res['kill'])} ms |")
    print(f"| restart after `fault hang check` (SIGSTOP, 1 s watchdog), min / median / max of {len(res['hang'])} | {pct(res['hang'])} ms |")
    print(f"| RSS in the guest: parent / vrrp / check | {rss.get('parent')} / {rss.get('vrrp')} / {rss.get('check')} KiB |")
    for name, r in hrss.items():
        print(f"| RSS on the host (one VRRP instance), {name}: parent / children started | {' / '.join(map(str, r)) if r else 'not run'} KiB |")


if __name__ == "__main__":
    main()
