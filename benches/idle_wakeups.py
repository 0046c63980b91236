#!/usr/bin/env python3
"""Wake-ups per second of each process of vigil and of Debian's keepalived,
side by side, when there is (almost) nothing to do ("idle means asleep":
each process wakes only for its own timers and messages).

A wake-up is a context switch of any thread of the process (voluntary and
not), summed over /proc/PID/task/*/status, counted over a window after the
daemon settled. Cases, each in its own network namespace with a veth pair:
  idle master   one VRRP instance, advert_int 1, that is master (1 advert/s)
  idle backup   the same instance as backup, its master in a second namespace
  100 instances 100 VRRP instances on one interface, all master
Run as root on Debian with keepalived installed (tests/deps):

    python3 benches/idle_wakeups.py [--window 10] [--settle 5]

Uses the musl release binary (cargo build --release --target
x86_64-unknown-linux-musl). Nothing here is asserted: it prints a table.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VIGIL = os.path.join(ROOT, "target/x86_64-unknown-linux-musl/release/vigil")
KEEPALIVED = shutil.which("keepalived") or "/usr/sbin/keepalived"
TAG = f"vidle{os.getpid() % 10000}"


def sh(*args, check=True):
    return subprocess.run(args, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def instances(n, prio):
    out = []
    for i in range(n):
        out.append(
            f"vrrp_instance VI_{i} {{\n    state BACKUP\n    interface eth0\n    virtual_router_id {i + 1}\n"
            f"    priority {prio}\n    advert_int 1\n    virtual_ipaddress {{\n        10.{99 + i // 250}.{i % 250}.100/32\n    }}\n}}\n"
        )
    return "global_defs {\n    router_id idle\n}\n" + "".join(out)


class Lab:
    """Two namespaces joined by a veth pair: A (10.98.0.1) and B (10.98.0.2)."""

    def __init__(self):
        self.ns = [f"{TAG}a", f"{TAG}b"]
        for n in self.ns:
            sh("ip", "netns", "add", n)
        sh("ip", "-n", self.ns[0], "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", self.ns[1])
        for i, n in enumerate(self.ns):
            sh("ip", "-n", n, "addr", "add", f"10.98.0.{i + 1}/24", "dev", "eth0")
            sh("ip", "-n", n, "link", "set", "eth0", "up")
            sh("ip", "-n", n, "link", "set", "lo", "up")

    def close(self):
        for n in self.ns:
            sh("ip", "netns", "del", n, check=False)


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def switches(pid):
    total = 0
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
    except OSError:
        return None
    return total


def start(daemon, ns, conf, d):
    path = os.path.join(d, f"{daemon}-{ns}.conf")
    with open(path, "w") as f:
        f.write(conf)
    if daemon == "vigil":
        cmd = [VIGIL, "-n", "-l", "-f", path, "-p", os.path.join(d, f"v-{ns}.pid"),
               "-r", os.path.join(d, f"v-{ns}-vrrp.pid"), "-c", os.path.join(d, f"v-{ns}-check.pid"),
               f"--control={os.path.join(d, f'v-{ns}.sock')}"]
    else:
        cmd = [KEEPALIVED, "-n", "-l", "-f", path, "-p", os.path.join(d, f"k-{ns}.pid"),
               "-r", os.path.join(d, f"k-{ns}-vrrp.pid"), "-c", os.path.join(d, f"k-{ns}-check.pid")]
    log = open(os.path.join(d, f"{daemon}-{ns}.log"), "w")
    return subprocess.Popen(["ip", "netns", "exec", ns] + cmd, stdout=log, stderr=subprocess.STDOUT)


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=5)


def measure(proc, window):
    """Rates per process of the daemon started as `ip netns exec` -> daemon."""
    # `ip netns exec` execs the daemon in place: proc.pid is the parent.
    pids = {"parent": proc.pid}
    for c in children(proc.pid):
        try:
            with open(f"/proc/{c}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        role = "vrrp" if (b"vrrp" in argv or len(pids) == 1) else "check"
        pids[role if role not in pids else f"child{c}"] = c
    before = {k: switches(v) for k, v in pids.items()}
    time.sleep(window)
    after = {k: switches(v) for k, v in pids.items()}
    return {k: (after[k] - before[k]) / window for k in pids if before[k] is not None and after[k] is not None}


def run_case(name, daemon, lab, confs, window, settle, d):
    procs = [start(daemon, ns, conf, d) for ns, conf in confs]
    try:
        time.sleep(settle)
        rates = measure(procs[0], window)
    finally:
        for p in procs:
            stop(p)
    return rates


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--window", type=float, default=10.0)
    ap.add_argument("--settle", type=float, default=5.0)
    a = ap.parse_args()
    if os.geteuid() != 0 or not os.path.exists(VIGIL) or not os.path.exists(KEEPALIVED):
        sys.exit("needs root, the musl release build of vigil and keepalived")
    lab = Lab()
    d = tempfile.mkdtemp(prefix="vigil-idle-")
    cases = [
        ("idle master", [(lab.ns[0], instances(1, 150))]),
        ("idle backup", [(lab.ns[0], instances(1, 100)), (lab.ns[1], instances(1, 150))]),
        ("100 instances, master", [(lab.ns[0], instances(100, 150))]),
    ]
    rows = []
    try:
        for name, confs in cases:
            for daemon in ("keepalived", "vigil"):
                rates = run_case(name, daemon, lab, confs, a.window, a.settle, d)
                rows.append((name, daemon, rates))
                print(f"{name:24} {daemon:10} " + "  ".join(f"{k} {v:.1f}/s" for k, v in rates.items()), flush=True)
    finally:
        lab.close()
        shutil.rmtree(d, ignore_errors=True)
    print()
    print(f"Wake-ups per second (context switches of all threads, {a.window:.0f} s window after {a.settle:.0f} s):")
    print()
    print("| case | daemon | parent | VRRP child | checker child | all |")
    print("|---|---|---:|---:|---:|---:|")
    for name, daemon, r in rows:
        check = r.get("check")
        print(f"| {name} | {daemon} | {r.get('parent', 0):.1f} | {r.get('vrrp', 0):.1f} | "
              f"{'-' if check is None else f'{check:.1f}'} | {sum(r.values()):.1f} |")


if __name__ == "__main__":
    main()
