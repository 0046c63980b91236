#!/usr/bin/env python3
"""Checker benchmark (issue 6): N real servers with TCP_CHECK at delay_loop 1 s.

Prints figures; asserts nothing about time. For each N it writes a
keepalived.conf with N real servers (distinct 127.x.y.z addresses, all
reaching one local listener, benches/tcp_sink.c) spread over a few virtual
servers, starts `vigil -n -C -m` (parent + checker child, counting
allocator), lets the checks spread out, then measures over a window:

  cpu%      the checker child's utime+stime / wall time (/proc/PID/stat)
  rss       its VmRSS at the end of the window (KiB)
  checks/s  delta of `checks_run` in `vigil status --json` / delta of time
  ok        checks that succeeded (with -D each failure is a log line)
  allocs    delta of the child's mem.allocs / delta of checks_run

The host kernel here has no IPVS: vigil's checker child logs that once and
runs the checks anyway. Debian's keepalived refuses to start its checker
without IPVS ("IPVS: Can't initialize ipvs"), so it is measured in the QEMU
guest (--guest), where vigil is measured again for a same-machine comparison.

usage: benches/lvs_checkers.py [--n 1000,10000] [--window 20] [--settle 6]
                               [--bin PATH] [--guest] [--guest-only]
"""
import argparse, json, os, resource, shutil, signal, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                   "x86_64-unknown-linux-musl/release/vigil")
VS_COUNT = 10
TICK = os.sysconf("SC_CLK_TCK")


def rs_addr(i):
    """The i-th real server: 127.A.B.C, B and C in 1..250."""
    return f"127.{20 + i // 62500}.{(i // 250) % 250 + 1}.{i % 250 + 1}"


def make_config(n, port, vs_count=VS_COUNT):
    out = ["global_defs {\n    router_id lvs_bench\n}\n"]
    per = (n + vs_count - 1) // vs_count
    i = 0
    for v in range(vs_count):
        if i >= n:
            break
        out.append(f"virtual_server 10.99.0.{v + 1} 80 {{\n    delay_loop 1\n    lb_algo rr\n"
                   "    lb_kind NAT\n    protocol TCP\n")
        for _ in range(min(per, n - i)):
            out.append(f"    real_server {rs_addr(i)} {port} {{\n"
                       "        TCP_CHECK {\n            connect_timeout 3\n        }\n    }\n")
            i += 1
        out.append("}\n")
    return "".join(out)


def build_sink(dest):
    src = os.path.join(ROOT, "benches/tcp_sink.c")
    for cc in (["musl-gcc"], ["cc"]):
        if shutil.which(cc[0]):
            subprocess.run(cc + ["-O2", "-static", "-o", dest, src], check=True, timeout=120)
            return dest
    sys.exit("lvs_checkers: needs musl-gcc or cc to build benches/tcp_sink.c")


def free_port():
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def raise_nofile():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)


def switches(pid):
    """Wake-ups so far of every thread of `pid`: its context switches."""
    n = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{t}/status") as f:
            for line in f:
                if "_ctxt_switches" in line:
                    n += int(line.split()[1])
    return n


def proc_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def read_sink(path):
    try:
        with open(path) as f:
            n, t = f.read().split()
        return int(n), float(t)
    except (OSError, ValueError):
        return None


def stop(p, grace=10):
    if p is None or p.poll() is not None:
        return
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=10)


class Vigil:
    def __init__(self, binary, tmp, conf):
        self.bin, self.tmp = binary, tmp
        self.ctl = os.path.join(tmp, "ctl.sock")
        self.log = open(os.path.join(tmp, "vigil.log"), "wb")
        self.p = subprocess.Popen(
            [binary, "-n", "-l", "-D", "-G", "-C", "-m", "--watchdog-interval=1000", "-f", conf,
             "-p", os.path.join(tmp, "vigil.pid"), "-r", os.path.join(tmp, "vrrp.pid"),
             "-c", os.path.join(tmp, "checkers.pid"), "--control", self.ctl],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            preexec_fn=raise_nofile)

    def status(self):
        r = subprocess.run([self.bin, "status", "--json", "--control", self.ctl],
                           capture_output=True, timeout=10)
        if r.returncode != 0:
            return None
        s = json.loads(r.stdout)
        for c in s.get("children", []):
            if c.get("role") in ("check", "checker", "checkers") and c.get("pid"):
                return c
        return None

    def checker(self, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.p.poll() is not None:
                raise RuntimeError(f"vigil exited with {self.p.returncode}; see the log")
            c = self.status()
            if c and c.get("last_answer_ms") is not None:
                return c
            time.sleep(0.2)
        raise TimeoutError("no checker child answering within %ss" % timeout)

    def fresh(self, prev_checks, timeout=10):
        """A status whose checks_run came from a newer hello than prev_checks."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            t = time.monotonic()
            c = self.status()
            if c and c["checks_run"] != prev_checks:
                return c, t - c["last_answer_ms"] / 1000.0
            time.sleep(0.1)
        raise TimeoutError("checks_run did not move within %ss" % timeout)

    def failures(self):
        """Failed checks so far: with -D each one is a debug line in the log."""
        self.log.flush()
        n = 0
        with open(self.log.name, "rb") as f:
            for line in f:
                if b"TCP_CHECK " in line and b"real server" not in line:
                    n += 1
        return n

    def close(self):
        stop(self.p)
        self.log.close()


def measure_host(binary, n, window, settle, sink_bin, tmp_root, keep_log=None):
    tmp = tempfile.mkdtemp(prefix=f"n{n}-", dir=tmp_root)
    port = free_port()
    conf = os.path.join(tmp, "keepalived.conf")
    with open(conf, "w") as f:
        f.write(make_config(n, port))
    count = os.path.join(tmp, "accepts")
    sink = subprocess.Popen([sink_bin, str(port), count], stdin=subprocess.DEVNULL,
                            preexec_fn=raise_nofile)
    v = None
    try:
        end = time.monotonic() + 10
        while read_sink(count) is None:
            if time.monotonic() > end or sink.poll() is not None:
                raise RuntimeError("tcp_sink did not start")
            time.sleep(0.05)
        v = Vigil(binary, tmp, conf)
        c = v.checker()
        pid = c["pid"]
        time.sleep(settle)
        c0, t0 = v.fresh(c["checks_run"])
        f0 = v.failures()
        cpu0, w0, s0 = cpu_ticks(pid), time.monotonic(), read_sink(count)
        sc0 = cpu_ticks(sink.pid)
        wp0, wc0 = switches(v.p.pid), switches(pid)
        time.sleep(window)
        c1, t1 = v.fresh(c0["checks_run"])
        f1 = v.failures()
        cpu1, w1, s1 = cpu_ticks(pid), time.monotonic(), read_sink(count)
        sc1 = cpu_ticks(sink.pid)
        wp1, wc1 = switches(v.p.pid), switches(pid)
        checks = c1["checks_run"] - c0["checks_run"]
        rate = checks / (t1 - t0)
        accept_rate = (s1[0] - s0[0]) / (s1[1] - s0[1])
        allocs = (c1["mem"]["allocs"] - c1["mem"].get("on_request", 0)) - (c0["mem"]["allocs"] - c0["mem"].get("on_request", 0))
        return {
            "where": "host", "impl": "vigil", "n": n,
            "cpu": 100.0 * (cpu1 - cpu0) / TICK / (w1 - w0),
            "rss": proc_kb(pid, "VmRSS"), "hwm": proc_kb(pid, "VmHWM"),
            "rate": rate, "ok": 1.0 - (f1 - f0) / checks if checks else 0.0,
            "accepted": accept_rate / rate if rate else 0.0,
            "allocs": allocs / checks if checks else float("nan"),
            "sink_cpu": 100.0 * (sc1 - sc0) / TICK / (w1 - w0),
            "window": t1 - t0, "checks": checks, "allocs_total": allocs,
            "wake_parent": (wp1 - wp0) / (w1 - w0), "wake_check": (wc1 - wc0) / (w1 - w0),
        }
    finally:
        if v:
            v.close()
        stop(sink, grace=5)
        if keep_log and os.path.exists(os.path.join(tmp, "vigil.log")):
            shutil.copy(os.path.join(tmp, "vigil.log"), f"{keep_log}.n{n}")
        shutil.rmtree(tmp, ignore_errors=True)


def print_table(rows):
    print()
    print("| where | daemon | real servers | checker CPU % | RSS KiB (peak) | checks/s | checks ok | allocs/check | listener CPU % | wake-ups/s parent, checker |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        allocs = "-" if r.get("allocs") is None else f"{r['allocs']:.2f}"
        rss = "-" if r.get("rss") is None else f"{r['rss']} ({r.get('hwm', '-')})"
        sink = "-" if r.get("sink_cpu") is None else f"{r['sink_cpu']:.1f}"
        ok = "-" if r.get("ok") is None else f"{100 * r['ok']:.1f}%"
        # keepalived counts no checks: its rate is the connections accepted.
        rate = f"{r['rate']:,.0f}" + (" (accepted)" if r.get("ok") is None else "")
        wake = "-" if r.get("wake_check") is None else f"{r['wake_parent']:.1f}, {r['wake_check']:,.0f}"
        print(f"| {r['where']} | {r['impl']} | {r['n']:,} | {r['cpu']:.1f} | {rss} | "
              f"{rate} | {ok} | {allocs} | {sink} | {wake} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", default="1000,10000", help="comma-separated real-server counts")
    ap.add_argument("--window", type=float, default=20, help="measurement window, s")
    ap.add_argument("--settle", type=float, default=6, help="wait after start before measuring, s")
    ap.add_argument("--bin", default=BIN)
    ap.add_argument("--guest", action="store_true", help="also measure vigil and keepalived in the QEMU guest")
    ap.add_argument("--guest-only", action="store_true")
    ap.add_argument("--keep-log", metavar="PATH", help="copy vigil's log to PATH.nN")
    a = ap.parse_args()
    ns = [int(x) for x in a.n.split(",")]
    if not os.access(a.bin, os.X_OK):
        sys.exit(f"{a.bin}: build it first (cargo build --release --target x86_64-unknown-linux-musl)")
    tmp_root = tempfile.mkdtemp(prefix="vigil-lvs-bench-")
    rows = []
    try:
        sink_bin = build_sink(os.path.join(tmp_root, "tcp_sink"))
        if not a.guest_only:
            for n in ns:
                print(f"host: vigil, {n} real servers ...", flush=True)
                rows.append(measure_host(a.bin, n, a.window, a.settle, sink_bin, tmp_root, a.keep_log))
                print_table(rows[-1:])
        if a.guest or a.guest_only:
            import lvs_guest
            rows += lvs_guest.measure(a.bin, ns, a.window, a.settle, sink_bin, tmp_root, make_config)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    print_table(rows)


if __name__ == "__main__":
    main()
